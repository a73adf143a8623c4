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
from typing import Any

import torch

from real3d.data import image_ops
from real3d.data.base import check_protocol
from real3d.data.singleview import SingleViewDataset
from real3d.data.splits import resolve_item

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


class WildSingleViewDataset(SingleViewDataset):
    """Single-view samples from in-the-wild RGBA crops (see the module docstring)."""

    name = "wild"
    source = "wild"
    default_split = "singleview.json.gz"
    raw_target = True

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike | None = None,
        *,
        pad_range: Sequence[float] = TRAIN_PAD_RANGE,
        eval_pad: float = EVAL_PAD,
        alpha_threshold: int = WILD_ALPHA_THRESHOLD,
        **common: Any,
    ) -> None:
        super().__init__(root, split_file, **common)
        self.pad_range = (float(pad_range[0]), float(pad_range[1]))
        self.eval_pad = float(eval_pad)
        self.alpha_threshold = int(alpha_threshold)

    def pad_factor(self) -> float:
        if not self.train:
            return self.eval_pad
        low, high = self.pad_range
        return low + float(torch.rand(())) * (high - low)

    def read(self, item: str) -> tuple[torch.Tensor, torch.Tensor]:
        path = resolve_item(self.root, item)
        return load_wild_crop(path, self.pad_factor(), self.image_size, self.alpha_threshold, self.protocol)
