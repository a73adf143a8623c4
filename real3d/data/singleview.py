"""The single-view dataset base: one image per object (in-the-wild crops, MVImgNet frames), listed
by a split file or a curated manifest; subclasses say only how one item is read."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from real3d.data import image_ops
from real3d.data.base import SkippingDataset, check_protocol, singleview_sample
from real3d.data.splits import load_split
from real3d.geometry import INPUT_FOV_RAD, SOURCE_CAMERA_DISTANCE


class SingleViewDataset(SkippingDataset):
    """One image per object, listed relative to `root` by a split file or a curated manifest
    (`split_file`; None: the class's packaged list). Subclasses read one item (`read`); this class
    lists the items, applies the optional augmentation (off by default, as published: horizontal
    flip, rotation within ±`rotation_deg`, colour jitter) and builds the sample
    (`singleview_sample`, camera at `camera_distance`, default the source's).

    `raw_target`: the loss target is the rgb as read (the original's wild target; composited on
    white after augmentation) instead of the rgb composited on white with the mask.
    """

    source = "wild"  # key of SOURCE_CAMERA_DISTANCE
    default_split = "singleview.json.gz"
    raw_target = False

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike | None = None,
        split: str = "train",
        train: bool | None = None,
        image_size: int = 512,
        camera_distance: float | None = None,
        fov_rad: float = INPUT_FOV_RAD,
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
        distance = SOURCE_CAMERA_DISTANCE[self.source] if camera_distance is None else camera_distance
        self.camera_distance = float(distance)
        self.fov_rad = float(fov_rad)
        self.augment = bool(augment)
        self.rotation_deg = float(rotation_deg)
        self.color_jitter = tuple(color_jitter) if color_jitter is not None else None
        self.protocol = check_protocol(protocol)
        items = [str(it) for it in load_split(self.default_split if split_file is None else split_file, split)]
        self.items = items[:: max(1, int(every_nth))]
        if max_items is not None:
            self.items = self.items[: int(max_items)]

    def read(self, item: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Square rgb [3,S,S] (float, not yet composited) and binary mask [1,S,S] of one item."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.items)

    def describe(self, index: int) -> str:
        return f"{self.root}/{self.items[index]}" if 0 <= index < len(self.items) else str(index)

    def load(self, index: int) -> dict:
        rgb, mask = self.read(self.items[index])
        if self.augment and self.train:
            rgb, mask = image_ops.augment_rgb_mask(
                rgb, mask, rotation_deg=self.rotation_deg, color_jitter=self.color_jitter
            )
            if self.raw_target:
                rgb = image_ops.composite(rgb, mask, image_ops.WHITE)  # the original's augmented target
        target = rgb if self.raw_target else None
        return singleview_sample(rgb, mask, self.camera_distance, self.fov_rad, target=target)
