"""The demo's limits: each size is bounded by what it would allocate, refused before the allocation, with a
message naming the setting and the largest value allowed."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from real3d.errors import Real3DError
from real3d.inference import limits
from real3d.inference.limits import LimitError
from real3d.inference.pipeline import DemoSettings, check_limits
from real3d.inference.preprocess import load_image, resize_foreground
from real3d.models.renderer import RenderSettings

ROOT = Path(__file__).resolve().parents[2]
MUG = ROOT / "assets" / "examples" / "mug.png"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("largest", "cost", "power"),
    [
        (limits.MAX_INPUT_PIXELS, limits.INPUT_PIXEL_BYTES, 1),
        (limits.MAX_CANVAS_SIDE, limits.CANVAS_PIXEL_BYTES, 2),
        (limits.MAX_VIEW_PIXELS, limits.VIEW_PIXEL_BYTES, 1),
        (limits.MC_RESOLUTION.high, limits.GRID_POINT_BYTES, 3),
    ],
)
def test_each_largest_value_is_the_largest_whose_cost_fits_the_budget(largest: int, cost: int, power: int) -> None:
    if largest == limits.MAX_INPUT_PIXELS and largest < limits.largest(cost):
        largest = limits.largest(cost)  # capped lower by PIL's own decompression-bomb threshold
    assert largest**power * cost <= limits.BUDGET < (largest + 1) ** power * cost


def test_the_other_ranges_fit_the_budget_too() -> None:
    assert limits.RENDER_SIZE.high**2 * limits.SAMPLES_PER_RAY * limits.RAY_SAMPLE_BYTES <= limits.BUDGET
    assert limits.TEXTURE_RESOLUTION.high**2 * limits.TEXEL_BYTES <= limits.BUDGET
    assert limits.MAX_QUERY_POINTS * limits.QUERY_POINT_BYTES <= limits.BUDGET
    # The defaults work on the largest input: 4096 px framed at the default model's 0.45.
    assert int(4096 / 0.45) <= limits.MAX_CANVAS_SIDE


def test_a_tiny_foreground_ratio_is_refused_before_the_canvas_is_allocated() -> None:
    rgba = PIL.Image.open(MUG)
    rgba.load()
    tracemalloc.start()
    try:
        with pytest.raises(LimitError) as caught:
            resize_foreground(rgba, 0.002)  # the case: a 52000² canvas, ~11 GB, then a float copy
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # nothing near the canvas was allocated
    message = str(caught.value)
    assert message.startswith("--foreground-ratio 0.002 would frame this ")
    assert f"the largest canvas is {limits.MAX_CANVAS_SIDE} px, so the smallest ratio for this image is" in message
    assert caught.value.on_page("Foreground ratio").startswith("Foreground ratio: 0.002 would frame")
    smallest = float(message.rsplit(" ", 1)[1])
    assert resize_foreground(rgba, smallest).size[0] <= limits.MAX_CANVAS_SIDE  # the value it names works


def test_an_input_too_large_to_decode_is_refused_from_its_header(tmp_path: Path) -> None:
    side = int(limits.MAX_INPUT_PIXELS**0.5) + 1
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(Real3DError, match=f"input image too large: {side}x{side}"):
        load_image(path)
    path.write_bytes(png_header_only(30000, 30000))  # beyond PIL's own bomb check: refused there
    with pytest.raises(Real3DError, match="image too large to decode safely"):
        load_image(path)


def settings(**changes: object) -> DemoSettings:
    return DemoSettings(**changes)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"mc_resolution": 1}, "demo setting mc_resolution must be an integer in [8, "),
        ({"mc_resolution": int(limits.MC_RESOLUTION.high) + 1}, "mc_resolution must be an integer"),
        ({"mc_resolution": 64.0}, "mc_resolution must be an integer"),
        ({"mc_resolution": True}, "mc_resolution must be an integer"),
        ({"mc_threshold": float("nan")}, "mc_threshold must be a finite number > 0"),
        ({"mc_threshold": "25"}, "mc_threshold must be a finite number > 0"),
        ({"foreground_ratio": 0.0}, "foreground_ratio must be a number in (0, 1]"),
        ({"render_size": 17}, "render_size must be an even integer"),
        ({"render_num_views": 0}, "render_num_views must be an integer in [1, 1000]"),
        ({"texture_resolution": 10**6}, "texture_resolution must be an integer in [8, "),
        ({"render_fovy_deg": 180.0}, "render_fovy_deg must be a number in (0, 180)"),
        ({"remove_bg": 1}, "remove_bg must be true or false"),
    ],
)
def test_every_demo_setting_is_checked_whatever_sets_it(change: dict, says: str) -> None:
    with pytest.raises(Real3DError) as caught:
        settings(**change)
    assert says in str(caught.value)


def test_sizes_together_are_checked_against_the_budget() -> None:
    fast, faithful = RenderSettings(chunk_size=8192), RenderSettings(chunk_size=8192, fast=False)
    check_limits(settings(render=True, render_size=512, render_num_views=120), fast)
    most = limits.MAX_VIEW_PIXELS // 512**2
    check_limits(settings(render=True, render_size=512, render_num_views=most), fast)
    with pytest.raises(LimitError, match=f"at render size 512 the largest is {most}"):
        check_limits(settings(render=True, render_size=512, render_num_views=most + 1), fast)
    big = int(limits.RENDER_SIZE.high)
    check_limits(settings(render=True, render_size=big, render_num_views=1), faithful)
    many_samples = RenderSettings(chunk_size=8192, fast=False, num_samples_per_ray=4 * limits.SAMPLES_PER_RAY)
    with pytest.raises(LimitError, match=f"--render-size {big} with 512 samples per ray would take"):
        check_limits(settings(render=True, render_size=big, render_num_views=1), many_samples)
    check_limits(
        settings(render=True, render_size=big, render_num_views=1), RenderSettings(512, 8192)
    )  # fast: a view in chunks


def test_no_chunking_is_allowed_only_where_every_query_fits() -> None:
    unchunked = RenderSettings(chunk_size=0)
    check_limits(settings(mc_resolution=128), unchunked)  # 2.1 M points at once
    with pytest.raises(LimitError, match=r"--chunk-size 0 \(no chunking\) would query 16,777,216 points at once"):
        check_limits(settings(mc_resolution=256), unchunked)
    with pytest.raises(LimitError, match="for a view"):  # a faithful view of 512² rays x 128 samples at once
        check_limits(settings(mc_resolution=64, render=True, render_size=512), RenderSettings(chunk_size=0, fast=False))


def test_the_freed_memory_setting_is_harmless_to_call() -> None:
    limits.release_freed_memory()
    assert np.ones(1 << 21).sum() == 1 << 21  # allocation still works (above the new threshold)
