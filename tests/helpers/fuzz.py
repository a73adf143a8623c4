"""Hypothesis settings for the entry points' fuzz tests: a small fixed budget in the default suite,
ten times more (and fresh random examples) under `-m slow`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SLOW_ENV = "REAL3D_FUZZ_SLOW"  # set by tests/conftest.py when the run selects the slow tests


def fuzz_settings(examples: int) -> settings:
    """`examples` derandomized examples per test (reproducible in CI), 10x random ones under `-m slow`."""
    slow = os.environ.get(SLOW_ENV) == "1"
    return settings(
        max_examples=examples * 10 if slow else examples,
        derandomize=not slow,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
