"""The demo's limits: every size a user sets (run.py's flags, the web page's settings) is bounded by what it
makes the demo allocate, before anything is allocated, so that no flag or request can exhaust the machine.

The rule: one setting may make the demo allocate at most BUDGET bytes beyond the loaded model. Each size's
cost per unit (canvas pixel, grid point, view pixel, ray sample, texel, point per field query) is the peak
measured on the CPU by `tools/bench_demo_memory.py`, rounded up; the largest value of a setting is the
largest whose cost fits the budget. Errors name the setting as run.py's flag (`str(error)`) or as the
page's label (`LimitError.on_page`).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from dataclasses import dataclass

import PIL.Image

from real3d.argtypes import number_text
from real3d.errors import Real3DError

BUDGET = 8 * 2**30  # bytes one setting may make the demo allocate beyond the model

# Peak bytes per unit above a small run, measured on the CPU with the default model by
# `python tools/bench_demo_memory.py costs` (the measured value in brackets), rounded up.
INPUT_PIXEL_BYTES = 24  # decoding [17]: the decoded image, its 8-bit RGB(A) copy, 16-bit images' float copy
CANVAS_PIXEL_BYTES = 56  # framing [49]: the padded RGBA canvas, its float composite, the model's float copy
GRID_POINT_BYTES = 96  # marching cubes on the dense grid [84] (the fast path [27] falls back to it)
VIEW_PIXEL_BYTES = 192  # the 360° render [162]: every view's rays and colours, the frames kept for the video
RAY_SAMPLE_BYTES = 96  # a --faithful view [79]: its rays x samples, all at once (as the original)
TEXEL_BYTES = 128  # texture baking [106]: texel positions, colours, masks and the dilation's copies
QUERY_POINT_BYTES = 1024  # one field query [935]: plane features and hidden activations per point

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
SAMPLES_PER_RAY = 128  # TripoSR's and Real3D's samples per ray: the static --render-size bound assumes it

FLAGS = {
    "input_pixels": "input image",
    "foreground_ratio": "--foreground-ratio",
    "mc_resolution": "--mc-resolution",
    "render_size": "--render-size",
    "render_num_views": "--render-num-views",
    "texture_resolution": "--texture-resolution",
    "chunk_size": "--chunk-size",
}


class LimitError(Real3DError):
    """A setting over its limit: `setting` is a DemoSettings field, `detail` what it would allocate and the
    largest value allowed; shown with run.py's flag name, or on the page with the setting's label."""

    def __init__(self, setting: str, detail: str) -> None:
        self.setting = setting
        self.detail = detail
        super().__init__(f"{FLAGS[setting]} {detail}")

    def on_page(self, label: str) -> str:
        """The message with the page's name of the setting."""
        return f"{label}: {self.detail}"


def gib(size: float) -> str:
    """Bytes in words, e.g. `9.3 GB`."""
    return f"{size / 1e9:.1f} GB"


def largest(cost: float, power: int = 1) -> int:
    """The largest n with n**power · cost <= BUDGET."""
    n = int((BUDGET / cost) ** (1.0 / power))
    while (n + 1) ** power * cost <= BUDGET:
        n += 1
    while n**power * cost > BUDGET:
        n -= 1
    return n


@dataclass(frozen=True)
class Range:
    """A setting's allowed values, inclusive."""

    low: float
    high: float

    def __str__(self) -> str:
        return f"[{number_text(self.low)}, {number_text(self.high)}]"


# Decoding: within the budget, and no larger than where PIL starts warning of decompression bombs.
MAX_INPUT_PIXELS = min(largest(INPUT_PIXEL_BYTES), PIL.Image.MAX_IMAGE_PIXELS or largest(INPUT_PIXEL_BYTES))
MAX_CANVAS_SIDE = largest(CANVAS_PIXEL_BYTES, 2)
MAX_VIEW_PIXELS = largest(VIEW_PIXEL_BYTES)  # render_num_views x render_size²
MAX_QUERY_POINTS = 1 << int(math.log2(largest(QUERY_POINT_BYTES)))  # points per field query (--chunk-size)

