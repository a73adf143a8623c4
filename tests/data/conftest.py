"""Fixtures of the data tests: one small synthetic dataset in every training format, written once
per session by the generator, and writable copies for tests that damage files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from real3d.data.synthetic import SetSizes, make_dataset

TINY_SIZES = SetSizes(
    gobjaverse_objects=3,
    zero123_objects=3,
    views=6,
    image_size=32,
    wild_images=4,
    wild_size=64,
    mvimgnet_sequences=3,
    mvimgnet_frames=2,
    mvimgnet_height=48,
    mvimgnet_width=40,
    test_fraction=0.34,
)


@pytest.fixture(scope="session")
def synthetic_set(tmp_path_factory) -> dict:
    """info of a tiny generated dataset (roots and split files of every format); read-only."""
    out = tmp_path_factory.mktemp("synthetic")
    return make_dataset(out, TINY_SIZES, seed=1)


@pytest.fixture
def synthetic_copy(synthetic_set, tmp_path) -> dict:
    """A writable copy of the tiny dataset, with the info's paths pointing into the copy."""
    src = Path(synthetic_set["gobjaverse"]["root"]).parent
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)

    def move(value):
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(str(src)):
            return str(dst) + value[len(str(src)) :]
        return value

    return move(synthetic_set)
