"""The multi-view evaluation protocol shared by CO3D, MVImgNet and OmniObject3D (SPEC §8).

A format reader produces the raw views of one object (`RawObject`: full images, masks, world
cameras in OpenGL axes, focal lengths, the world centre); `prepare_object` turns them into the
evaluation sample:

- crop (CO3D, MVImgNet): a square centred on the image centre whose half-size is the largest
  distance from the image centre to the input mask's box, times 1.6; the same square for every
  view; outside the image white, mask 0; resized to `image_size` (512);
- ground truth composited on white, the model input (view 0) on grey 0.5 at `cond_image_size`;
- `protocol`: "original" (default) computes what the original Real3D evaluation computes, quirks
  included: its integer crop arithmetic, the crop's out-of-image part filled with 255 on [0,1]
  images (it leaks into edge pixels through the resize), bilinear resizing without antialiasing
  and without clamping, and the model input composited on grey from the white-composited view (a
  soft mask is applied twice: img·m² + m(1−m) + 0.5(1−m)). "corrected" fills white, antialiases,
  clamps and composites the input once.
- cameras translated to the world centre, rotated so the input camera sits at azimuth 0,
  elevation 0, and scaled so it is `camera_distance` (`EVAL_CAMERA_DISTANCE`, 3.0) away;
- focal lengths: the input view's is set to `input_fov_rad` (`INPUT_FOV_RAD` unless the format
  knows its field of view), the others keep their ratio to the input's.

The principal point is taken at the image centre (as the reference protocol does).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from real3d.data import image_ops
from real3d.data.base import BadItem, check_protocol
from real3d.geometry import EVAL_CAMERA_DISTANCE, INPUT_FOV_RAD, canonicalize_to_input, fov_to_focal

CROP_EXPAND = 1.6
ORIGINAL_CROP_FILL = 255.0  # the original's out-of-image crop fill, on images in [0, 1]


def resize_rgb(
    image: torch.Tensor, size: int, protocol: str = "original", antialias: bool | None = None
) -> torch.Tensor:
    """Bilinear resize of [C,H,W] or [N,C,H,W] to size²: the original's plain `F.interpolate`
    (no antialiasing unless `antialias`, no clamping) or, under "corrected", antialiased and
    clamped to [0, 1]."""
    if protocol == "corrected":
        return image_ops.resize_image(image, size, antialias=True)
    return image_ops.resize_image(image, size, antialias=bool(antialias), clamp=False)


@dataclass
class RawObject:
    """The views of one object as read from its dataset (view 0 is the input view)."""

    name: str
    images: list[torch.Tensor]  # float [3,H,W] in [0,1]
    masks: list[torch.Tensor]  # float [1,H,W] in [0,1], used for compositing
    box_mask: torch.Tensor | None  # bool [1,H,W] of the input view, for the crop box (None: no crop)
    c2w: torch.Tensor  # [N,4,4] OpenGL camera-to-world in the dataset's world
    focals: torch.Tensor  # [N] focal lengths in pixels of each raw image
    center: torch.Tensor  # [3] world centre of the object
    input_fov_rad: float = INPUT_FOV_RAD  # field of view given to the input view
    view_names: list[str] = field(default_factory=list)
    on_white: bool = False  # images already composited on white: they are the ground truth as they are


def centered_crop_box(box_mask: torch.Tensor, expand: float = CROP_EXPAND) -> image_ops.Box:
    """Square box centred on the image centre, half-size = max distance to the mask box × expand."""
    box = image_ops.mask_bbox(box_mask)
    if box is None:
        raise BadItem("the input view's mask is empty")
    height, width = box_mask.shape[-2:]
    cx, cy = width / 2.0, height / 2.0
    x0, y0, x1, y1 = box
    reach = max(abs(cx - x0), abs(cx - x1), abs(cy - y0), abs(cy - y1))
    half = max(1, int(round(reach * expand)))
    left, top = int(math.floor(cx)) - half, int(math.floor(cy)) - half
    return left, top, left + 2 * half, top + 2 * half


def original_crop_box(box_mask: torch.Tensor, expand: float = CROP_EXPAND) -> image_ops.Box:
    """The original's crop box, with its integer arithmetic: the mask box with inclusive ends, the
    square around the image centre truncated to integers, its side from the x extent only,
    `int(expand · side)` halved by floor division, the corners truncated toward zero."""
    box = image_ops.mask_bbox(box_mask)
    if box is None:
        raise BadItem("the input view's mask is empty")
    height, width = box_mask.shape[-2:]
    cx, cy = width / 2.0, height / 2.0
    x0, y0, x1, y1 = box[0], box[1], box[2] - 1, box[3] - 1  # inclusive ends
    reach = max(abs(cx - x0), abs(cx - x1), abs(cy - y0), abs(cy - y1))
    left, top, right = int(cx - reach), int(cy - reach), int(cx + reach)
    bottom = int(cy + reach)
    half = int(expand * (right - left)) // 2
    mx, my = (left + right) / 2.0, (top + bottom) / 2.0
    return int(mx - half), int(my - half), int(mx + half), int(my + half)


def prepare_object(
    raw: RawObject,
    image_size: int = 512,
    cond_image_size: int = 512,
    camera_distance: float = EVAL_CAMERA_DISTANCE,
    crop_expand: float = CROP_EXPAND,
    protocol: str = "original",
) -> dict:
    """The evaluation sample of one object (see the module docstring).

    Returns: name, `image_input` [3,c,c] (grey background), `rgb` [N,3,S,S] (white background;
    above 1 at edge pixels where the original's 255 fill leaks),
    `mask` [N,1,S,S], `c2w` [N,4,4] canonical OpenGL cameras, `focal_norm` [N] (focal / image side),
    `crop_box` (x0,y0,x1,y1) in raw pixels or None, `scale` (world → canonical), `view_names`.
    """
    n_views = len(raw.images)
    if n_views < 2 or len(raw.masks) != n_views or raw.c2w.shape[0] != n_views:
        raise BadItem(f"needs an input and at least one target view, got {n_views} images")
    if not torch.isfinite(raw.c2w).all() or not torch.isfinite(raw.focals).all():
        raise BadItem("camera parameters are not finite")
    if bool((raw.focals <= 0).any()):
        raise BadItem("non-positive focal length")

    original = check_protocol(protocol) == "original"
    box = None
    if raw.box_mask is not None:
        box = (original_crop_box if original else centered_crop_box)(raw.box_mask, crop_expand)
    fill = ORIGINAL_CROP_FILL if original else image_ops.WHITE
    rgbs, masks = [], []
    for rgb, mask in zip(raw.images, raw.masks, strict=True):
        if box is not None:
            rgb = image_ops.crop_box(rgb, box, fill=fill)
            mask = image_ops.crop_box(mask, box, fill=0.0)
        elif rgb.shape[-1] != rgb.shape[-2]:
            raise BadItem(f"uncropped views must be square, got {tuple(rgb.shape[-2:])}")
        rgbs.append(resize_rgb(rgb, image_size, protocol))
        masks.append(image_ops.resize_mask(mask, image_size))
    rgb = torch.stack(rgbs)  # [N,3,S,S]
    mask = torch.stack(masks)  # [N,1,S,S]
    if not bool((mask[0] > 0).any()):
        raise BadItem("the input view's mask is empty")
    target = rgb if raw.on_white else image_ops.composite(rgb, mask, image_ops.WHITE)

    center_to_input = raw.c2w[0, :3, 3].to(torch.float64) - raw.center.to(torch.float64)
    if float(torch.linalg.norm(center_to_input)) < 1e-9:
        raise BadItem("the input camera is at the object centre")
    c2w, scale = canonicalize_to_input(raw.c2w, raw.center, distance=camera_distance)

    # Focal over crop side: the crop is the same square for every view, so ratios are preserved.
    focal_input = fov_to_focal(raw.input_fov_rad, 1.0)
    focal_norm = focal_input * raw.focals.to(torch.float64) / float(raw.focals[0])

    # The original composites the input on grey from the white-composited view (twice for a soft
    # mask); TSR's preprocessor resizes it to the model's size with antialiasing.
    image_input = image_ops.composite((target if original else rgb)[0], mask[0], image_ops.GREY)
    image_input = resize_rgb(image_input, cond_image_size, protocol, antialias=True)
    return {
        "name": raw.name,
        "image_input": image_input.contiguous(),
        "rgb": target.contiguous(),
        "mask": mask.contiguous(),
        "c2w": c2w.contiguous(),
        "focal_norm": focal_norm.to(torch.float32),
        "crop_box": box,
        "scale": float(scale),
        "view_names": list(raw.view_names),
    }


class MultiViewEvalDataset(Dataset):
    """Objects of a multi-view evaluation set; `load(i)` raises on a bad object (with the reason).

    `__getitem__` never raises: a bad object gives `{"name": ..., "skipped": reason}` so the
    evaluation records it and goes on. Subclasses implement `names` and `read_object`.
    """

    def __init__(
        self,
        image_size: int = 512,
        cond_image_size: int = 512,
        camera_distance: float = EVAL_CAMERA_DISTANCE,
        crop_expand: float = CROP_EXPAND,
        protocol: str = "original",
    ) -> None:
        self.image_size = int(image_size)
        self.cond_image_size = int(cond_image_size)
        self.camera_distance = float(camera_distance)
        self.crop_expand = float(crop_expand)
        self.protocol = check_protocol(protocol)
        self.entries: list = []

    @property
    def mask_source(self) -> str | None:
        """Which masks the reader uses (reported in metrics.json); None where the format has no choice."""
        return None

    def __len__(self) -> int:
        return len(self.entries)

    def name(self, index: int) -> str:
        raise NotImplementedError

    def read_object(self, index: int) -> RawObject:
        raise NotImplementedError

    def load(self, index: int) -> dict:
        return prepare_object(
            self.read_object(index),
            image_size=self.image_size,
            cond_image_size=self.cond_image_size,
            camera_distance=self.camera_distance,
            crop_expand=self.crop_expand,
            protocol=self.protocol,
        )

    def __getitem__(self, index: int) -> dict:
        try:
            return self.load(index)
        except Exception as exc:  # noqa: BLE001 - one bad object must not stop an evaluation
            return {"name": self.name(index), "skipped": f"{type(exc).__name__}: {exc}"}


def select_entries(entries: Sequence, every_nth: int = 1, max_items: int | None = None) -> list:
    """Every `every_nth` entry (0, n, 2n, ...), at most `max_items` of them."""
    entries = list(entries)[:: max(1, int(every_nth))]
    return entries if max_items is None else entries[: int(max_items)]


def read_rgb(path: str | os.PathLike) -> torch.Tensor:
    """Float RGB [3,H,W] of an image file; a missing or corrupt file raises BadItem."""
    try:
        return image_ops.to_float(image_ops.read_image_uint8(path, "RGB"))
    except (OSError, ValueError) as exc:
        raise BadItem(f"cannot read image {path}: {exc}") from exc


def read_mask_uint8(path: str | os.PathLike, size_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """8-bit mask [1,H,W] of a mask image, resized to `size_hw` with PIL's NEAREST (pixel centres,
    as the original; torch's "nearest" is half a pixel off); a missing or corrupt file raises BadItem."""
    try:
        mask = image_ops.read_image_uint8(path, "L")
    except (OSError, ValueError) as exc:
        raise BadItem(f"cannot read mask {path}: {exc}") from exc
    if size_hw is not None and tuple(mask.shape[-2:]) != tuple(size_hw):
        mask = image_ops.resize_mask_pil(mask, tuple(size_hw))
    return mask
