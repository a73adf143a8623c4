"""Fixtures for the training tests: a tiny random LRM and frozen random-weight LPIPS / CLIP."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from real3d.models import load
from real3d.pretrained import build_clip, build_lpips
from real3d.training.run import ensure_synthetic_data
from tests.conftest import CLIP_TINY, TINY_MODEL_DIR
from tests.training.runs import compose_train


@pytest.fixture
def tiny_net():
    torch.manual_seed(0)
    return load(config=TINY_MODEL_DIR / "config.yaml", render={"num_samples_per_ray": 16})


@pytest.fixture(scope="session")
def random_lpips():
    return build_lpips(allow_random=True)


@pytest.fixture(scope="session")
def random_clip():
    torch.manual_seed(0)
    return build_clip(config=CLIP_TINY, allow_random=True)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The tiny_cpu experiment's generated datasets, written once per session."""
    root = tmp_path_factory.mktemp("data")
    cfg = compose_train(["experiment=tiny_cpu", f"paths.data_dir={root}", "paths.output_dir=unused"])
    ensure_synthetic_data(**cfg.generate_data)
    return root
