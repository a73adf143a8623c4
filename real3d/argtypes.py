"""argparse types with their ranges: a bad value is argparse's one line `<prog>: error: argument --flag: ...`
and exit 2, before any work starts."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from real3d.devices import check_device_name
from real3d.errors import Real3DError

_SIZE = re.compile(r"\s*(\d+)\s*(b|kb|mb|gb)?\s*", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def number_text(x: float) -> str:
    """A bound as a user writes it: 4194304, 0.5 (never 4.1943e+06)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _range_text(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {number_text(low)}"
    return f"in {'(' if low_open else '['}{number_text(low)}, {number_text(high)}{')' if high_open else ']'}"


def integer(low: int, high: int | None = None, note: str = "", multiple_of: int = 1) -> Callable[[str], int]:
    """An integer in [low, high] (no upper bound when `high` is None), a multiple of `multiple_of`; `note` says
    why the bound is there."""
    kind = {1: "an integer", 2: "an even integer"}.get(multiple_of, f"a multiple of {multiple_of}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high) or value % multiple_of:
            raise argparse.ArgumentTypeError(f"must be {kind} {_range_text(low, high)}{note}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(
    low: float, high: float | None = None, low_open: bool = False, note: str = "", high_open: bool = False
) -> Callable[[str], float]:
    """A finite number in [low, high] (`low_open` / `high_open`: that end excluded; no upper bound when `high` is
    None)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(
                f"must be a finite number {_range_text(low, high, low_open, high_open)}{note}, got {text!r}"
            )
        return value

    parse.__name__ = "number"
    return parse


def device(text: str) -> str:
    """A device name: auto, cpu, cuda or cuda:N (whether it is there is checked when the model loads)."""
    try:
        return check_device_name(text)
    except Real3DError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def file_size(low: int, high: int) -> Callable[[str], int]:
    """A size in bytes written as `<n>`, `<n>kb`, `<n>mb` or `<n>gb`, within [low, high] bytes."""

    def parse(text: str) -> int:
        match = _SIZE.fullmatch(text)
        value = int(match[1]) * _UNITS[(match[2] or "b").lower()] if match else None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a size such as 50mb, from {_human(low)} to {_human(high)}, got {text!r}"
            )
        return value

    parse.__name__ = "file_size"
    return parse


def _human(size: int) -> str:
    unit = max((u for u, f in _UNITS.items() if size >= f and size % f == 0), key=_UNITS.__getitem__)
    return f"{size // _UNITS[unit]}{unit}"


def non_empty(text: str) -> str:
    """A non-empty string (a name or a path)."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a non-empty name or path, got {text!r}")
    return text
