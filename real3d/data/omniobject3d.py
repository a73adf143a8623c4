"""OmniObject3D Blender renders (SPEC §7, §8), for multi-view evaluation.

    <root>/<category>/<object>/render/images/r_N.png     RGBA, mask = alpha > 0
    <root>/<category>/<object>/render/transforms.json    camera_angle_x; frames[i]: file_path,
                                                          transform_matrix (OpenGL c2w)

Object names look like `anise_018` (category = the name without its last 4 characters). The
evaluation uses every 10th test object and its first 11 renders by index (r_0 is the input);
the world centre is the origin; every view has the field of view `camera_angle_x`; no crop.
Each render is composited on white (alpha > 0) at full resolution, then resized to `image_size`:
with PIL's LANCZOS on 8 bits and the mask with PIL's NEAREST as the original ("original"), or
bilinear with antialiasing in float and the mask with torch's nearest ("corrected").
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from real3d.data import image_ops
from real3d.data.base import BadItem
from real3d.data.multiview_eval import (
    MultiViewEvalDataset,
    RawObject,
    select_entries,
)
from real3d.data.splits import load_split, resolve_item
from real3d.geometry import EVAL_CAMERA_DISTANCE, cameras_from_blender

NUM_VIEWS = 11
EVERY_NTH_OBJECT = 10
_RENDER_INDEX = re.compile(r"^r_(\d+)$")


def object_dir(root: str | os.PathLike, name: str) -> Path:
    """`<root>/<category>/<name>/render` for an object name like `anise_018`."""
    return resolve_item(root, f"{name[:-4]}/{name}/render")


def render_index(file_path: str) -> int | None:
    """N of a frame's `file_path` ('r_N', './images/r_N.png', ...), or None."""
    match = _RENDER_INDEX.match(Path(file_path).stem)
    return int(match.group(1)) if match else None


class OmniObject3DMultiView(MultiViewEvalDataset):
    """OmniObject3D multi-view evaluation: object names from the split file's test list."""

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike = "omniobject3d",
        split: str = "test",
        every_nth: int = EVERY_NTH_OBJECT,
        max_items: int | None = None,
        num_views: int = NUM_VIEWS,
        image_size: int = 512,
        cond_image_size: int = 512,
        camera_distance: float = EVAL_CAMERA_DISTANCE,
        protocol: str = "original",
    ) -> None:
        super().__init__(image_size, cond_image_size, camera_distance, protocol=protocol)
        self.root = Path(root)
        self.num_views = int(num_views)
        self.entries = select_entries(load_split(split_file, split), every_nth, max_items)

    @property
    def mask_source(self) -> str:
        return "the renders' alpha channel (alpha > 0)"

    def name(self, index: int) -> str:
        return str(self.entries[index])

    def read_object(self, index: int) -> RawObject:
        name = str(self.entries[index])
        folder = object_dir(self.root, name)
        try:
            meta = json.loads((folder / "transforms.json").read_text())
            fov_x = float(meta["camera_angle_x"])
            frames = {render_index(f["file_path"]): f for f in meta["frames"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadItem(f"cannot read {folder / 'transforms.json'}: {exc}") from exc
        try:
            on_disk = sorted(i for i in (render_index(p.name) for p in (folder / "images").iterdir()) if i is not None)
        except OSError as exc:
            raise BadItem(f"cannot list {folder / 'images'}: {exc}") from exc
        chosen = on_disk[: self.num_views]
        if len(chosen) < self.num_views:
            raise BadItem(f"{len(chosen)} renders found, {self.num_views} needed")

        images, masks, c2ws = [], [], []
        for index_ in chosen:
            if index_ not in frames:
                raise BadItem(f"r_{index_} has no camera in transforms.json")
            path = folder / "images" / f"r_{index_}.png"
            try:
                rgb_u8, alpha_u8 = image_ops.read_rgba(path)
            except (OSError, ValueError) as exc:
                raise BadItem(f"cannot read {path}: {exc}") from exc
            rgb, mask = self.render_on_white(rgb_u8, alpha_u8)
            images.append(rgb)
            masks.append(mask)
            try:
                c2w = torch.tensor(frames[index_]["transform_matrix"], dtype=torch.float64)
            except (KeyError, TypeError, ValueError) as exc:
                raise BadItem(f"r_{index_}: bad transform_matrix: {exc}") from exc
            if c2w.shape != (4, 4):
                raise BadItem(f"r_{index_}: transform_matrix must be 4x4, got {tuple(c2w.shape)}")
            c2ws.append(c2w)
        height, width = rgb_u8.shape[-2:]  # the raw renders' size
        cameras = cameras_from_blender(torch.stack(c2ws), fov_x, height, width)
        return RawObject(
            name=name,
            images=images,
            masks=masks,
            box_mask=None,
            c2w=cameras.c2w,
            focals=cameras.focal,  # one camera for all renders
            center=torch.zeros(3, dtype=torch.float64),
            input_fov_rad=float(cameras.fov_rad[0]),
            view_names=[f"r_{i}" for i in chosen],
            on_white=True,
        )

    def render_on_white(self, rgb_u8: torch.Tensor, alpha_u8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rgb [3,S,S] on white, binary mask [1,S,S]) of one render (uint8 [3,H,W], [1,H,W]) at image_size."""
        inside = alpha_u8 > 0
        size = self.image_size
        if self.protocol == "original":
            white = torch.where(inside, rgb_u8, torch.full_like(rgb_u8, 255))
            mask = image_ops.resize_mask_pil(inside.to(torch.float32), (size, size))
            return image_ops.resize_lanczos(white, size), mask
        mask = inside.to(torch.float32)
        rgb = image_ops.composite(image_ops.to_float(rgb_u8), mask, image_ops.WHITE)
        return image_ops.resize_image(rgb, size, antialias=True), image_ops.resize_mask(mask, size)
