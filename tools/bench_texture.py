"""Texture-baking benchmark: the full marching-cubes mesh against face budgets, by stage, with its quality.

For each field (the fitted benchmark field of `bench_inference.py`: the full-size decoder trained to a
textured object with thin parts; the bundled default model on `assets/examples/mug.png`) the 256³
mesh is baked as it is and at each `--budgets` face budget (`apply_face_budget`: decimation, then the
field's colours at the new vertices), in the same run; the first row bakes the full mesh on xatlas's
unbounded charts, as the bake did before charts were limited to `--chart-area` of the surface. Per row:
the faces, the seconds of each stage (simplification, the xatlas atlas, the texture fill: rasterisation,
field queries, dilation) and their total, in wall time and in CPU time (all threads; steadier than wall
time on a shared machine), the speed-up of the total against the field's first row, then the quality:

- colour error: at `--samples` random points of the full mesh's surface (area-weighted, fixed seed),
  the baked texture (bilinear, at the closest point of the baked mesh) against the field's colour at
  the point itself; per point the mean absolute difference over R, G, B, in 1/255; mean and 99th
  percentile;
- Chamfer and Hausdorff distance of the baked mesh to the full one: `--samples` points on each
  surface, each one's distance to the other surface; Chamfer is the mean of the two mean distances,
  Hausdorff the largest distance (of the samples), both in % of the full mesh's bounding-box diagonal;
- the size of the GLB the demo writes.

The last lines are the whole table in Markdown, with the machine and its load average.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python tools/bench_texture.py` as well as `python -m tools.bench_texture`

from real3d.inference.export import for_file, glb_bytes  # noqa: E402
from real3d.inference.preprocess import load_image, prepare_input  # noqa: E402
from real3d.inference.simplify import apply_face_budget  # noqa: E402
from real3d.inference.texture import CHART_AREA, atlas_padding, fill_texture, make_atlas, query_colors  # noqa: E402
from real3d.models import load  # noqa: E402
from tools.bench_inference import cached_fitted_scene, machine_description  # noqa: E402

MAX_MEAN_ERROR, MAX_CHAMFER = 4.0, 0.5  # the quality a face budget must keep: /255, % of the diagonal


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", nargs="+", choices=["fitted", "default"], default=["fitted", "default"])
    parser.add_argument("--config", default="checkpoints/config.yaml", help="Config of the full-size decoder.")
    parser.add_argument("--default-model", default="checkpoints/default", help="The bundled trained model.")
    parser.add_argument("--image", default="assets/examples/mug.png", help="The default model's input image.")
    parser.add_argument("--budgets", type=int, nargs="+", default=[50000, 20000, 10000, 5000])
    parser.add_argument("--texture-resolution", type=int, default=1024)
    parser.add_argument("--chart-area", type=float, default=CHART_AREA, help="Largest chart, share of the area.")
    parser.add_argument(
        "--no-before", action="store_true", help="Skip the first row: the full mesh on unbounded charts (as before)."
    )
    parser.add_argument("--mc-resolution", type=int, default=256)
    parser.add_argument("--samples", type=int, default=10000, help="Surface points for the colour and distances.")
    parser.add_argument("--chunk-size", type=int, default=8192, help="Renderer chunk size (run.py's default).")
    parser.add_argument("--cache", default=str(ROOT / ".bench_cache"), help="Where the fitted field is kept.")
    parser.add_argument("--fit-steps", type=int, default=1500)
    parser.add_argument("--json", default=None, help="Also write the rows to this JSON file.")
    return parser.parse_args(argv)


def build_fields(args: argparse.Namespace) -> dict[str, tuple[nn.Module, torch.Tensor, float]]:
    """name -> (model, scene code [3,C,H,W], marching-cubes threshold), on the CPU."""
    fields = {}
    render = {"chunk_size": args.chunk_size}
    if "fitted" in args.fields:
        model = load(config=args.config, render=render, device=torch.device("cpu"))
        size = model.cfg.cond_image_size
        with torch.inference_mode():
            scene = model.image_to_scene_codes(torch.rand(1, 1, 3, size, size))[0]
        decoder = copy.deepcopy(model.decoder)
        planes = cached_fitted_scene(decoder, scene.shape[-1], scene.shape[1], Path(args.cache), args.fit_steps)
        model.decoder = decoder
        fields["fitted"] = (model, planes, 25.0)
    if "default" in args.fields:
        model = load(args.default_model, render=render, device=torch.device("cpu"))
        demo = model.cfg.get("demo") or {}
        image = prepare_input(load_image(args.image), None, demo.get("foreground_ratio", 0.65))
        scene = model.get_latent_from_img([image], "cpu")[0]
        fields[f"default ({Path(args.image).stem})"] = (model, scene, float(demo.get("mc_threshold", 25.0)))
    return fields


def timed(fn: Callable, *args: object) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of all threads, result) of fn(*args)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def texture_at(baked: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Colour [N,3] in [0,1] of the baked texture at the points of `baked` closest to `points` [N,3] (bilinear)."""
    closest, _, triangle = trimesh.proximity.closest_point(baked, points)
    weights = trimesh.triangles.points_to_barycentric(baked.triangles[triangle], closest)  # [N,3]
    uv = (weights[:, :, None] * baked.visual.uv[baked.faces[triangle]]).sum(axis=1)
    image = np.asarray(baked.visual.material.baseColorTexture.convert("RGB"), np.float64) / 255.0
    size_y, size_x = image.shape[:2]
    x, y = uv[:, 0] * size_x - 0.5, (1.0 - uv[:, 1]) * size_y - 0.5  # texel-centre coordinates (row 0: v = 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    color = np.zeros((len(points), 3))
    for dy, dx, weight in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        color += weight * image[np.clip(y0 + dy, 0, size_y - 1), np.clip(x0 + dx, 0, size_x - 1)]
    return color


