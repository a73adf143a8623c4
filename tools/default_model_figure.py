#!/usr/bin/env python
"""The demo of a model on the bundled examples, as one picture (scripts/train_default.sh).

    python tools/default_model_figure.py MODEL_DIR OUT_DIR [--mc-threshold X] [--examples a.png b.png]

Runs scripts/run.py (mesh + 12-view 360° render) on each example into OUT_DIR/<index>/, then draws
OUT_DIR/../demo.png: per example the model input, six frames of the 360° video and the extracted
mesh seen from two sides (vertices splatted with a z-buffer, shaded by their normals), and prints
each mesh's size and number of connected parts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from real3d.cli import run_cli  # noqa: E402
from real3d.io import atomic_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.png"))
TILE = 128
FRAMES = (0, 2, 4, 6, 8, 10)  # of the 12-view orbit
LIGHT = np.array([0.4, 0.5, 0.75]) / np.linalg.norm([0.4, 0.5, 0.75])


def splat_mesh(mesh: trimesh.Trimesh, azimuth_deg: float, size: int = TILE, elevation_deg: float = 20.0) -> Image.Image:
    """The mesh's vertices seen orthographically from (azimuth, elevation), nearest kept, Lambert-shaded."""
    if len(mesh.vertices) == 0:
        return Image.new("RGB", (size, size), (255, 255, 255))
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    forward = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])  # camera -> origin is -forward
    right = np.cross([0.0, 0.0, 1.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    vertices = np.asarray(mesh.vertices) - np.asarray(mesh.bounds).mean(axis=0)
    scale = 0.45 * size / max(np.abs(vertices).max(), 1e-6)
    u = (size / 2 + scale * vertices @ right).astype(int)
    v = (size / 2 - scale * vertices @ up).astype(int)
    depth = vertices @ forward  # larger: nearer the camera
    shade = np.clip(np.asarray(mesh.vertex_normals) @ (LIGHT[0] * right + LIGHT[1] * up + LIGHT[2] * forward), 0, 1)
    inside = (u >= 0) & (u < size) & (v >= 0) & (v < size)
    order = np.argsort(depth[inside])  # far to near: the nearest vertex is written last
    image = np.full((size, size, 3), 255, np.uint8)
    grey = (60 + 180 * shade[inside][order]).astype(np.uint8)
    for du in (0, 1):  # 2x2 splats close the gaps between vertices
        for dv in (0, 1):
            uu, vv = np.clip(u[inside][order] + du, 0, size - 1), np.clip(v[inside][order] + dv, 0, size - 1)
            image[vv, uu] = grey[:, None]
    return Image.fromarray(image)


def mesh_stats(mesh: trimesh.Trimesh) -> dict[str, int]:
    """Vertices, faces and connected parts (with at least 1 % of the faces) of a mesh."""
    parts = mesh.split(only_watertight=False) if len(mesh.faces) else []
    large = [p for p in parts if len(p.faces) >= 0.01 * len(mesh.faces)]
    return {"vertices": len(mesh.vertices), "faces": len(mesh.faces), "parts": len(large)}


def draw(out_dir: Path, names: list[str], path: Path) -> None:
    """One row per example: input, orbit frames, mesh from the front and the back."""
    columns = 1 + len(FRAMES) + 2
    label = 16
    sheet = Image.new("RGB", (columns * TILE, len(names) * (TILE + label)), (255, 255, 255))
    pen = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        folder = out_dir / str(row)
        mesh = trimesh.load(folder / "mesh.obj", force="mesh", process=False)
        tiles = [Image.open(folder / "input.png").convert("RGB")]
        tiles += [Image.open(folder / f"render_{i:03d}.png").convert("RGB") for i in FRAMES]
        tiles += [splat_mesh(mesh, 0.0), splat_mesh(mesh, 180.0)]
        top = row * (TILE + label)
        for col, tile in enumerate(tiles):
            sheet.paste(tile.resize((TILE, TILE)), (col * TILE, top + label))
        pen.text((4, top + 2), f"{name}: input | 360° render | mesh (front, back)", fill=(0, 0, 0))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="default_model_figure", description=__doc__.splitlines()[0])
    p.add_argument("model_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--mc-threshold", type=float, default=None, help="default: the model config's demo value")
    p.add_argument("--mc-resolution", type=int, default=96)
    p.add_argument("--examples", type=Path, nargs="+", default=EXAMPLES)
    return p.parse_args(argv)


def _run(args: argparse.Namespace) -> int:
    """Run the demo on every example, draw the picture, print the meshes' sizes."""
    from scripts.run import main as run_demo

    argv = [str(p) for p in args.examples]
    argv += ["--pretrained-model-name-or-path", str(args.model_dir), "--output-dir", str(args.out_dir)]
    argv += ["--device", "cpu", "--render", "--render-num-views", "12", "--render-size", str(TILE)]
    argv += ["--mc-resolution", str(args.mc_resolution)]
    if args.mc_threshold is not None:
        argv += ["--mc-threshold", str(args.mc_threshold)]
    if run_demo(argv) != 0:
        return 1
    names = [p.stem for p in args.examples]
    draw(args.out_dir, names, args.out_dir.with_suffix(".png"))
    for index, name in enumerate(names):
        mesh = trimesh.load(args.out_dir / str(index) / "mesh.obj", force="mesh", process=False)
        print(json.dumps({"example": name, **mesh_stats(mesh)}))
    print(f"wrote {args.out_dir.with_suffix('.png')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_run, "default_model_figure", parse_args(argv), user_errors=(OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
