"""MVImgNet as single-view training data: one frame of each sequence of a split list (the
published list is the packaged `mvimgnet.json.gz`, entries "<category-id>/<instance>").

Files: `<images-root>/<cat>/<inst>/images/<frame>.jpg`, masks `<mask-root>/<cat>/<inst>/<frame>.jpg.png`
(8-bit; foreground > 225). Frame: the first (by frame number; the released data keeps one frame
per sequence) or, with `frame="random"`, a random one per access (the original's loader).
Loading: a square box around the mask's bounding box, expanded by 1.7; white outside the photo
and mask 0; resized to `image_size` (bilinear, mask nearest); target on white and model input on
grey, both with the binary mask. Protocol "original" (the original's computation): the mask file
is resized to the photo with PIL's NEAREST, the box is the original's (`reference_crop_box`:
inclusive bounding box, side truncated, crop side `int(1.7 * side) // 2 * 2`), the crop's
outside-the-photo fill is 255 (on [0, 1] images, so it leaks into object pixels at the photo's
edge, unclamped) and the resize has no antialiasing. "corrected": exclusive box, side
`round(1.7 * side)`, torch-nearest mask, white fill, antialiased resize.
Frame listing is `real3d.data.mvimgnet`'s (the evaluation format's helpers).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from real3d.data import image_ops
from real3d.data.base import BadItem, check_protocol
from real3d.data.mvimgnet import list_frames, mask_path
from real3d.data.singleview import SingleViewDataset
from real3d.data.splits import resolve_item

MVIMGNET_MASK_THRESHOLD = 225
MVIMGNET_CROP_EXPAND = 1.7
ORIGINAL_OUTSIDE_FILL = 255.0  # the original fills outside the photo with 255 on [0, 1] images


def reference_crop_box(mask: torch.Tensor, expand: float = MVIMGNET_CROP_EXPAND) -> image_ops.Box | None:
    """The original's square crop box (x0, y0, x1, y1; slice ends exclusive) around a binary mask
    [1,H,W]: inclusive bounding box, squared to an even side around its centre, expanded to
    `int(expand * side) // 2 * 2`, coordinates truncated toward zero; None for an empty mask."""
    plane = mask.reshape(mask.shape[-2:]) != 0
    rows = torch.nonzero(plane.any(dim=1)).flatten()
    cols = torch.nonzero(plane.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])
    half = max(x1 - x0, y1 - y0) // 2
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    sx0, sy0, sx1, sy1 = (math.trunc(v) for v in (cx - half, cy - half, cx + half, cy + half))
    half = int(expand * (sx1 - sx0)) // 2
    cx, cy = 0.5 * (sx0 + sx1), 0.5 * (sy0 + sy1)
    return tuple(math.trunc(v) for v in (cx - half, cy - half, cx + half, cy + half))


def crop_around_mask(
    rgb_u8: torch.Tensor,
    mask_u8: torch.Tensor,
    image_size: int,
    expand: float = MVIMGNET_CROP_EXPAND,
    mask_threshold: int = MVIMGNET_MASK_THRESHOLD,
    protocol: str = "original",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crop around the object of a photo: rgb [3,S,S] and binary mask [1,S,S] (see the
    module docstring for the two protocols); the rgb is not yet composited."""
    check_protocol(protocol)
    mask = image_ops.binarize(mask_u8, mask_threshold)
    rgb = image_ops.to_float(rgb_u8)
    if protocol == "original":
        box = reference_crop_box(mask, expand)
        if box is None:
            raise BadItem("empty mask")
        rgb = image_ops.crop_box(rgb, box, ORIGINAL_OUTSIDE_FILL)
        rgb = image_ops.resize_image(rgb, image_size, antialias=False, clamp=False)
        return rgb, image_ops.resize_mask(image_ops.crop_box(mask, box, 0.0), image_size)
    box = image_ops.mask_bbox(mask)
    if box is None:
        raise BadItem("empty mask")
    square = image_ops.square_box_around(box, expand)
    rgb = image_ops.crop_box(rgb, square, image_ops.WHITE)
    mask = image_ops.crop_box(mask, square, 0.0)
    return image_ops.resize_image(rgb, image_size), image_ops.resize_mask(mask, image_size)


def _frame_order(name: str) -> tuple:
    stem = name.rsplit(".", 1)[0]
    return (0, int(stem), name) if stem.isdigit() else (1, 0, name)


def sequence_frames(images_root: str | os.PathLike, sequence: str) -> list[str]:
    """Frame file names of a sequence in frame-number order, without "bg_removed" images."""
    frames = [f for f in list_frames(images_root, sequence) if "bg_removed" not in f]
    if not frames:
        raise BadItem(f"no frames in sequence {sequence}")
    return sorted(frames, key=_frame_order)


def read_frame_and_mask(
    images_root: str | os.PathLike, masks_root: str | os.PathLike, sequence: str, frame: str, protocol: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgb uint8 [3,H,W], mask uint8 [1,H,W]) of one frame, the mask file resized to the photo with
    PIL's NEAREST ("original") or torch's nearest ("corrected")."""
    image_path = resolve_item(images_root, sequence) / "images" / frame
    masks_file = mask_path(masks_root, sequence, frame)
    try:
        rgb = image_ops.read_image_uint8(image_path, "RGB")
        mask = image_ops.read_image_uint8(masks_file, "L")
    except (OSError, ValueError) as exc:
        raise BadItem(f"cannot read frame {frame} of {sequence}: {exc}") from exc
    resize = image_ops.resize_mask_pil if check_protocol(protocol) == "original" else image_ops.resize_mask
    return rgb, resize(mask, tuple(rgb.shape[-2:]))


class MVImgNetSingleViewDataset(SingleViewDataset):
    """Single-view samples from the first frame (or a random one) of MVImgNet sequences; the items'
    root is `images_root`."""

    name = "mvimgnet_sv"
    source = "mvimgnet"
    default_split = "mvimgnet.json.gz"

    def __init__(
        self,
        images_root: str | os.PathLike,
        masks_root: str | os.PathLike,
        split_file: str | os.PathLike | None = None,
        *,
        expand: float = MVIMGNET_CROP_EXPAND,
        mask_threshold: int = MVIMGNET_MASK_THRESHOLD,
        frame: str = "first",
        **common: Any,
    ) -> None:
        if frame not in ("first", "random"):
            raise ValueError(f"frame must be 'first' or 'random', got {frame!r}")
        super().__init__(images_root, split_file, **common)
        self.masks_root = os.fspath(masks_root)
        self.expand = float(expand)
        self.mask_threshold = int(mask_threshold)
        self.frame = frame

    def choose_frame(self, sequence: str) -> str:
        """The first frame, or (frame="random", training) a random one."""
        frames = sequence_frames(self.root, sequence)
        if self.frame == "first" or not self.train:
            return frames[0]
        return frames[int(torch.randint(len(frames), ()))]

    def read(self, item: str) -> tuple[torch.Tensor, torch.Tensor]:
        frame = self.choose_frame(item)
        rgb_u8, mask_u8 = read_frame_and_mask(self.root, self.masks_root, item, frame, self.protocol)
        return crop_around_mask(rgb_u8, mask_u8, self.image_size, self.expand, self.mask_threshold, self.protocol)