def surface_distance(full: trimesh.Trimesh, other: trimesh.Trimesh, samples: int, seed: int) -> tuple[float, float]:
    """(Chamfer, Hausdorff) between two surfaces from `samples` points on each, in % of `full`'s diagonal."""
    diagonal = float(np.linalg.norm(full.bounds[1] - full.bounds[0]))
    on_full, _ = trimesh.sample.sample_surface(full, samples, seed=seed)
    on_other, _ = trimesh.sample.sample_surface(other, samples, seed=seed + 1)
    to_other = trimesh.proximity.closest_point(other, on_full)[1]
    to_full = trimesh.proximity.closest_point(full, on_other)[1]
    chamfer = (to_other.mean() + to_full.mean()) / 2
    hausdorff = max(to_other.max(), to_full.max())
    return 100 * chamfer / diagonal, 100 * hausdorff / diagonal


def bench_budget(
    model: nn.Module,
    scene: torch.Tensor,
    full: trimesh.Trimesh,
    budget: int | None,
    chart_area: float,
    samples: tuple[np.ndarray, np.ndarray],
    args: argparse.Namespace,
) -> dict:
    """One row: simplify (with a budget), atlas, texture fill; then the quality of the result."""
    resolution = args.texture_resolution
    simplify_s, simplify_cpu, mesh = timed(apply_face_budget, model, scene, full, budget)
    atlas_s, atlas_cpu, atlas = timed(make_atlas, mesh, resolution, atlas_padding(resolution), chart_area)
    fill_s, fill_cpu, baked = timed(fill_texture, model, scene, mesh, atlas, resolution)
    points, field_colors = samples
    error = np.abs(texture_at(baked, points) - field_colors).mean(axis=1) * 255.0
    chamfer, hausdorff = (0.0, 0.0) if mesh is full else surface_distance(full, mesh, args.samples, seed=1)
    return {
        "mesh": (f"budget {budget:,}" if budget else "full")
        + (f", charts ≤ {100 * chart_area:g}% of the area" if chart_area else ", unbounded charts (before)"),
        "budget": budget,
        "faces": len(mesh.faces),
        "simplify_s": simplify_s,
        "atlas_s": atlas_s,
        "fill_s": fill_s,
        "total_s": simplify_s + atlas_s + fill_s,
        "simplify_cpu_s": simplify_cpu,
        "atlas_cpu_s": atlas_cpu,
        "fill_cpu_s": fill_cpu,
        "total_cpu_s": simplify_cpu + atlas_cpu + fill_cpu,
        "color_mean": float(error.mean()),
        "color_p99": float(np.percentile(error, 99)),
        "chamfer_pct": chamfer,
        "hausdorff_pct": hausdorff,
        "glb_mb": len(glb_bytes(for_file(baked))) / 1e6,
    }


