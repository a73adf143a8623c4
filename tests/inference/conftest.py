"""The demo tests' shared parts: a small RGBA object image, and the root logger put back after run.py's `main`
(called in-process, it sets the root logger up on the test's stderr)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and the SIGTERM handler back after each test (run.py's `main` sets both),
    so none writes to a test's closed stderr later and SIGTERM keeps its meaning for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    sigterm = signal.getsignal(signal.SIGTERM)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    signal.signal(signal.SIGTERM, sigterm)


@pytest.fixture
def rgba_path(tmp_path: Path) -> Path:
    """A 80x64 RGBA image: a 32x32 green square on a transparent background."""
    array = np.zeros((64, 80, 4), np.uint8)
    array[16:48, 24:56] = [30, 160, 60, 255]
    path = tmp_path / "object.png"
    PIL.Image.fromarray(array).save(path)
    return path


@pytest.fixture
def page_ranges():  # noqa: ANN201 - scripts.app.PageRanges
    """The web page's setting ranges shrunk to what the tiny model runs in a moment (the threshold's reaches a
    value with no surface)."""
    from real3d.inference.limits import Range
    from scripts.app import PageRanges

    return PageRanges(
        mc_resolution=Range(8, 32), mc_threshold=Range(0.5, 1e6), views=Range(0, 4), texture_resolution=Range(8, 64)
    )
