"""Inference benchmark: faithful vs fast paths and fp32 vs bf16, per stage, in one run.

Stages: image -> triplane; one rendered view (random weights, and a structured field that looks like
a trained model's: an opaque object in empty space, with thin parts); a 360° orbit; marching-cubes
meshes. For each stage the faithful path (the reference's computation) and the fast path run
alternately, `--repeats` times each; the table gives the medians, the median of the per-repeat
speed-ups (robust to a shared machine's load drifting), the peak memory of each path and the largest
difference between their outputs. Times are wall clock; on a shared CPU only the ratios are stable.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from torch import nn

from real3d.geometry import spherical_rays
from real3d.inference.preprocess import load_image, prepare_input
from real3d.models import LRM, load
from real3d.models.field import FieldSpec, TriplaneField
from real3d.models.lrm import cpu_has_bf16

# The original implementation on this project's 2-core CPU (issue #8): full-size model, chunk 8192.
REFERENCE_SECONDS = {"image->triplane fp32": 19.0, "render 256² (random weights)": 7.8, "mesh 128³": 6.8}
REFERENCE_MATMUL_GFLOPS = 163.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="checkpoints/config.yaml", help="Model config (random weights).")
    parser.add_argument("--pretrained", default=None, help="Checkpoint folder instead of a random model.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs per path and stage.")
    parser.add_argument("--slow-repeats", type=int, default=1, help="Timed runs of stages slower than 30 s.")
    parser.add_argument("--render-size", type=int, default=256)
    parser.add_argument("--orbit", type=int, nargs=2, default=(8, 128), metavar=("VIEWS", "SIZE"))
    parser.add_argument("--mc-resolutions", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--chunk-size", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
    parser.add_argument(
        "--stages",
        nargs="*",
        default=["triplane", "render", "orbit", "mesh", "bf16"],
        choices=["triplane", "render", "orbit", "mesh", "bf16"],
    )
    parser.add_argument("--default-model", default="checkpoints/default", help="The bundled trained model.")
    parser.add_argument("--examples", nargs="*", default=["assets/examples/mug.png"], help="Its input images.")
    parser.add_argument("--demo-views", type=int, default=30, help="Orbit views of the default model's demo.")
    parser.add_argument("--demo-size", type=int, default=128, help="Orbit view size of the default model's demo.")
    parser.add_argument("--orbit-fields", nargs="*", default=["structured"], help="Fields of the orbit stage.")
    parser.add_argument("--fit-steps", type=int, default=1500, help="Gradient steps of the fitted field.")
    parser.add_argument("--cache", default=".bench_cache", help="Folder for the fitted field (gitignored).")
    parser.add_argument(
        "--fields", nargs="*", default=None, help="Only these fields: random weights, structured, fitted, default."
    )
    parser.add_argument("--pictures", default=None, help="Save each field's render here as perf_<field>.png.")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    parser.add_argument("--plot", default=None, help="Write an SVG bar chart of the stage times here.")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------- structured field


@torch.no_grad()
def structured_scene(decoder: nn.Module, plane_size: int, n_channels: int, gain: float = 48.0) -> torch.Tensor:
    """Set `decoder` (a NeRFMLP) to read 4 plane channels and return a triplane [3,C,P,P] for it.

    The field is an opaque, coloured ball of radius ~0.5 (in box units) in empty space, with a thin
    rod (thinner than a texel) and a thin wall: what a trained model's field looks like to the
    renderer and to marching cubes, where random weights give a uniform haze. Each signal passes the
    SiLU layers exactly as silu(x) - silu(-x) = x on a pair of neurons.
    """
    linears = [m for m in decoder.layers if isinstance(m, nn.Linear)]
    if linears[0].out_features < 8 or linears[0].in_features != 3 * n_channels or n_channels < 4:
        raise ValueError("structured_scene needs a concat decoder with >= 8 neurons and >= 4 channels per plane")
    for layer in linears:
        layer.weight.zero_()
        layer.bias.zero_()
    first, last = linears[0], linears[-1]
    pair = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    for k in range(4):  # signal k: density, then three colour features
        for plane in range(3):
            first.weight[2 * k, plane * n_channels + k] = 1.0
            first.weight[2 * k + 1, plane * n_channels + k] = -1.0
        for layer in linears[1:-1]:
            layer.weight[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = pair
        last.weight[k, 2 * k] = 1.0
        last.weight[k, 2 * k + 1] = -1.0
    last.weight[0] *= gain

    centres = (torch.arange(plane_size) + 0.5) / plane_size * 2 - 1
    v, u = torch.meshgrid(centres, centres, indexing="ij")  # u along W (first coordinate), v along H
    r2 = 0.5**2 / 1.5  # the three planes' terms add up to 0.25 - |p|²: a ball of radius 0.5
    planes = torch.zeros(3, n_channels, plane_size, plane_size)
    for plane in range(3):
        planes[plane, 0] = (r2 - u**2 - v**2) / 2
        planes[plane, 1] = 0.6 * torch.sin(3 * u + plane)
        planes[plane, 2] = 0.6 * torch.cos(2 * v - plane)
        planes[plane, 3] = 0.3 * u * v

    def texel(coordinate: float) -> int:
        return int((coordinate + 1) / 2 * plane_size)

    planes[0, 0, texel(0.0), texel(0.72)] += 0.55  # a rod along z through (x, y) = (0.72, 0)
    planes[0, 0, :, texel(-0.75)] += 0.45  # a wall at x = -0.75, limited in y and z by the ball's terms
    return planes


def smooth_features(n_channels: int, plane_size: int, generator: torch.Generator) -> torch.Tensor:
    """Random smooth plane features [3, n_channels, P, P]: a few low-frequency waves per channel."""
    centres = (torch.arange(plane_size) + 0.5) / plane_size * 2 - 1
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    features = torch.zeros(3, n_channels, plane_size, plane_size)
    for _ in range(3):
        freq = torch.rand(3, n_channels, 2, 1, 1, generator=generator) * 8 - 4
        phase = torch.rand(3, n_channels, 1, 1, generator=generator) * 2 * torch.pi
        features += 0.3 * torch.sin(freq[:, :, 0] * u + freq[:, :, 1] * v + phase)
    return features


def fitted_scene(
    decoder: nn.Module,
    plane_size: int,
    n_channels: int,
    steps: int = 1500,
    batch: int = 8192,
    seed: int = 0,
    raw_range: tuple[float, float] = (-12.0, 10.0),
) -> torch.Tensor:
    """Fit `decoder` (re-initialised at random) to the structured field; return its fixed triplane [3,C,P,P].

    The triplane holds the structured field's four signal channels and random smooth features in the
    others; the decoder learns by gradient descent (Adam, `steps` batches of points, half of them near
    the object) the structured decoder's raw density, clipped to `raw_range`, and colour features. The
    result has dense weights, every hidden unit in use, and a field like a trained model's: an opaque,
    textured object with thin parts in near-empty space, which interval bounds cannot prove empty.
    """
    generator = torch.Generator().manual_seed(seed)
    teacher = copy.deepcopy(decoder)
    planes = structured_scene(teacher, plane_size, n_channels)
    planes[:, 4:] = smooth_features(n_channels - 4, plane_size, generator)
    torch.manual_seed(seed)
    for layer in decoder.modules():
        if isinstance(layer, nn.Linear):
            layer.reset_parameters()
    field = TriplaneField(teacher, planes, FieldSpec(radius=0.87))
    with torch.no_grad():
        pool = (torch.rand(1 << 18, 3, generator=generator) * 2 - 1) * field.radius
        features = field._sample_planes(planes, pool / field.radius)
        target = teacher(features)
        target_raw = target["density"][:, 0].clamp(*raw_range)
        near = (target_raw > raw_range[0] + 4).nonzero()[:, 0]  # the object and around it
        band = ((target_raw > -4) & (target_raw < raw_range[1] - 2)).nonzero()[:, 0]  # its surface
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for _ in range(steps):
        pick = torch.cat(
            [
                subset[torch.randint(len(subset), (batch // 3,), generator=generator)]
                for subset in (torch.arange(len(pool)), near, band)
            ]
        )
        out = decoder(features[pick])
        loss = F.mse_loss(out["density"][:, 0], target_raw[pick]) + 10 * F.mse_loss(
            out["features"], target["features"][pick]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    decoder.eval().requires_grad_(False)
    return planes


def cached_fitted_scene(
    decoder: nn.Module, plane_size: int, n_channels: int, cache_dir: Path, steps: int
) -> torch.Tensor:
    """`fitted_scene`, loaded from `cache_dir` when fitted before for this decoder shape and step count."""
    shape = "-".join(str(m.out_features) for m in decoder.modules() if isinstance(m, nn.Linear))
    path = cache_dir / f"fitted_{plane_size}_{n_channels}_{shape}_{steps}.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        decoder.load_state_dict(saved["decoder"])
        return saved["planes"]
    with torch.enable_grad(), torch.inference_mode(False):
        planes = fitted_scene(decoder, plane_size, n_channels, steps=steps)
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"decoder": decoder.state_dict(), "planes": planes}, path)
    return planes


# ---------------------------------------------------------------------------------- measurement


class PeakMemory:
    """Peak memory above the start of a block: CUDA allocator peak, or resident set polled every 2 ms.

    `settle` first frees what is garbage and hands freed heap back to the OS (a fraction of a second),
    so that the baseline is live memory.
    """

    def __init__(self, device: torch.device, settle: bool = True) -> None:
        self.device = device
        self.settle = settle
        self.peak_mb = 0.0
        self.settle_s = 0.0  # time spent settling, to leave out of enclosing timings

    @staticmethod
    def _trim() -> None:
        """Hand freed heap memory back to the OS, so that the resident set measures live memory."""
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)

    @staticmethod
    def _rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device) / 2**20
            return self
        if self.settle:
            start = time.perf_counter()
            gc.collect()
            self._trim()
            self.settle_s = time.perf_counter() - start
        self._base = self._rss_mb()
        self._peak = self._base
        self._stop = threading.Event()

        def poll() -> None:
            while not self._stop.wait(0.002):
                self._peak = max(self._peak, self._rss_mb())

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 - self._base
            return
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self._peak, self._rss_mb()) - self._base


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float, object]:
    """(seconds, peak MB, result) of one call."""
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, memory.peak_mb, result


def compare(
    name: str,
    faithful: Callable[[], object],
    fast: Callable[[], object],
    difference: Callable[[object, object, dict], dict],
    device: torch.device,
    repeats: int,
    slow_repeats: int,
    stats: Callable[[], dict] = dict,
    warmup: bool = True,
) -> dict:
    """Faithful and fast runs, alternating (which goes first alternates too); medians and speed-ups.

    `stats` is read after each fast run (e.g. the renderer's counts of what it evaluated).
    """
    if warmup:
        fast()
    times: dict[str, list[float]] = {"faithful": [], "fast": []}
    peaks: dict[str, float] = {"faithful": 0.0, "fast": 0.0}
    outputs: dict[str, object] = {}
    ratios = []
    runs = repeats
    r = 0
    while r < runs:
        order = ("faithful", "fast") if r % 2 == 0 else ("fast", "faithful")
        for path in order:
            seconds, peak, outputs[path] = timed(faithful if path == "faithful" else fast, device)
            if path == "fast":
                fast_stats = dict(stats())
            times[path].append(seconds)
            peaks[path] = max(peaks[path], peak)
        ratios.append(times["faithful"][-1] / times["fast"][-1])
        if r == 0 and times["faithful"][0] > 30.0:
            runs = min(runs, slow_repeats)
        r += 1
    result = {
        "stage": name,
        "faithful_s": statistics.median(times["faithful"]),
        "fast_s": statistics.median(times["fast"]),
        "speedup": statistics.median(ratios),
        "faithful_peak_mb": peaks["faithful"],
        "fast_peak_mb": peaks["fast"],
        "runs": len(ratios),
        **difference(outputs["faithful"], outputs["fast"], fast_stats),
    }
    print(format_row(result), flush=True)
    return result


def format_row(row: dict) -> str:
    note = row.get("note", "")
    return (
        f"{row['stage']:<34} {row['faithful_s']:9.2f} {row['fast_s']:9.2f} {row['speedup']:7.2f}x"
        f" {row['faithful_peak_mb']:9.0f} {row['fast_peak_mb']:9.0f}  {row['diff']:<22} {note}"
    )


def render_difference(a: torch.Tensor, b: torch.Tensor, stats: dict) -> dict:
    """Largest colour difference, and the share of samples the fast path evaluated."""
    evaluated = stats["samples_evaluated"] / max(stats["samples_total"], 1)
    return {
        "diff": f"max|Δrgb| {float((a - b).abs().max()):.1e}",
        "max_abs_diff": float((a - b).abs().max()),
        "note": f"fast path evaluates {100 * evaluated:.1f}% of the samples",
    }


def mesh_difference(a: list, b: list, stats: dict) -> dict:
    """Whether the meshes are the same (faces equal, vertices in the same order), and the grid share evaluated."""
    a, b = a[0], b[0]
    evaluated = stats["points_evaluated"] / stats["points_total"]
    same_counts = a.vertices.shape == b.vertices.shape and a.faces.shape == b.faces.shape
    same_faces = same_counts and bool(np.array_equal(a.faces, b.faces))
    distance = float(np.abs(a.vertices - b.vertices).max(initial=0.0)) if same_counts else float("inf")
    return {
        "diff": f"{'same' if same_faces else 'DIFFERENT'} F, max|Δv| {distance:.0e}",
        "max_vertex_distance": distance,
        "same_counts": same_counts,
        "same_faces": same_faces,
        "vertices": len(a.vertices),
        "note": f"fast path evaluates {100 * evaluated:.1f}% of the grid ({stats.get('coarse_to_fine', '')})",
    }


def matmul_gflops(device: torch.device, dtype: torch.dtype, m: int = 3072, k: int = 1024, n: int = 4096) -> float:
    """GFLOP/s of one m×k by k×n matmul (the issue's yardstick), median of 3 after a warm-up."""
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    times = []
    for i in range(4):
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:
            times.append(time.perf_counter() - start)
    return 2 * m * k * n / statistics.median(times) / 1e9


def image_to_triplane_gflop(model: LRM, base_dir: Path) -> float:
    """FLOPs of image -> triplane counted on the meta device (matmuls, attention and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        meta = LRM(model.cfg, base_dir=base_dir).eval()
        size = model.cfg.cond_image_size
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            meta.image_to_scene_codes(torch.rand(1, 1, 3, size, size))
    return counter.get_total_flops() / 1e9


def default_model_fields(args: argparse.Namespace, device: torch.device) -> dict[str, Field]:
    """The bundled trained model on its example images, with its demo settings (none if it is absent)."""
    folder = Path(args.default_model)
    if not (folder / "model.ckpt").is_file():
        return {}
    model = load(folder, render={"chunk_size": args.chunk_size}, device=device)
    demo = model.cfg.get("demo") or {}
    fields = {}
    for path in args.examples:
        image = prepare_input(load_image(path), None, demo.get("foreground_ratio", 0.65))
        scene = model.get_latent_from_img([image], device)[0]
        fields[f"default ({Path(path).stem})"] = Field(
            model,
            model.decoder,
            scene,
            demo.get("render_distance", 1.9),
            demo.get("render_fovy_deg", 40.0),
            demo.get("mc_threshold", 25.0),
        )
    return fields


# ------------------------------------------------------------------------------------------ stages


def stage_triplane(model: LRM, device: torch.device, args: argparse.Namespace) -> list[dict]:
    """image -> triplane, fp32: there is one path (the reference's, with fused attention); its efficiency."""
    size = model.cfg.cond_image_size
    image = torch.rand(1, 1, 3, size, size, device=device)
    gflop = image_to_triplane_gflop(model, Path(args.pretrained) if args.pretrained else Path(args.config).parent)
    with torch.inference_mode():
        model.image_to_scene_codes(image)
        times, rates, peak = [], [], 0.0
        for _ in range(max(2, args.slow_repeats)):
            rates.append(matmul_gflops(device, torch.float32))
            seconds, peak_mb, _ = timed(lambda: model.image_to_scene_codes(image), device)
            times.append(seconds)
            peak = max(peak, peak_mb)
    seconds, rate = statistics.median(times), statistics.median(rates)
    efficiency = gflop / seconds / rate
    reference = REFERENCE_SECONDS["image->triplane fp32"]
    row = {
        "stage": "image->triplane fp32",
        "faithful_s": seconds,
        "fast_s": seconds,
        "speedup": 1.0,
        "faithful_peak_mb": peak,
        "fast_peak_mb": peak,
        "runs": len(times),
        "diff": "one path",
        "gflop": gflop,
        "matmul_gflops": rate,
        "fraction_of_matmul_rate": efficiency,
        "note": (
            f"{gflop:.1f} GFLOP at {gflop / seconds:.0f} GFLOP/s = {100 * efficiency:.0f}% of the fp32 matmul "
            f"rate measured alongside ({rate:.0f} GFLOP/s); the reference: {gflop:.0f} GFLOP in {reference:.1f} s at "
            f"{REFERENCE_MATMUL_GFLOPS:.0f} GFLOP/s = {100 * gflop / reference / REFERENCE_MATMUL_GFLOPS:.0f}%"
        ),
    }
    print(format_row(row), flush=True)
    return [row]


@dataclass
class Field:
    """A benchmark field: the model that renders it, its decoder and triplane, and its view/mesh settings."""

    model: LRM
    decoder: nn.Module
    scene: torch.Tensor  # [3, C, P, P]
    distance: float = 1.9
    fovy: float = 40.0
    threshold: float = 25.0
    stats: dict = dataclass_field(default_factory=dict)  # what the last fast run evaluated

    @property
    def nerf(self) -> TriplaneField:
        """This field's decoder on its triplane."""
        return TriplaneField(self.decoder, self.scene, self.model.field_spec)

    @contextlib.contextmanager
    def installed(self) -> Iterator[LRM]:
        """The model with this field's decoder."""
        original = self.model.decoder
        self.model.decoder = self.decoder
        try:
            yield self.model
        finally:
            self.model.decoder = original


def stage_render(fields: dict[str, Field], device: torch.device, args: argparse.Namespace) -> list[dict]:
    """One view of each field; its fast render is saved as docs/perf_<field>.png with --pictures."""
    size = args.render_size
    rows = []
    for label, field in fields.items():
        rays_o, rays_d = spherical_rays(1, 20.0, field.distance, field.fovy, size, size)
        rays_o, rays_d = rays_o[0].to(device), rays_d[0].to(device)

        def render(fast: bool, field: Field = field, rays: tuple = (rays_o, rays_d)) -> torch.Tensor:
            settings = field.model.render_settings.replace(fast=fast)
            with torch.inference_mode():
                return field.model.renderer.render_rays(field.nerf, *rays, settings, field.stats)[0]

        rows.append(
            compare(
                f"render {size}² ({label})",
                lambda render=render: render(False),
                lambda render=render: render(True),
                render_difference,
                device,
                args.repeats,
                args.slow_repeats,
                stats=lambda field=field: field.stats,
            )
        )
        if args.pictures:
            picture = (render(True).clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
            name = label.split(" (")[0].replace(" ", "_")
            PIL.Image.fromarray(picture).save(Path(args.pictures) / f"perf_{name}.png")
    return rows


def stage_orbit(fields: dict[str, Field], device: torch.device, args: argparse.Namespace) -> list[dict]:
    """Orbits of the `--orbit-fields` and, with the default model's demo settings, of its examples."""
    rows = []
    for label, field in fields.items():
        if label not in args.orbit_fields and not label.startswith("default"):
            continue
        n_views, size = args.orbit if not label.startswith("default") else (args.demo_views, args.demo_size)
        with field.installed() as model:

            def orbit(
                fast: bool, model: LRM = model, field: Field = field, n_views: int = n_views, size: int = size
            ) -> torch.Tensor:
                settings = model.render_settings.replace(fast=fast)
                views = model.render_360(
                    field.scene[None],
                    n_views,
                    0.0,
                    field.distance,
                    field.fovy,
                    size,
                    size,
                    "pt",
                    settings=settings,
                    stats=field.stats,
                )[0]
                return torch.stack(views)

            rows.append(
                compare(
                    f"360° orbit {n_views}x{size}² ({label})",
                    lambda orbit=orbit: orbit(False),
                    lambda orbit=orbit: orbit(True),
                    render_difference,
                    device,
                    args.repeats,
                    args.slow_repeats,
                    stats=lambda field=field: field.stats,
                )
            )
    return rows


def stage_mesh(fields: dict[str, Field], device: torch.device, args: argparse.Namespace) -> list[dict]:
    """Meshes of each field (but the haze of random weights) at each resolution, coarse to fine vs dense."""
    rows = []
    for label, field in fields.items():
        if label == "random weights":
            continue
        for resolution in args.mc_resolutions:
            with field.installed() as model:
                rows.append(
                    compare(
                        f"mesh {resolution}³ ({label})",
                        lambda r=resolution, m=model, f=field: m.extract_mesh(
                            f.scene[None], r, f.threshold, settings=m.render_settings.replace(fast=False)
                        ),
                        lambda r=resolution, m=model, f=field: m.extract_mesh(
                            f.scene[None], r, f.threshold, settings=m.render_settings.replace(fast=True), stats=f.stats
                        ),
                        mesh_difference,
                        device,
                        args.repeats,
                        args.slow_repeats,
                        stats=lambda f=field: f.stats,
                    )
                )
    return rows


def stage_bf16(model: LRM, scenes: dict[str, Field], device: torch.device, args: argparse.Namespace) -> list[dict]:
    """fp32 vs bf16 for image -> triplane (weights cast once) and a render; skipped on CPUs without bf16."""
    fp32_rate = matmul_gflops(device, torch.float32, 512, 512, 512)
    bf16_rate = matmul_gflops(device, torch.bfloat16, 512, 512, 512)
    if device.type == "cpu" and not cpu_has_bf16():
        note = (
            f"bf16 skipped: this CPU has no bf16 instructions (AVX512-BF16/AMX); a 512³ matmul runs at "
            f"{bf16_rate:.2f} GFLOP/s in bf16 vs {fp32_rate:.0f} in fp32, so bf16 would be "
            f"~{fp32_rate / bf16_rate:.0f}x slower. Run on a GPU (or a bf16 CPU) for these numbers."
        )
        print(note, flush=True)
        return [{"stage": "bf16", "skipped": True, "note": note, "fp32_gflops": fp32_rate, "bf16_gflops": bf16_rate}]
    size = model.cfg.cond_image_size
    image = torch.rand(1, 1, 3, size, size, device=device)

    @torch.inference_mode()
    def to_triplane(precision: str) -> torch.Tensor:
        return model.image_to_scene_codes(image, precision=precision)

    view_o, view_d = (x[0].to(device) for x in spherical_rays(1, 0.0, 1.9, 40.0, 64, 64))

    def triplane_difference(a: torch.Tensor, b: torch.Tensor, _: dict) -> dict:
        """Scene codes' largest difference, and the PSNR of a 64² fp32 view of each (bf16 against fp32)."""
        with torch.inference_mode():
            view_a, view_b = (model.renderer.render_rays(model.field(c[0]), view_o, view_d)[0] for c in (a, b))
        value = float(-10 * torch.log10(((view_a - view_b) ** 2).mean().clamp_min(1e-20)))
        return {"diff": f"max|Δ| {float((a - b).abs().max()):.1e}, {value:.1f} dB", "psnr_db": value}

    rows = [
        compare(
            "image->triplane fp32 vs bf16",
            lambda: to_triplane("fp32"),
            lambda: to_triplane("bf16"),
            triplane_difference,
            device,
            args.repeats,
            args.slow_repeats,
        )
    ]
    structured = scenes["structured"].nerf
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, args.render_size, args.render_size)
    rays_o, rays_d = rays_o[0].to(device), rays_d[0].to(device)

    def render(bf16: bool) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return model.renderer.render_rays(structured, rays_o, rays_d)[0]

    def psnr(a: torch.Tensor, b: torch.Tensor, _: dict) -> dict:
        value = float(-10 * torch.log10(((a - b) ** 2).mean().clamp_min(1e-20)))
        return {"diff": f"PSNR {value:.1f} dB", "psnr_db": value}

    rows.append(
        compare(
            f"render {args.render_size}² fp32 vs bf16 (structured)",
            lambda: render(False),
            lambda: render(True),
            psnr,
            device,
            args.repeats,
            args.slow_repeats,
        )
    )
    for row in rows:
        row["note"] = "'faithful' = fp32, 'fast' = bf16"
    return rows


# --------------------------------------------------------------------------------------- reporting


def machine_description(device: torch.device) -> dict:
    info = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_has_bf16(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    return info


def write_svg(rows: list[dict], path: str | Path) -> None:
    """A horizontal bar chart (log scale) of the faithful and fast times per stage."""
    rows = [r for r in rows if "faithful_s" in r]
    width, left, bar, gap = 900, 300, 14, 12
    height = 40 + len(rows) * (2 * bar + gap) + 30
    lo = min(min(r["fast_s"], r["faithful_s"]) for r in rows)
    hi = max(max(r["fast_s"], r["faithful_s"]) for r in rows)
    lo_log, hi_log = np.log10(lo) - 0.2, np.log10(hi) + 0.1

    def x(seconds: float) -> float:
        return left + (np.log10(seconds) - lo_log) / (hi_log - lo_log) * (width - left - 80)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        '<text x="10" y="20" font-size="14">Time per stage (s, log scale): faithful (grey) vs fast (blue)</text>',
    ]
    y = 40
    for row in rows:
        parts.append(f'<text x="10" y="{y + bar + 4}">{row["stage"]}</text>')
        for seconds, colour, dy in ((row["faithful_s"], "#999999", 0), (row["fast_s"], "#1f6fb4", bar)):
            parts.append(
                f'<rect x="{left}" y="{y + dy}" width="{x(seconds) - left:.1f}" height="{bar - 2}" fill="{colour}"/>'
            )
            parts.append(f'<text x="{x(seconds) + 4:.1f}" y="{y + dy + bar - 4}">{seconds:.2f}</text>')
        y += 2 * bar + gap
    parts.append("</svg>")
    Path(path).write_text("\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load(args.pretrained, config=args.config, render={"chunk_size": args.chunk_size}, device=device)
    machine = machine_description(device)
    print(json.dumps(machine), flush=True)

    size = model.cfg.cond_image_size
    with torch.inference_mode():
        scene = model.image_to_scene_codes(torch.rand(1, 1, 3, size, size, device=device))[0]
    plane_size, n_channels = scene.shape[-1], scene.shape[1]
    structured_decoder, fitted_decoder = copy.deepcopy(model.decoder), copy.deepcopy(model.decoder)
    structured = structured_scene(structured_decoder, plane_size, n_channels).to(device)
    fitted = cached_fitted_scene(fitted_decoder, plane_size, n_channels, Path(args.cache), args.fit_steps)
    fields = {
        "random weights": Field(model, model.decoder, scene),
        "structured": Field(model, structured_decoder, structured),
        "fitted": Field(model, fitted_decoder.to(device), fitted.to(device)),
    }
    fields.update(default_model_fields(args, device))
    if args.fields:
        fields = {k: v for k, v in fields.items() if k.split(" (")[0] in args.fields}
    if args.pictures:
        Path(args.pictures).mkdir(parents=True, exist_ok=True)

    header = (
        f"{'stage':<34} {'faithful':>9} {'fast':>9} {'speed-up':>8} {'peak MB':>9} {'peak MB':>9}  {'difference':<22}"
    )
    print(f"{'':<34} {'(s)':>9} {'(s)':>9} {'':>8} {'faithful':>9} {'fast':>9}")
    print(header)
    rows: list[dict] = []
    stage_fns = {
        "triplane": lambda: stage_triplane(model, device, args),
        "render": lambda: stage_render(fields, device, args),
        "orbit": lambda: stage_orbit(fields, device, args),
        "mesh": lambda: stage_mesh(fields, device, args),
        "bf16": lambda: stage_bf16(model, fields, device, args),
    }
    for stage in args.stages:
        rows += stage_fns[stage]()
    for name, reference in REFERENCE_SECONDS.items():
        for row in rows:
            if row.get("stage", "").startswith(name):
                print(
                    f"{row['stage']}: ours {row['faithful_s']:.2f} s faithful, {row['fast_s']:.2f} s fast; "
                    f"the original implementation {reference} s (issue #8: this CPU, full-size random model, matmul at "
                    f"{REFERENCE_MATMUL_GFLOPS:.0f} GFLOP/s)"
                )
    machine["load_average_end"] = os.getloadavg()
    print(f"load average at the end: {machine['load_average_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "args": vars(args), "rows": rows}, indent=2))
    if args.plot:
        write_svg(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
