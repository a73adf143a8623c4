"""Conversion of user images (PIL, numpy, tensors) into the model's input batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

ImageLike = PIL.Image.Image | np.ndarray | torch.Tensor


def to_float_hwc(image: ImageLike) -> torch.Tensor:
    """An image as a float tensor [H,W,C] (or [B,H,W,C]) in [0,1]."""
    if isinstance(image, PIL.Image.Image):
        return torch.from_numpy(np.array(image).astype(np.float32) / 255.0)
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8:
            return torch.from_numpy(image.astype(np.float32) / 255.0)
        return torch.from_numpy(image.astype(np.float32))
    if isinstance(image, torch.Tensor):
        return image.float()
    raise TypeError(f"unsupported image type {type(image).__name__}")


def resize_hwc(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize [H,W,C] or [B,H,W,C] to size×size, bilinear with antialiasing (as TripoSR)."""
    batched = image.ndim == 4
    image = image if batched else image[None]
    image = F.interpolate(
        image.permute(0, 3, 1, 2), (size, size), mode="bilinear", align_corners=False, antialias=True
    ).permute(0, 2, 3, 1)
    return image if batched else image[0]


def images_to_batch(images: ImageLike | Sequence[ImageLike], size: int) -> torch.Tensor:
    """A batch [B,1,3,size,size] from one image, a list of images, or a [B,H,W,C] array/tensor."""
    if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
        batch = resize_hwc(to_float_hwc(images), size)
    else:
        if not isinstance(images, (list, tuple)):
            images = [images]
        batch = torch.stack([resize_hwc(to_float_hwc(im), size) for im in images], dim=0)
    return batch[..., :3].permute(0, 3, 1, 2)[:, None].contiguous()