MC_RESOLUTION = Range(8, largest(GRID_POINT_BYTES, 3))
RENDER_SIZE = Range(16, largest(RAY_SAMPLE_BYTES * SAMPLES_PER_RAY, 2) // 16 * 16)
RENDER_NUM_VIEWS = Range(1, 1000)
TEXTURE_RESOLUTION = Range(8, largest(TEXEL_BYTES, 2) // 8 * 8)
CHUNK_SIZE = Range(0, MAX_QUERY_POINTS)
FOREGROUND_RATIO = Range(0.0, 1.0)  # open at 0; the canvas it makes is bounded per image (check_canvas)


def check_input_size(width: int, height: int) -> None:
    """Refuse an image whose decoding would exceed the budget (read from its header, before decoding)."""
    if width * height > MAX_INPUT_PIXELS:
        raise LimitError(
            "input_pixels",
            f"too large: {width}x{height} = {width * height / 1e6:.0f} Mpx would take "
            f"{gib(width * height * INPUT_PIXEL_BYTES)} to decode; the largest is {MAX_INPUT_PIXELS / 1e6:.0f} Mpx "
            "(downscale it first)",
        )


def check_canvas(object_side: int, ratio: float) -> int:
    """The canvas side for an object of `object_side` px framed at `ratio`, refused over MAX_CANVAS_SIDE."""
    side = int(object_side / ratio)
    if side > MAX_CANVAS_SIDE:
        smallest = math.ceil(object_side / (MAX_CANVAS_SIDE + 1) * 1e4) / 1e4
        raise LimitError(
            "foreground_ratio",
            f"{ratio:g} would frame this {object_side}-px object in a {side}-px canvas "
            f"({gib(side * side * CANVAS_PIXEL_BYTES)}); the largest canvas is {MAX_CANVAS_SIDE} px, so the "
            f"smallest ratio for this image is {smallest:g}",
        )
    return side


def check_render(size: int, views: int, samples_per_ray: int, faithful: bool) -> None:
    """Refuse a 360° render whose views (all kept for the video) or one faithful view exceed the budget."""
    if views * size * size > MAX_VIEW_PIXELS:
        raise LimitError(
            "render_num_views",
            f"{views} (views of {size}x{size} px) would take {gib(views * size * size * VIEW_PIXEL_BYTES)}; at "
            f"render size {size} the largest is {MAX_VIEW_PIXELS // (size * size)}",
        )
    if faithful and size * size * samples_per_ray * RAY_SAMPLE_BYTES > BUDGET:
        raise LimitError(
            "render_size",
            f"{size} with {samples_per_ray} samples per ray would take "
            f"{gib(size * size * samples_per_ray * RAY_SAMPLE_BYTES)} per view (the faithful path renders a view "
            f"at once); the largest is {largest(RAY_SAMPLE_BYTES * samples_per_ray, 2)}",
        )


def check_chunk(chunk_size: int, mc_resolution: int, render_points: int) -> None:
    """Refuse a field query over the budget: `chunk_size` points at a time, or with 0 (no chunking) every
    point of the dense grid (which the fast path falls back to) or of a faithful view (`render_points`)."""
    if chunk_size == 0:
        points, what = max((mc_resolution**3, f"--mc-resolution {mc_resolution}"), (render_points, "a view"))
        if points > MAX_QUERY_POINTS:
            raise LimitError(
                "chunk_size",
                f"0 (no chunking) would query {points:,} points at once for {what} "
                f"({gib(points * QUERY_POINT_BYTES)}); give at most {MAX_QUERY_POINTS} points per query",
            )


def release_freed_memory(threshold: int = 1 << 20) -> None:
    """Have glibc give blocks of `threshold` bytes or more back to the system when freed. Its adaptive
    threshold otherwise puts the field's per-chunk temporaries on the heap between the kept outputs, and the
    fragments stay resident: the dense grid's peak measured 312 bytes per point instead of 72. A no-op where
    the C library is not glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, threshold)
