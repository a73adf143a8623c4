"""Tiny mini-study data in the real layout, written once per session by the project's generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from real3d.data.synthetic.presets import MiniSizes, write_mini_study_data

TINY_SIZES = MiniSizes(s_train_objects=5, s_val_objects=1, s_views=2, r_train_images=5, test_objects=5, test_views=2)


@pytest.fixture(scope="session")
def mini_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mini-study data folder: 5 S objects x 2 views, 5 R crops, 5 test objects x 2 views per domain (64²)."""
    out = tmp_path_factory.mktemp("mini_data")
    write_mini_study_data(out, TINY_SIZES, seed=0)
    return out
