"""The demo tests call run.py's `main` in-process; it sets the root logger up on the test's stderr."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root logger's handlers back after each test, so none writes to a test's closed stderr later."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
