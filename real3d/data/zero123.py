"""Zero-1-to-3 Objaverse renders: per object `NNN.png` (RGBA) and `NNN.npy` (3x4 world-to-camera
in Blender / OpenGL camera axes), all with one fixed field of view (49.1 degrees).

Object set (the original's): without a split file, only the objects that are also in the
GObjaverse index (`gobjaverse_280k_index_to_objaverse.json`, values "<folder>/<uid>.glb") and that
have all their views (12 PNG + NPY pairs) are used; the count is logged. A split file is taken as
it is (it is the list).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from real3d.data import image_ops
from real3d.data.base import BadItem, MultiViewObjectDataset
from real3d.data.splits import discover, load_split, read_json_any, split_part
from real3d.errors import Real3DError
from real3d.geometry import SOURCE_CAMERA_DISTANCE, fov_to_focal, w2c_to_c2w

log = logging.getLogger(__name__)

ZERO123_FOV_DEG = 49.1
ZERO123_NUM_VIEWS = 12  # views per object in the release
GOBJAVERSE_INDEX_NAME = "gobjaverse_280k_index_to_objaverse.json"


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


def count_complete_views(object_dir: str | os.PathLike) -> int:
    """Number of views of an object with both their `NNN.png` and `NNN.npy`."""
    try:
        names = {p.name for p in Path(object_dir).iterdir()}
    except OSError:
        return 0
    return sum(1 for stem in list_zero123_views(object_dir) if f"{stem}.npy" in names)


def gobjaverse_uids(index_path: str | os.PathLike) -> set[str]:
    """Objaverse uids in the GObjaverse index (a JSON dict or list of "<folder>/<uid>.glb")."""
    if not Path(index_path).is_file():
        raise Real3DError(
            f"GObjaverse index not found: {index_path} (it selects the Zero-1-to-3 objects as the original; "
            "set data.zero123_index=null to use every object, or give data.zero123_split)"
        )
    data = read_json_any(index_path)
    values = data.values() if isinstance(data, dict) else data
    return {Path(str(v)).name.split(".")[0] for v in values}


@functools.lru_cache(maxsize=4)
def select_zero123_objects(root: str, index_path: str | None, num_views: int | None) -> tuple[str, ...]:
    """Object folders under `root` in the GObjaverse index (None: any) with `num_views` complete
    views (None: any number); the counts are logged."""
    found = discover(root, is_zero123_object)
    kept = found
    if index_path is not None:
        uids = gobjaverse_uids(index_path)
        kept = [item for item in kept if Path(item).name in uids]
    if num_views is not None:
        kept = [item for item in kept if count_complete_views(Path(root) / item) == num_views]
    log.info(
        "zero123: %d of %d objects kept (in the GObjaverse index: %s; all %s views)",
        len(kept),
        len(found),
        index_path is not None,
        num_views,
    )
    return tuple(kept)


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
    Without a split file the objects are discovered and selected by `gobjaverse_index` (a path,
    or None for no index filter) and `num_views` (None: no view count); training's datamodule
    passes the original's selection (the module docstring).
    Cameras are canonicalised to distance 2.4 by default (the original's).
    """

    name = "zero123"

    def __init__(
        self,
        *args,
        fov_deg: float = ZERO123_FOV_DEG,
        camera_distance: float = SOURCE_CAMERA_DISTANCE["zero123"],
        gobjaverse_index: str | os.PathLike | None = None,
        num_views: int | None = None,
        **kwargs,
    ):
        self.gobjaverse_index = None if gobjaverse_index is None else os.fspath(gobjaverse_index)
        self.num_views = None if num_views is None else int(num_views)
        super().__init__(*args, camera_distance=camera_distance, **kwargs)
        self.fov_deg = float(fov_deg)

    is_object_dir = staticmethod(is_zero123_object)

    def list_items(self, split_file, split: str) -> list:
        if split_file is not None:
            return load_split(split_file, split)
        items = select_zero123_objects(self.root, self.gobjaverse_index, self.num_views)
        if not items:
            raise Real3DError(f"no usable Zero-1-to-3 objects under {self.root}")
        return split_part(list(items), split)

    def list_views(self, object_dir) -> list[str]:
        return list_zero123_views(object_dir)

    def read_view(self, object_dir, view: str):
        object_dir = Path(object_dir)
        c2w = read_zero123_camera(object_dir / f"{view}.npy")
        rgb, alpha = image_ops.read_rgba(object_dir / f"{view}.png")
        return rgb, alpha, c2w, fov_to_focal(math.radians(self.fov_deg), 1.0)  # focal over width
