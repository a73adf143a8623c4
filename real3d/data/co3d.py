"""CO3D (v2) in its distributed layout, for multi-view evaluation (SPEC §7, §8).

    <root>/<category>/frame_annotations.jgz          gzipped JSON list, one entry per frame
    <root>/<category>/<sequence>/images/frameNNNNNN.jpg
    <root>/<category>/<sequence>/masks/frameNNNNNN.png  (or under `mask_root`, same layout)
    <root>/<category>/<sequence>/pointcloud.ply

Cameras are PyTorch3D's (`viewpoint.R`, `viewpoint.T`: row-vector convention, camera +X left, +Y
up, +Z forward) with focal length and principal point in NDC; `intrinsics_format`
"ndc_isotropic" (v2: NDC unit = half the shorter side) or "ndc_norm_image_bounds" (v1: half of
each side). The world centre is the mean of the sequence's point cloud.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path

import numpy as np
import torch

from real3d.data import image_ops
from real3d.data.base import BadItem
from real3d.data.multiview_eval import (
    CROP_EXPAND,
    MultiViewEvalDataset,
    RawObject,
    read_mask_uint8,
    read_rgb,
    select_entries,
)
from real3d.data.splits import load_split, resolve_item
from real3d.geometry import EVAL_CAMERA_DISTANCE, ndc_scale, pytorch3d_to_c2w

MASK_BOX_THRESHOLD = 180  # 8-bit mask value above which a pixel counts for the crop box


def frame_file_name(name: str | int) -> str:
    """Canonical frame file name: 'frame000010.jpg' from 'frame10.jpg', '10' or 10."""
    stem = Path(str(name)).stem.replace("frame", "")
    return f"frame{int(stem):06d}.jpg"


@functools.lru_cache(maxsize=4)
def _annotations_by_sequence(path: str, mtime_ns: int) -> dict[str, dict[str, dict]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        entries = json.load(handle)
    if not isinstance(entries, list):
        raise ValueError("frame_annotations.jgz does not hold a list")
    by_sequence: dict[str, dict[str, dict]] = {}
    for entry in entries:
        name = Path(entry["image"]["path"]).name
        by_sequence.setdefault(entry["sequence_name"], {})[name] = entry
    return by_sequence


def read_frame_annotations(path: str | os.PathLike) -> dict[str, dict[str, dict]]:
    """Annotations of a category, indexed as [sequence_name][image file name] (cached)."""
    path = Path(path)
    try:
        return _annotations_by_sequence(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise BadItem(f"cannot read CO3D annotations {path}: {exc}") from exc


def focal_pixels(viewpoint: dict, height: int, width: int) -> float:
    """Horizontal focal length in pixels from a CO3D viewpoint's NDC focal length."""
    intrinsics_format = viewpoint.get("intrinsics_format", "ndc_isotropic")
    try:
        return float(viewpoint["focal_length"][0]) * ndc_scale(height, width, intrinsics_format)
    except ValueError as exc:
        raise BadItem(str(exc)) from exc


def viewpoint_c2w(viewpoint: dict) -> torch.Tensor:
    """OpenGL camera-to-world [4,4] (float64) of a CO3D viewpoint."""
    R = torch.tensor(viewpoint["R"], dtype=torch.float64)
    T = torch.tensor(viewpoint["T"], dtype=torch.float64)
    if R.shape != (3, 3) or T.shape != (3,):
        raise BadItem(f"malformed viewpoint R {tuple(R.shape)} / T {tuple(T.shape)}")
    return pytorch3d_to_c2w(R, T)


def read_pointcloud_center(path: str | os.PathLike) -> torch.Tensor:
    """Mean [3] of the points of a PLY point cloud."""
    import trimesh

    try:
        cloud = trimesh.load(str(path), force=None)
        points = np.asarray(cloud.vertices, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds on a bad file
        raise BadItem(f"cannot read point cloud {path}: {exc}") from exc
    if points.ndim != 2 or len(points) == 0 or not np.isfinite(points).all():
        raise BadItem(f"point cloud {path} is empty or not finite")
    return torch.from_numpy(points.mean(0))


class CO3DMultiView(MultiViewEvalDataset):
    """CO3D multi-view evaluation: entries `[<category>/<sequence>, f0, ..., f4]`, f0 = input."""

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike = "co3d_mv",
        split: str = "test",
        mask_root: str | os.PathLike | None = None,
        every_nth: int = 1,
        max_items: int | None = None,
        image_size: int = 512,
        cond_image_size: int = 512,
        camera_distance: float = EVAL_CAMERA_DISTANCE,
        crop_expand: float = CROP_EXPAND,
        mask_box_threshold: int = MASK_BOX_THRESHOLD,
        protocol: str = "original",
    ) -> None:
        super().__init__(image_size, cond_image_size, camera_distance, crop_expand, protocol)
        self.root = Path(root)
        self.has_mask_root = mask_root is not None
        self.mask_root = Path(mask_root) if mask_root is not None else self.root
        self.mask_box_threshold = int(mask_box_threshold)
        self.entries = select_entries(load_split(split_file, split), every_nth, max_items)

    @property
    def mask_source(self) -> str:
        """The paper's CO3D numbers used re-segmented masks (the original's `root_img` tree), not CO3D's own."""
        if self.has_mask_root:
            return f"masks/ under dataset.mask_root ({self.mask_root}), e.g. the original's re-segmented masks"
        return f"CO3D's own masks/ under dataset.root ({self.root}); the paper's numbers used re-segmented masks"

    def name(self, index: int) -> str:
        return str(self.entries[index][0])

    def read_object(self, index: int) -> RawObject:
        entry = self.entries[index]
        if not isinstance(entry, (list, tuple)) or len(entry) < 3:
            raise BadItem(f"split entry must be [sequence, input frame, target frames...]: {entry!r}")
        cat_seq, frames = str(entry[0]), [frame_file_name(f) for f in entry[1:]]
        category, sequence = cat_seq.split("/", 1)
        seq_dir = resolve_item(self.root, cat_seq)
        annotations = read_frame_annotations(self.root / category / "frame_annotations.jgz")
        if sequence not in annotations:
            raise BadItem(f"sequence {sequence} is not in {category}/frame_annotations.jgz")

        images, masks, c2ws, focals = [], [], [], []
        box_mask = None
        for i, frame in enumerate(frames):
            if frame not in annotations[sequence]:
                raise BadItem(f"frame {frame} has no annotation")
            viewpoint = annotations[sequence][frame]["viewpoint"]
            rgb = read_rgb(seq_dir / "images" / frame)
            mask_u8 = read_mask_uint8(
                resolve_item(self.mask_root, cat_seq) / "masks" / Path(frame).with_suffix(".png"),
                rgb.shape[-2:],
            )
            if i == 0:
                box_mask = mask_u8 > self.mask_box_threshold
            images.append(rgb)
            masks.append(image_ops.to_float(mask_u8))  # soft mask for compositing
            c2ws.append(viewpoint_c2w(viewpoint))
            focals.append(focal_pixels(viewpoint, *rgb.shape[-2:]))
        return RawObject(
            name=cat_seq,
            images=images,
            masks=masks,
            box_mask=box_mask,
            c2w=torch.stack(c2ws),
            focals=torch.tensor(focals, dtype=torch.float64),
            center=read_pointcloud_center(seq_dir / "pointcloud.ply"),
            view_names=frames,
        )