COLUMNS = (
    ("field", "{field}"),
    ("mesh", "{mesh}"),
    ("faces", "{faces:,}"),
    ("simplify s", "{simplify_s:.1f}"),
    ("atlas s", "{atlas_s:.1f}"),
    ("bake s", "{fill_s:.1f}"),
    ("total s", "{total_s:.1f}"),
    ("total CPU s", "{total_cpu_s:.1f}"),
    ("speed-up", "{speedup:.1f}x"),
    ("speed-up CPU", "{speedup_cpu:.1f}x"),
    ("colour error mean /255", "{color_mean:.2f}"),
    ("colour error p99 /255", "{color_p99:.1f}"),
    ("Chamfer %", "{chamfer_pct:.3f}"),
    ("Hausdorff %", "{hausdorff_pct:.2f}"),
    ("GLB MB", "{glb_mb:.2f}"),
)


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt.format(**row) for _, fmt in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    machine = machine_description(torch.device("cpu"))
    print(json.dumps(machine), flush=True)
    rows = []
    for name, (model, scene, threshold) in build_fields(args).items():
        mesh_s, _, meshes = timed(model.extract_mesh, scene[None], args.mc_resolution, threshold)
        full = meshes[0]
        points, _ = trimesh.sample.sample_surface(full, args.samples, seed=0)
        field_colors = query_colors(model, scene, np.ascontiguousarray(points, np.float32), args.chunk_size)
        print(f"{name}: {args.mc_resolution}³ mesh, {len(full.faces):,} faces ({mesh_s:.1f} s, not timed)", flush=True)
        field_rows = []
        runs = [] if args.no_before else [(None, 0.0)]
        for budget, chart_area in runs + [(budget, args.chart_area) for budget in [None, *args.budgets]]:
            row = {"field": name, **bench_budget(model, scene, full, budget, chart_area, (points, field_colors), args)}
            row["speedup"] = field_rows[0]["total_s"] / row["total_s"] if field_rows else 1.0
            row["speedup_cpu"] = field_rows[0]["total_cpu_s"] / row["total_cpu_s"] if field_rows else 1.0
            field_rows.append(row)
            print("  " + ", ".join(f"{k} {fmt.format(**row)}" for k, fmt in COLUMNS[1:]), flush=True)
        good = [
            r
            for r in field_rows
            if r["budget"] and r["color_mean"] <= MAX_MEAN_ERROR and r["chamfer_pct"] <= MAX_CHAMFER
        ]
        kept = [r["faces"] for r in good]
        print(f"  smallest budget within {MAX_MEAN_ERROR}/255 and Chamfer {MAX_CHAMFER}%: {min(kept, default=None)}")
        rows += field_rows
    machine["load_average_end"] = os.getloadavg()
    load = ", ".join(f"{x:.1f}" for x in machine["load_average"])
    load_end = ", ".join(f"{x:.1f}" for x in machine["load_average_end"])
    print(
        f"\nTexture {args.texture_resolution}², {args.mc_resolution}³ meshes; {machine.get('cpu', 'CPU')}, "
        f"{machine['threads']} threads; load average {load} at the start, {load_end} at the end.\n"
    )
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
