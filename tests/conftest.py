"""Shared fixtures: the tiny parity model (random weights from the reference) and small files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from real3d.models import LRM
from real3d.models.config import PACKAGED_CONFIGS

FIXTURES = Path(__file__).parent / "fixtures"
TINY_MODEL_DIR = FIXTURES / "parity" / "tiny"
CLIP_TINY = PACKAGED_CONFIGS / "clip-tiny" / "config.json"  # a tiny open_clip architecture (random weights)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """One torch thread: the test tensors are tiny, and extra threads mostly spin on a busy machine."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny checkpoint folder in the published layout (config.yaml, model.ckpt, dino-tiny/)."""
    return TINY_MODEL_DIR


@pytest.fixture
def tiny_model_copy(tmp_path: Path) -> Path:
    """A writable copy of the tiny checkpoint folder."""
    dest = tmp_path / "tiny"
    shutil.copytree(TINY_MODEL_DIR, dest)
    return dest


@pytest.fixture
def tiny_model() -> LRM:
    """The tiny parity model, in eval mode on CPU."""
    return LRM.from_pretrained(TINY_MODEL_DIR).eval()


@pytest.fixture
def tiny_u2net(tmp_path: Path) -> Path:
    """Path of a tiny ONNX model with U²-Net's interface, for real rembg sessions."""
    from tests.helpers.tiny_onnx import write_tiny_u2net

    return write_tiny_u2net(tmp_path / "u2net.onnx")


def _selects_slow(config: pytest.Config) -> bool:
    import re

    return re.search(r"(?<!not )\bslow\b", config.getoption("markexpr") or "") is not None


def pytest_configure(config: pytest.Config) -> None:
    """Under `-m slow` the fuzz tests get their larger budget (tests/helpers/fuzz.py)."""
    import os

    from tests.helpers.fuzz import SLOW_ENV

    if _selects_slow(config):
        os.environ[SLOW_ENV] = "1"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `-m slow` every hypothesis test runs too (with its larger budget), not only the slow-marked ones."""
    if _selects_slow(config):
        for item in items:
            if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
                item.add_marker(pytest.mark.slow)
