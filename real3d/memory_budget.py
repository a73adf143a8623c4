"""Memory bounded before it is allocated: a size a user sets is checked against what it would allocate
and what this machine has free, and a size that does not fit is refused in one line that names the key
and the largest value that fits here.

The costs are estimates from each caller's own arithmetic (bytes per pixel, per view, ...), measured
and kept above the measured peaks (tools/bench_eval_memory.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from real3d.errors import Real3DError

USABLE_FRACTION = 0.8  # of the free memory: the rest is left to the process's other allocations and the OS
_CGROUP = Path("/sys/fs/cgroup")


def host_available_bytes() -> int:
    """Memory this process can still take: the kernel's MemAvailable, lowered to a cgroup limit's headroom."""
    available = _meminfo_available()
    limit = _read_int(_CGROUP / "memory.max")
    used = _read_int(_CGROUP / "memory.current")
    if limit is not None and used is not None:
        available = min(available, max(0, limit - used))
    return available


def device_available_bytes(device: torch.device | str) -> int | None:
    """Free memory of a CUDA device, or None for the CPU (its memory is the host's)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def budget_bytes(device: torch.device | str | None = None) -> int:
    """What one run may allocate: a fraction of the free host memory (and of the device's, on CUDA)."""
    budget = host_available_bytes()
    if device is not None:
        free = device_available_bytes(device)
        if free is not None:
            budget = min(budget, free)
    return int(budget * USABLE_FRACTION)


@dataclass(frozen=True)
class SizeCheck:
    """One user-set size: its key (as the user writes it), value, smallest valid value and the bytes a
    run allocates at a given value (the other settings fixed); the cost must grow with the value."""

    key: str
    value: int
    cost: Callable[[int], float]
    low: int = 1


def check_sizes(checks: Iterable[SizeCheck], budget: int) -> None:
    """Raise a one-line `Real3DError` when the sizes together exceed `budget` bytes, naming the size that
    is furthest above the largest value that would fit (each check's cost is the same total)."""
    checks = list(checks)
    if not checks:
        return
    need = checks[0].cost(checks[0].value)
    if need <= budget:
        return
    fits = [(check, largest_fitting(check, budget)) for check in checks]
    fixable = [(check, largest) for check, largest in fits if largest is not None]
    if not fixable:
        shown = ", ".join(f"{check.key}={check.value}" for check in checks)
        raise Real3DError(
            f"{shown}: together need about {format_bytes(need)} of memory, more than the {format_bytes(budget)} "
            "this machine can give, even with any one of them at its smallest; lower several"
        )
    check, largest = max(fixable, key=lambda pair: (pair[0].value + 1) / (pair[1] + 1))
    raise Real3DError(
        f"{check.key}={check.value}: needs about {format_bytes(need)} of memory, more than the "
        f"{format_bytes(budget)} this machine can give; the largest that fits here is {largest}"
    )


def largest_fitting(check: SizeCheck, budget: int) -> int | None:
    """The largest value in [low, value) whose cost fits `budget` (binary search), or None."""
    low, high = check.low, check.value - 1
    if high < low or check.cost(low) > budget:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if check.cost(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def format_bytes(count: float) -> str:
    """A size in MiB, GiB or TiB."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count / 2**20:.0f} MiB"


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40  # unknown: no bound from here


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
