"""MVImgNet as single-view training data: the first frame of each sequence of a split list
(the published list is the packaged `mvimgnet.json.gz`, entries "<category-id>/<instance>").

Files: `<images-root>/<cat>/<inst>/images/<frame>.jpg`, masks `<mask-root>/<cat>/<inst>/<frame>.jpg.png`
(8-bit; foreground > 225). Loading (as the reference): square box around the mask's bounding box,
expanded by 1.7, white outside the photo and mask 0; resize to `image_size` (bilinear, mask
nearest); target on white and model input on grey, both with the binary mask.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from real3d.data import image_ops
from real3d.data.base import DEFAULT_FOV_RAD, BadItem, SkippingDataset, singleview_sample
from real3d.data.splits import load_split, resolve_item

MVIMGNET_MASK_THRESHOLD = 225
MVIMGNET_CROP_EXPAND = 1.7


def frame_sort_key(name: str) -> tuple:
    stem = name.split(".")[0]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def list_frames(images_root: str | os.PathLike, sequence: str) -> list[str]:
    """Frame file names (`*.jpg`, background-removed copies excluded) of a sequence, in order."""
    folder = resolve_item(images_root, sequence) / "images"
    names = [
        p.name
        for p in folder.iterdir()
        if p.suffix.lower() == ".jpg" and "bg_removed" not in p.name and p.is_file()
    ]
    return sorted(names, key=frame_sort_key)


def frame_paths(
    images_root: str | os.PathLike, masks_root: str | os.PathLike, sequence: str, frame: str
) -> tuple[Path, Path]:
    """(image path, mask path) of one frame: `.../<seq>/images/<frame>` and `<masks>/<seq>/<frame>.png`."""
    return (
        resolve_item(images_root, sequence) / "images" / frame,
        resolve_item(masks_root, sequence) / f"{frame}.png",
    )


def load_mvimgnet_frame(
    image_path: str | os.PathLike,
    mask_path: str | os.PathLike,
    image_size: int,
    expand: float = MVIMGNET_CROP_EXPAND,
    mask_threshold: int = MVIMGNET_MASK_THRESHOLD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crop around the object: rgb [3,S,S] (white outside the photo), binary mask [1,S,S]."""
    rgb = image_ops.to_float(image_ops.read_image_uint8(image_path, "RGB"))
    mask_u8 = image_ops.read_image_uint8(mask_path, "L")
    if mask_u8.shape[-2:] != rgb.shape[-2:]:
        mask_u8 = image_ops.resize_mask(mask_u8, tuple(rgb.shape[-2:]))
    mask = image_ops.binarize(mask_u8, mask_threshold)
    box = image_ops.mask_bbox(mask)
    if box is None:
        raise BadItem(f"empty mask {mask_path}")
    square = image_ops.square_box_around(box, expand)
    rgb = image_ops.resize_image(image_ops.crop_box(rgb, square, image_ops.WHITE), image_size)
    mask = image_ops.resize_mask(image_ops.crop_box(mask, square, 0.0), image_size)
    return rgb, mask


class MVImgNetSingleViewDataset(SkippingDataset):
    """Single-view samples from the first frame (or a random one) of MVImgNet sequences."""

    name = "mvimgnet_sv"

    def __init__(
        self,
        images_root: str | os.PathLike,
        masks_root: str | os.PathLike,
        split_file: str | os.PathLike | None = "mvimgnet.json.gz",
        split: str = "train",
        train: bool | None = None,
        image_size: int = 512,
        expand: float = MVIMGNET_CROP_EXPAND,
        mask_threshold: int = MVIMGNET_MASK_THRESHOLD,
        frame: str = "first",
        camera_distance: float = 3.0,
        fov_rad: float = DEFAULT_FOV_RAD,
        augment: bool = False,
        rotation_deg: float = 30.0,
        color_jitter: Sequence[float] | None = (0.1, 0.1, 0.1, 0.2),
        every_nth: int = 1,
        max_items: int | None = None,
        max_retries: int = 10,
        name: str | None = None,
    ) -> None:
        super().__init__(train=(split == "train") if train is None else train, max_retries=max_retries, name=name)
        if frame not in ("first", "random"):
            raise ValueError(f"frame must be 'first' or 'random', got {frame!r}")
        self.images_root = os.fspath(images_root)
        self.masks_root = os.fspath(masks_root)
        self.split = split
        self.image_size = int(image_size)
        self.expand = float(expand)
        self.mask_threshold = int(mask_threshold)
        self.frame = frame
        self.camera_distance = float(camera_distance)
        self.fov_rad = float(fov_rad)
        self.augment = bool(augment)
        self.rotation_deg = float(rotation_deg)
        self.color_jitter = tuple(color_jitter) if color_jitter is not None else None
        if split_file is None:
            split_file = "mvimgnet.json.gz"
        items = [str(it) for it in load_split(split_file, split)]
        self.items = items[:: max(1, int(every_nth))]
        if max_items is not None:
            self.items = self.items[: int(max_items)]

    def __len__(self) -> int:
        return len(self.items)

    def describe(self, index: int) -> str:
        return f"{self.images_root}/{self.items[index]}" if 0 <= index < len(self.items) else str(index)

    def load(self, index: int) -> dict:
        sequence = self.items[index]
        frames = list_frames(self.images_root, sequence)
        if not frames:
            raise BadItem(f"no frames in sequence {sequence}")
        pick = 0 if self.frame == "first" or not self.train else int(torch.randint(len(frames), ()))
        image_path, mask_path = frame_paths(self.images_root, self.masks_root, sequence, frames[pick])
        rgb, mask = load_mvimgnet_frame(image_path, mask_path, self.image_size, self.expand, self.mask_threshold)
        if self.augment and self.train:
            rgb, mask = image_ops.augment_rgb_mask(
                rgb, mask, rotation_deg=self.rotation_deg, color_jitter=self.color_jitter
            )
        return singleview_sample(rgb, mask, self.camera_distance, self.fov_rad)
