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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from real3d.data import image_ops
from real3d.data.base import BadItem
from real3d.data.multiview_eval import (
    CANONICAL_DISTANCE,
    CROP_EXPAND,
    MultiViewEvalDataset,
    RawObject,
    read_mask_uint8,
    read_rgb,
    select_entries,
)
from real3d.data.splits import load_split, resolve_item
from real3d.geometry.cameras import pytorch3d_to_c2w
from real3d.io import atomic_path, atomic_write_bytes

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
    fx = float(viewpoint["focal_length"][0])
    if viewpoint.get("intrinsics_format", "ndc_isotropic") == "ndc_norm_image_bounds":
        return fx * width / 2.0
    return fx * min(height, width) / 2.0


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
        camera_distance: float = CANONICAL_DISTANCE,
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


# ----------------------------------------------------------------------------- writer


def c2w_to_pytorch3d(c2w_opengl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch3D (R [3,3], T [3]) of an OpenGL c2w [4,4] (inverse of `pytorch3d_to_c2w`)."""
    flip = torch.diag(torch.tensor([-1.0, 1.0, -1.0, 1.0], dtype=torch.float64))
    w2c = torch.linalg.inv(c2w_opengl.to(torch.float64) @ flip)
    return w2c[:3, :3].T.contiguous(), w2c[:3, 3].contiguous()


def _to_uint8_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255.0).round().to(torch.uint8)
        image = image.permute(1, 2, 0).cpu().numpy() if image.ndim == 3 else image.cpu().numpy()
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def write_co3d_sequence(
    root: str | os.PathLike,
    category: str,
    sequence: str,
    frames: Sequence[dict],
    points: np.ndarray,
    jpeg_quality: int = 100,
) -> None:
    """Write one sequence in CO3D's layout and add its frames to the category's annotations.

    frames: dicts with `name` ('frame000001.jpg'), `rgb` ([3,H,W] float/uint8 or HWC uint8),
    `mask` ([1,H,W] or HW), `c2w` (OpenGL [4,4]) and `focal_px`; principal point at the centre.
    points [P,3] becomes `pointcloud.ply`.
    """
    import trimesh

    root = Path(root)
    seq_dir = root / category / sequence
    (seq_dir / "images").mkdir(parents=True, exist_ok=True)
    (seq_dir / "masks").mkdir(parents=True, exist_ok=True)
    annotations_path = root / category / "frame_annotations.jgz"
    entries = []
    if annotations_path.is_file():
        with gzip.open(annotations_path, "rt", encoding="utf-8") as handle:
            entries = [e for e in json.load(handle) if e["sequence_name"] != sequence]
    for index, frame in enumerate(frames):
        rgb, mask = _to_uint8_hwc(frame["rgb"]), _to_uint8_hwc(frame["mask"])
        height, width = rgb.shape[:2]
        name = frame_file_name(frame["name"])
        with atomic_path(seq_dir / "images" / name) as tmp:
            PIL.Image.fromarray(rgb).save(tmp, format="JPEG", quality=jpeg_quality, subsampling=0)
        with atomic_path(seq_dir / "masks" / Path(name).with_suffix(".png")) as tmp:
            PIL.Image.fromarray(mask).save(tmp, format="PNG")
        R, T = c2w_to_pytorch3d(torch.as_tensor(frame["c2w"]))
        half = min(height, width) / 2.0
        entries.append(
            {
                "sequence_name": sequence,
                "frame_number": index,
                "frame_timestamp": float(index),
                "image": {"path": f"{category}/{sequence}/images/{name}", "size": [height, width]},
                "mask": {"path": f"{category}/{sequence}/masks/{Path(name).with_suffix('.png')}"},
                "viewpoint": {
                    "R": R.tolist(),
                    "T": T.tolist(),
                    "focal_length": [float(frame["focal_px"]) / half] * 2,
                    "principal_point": [0.0, 0.0],
                    "intrinsics_format": "ndc_isotropic",
                },
            }
        )
    with atomic_path(seq_dir / "pointcloud.ply") as tmp:
        trimesh.PointCloud(np.asarray(points, dtype=np.float64)).export(str(tmp), file_type="ply")
    atomic_write_bytes(annotations_path, gzip.compress(json.dumps(entries).encode(), mtime=0))
