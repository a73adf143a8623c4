"""Evaluation outputs: metrics.json, a per-object CSV, side-by-side images and 360° videos.

Every file is written atomically (a crash never leaves a half-written result).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from real3d.io import atomic_write_text


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _json_safe(value.tolist())
    if isinstance(value, (np.floating, np.integer)):
        return _json_safe(value.item())
    return value


def write_metrics_json(path: str | Path, result: dict, config: dict, checkpoint: str) -> Path:
    """metrics.json: the result (means, per-object values, skipped objects), config and checkpoint."""
    payload = {"checkpoint": str(checkpoint), **result, "config": config}
    atomic_write_text(path, json.dumps(_json_safe(payload), indent=1) + "\n")
    return Path(path)


def write_objects_csv(path: str | Path, objects: Sequence[dict], columns: Sequence[str]) -> Path:
    """One row per object: its name then `columns`; dotted names reach into nested dicts
    (e.g. "all_views.psnr"); list values are averaged."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", *columns])
    for record in objects:
        row = [record["name"]]
        for column in columns:
            value = record
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, (list, tuple)):
                value = float(np.mean(value)) if value else None
            row.append("" if value is None else f"{value:.6f}" if isinstance(value, float) else value)
        writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


def to_pil(image: torch.Tensor) -> PIL.Image.Image:
    """PIL image of a float tensor [3,H,W] in [0,1]."""
    array = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round()
    return PIL.Image.fromarray(array.astype(np.uint8))


def side_by_side(image_input: torch.Tensor, pred: torch.Tensor, target: torch.Tensor | None = None) -> PIL.Image.Image:
    """Grid with one column per view: row 1 the prediction, row 2 the ground truth (if any); the
    input image leads the first row's left, white in the rows below. Tensors [N,3,h,w] / [3,H,W]."""
    size = pred.shape[-1]
    first = F.interpolate(image_input[None].float(), size=(size, size), mode="bilinear", antialias=True)[0]
    rows = [torch.cat([first, *pred.float()], dim=-1)]
    if target is not None:
        rows.append(torch.cat([torch.ones_like(first), *target.float()], dim=-1))
    return to_pil(torch.cat(rows, dim=-2))


def save_png(image: PIL.Image.Image, path: str | Path) -> Path:
    from real3d.inference.export import save_image

    return save_image(image, path)


def save_orbit_video(frames: torch.Tensor, path: str | Path, fps: int = 30) -> Path:
    """MP4 of frames [N,3,H,W] in [0,1]."""
    from real3d.inference.export import save_video

    return save_video([np.asarray(to_pil(f)) for f in frames], path, fps=fps)
