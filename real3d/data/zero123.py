"""Zero-1-to-3 Objaverse renders: per object `NNN.png` (RGBA) and `NNN.npy` (3x4 world-to-camera
in Blender / OpenGL camera axes), all with one fixed field of view (49.1 degrees)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from real3d.data import image_ops
from real3d.data.base import BadItem, MultiViewObjectDataset
from real3d.geometry.cameras import w2c_to_c2w

ZERO123_FOV_DEG = 49.1


def list_zero123_views(object_dir: str | os.PathLike) -> list[str]:
    """Stems of the numbered PNG renders of an object, in numeric order."""
    stems = [p.stem for p in Path(object_dir).glob("*.png") if p.stem.isdigit()]
    return sorted(stems, key=int)


def is_zero123_object(folder: Path) -> bool:
    """Whether `folder` holds numbered `NNN.npy` camera files."""
    try:
        return any(p.suffix == ".npy" and p.stem.isdigit() for p in folder.iterdir())
    except OSError:
        return False


def read_zero123_camera(npy_path: str | os.PathLike) -> torch.Tensor:
    """OpenGL camera-to-world [4,4] (float64) from a 3x4 (or 4x4) world-to-camera .npy file."""
    w2c = np.load(npy_path, allow_pickle=False)
    if w2c.shape not in ((3, 4), (4, 4)):
        raise BadItem(f"camera matrix must be 3x4, got {w2c.shape} in {npy_path}")
    w2c = torch.from_numpy(np.asarray(w2c, dtype=np.float64))[:3]
    if abs(float(torch.linalg.det(w2c[:, :3]))) < 1e-6:
        raise BadItem(f"singular camera rotation in {npy_path}")
    return w2c_to_c2w(w2c)


class Zero123Dataset(MultiViewObjectDataset):
    """Multi-view samples from Zero-1-to-3 renders (see `MultiViewObjectDataset` for arguments).

    Split entries are object folder names relative to root. `fov_deg` is the renders' fixed fov.
    """

    name = "zero123"

    def __init__(self, *args, fov_deg: float = ZERO123_FOV_DEG, **kwargs):
        super().__init__(*args, **kwargs)
        self.fov_deg = float(fov_deg)

    is_object_dir = staticmethod(is_zero123_object)

    def list_views(self, object_dir) -> list[str]:
        return list_zero123_views(object_dir)

    def read_view(self, object_dir, view: str):
        object_dir = Path(object_dir)
        c2w = read_zero123_camera(object_dir / f"{view}.npy")
        rgb, alpha = image_ops.read_rgba(object_dir / f"{view}.png")
        return rgb, alpha, c2w, 0.5 / math.tan(0.5 * math.radians(self.fov_deg))
