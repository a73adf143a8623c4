"""Training image grids: one row per item and pass (input | views ...), saved as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from real3d.io import atomic_path

MAX_TILE = 256


def image_grid(rows: list[list[torch.Tensor]], pad: int = 2) -> torch.Tensor:
    """A grid [3,H,W] in [0,1]: each entry of `rows` is a list of view stacks [n,V,3,h,w] shown
    side by side for each of the n items; tiles are resized to a common size."""
    tiles_per_line: list[list[torch.Tensor]] = []
    for parts in rows:
        n = min(p.shape[0] for p in parts)
        for i in range(n):
            tiles_per_line.append([view.detach().float().cpu() for p in parts for view in p[i]])
    size = min(MAX_TILE, max(t.shape[-1] for line in tiles_per_line for t in line))
    width = max(len(line) for line in tiles_per_line)
    grid = torch.ones(3, len(tiles_per_line) * (size + pad) + pad, width * (size + pad) + pad)
    for r, line in enumerate(tiles_per_line):
        for c, tile in enumerate(line):
            tile = tile[:3] if tile.shape[0] >= 3 else tile.expand(3, -1, -1)
            if tile.shape[-1] != size or tile.shape[-2] != size:
                tile = F.interpolate(tile[None], (size, size), mode="bilinear", align_corners=False)[0]
            y, x = pad + r * (size + pad), pad + c * (size + pad)
            grid[:, y : y + size, x : x + size] = tile.clamp(0, 1)
    return grid


def save_image_grid(rows: list[list[torch.Tensor]], path: str | Path) -> torch.Tensor:
    """Write `image_grid(rows)` as a PNG (atomically) and return it."""
    grid = image_grid(rows)
    array = (grid.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        PIL.Image.fromarray(array).save(tmp, format="PNG")
    return grid


def save_training_grid(
    vis: dict[str, torch.Tensor], max_items: int, directory: Path, iteration: int, loggers: list
) -> None:
    """The training step's grid (`train_<iteration>.png`): one row per pass (multi-view input |
    targets | renders; single-view input | renders; cycle input | render | target), also sent to
    the loggers that take images (TensorBoard)."""
    n = max_items
    rows = []
    if "mv_render" in vis:
        rows.append([vis["mv_input"][:n, None], vis["mv_target"][:n], vis["mv_render"][:n]])
    if "sv_render" in vis:
        rows.append([vis["sv_input"][:n, None], vis["sv_render"][:n]])
    if "cy_render" in vis:
        rows.append([vis["cy_input"][:n, None], vis["cy_render"][:n], vis["cy_target"][:n]])
    grid = save_image_grid(rows, directory / f"train_{iteration:07d}.png")
    for logger in loggers:
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_image"):
            experiment.add_image("train/views", grid, global_step=iteration)
