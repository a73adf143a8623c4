"""In-the-wild single-view images: one RGBA crop per object (alpha = mask, foreground =
alpha > 225), listed relative to a root by a split file (the published list is the packaged
`singleview.json.gz`) or by a curated-output manifest (JSON lines with "path" and "kept": true).

Loading (as the reference): pad to a square around the image centre by a factor r (training
r ~ U[1.45, 1.95], evaluation 1.7), white outside and mask 0; resize to `image_size` (bilinear,
mask nearest). The model input is the crop composited on grey 0.5 with the binary mask. The loss
target (input-view loss, cycle target, CLIP reference) depends on the protocol: "original" (the
original's) is the padded RAW RGB of the crop (white only in the padding), resized without
antialiasing; "corrected" is the crop composited on white with the mask, resized with
antialiasing. Optional augmentation (off by default, as published): horizontal flip, rotation
within ±30°, colour jitter (0.1, 0.1, 0.1, hue 0.2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from real3d.data import image_ops
from real3d.data.base import (
    DEFAULT_FOV_RAD,
    SOURCE_CAMERA_DISTANCE,
    SkippingDataset,
    check_protocol,
    singleview_sample,
)
from real3d.data.splits import load_split, resolve_item

WILD_ALPHA_THRESHOLD = 225
TRAIN_PAD_RANGE = (1.45, 1.95)
EVAL_PAD = 1.7


def load_wild_crop(
    path: str | os.PathLike,
    pad_factor: float,
    image_size: int,
    alpha_threshold: int = WILD_ALPHA_THRESHOLD,
    protocol: str = "original",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square target rgb [3,S,S] and binary mask [1,S,S] of one RGBA crop.

    The rgb is the protocol's target: "original", the padded raw RGB (white only in the padding,
    bilinear without antialiasing); "corrected", the crop composited on white with the mask
    (antialiased). The model input is `composite(rgb, mask, GREY)` in both.
    """
    check_protocol(protocol)
    rgb_u8, alpha_u8 = image_ops.read_rgba(path)
    rgb = image_ops.pad_to_square(image_ops.to_float(rgb_u8), pad_factor, image_ops.WHITE)
    mask = image_ops.pad_to_square(image_ops.binarize(alpha_u8, alpha_threshold), pad_factor, 0.0)
    mask = image_ops.resize_mask(mask, image_size)
    if protocol == "original":
        return image_ops.resize_image(rgb, image_size, antialias=False), mask
    return image_ops.composite(image_ops.resize_image(rgb, image_size), mask, image_ops.WHITE), mask


class WildSingleViewDataset(SkippingDataset):
    """Single-view samples from in-the-wild RGBA crops (see the module docstring)."""

    name = "wild"

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike | None = "singleview.json.gz",
        split: str = "train",
        train: bool | None = None,
        image_size: int = 512,
        pad_range: Sequence[float] = TRAIN_PAD_RANGE,
        eval_pad: float = EVAL_PAD,
        alpha_threshold: int = WILD_ALPHA_THRESHOLD,
        camera_distance: float = SOURCE_CAMERA_DISTANCE["wild"],
        fov_rad: float = DEFAULT_FOV_RAD,
        augment: bool = False,
        rotation_deg: float = 30.0,
        color_jitter: Sequence[float] | None = (0.1, 0.1, 0.1, 0.2),
        every_nth: int = 1,
        max_items: int | None = None,
        max_retries: int = 10,
        name: str | None = None,
        protocol: str = "original",
    ) -> None:
        super().__init__(train=(split == "train") if train is None else train, max_retries=max_retries, name=name)
        self.root = os.fspath(root)
        self.split = split
        self.image_size = int(image_size)
        self.pad_range = (float(pad_range[0]), float(pad_range[1]))
        self.eval_pad = float(eval_pad)
        self.alpha_threshold = int(alpha_threshold)
        self.protocol = check_protocol(protocol)
        self.camera_distance = float(camera_distance)
        self.fov_rad = float(fov_rad)
        self.augment = bool(augment)
        self.rotation_deg = float(rotation_deg)
        self.color_jitter = tuple(color_jitter) if color_jitter is not None else None
        if split_file is None:
            split_file = "singleview.json.gz"
        items = [str(it) for it in load_split(split_file, split)]
        self.items = items[:: max(1, int(every_nth))]
        if max_items is not None:
            self.items = self.items[: int(max_items)]

    def __len__(self) -> int:
        return len(self.items)

    def describe(self, index: int) -> str:
        return f"{self.root}/{self.items[index]}" if 0 <= index < len(self.items) else str(index)

    def pad_factor(self) -> float:
        if not self.train:
            return self.eval_pad
        low, high = self.pad_range
        return low + float(torch.rand(())) * (high - low)

    def load(self, index: int) -> dict:
        path = resolve_item(self.root, self.items[index])
        rgb, mask = load_wild_crop(path, self.pad_factor(), self.image_size, self.alpha_threshold, self.protocol)
        if self.augment and self.train:
            rgb, mask = image_ops.augment_rgb_mask(
                rgb, mask, rotation_deg=self.rotation_deg, color_jitter=self.color_jitter
            )
            rgb = image_ops.composite(rgb, mask, image_ops.WHITE)  # the original's augmented target
        return singleview_sample(rgb, mask, self.camera_distance, self.fov_rad, target=rgb)
