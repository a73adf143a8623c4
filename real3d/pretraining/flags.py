"""Command-line value types for the pretraining scripts: a flag's value is checked where it enters,
and a bad one is argparse's one-line error (`<prog>: error: argument --x: ...`, exit 2)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import torch

from real3d.errors import Real3DError
from real3d.pretraining import _device


def integer(low: int, high: int | None = None, multiple_of: int = 1) -> Callable[[str], int]:
    """An int in [low, high] (no upper limit for None), a multiple of `multiple_of`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high) or value % multiple_of:
            span = f"from {low} to {high}" if high is not None else f">= {low}"
            step = f", a multiple of {multiple_of}" if multiple_of > 1 else ""
            raise argparse.ArgumentTypeError(f"{value} must be an integer {span}{step}")
        return value

    return parse


def real(low: float, high: float = math.inf, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """A finite float in the interval from `low` to `high` (`*_open`: that end excluded)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if not math.isfinite(value) or below or above:
            left, right = "(" if low_open else "[", ")" if high_open or math.isinf(high) else "]"
            raise argparse.ArgumentTypeError(f"{text} must be a finite number in {left}{low:g}, {high:g}{right}")
        return value

    return parse


def device(text: str) -> torch.device:
    """`--device auto|cpu|cuda[:N]`, checked to be present."""
    try:
        return _device(text)
    except Real3DError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
