"""Texture-baking benchmark: time and peak memory of `bake_texture` per texture resolution, by stage.

The field is the full-size model's (the published config's decoder and renderer) set to the structured
scene of `bench_inference.py` (an opaque ball with a thin rod and wall, as a trained model's field
looks), or a checkpoint's own field for an input image (`--pretrained`). The mesh comes from marching
cubes at `--mc-resolution` (TripoSR's default 256). Each resolution is baked once (total time and peak
memory above the start); then the CPU rasterisation, the field queries and the chart dilation are run
again on that bake's atlas and timed one by one, and the rest of the total is the xatlas atlas (with
the image conversion, which is negligible).
"""

from __future__ import annotations

import argparse
import json
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

from real3d.inference.pipeline import demo_settings  # noqa: E402
from real3d.inference.preprocess import load_image, prepare_input  # noqa: E402
from real3d.inference.texture import (  # noqa: E402
    atlas_padding,
    bake_texture,
    dilate,
    query_colors,
    rasterize_atlas,
)
from real3d.models import load  # noqa: E402
from tools.bench_inference import PeakMemory, machine_description, structured_scene  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="checkpoints/config.yaml", help="Model config of the full-size field.")
    parser.add_argument("--pretrained", default=None, help="Checkpoint folder: bake its field for --image instead.")
    parser.add_argument("--image", default="assets/examples/mug.png", help="RGBA input image with --pretrained.")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--mc-resolution", type=int, default=256)
    parser.add_argument("--mc-threshold", type=float, default=25.0)
    parser.add_argument("--chunk-size", type=int, default=8192, help="Renderer chunk size (run.py's default).")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    return parser.parse_args(argv)


def build_field(args: argparse.Namespace, device: torch.device) -> tuple[nn.Module, torch.Tensor, str]:
    """(model with decoder + renderer, scene code [3,C,H,W], description)."""
    if args.pretrained:
        model = load(args.pretrained, render={"chunk_size": args.chunk_size}, device=device)
        image = prepare_input(load_image(args.image), None, demo_settings(model.cfg).foreground_ratio)
        scene_code = model.get_latent_from_img([image], device)[0]
        return model, scene_code, f"{args.pretrained} on {args.image}"
    model = load(config=args.config, render={"chunk_size": args.chunk_size}, device=torch.device("cpu"))
    cfg = model.cfg
    plane_size = 2 * cfg.tokenizer.plane_size  # the post-processor upsamples the planes twice
    scene_code = structured_scene(model.decoder, plane_size, cfg.post_processor.out_channels)
    return model.to(device), scene_code.to(device), f"full-size field of {args.config} (structured scene)"


def seconds(device: torch.device, fn: Callable, *args: object) -> tuple[float, object]:
    """(wall seconds, result) of fn(*args)."""
    start = time.perf_counter()
    result = fn(*args)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def bench_resolution(
    model: nn.Module, scene_code: torch.Tensor, mesh: trimesh.Trimesh, resolution: int, chunk_size: int
) -> dict:
    """One full bake (time, peak memory), then its stages again on its atlas; the atlas takes the rest."""
    device = scene_code.device
    with PeakMemory(device) as memory:
        total_s, baked = seconds(device, bake_texture, model, scene_code, mesh, resolution)
    uv, faces, vertices = baked.visual.uv, np.asarray(baked.faces), np.asarray(baked.vertices)
    raster_s, (points, face_id) = seconds(device, rasterize_atlas, uv, faces, vertices, resolution)
    covered = face_id >= 0
    query_s, colors = seconds(device, query_colors, model, scene_code, points[covered], chunk_size)
    image = np.zeros_like(points)
    image[covered] = colors
    dilate_s, _ = seconds(device, dilate, image, covered, atlas_padding(resolution))
    atlas_s = total_s - raster_s - query_s - dilate_s
    return {
        "texture": resolution,
        "total_s": total_s,
        "peak_mb": memory.peak_mb,
        "atlas_s": atlas_s,
        "raster_s": raster_s,
        "query_s": query_s,
        "dilate_s": dilate_s,
        "texels_queried": int(covered.sum()),
        "coverage": float(covered.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    print(json.dumps(machine_description(device)), flush=True)
    model, scene_code, what = build_field(args, device)
    mesh_s, meshes = seconds(device, model.extract_mesh, scene_code[None], args.mc_resolution, args.mc_threshold)
    mesh = meshes[0]
    print(
        f"field: {what}; mesh {args.mc_resolution}³: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces "
        f"({mesh_s:.1f} s, not counted below)",
        flush=True,
    )
    header = (
        f"{'texture':>9} {'total s':>8} {'peak MB':>8} {'atlas s':>8} {'raster s':>9} {'query s':>8} {'dilate s':>9}"
    )
    print(header + "  texels queried", flush=True)
    rows = []
    for resolution in args.resolutions:
        row = bench_resolution(model, scene_code, mesh, resolution, args.chunk_size)
        rows.append(row)
        print(
            f"{resolution:>8}² {row['total_s']:8.1f} {row['peak_mb']:8.0f} {row['atlas_s']:8.1f} {row['raster_s']:9.1f}"
            f" {row['query_s']:8.1f} {row['dilate_s']:9.1f}  {row['texels_queried']} ({100 * row['coverage']:.0f}%)",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"field": what, "faces": len(mesh.faces), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
