"""Image preprocessing shared by the datasets: reading, mask boxes, square crops and pads,
compositing on a flat background, resizing (bilinear for images, nearest for masks).

Images are float tensors [C,H,W] in [0,1]; masks are [1,H,W] (float in [0,1], or bool).
Boxes are integer pixel boxes (x0, y0, x1, y1) with exclusive ends; they may leave the image,
in which case the outside is filled.
"""

from __future__ import annotations

import math
import os

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

Box = tuple[int, int, int, int]
GREY = 0.5
WHITE = 1.0


def read_image_uint8(path: str | os.PathLike, mode: str | None = None) -> torch.Tensor:
    """Decode an image file into a uint8 tensor [C,H,W]; `mode` converts it (e.g. "RGB", "L").

    The file is fully decoded here, so a truncated or corrupt file raises (OSError, ValueError...).
    """
    with PIL.Image.open(path) as image:
        image.load()
        if mode is not None and image.mode != mode:
            image = image.convert(mode)
        array = np.array(image)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()


def read_rgba(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB [3,H,W] and alpha [1,H,W] (both uint8) of an image that must carry an alpha channel."""
    with PIL.Image.open(path) as image:
        image.load()
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        if not has_alpha:
            raise ValueError(f"image has no alpha channel (mode {image.mode}): {path}")
        array = np.array(image.convert("RGBA"))
    rgba = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()
    return rgba[:3], rgba[3:4]


def to_float(image_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 image -> float32 in [0,1]."""
    return image_uint8.to(torch.float32) / 255.0


def mask_bbox(mask: torch.Tensor) -> Box | None:
    """Tight box (x0, y0, x1, y1), exclusive ends, of the non-zero pixels of mask [1,H,W] or [H,W]."""
    mask = mask.reshape(mask.shape[-2:]) != 0
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def square_box_around(box: Box, expand: float = 1.0) -> Box:
    """Square box with the same centre as `box`, side = longest side of `box` times `expand`."""
    x0, y0, x1, y1 = box
    side = max(1, int(round(max(x1 - x0, y1 - y0) * expand)))
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    left, top = int(math.floor(cx - 0.5 * side + 0.5)), int(math.floor(cy - 0.5 * side + 0.5))
    return left, top, left + side, top + side


def crop_box(image: torch.Tensor, box: Box, fill: float = 0.0) -> torch.Tensor:
    """Crop [C,H,W] to `box`; the part of the box outside the image is `fill`."""
    c, h, w = image.shape
    x0, y0, x1, y1 = box
    out = torch.full((c, y1 - y0, x1 - x0), fill, dtype=image.dtype, device=image.device)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[:, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[:, sy0:sy1, sx0:sx1]
    return out


def pad_to_square(image: torch.Tensor, factor: float = 1.0, fill: float = 0.0) -> torch.Tensor:
    """Pad [C,H,W] around its centre to a square of side int(max(H,W) * factor) (factor >= 1)."""
    _, h, w = image.shape
    side = max(int(max(h, w) * factor), h, w)
    left, top = (side - w) // 2, (side - h) // 2
    return crop_box(image, (-left, -top, side - left, side - top), fill)


def composite(rgb: torch.Tensor, mask: torch.Tensor, background: float = GREY) -> torch.Tensor:
    """rgb * mask + background * (1 - mask); rgb [...,3,H,W], mask [...,1,H,W] in [0,1]."""
    mask = mask.to(rgb.dtype)
    return rgb * mask + background * (1.0 - mask)


def resize_image(
    image: torch.Tensor, size: int | tuple[int, int], antialias: bool = True, clamp: bool = True
) -> torch.Tensor:
    """Resize [C,H,W] or [N,C,H,W] (float) to `size` (int: square), bilinear.

    `antialias=False` is the original Real3D's plain bilinear (`F.interpolate` without antialiasing);
    `clamp=False` keeps values outside [0, 1] (the original never clamps its resized images).
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(image.shape[-2:]) == size:
        return image
    batched = image.ndim == 4
    image = image if batched else image[None]
    out = F.interpolate(image, size, mode="bilinear", align_corners=False, antialias=antialias)
    if clamp:
        out = out.clamp_(0.0, 1.0)
    return out if batched else out[0]


def resize_lanczos(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize [C,H,W] (uint8, or float in [0,1] quantised to 8 bits) with PIL's LANCZOS -> float [0,1].

    The original resizes Objaverse training images and OmniObject3D renders this way (8-bit PIL).
    Channels are resampled independently, as PIL does for "RGB"/"L" images; PIL premultiplies
    "RGBA" by its alpha first, so composite before calling this where the original resized RGBA.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if image.dtype != torch.uint8:
        image = (image.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    channels = [
        np.asarray(PIL.Image.fromarray(plane.numpy()).resize((size[1], size[0]), PIL.Image.LANCZOS))
        for plane in image.cpu()
    ]
    return to_float(torch.from_numpy(np.stack(channels)))


def resize_mask_pil(mask: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a mask [1,H,W] (uint8, float or bool; values kept exactly) with PIL's NEAREST.

    PIL samples the source pixel under each target pixel's centre; torch's `nearest`
    (`resize_mask`) the one under its top-left corner, so the two differ by a pixel at
    non-integer scales. The original resizes mask files and Objaverse masks this way.
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(mask.shape[-2:]) == size:
        return mask
    plane = mask.reshape(mask.shape[-2:]).cpu()
    plane = plane if plane.dtype == torch.uint8 else plane.to(torch.float32)  # PIL "L" or "F"
    out = np.asarray(PIL.Image.fromarray(plane.numpy()).resize((size[1], size[0]), PIL.Image.NEAREST))
    return torch.from_numpy(out.copy())[None].to(mask.dtype)


def resize_mask(mask: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a mask [1,H,W] or [N,1,H,W] to `size` with nearest-neighbour sampling (keeps values)."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(mask.shape[-2:]) == size:
        return mask
    batched = mask.ndim == 4
    mask = mask if batched else mask[None]
    dtype = mask.dtype
    out = F.interpolate(mask.to(torch.float32), size, mode="nearest").to(dtype)
    return out if batched else out[0]


def recenter_foreground(
    rgb: torch.Tensor, mask: torch.Tensor, foreground_ratio: float, fill: float = GREY
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop to the mask's box, then pad to a square in which the object spans `foreground_ratio`.

    The demo's preprocessing (TripoSR): returns the square rgb (outside filled with `fill`) and
    mask (outside 0). Raises ValueError for an empty mask.
    """
    box = mask_bbox(mask)
    if box is None:
        raise ValueError("empty foreground mask")
    square = square_box_around(box, 1.0 / foreground_ratio)
    return crop_box(rgb, square, fill), crop_box(mask, square, 0.0)


def binarize(mask_uint8: torch.Tensor, threshold: int) -> torch.Tensor:
    """Float mask {0,1}: 1 where the 8-bit mask is strictly greater than `threshold`."""
    return (mask_uint8 > threshold).to(torch.float32)


def augment_rgb_mask(
    rgb: torch.Tensor,
    mask: torch.Tensor,
    hflip: bool = True,
    rotation_deg: float = 30.0,
    color_jitter: tuple[float, float, float, float] | None = (0.1, 0.1, 0.1, 0.2),
    fill: float = WHITE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal flip, rotation within ±rotation_deg (outside: `fill`, mask 0) and colour
    jitter (brightness, contrast, saturation, hue) of a float rgb [3,H,W] and its mask [1,H,W]."""
    from torchvision.transforms import ColorJitter, InterpolationMode
    from torchvision.transforms import functional as TF

    if hflip and bool(torch.rand(()) < 0.5):
        rgb, mask = rgb.flip(-1), mask.flip(-1)
    if rotation_deg > 0:
        angle = float((torch.rand(()) * 2.0 - 1.0) * rotation_deg)
        rgb = TF.rotate(rgb, angle, InterpolationMode.BILINEAR, fill=[fill] * rgb.shape[0])
        mask = TF.rotate(mask, angle, InterpolationMode.NEAREST, fill=[0.0])
    if color_jitter is not None:
        b, c, s, h = color_jitter
        rgb = ColorJitter(brightness=b, contrast=c, saturation=s, hue=h)(rgb).clamp(0.0, 1.0)
    return rgb, mask
