"""real3d.memory_budget: free memory from the host, its cgroup and a GPU; the size named in one line
with the largest value that fits."""

from __future__ import annotations

import pytest

from real3d import memory_budget
from real3d.errors import Real3DError
from real3d.memory_budget import SizeCheck, budget_bytes, check_sizes, format_bytes, largest_fitting

GIB = 2**30


def test_budget_is_a_fraction_of_the_smaller_of_host_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory_budget, "host_available_bytes", lambda: 10 * GIB)
    monkeypatch.setattr(memory_budget, "device_available_bytes", lambda device: 4 * GIB)
    assert budget_bytes() == int(10 * GIB * memory_budget.USABLE_FRACTION)
    assert budget_bytes("cuda") == int(4 * GIB * memory_budget.USABLE_FRACTION)


def test_the_cpu_has_no_device_budget_of_its_own() -> None:
    assert memory_budget.device_available_bytes("cpu") is None


def test_a_cgroup_limit_lowers_the_host_memory(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "memory.max").write_text(f"{3 * GIB}\n")
    (tmp_path / "memory.current").write_text(f"{1 * GIB}\n")
    monkeypatch.setattr(memory_budget, "_CGROUP", tmp_path)
    monkeypatch.setattr(memory_budget, "_meminfo_available", lambda: 100 * GIB)
    assert memory_budget.host_available_bytes() == 2 * GIB
    (tmp_path / "memory.max").write_text("max\n")  # no limit
    assert memory_budget.host_available_bytes() == 100 * GIB


def test_largest_fitting_is_exact_for_a_growing_cost() -> None:
    check = SizeCheck("render_size", 5000, lambda s: s * s * 100.0, low=16)
    largest = largest_fitting(check, 10**9)
    assert largest * largest * 100 <= 10**9 < (largest + 1) ** 2 * 100
    assert largest_fitting(SizeCheck("x", 10, lambda v: 10**12, low=1), 10**9) is None


def test_the_size_furthest_above_what_fits_is_named() -> None:
    def cost(size: int, views: int) -> float:
        return size * size * views * 1000.0

    checks = [
        SizeCheck("render_size", 224, lambda s: cost(s, 10**6), 16),
        SizeCheck("visuals.vis360_views", 10**6, lambda v: cost(224, v)),
    ]
    with pytest.raises(Real3DError) as info:
        check_sizes(checks, 2 * GIB)
    message = str(info.value)
    assert message.startswith("visuals.vis360_views=1000000: needs about 45.6 TiB of memory, more than the 2.0 GiB")
    assert message.endswith(f"the largest that fits here is {2 * GIB // (224 * 224 * 1000)}")
    check_sizes(checks[:1], 10**20)  # fits: nothing raised


def test_nothing_fits_names_every_size() -> None:
    checks = [SizeCheck("a", 100, lambda v: 10**15, 1), SizeCheck("b", 3, lambda v: 10**15, 1)]
    with pytest.raises(Real3DError, match=r"^a=100, b=3: together need about 909\.5 TiB .* lower several$"):
        check_sizes(checks, GIB)


def test_format_bytes() -> None:
    assert [format_bytes(v) for v in (5 * 2**20, 3 * GIB, 2**41)] == ["5 MiB", "3.0 GiB", "2.0 TiB"]
