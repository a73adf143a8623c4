"""MVImgNet as single-view training data: the first frame of each sequence of a split list
(the published list is the packaged `mvimgnet.json.gz`, entries "<category-id>/<instance>").

Files: `<images-root>/<cat>/<inst>/images/<frame>.jpg`, masks `<mask-root>/<cat>/<inst>/<frame>.jpg.png`
(8-bit; foreground > 225). Loading (as the reference): square box around the mask's bounding box,
expanded by 1.7, white outside the photo and mask 0; resize to `image_size` (bilinear, mask
nearest); target on white and model input on grey, both with the binary mask.
Frame listing and reading are `real3d.data.mvimgnet`'s (the evaluation format's helpers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from real3d.data import image_ops
from real3d.data.base import DEFAULT_FOV_RAD, BadItem, SkippingDataset, singleview_sample
from real3d.data.mvimgnet import list_frames, read_first_frame, read_frame
from real3d.data.splits import load_split

MVIMGNET_MASK_THRESHOLD = 225
MVIMGNET_CROP_EXPAND = 1.7


def crop_around_mask(
    rgb_u8: torch.Tensor,
    mask_u8: torch.Tensor,
    image_size: int,
    expand: float = MVIMGNET_CROP_EXPAND,
    mask_threshold: int = MVIMGNET_MASK_THRESHOLD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crop around the object of a photo: rgb [3,S,S] (white outside the photo) and binary
    mask [1,S,S]; the square is the mask's box side times `expand`, on the box's centre."""
    mask = image_ops.binarize(mask_u8, mask_threshold)
    box = image_ops.mask_bbox(mask)
    if box is None:
        raise BadItem("empty mask")
    square = image_ops.square_box_around(box, expand)
    rgb = image_ops.crop_box(image_ops.to_float(rgb_u8), square, image_ops.WHITE)
    mask = image_ops.crop_box(mask, square, 0.0)
    return image_ops.resize_image(rgb, image_size), image_ops.resize_mask(mask, image_size)


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
        if self.frame == "first" or not self.train:
            rgb_u8, mask_u8, _ = read_first_frame(self.images_root, self.masks_root, sequence)
        else:
            frames = [f for f in list_frames(self.images_root, sequence) if "bg_removed" not in f]
            if not frames:
                raise BadItem(f"no frames in sequence {sequence}")
            frame = frames[int(torch.randint(len(frames), ()))]
            rgb_u8, mask_u8 = read_frame(self.images_root, self.masks_root, sequence, frame)
        rgb, mask = crop_around_mask(rgb_u8, mask_u8, self.image_size, self.expand, self.mask_threshold)
        if self.augment and self.train:
            rgb, mask = image_ops.augment_rgb_mask(
                rgb, mask, rotation_deg=self.rotation_deg, color_jitter=self.color_jitter
            )
        return singleview_sample(rgb, mask, self.camera_distance, self.fov_rad)
