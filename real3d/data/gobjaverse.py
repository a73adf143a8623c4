"""GObjaverse renders: per object a folder of view folders `NNNNN/NNNNN.png` (RGBA) and
`NNNNN/NNNNN.json` (camera axes "x", "y", "z" and "origin": the columns of an OpenCV-style
camera-to-world matrix; "x_fov", "y_fov" in radians). Objects are normalised around the origin.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from real3d.data import image_ops
from real3d.data.base import BadItem, MultiViewObjectDataset
from real3d.geometry import SOURCE_CAMERA_DISTANCE, fov_to_focal, opencv_to_opengl

# The reference draws the training input view among the first 25 views (the upper orbit).
GOBJAVERSE_INPUT_VIEWS = 25


def _is_view_name(name: str) -> bool:
    return name.isdigit()


def list_gobjaverse_views(object_dir: str | os.PathLike) -> list[str]:
    """Names of the view folders of an object, in numeric order."""
    names = [p.name for p in Path(object_dir).iterdir() if p.is_dir() and _is_view_name(p.name)]
    return sorted(names, key=int)


def is_gobjaverse_object(folder: Path) -> bool:
    """Whether `folder` holds view folders `NNNNN/NNNNN.json`."""
    try:
        return any(_is_view_name(p.name) and (p / f"{p.name}.json").is_file() for p in folder.iterdir() if p.is_dir())
    except OSError:
        return False


def read_gobjaverse_camera(json_path: str | os.PathLike) -> tuple[torch.Tensor, float, float]:
    """OpenGL camera-to-world [4,4] (float64) and (x_fov, y_fov) in radians from a view's JSON."""
    with open(json_path, encoding="utf-8") as handle:
        meta = json.load(handle)
    c2w_cv = torch.eye(4, dtype=torch.float64)
    for col, key in enumerate(("x", "y", "z", "origin")):
        value = torch.as_tensor(meta[key], dtype=torch.float64).reshape(-1)
        if value.numel() != 3:
            raise BadItem(f"camera field {key!r} must have 3 numbers in {json_path}")
        c2w_cv[:3, col] = value
    x_fov, y_fov = float(meta["x_fov"]), float(meta["y_fov"])
    if not (0.0 < x_fov < math.pi and 0.0 < y_fov < math.pi):
        raise BadItem(f"field of view out of range in {json_path}: {x_fov}, {y_fov}")
    return opencv_to_opengl(c2w_cv), x_fov, y_fov


class GObjaverseDataset(MultiViewObjectDataset):
    """Multi-view samples from GObjaverse renders (see `MultiViewObjectDataset` for the arguments).

    Split entries are object folders relative to root (e.g. "0/10005/campos_512_v4"); an entry that
    names the object's parent folder with a single sub-folder is followed into it.
    The mask is alpha > `mask_threshold` (0, as the reference; None: the soft alpha). Cameras are
    canonicalised to distance 2.4 by default (the original's); the other target views are drawn
    with replacement under protocol "original" (`targets_with_replacement=None`), as the original.
    """

    name = "gobjaverse"

    def __init__(
        self,
        *args,
        input_view_candidates: int | None = GOBJAVERSE_INPUT_VIEWS,
        camera_distance: float = SOURCE_CAMERA_DISTANCE["gobjaverse"],
        protocol: str = "original",
        targets_with_replacement: bool | None = None,
        **kwargs,
    ):
        if targets_with_replacement is None:
            targets_with_replacement = protocol == "original"
        super().__init__(
            *args,
            input_view_candidates=input_view_candidates,
            camera_distance=camera_distance,
            protocol=protocol,
            targets_with_replacement=targets_with_replacement,
            **kwargs,
        )

    is_object_dir = staticmethod(is_gobjaverse_object)

    def object_dir(self, entry: str) -> Path:
        folder = super().object_dir(entry)
        if folder.is_dir() and not is_gobjaverse_object(folder):
            subdirs = [p for p in folder.iterdir() if p.is_dir()]
            if len(subdirs) == 1:
                return subdirs[0]
        return folder

    def list_views(self, object_dir) -> list[str]:
        return list_gobjaverse_views(object_dir)

    def read_view(self, object_dir, view: str):
        view_dir = Path(object_dir) / view
        c2w, x_fov, _ = read_gobjaverse_camera(view_dir / f"{view}.json")
        rgb, alpha = image_ops.read_rgba(view_dir / f"{view}.png")
        return rgb, alpha, c2w, fov_to_focal(x_fov, 1.0)  # focal over width
