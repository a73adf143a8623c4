"""Batched image augmentations for self-supervised pretraining: random resized crops, flips, colour jitter.

Vectorised over the batch (one `roi_align` per crop size), so that a 2-core CPU spends its time on the
network rather than on per-image transforms. Random draws come from the CPU generator (or the global
CPU one) whatever the images' device, so a run on CUDA draws the augmentations a CPU run draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.ops import roi_align

GREY_WEIGHTS = (0.299, 0.587, 0.114)


def _uniform(*shape: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U(0, 1) draws of `shape` from the CPU generator, on the device of `like`."""
    return torch.rand(*shape, generator=generator).to(like.device)


def random_resized_crops(
    images: torch.Tensor,
    size: int,
    scale: Sequence[float],
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One crop per image of images [B,3,H,W]: area fraction ~ U(scale), aspect ratio log-uniform in
    `ratio`, inside the image, resized to [B,3,size,size] (bilinear samples, averaged over each output pixel)."""
    b, _, h, w = images.shape
    u = torch.rand(b, 4, generator=generator)
    area = (scale[0] + (scale[1] - scale[0]) * u[:, 0]) * h * w
    aspect = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1])
    cw = torch.sqrt(area * aspect).clamp(max=w)
    ch = torch.sqrt(area / aspect).clamp(max=h)
    x0 = (w - cw) * u[:, 2]
    y0 = (h - ch) * u[:, 3]
    boxes = torch.stack([torch.arange(b, dtype=torch.float32), x0, y0, x0 + cw, y0 + ch], dim=1)  # [B,5]
    return roi_align(images, boxes.to(images), (size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of [B,3,H,W] flipped left-right with probability 1/2."""
    flip = _uniform(images.shape[0], like=images, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def colour_jitter(
    images: torch.Tensor,
    strength: float = 0.4,
    p_jitter: float = 0.8,
    p_grey: float = 0.2,
    p_permute: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Per image of [B,3,H,W] in [0,1]: with `p_jitter` brightness, contrast and saturation scaled by
    U(1 - strength, 1 + strength); with `p_permute` the colour channels permuted (a cheap stand-in for
    a hue shift); with `p_grey` turned grey. Returns values in [0,1]."""
    b = images.shape[0]
    weights = torch.tensor(GREY_WEIGHTS, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)

    def grey(x: torch.Tensor) -> torch.Tensor:
        return (x * weights).sum(dim=1, keepdim=True)  # [B,1,H,W]

    def chance(p: float) -> torch.Tensor:
        return (_uniform(b, like=images, generator=generator) < p).reshape(b, 1, 1, 1)

    def factor() -> torch.Tensor:
        return (1.0 + strength * (2.0 * _uniform(b, like=images, generator=generator) - 1.0)).reshape(b, 1, 1, 1)

    jitter = chance(p_jitter)
    out = images
    out = torch.where(jitter, out * factor(), out).clamp(0.0, 1.0)  # brightness
    mean = grey(out).mean(dim=(2, 3), keepdim=True)
    out = torch.where(jitter, mean + (out - mean) * factor(), out).clamp(0.0, 1.0)  # contrast
    out = torch.where(jitter, grey(out) + (out - grey(out)) * factor(), out).clamp(0.0, 1.0)  # saturation
    order = torch.argsort(_uniform(b, 3, like=images, generator=generator), dim=1)  # [B,3] a random permutation each
    permuted = torch.gather(out, 1, order[:, :, None, None].expand_as(out))
    out = torch.where(chance(p_permute), permuted, out)
    return torch.where(chance(p_grey), grey(out).expand_as(out), out)


def random_blur(
    images: torch.Tensor,
    sigma: Sequence[float] = (1.0, 2.5),
    p: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each image of [B,3,H,W] Gaussian-blurred with probability p, sigma ~ U(sigma) pixels (per image):
    removes fine texture (stripes, checkers), keeps the silhouette."""
    b = images.shape[0]
    radius = int(math.ceil(2.0 * sigma[1]))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    s = (sigma[0] + (sigma[1] - sigma[0]) * _uniform(b, like=images, generator=generator)).to(images.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / s[:, None]) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # [B,K]
    padded = torch.nn.functional.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = padded.unfold(3, offsets.numel(), 1)  # [B,3,H+2r,W,K]
    blurred = (rows * kernel[:, None, None, None, :]).sum(-1)
    cols = blurred.unfold(2, offsets.numel(), 1)  # [B,3,H,W,K]
    blurred = (cols * kernel[:, None, None, None, :]).sum(-1)
    chosen = (_uniform(b, like=images, generator=generator) < p).reshape(b, 1, 1, 1)
    return torch.where(chosen, blurred, images)
