"""Pixel metrics with scikit-image semantics (data range 1, colour channels), batched in torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# PSNR of identical images would be infinite; the MSE is floored so averages stay finite (100 dB).
MIN_MSE = 1e-10


def _batched(images: torch.Tensor) -> torch.Tensor:
    if images.ndim == 3:
        return images[None]
    if images.ndim != 4:
        raise ValueError(f"expected [3,H,W] or [B,3,H,W] images, got shape {tuple(images.shape)}")
    return images


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR per image `[B]` of images `[B,C,H,W]` (or `[C,H,W]`), MSE over all pixels and channels."""
    pred, target = _batched(pred).double(), _batched(target).double()
    mse = ((pred - target) ** 2).flatten(1).mean(1).clamp_min(MIN_MSE)
    return (10.0 * torch.log10(data_range**2 / mse)).float()


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """SSIM per image `[B]` as `skimage.metrics.structural_similarity(channel_axis=..., data_range=1)`.

    Uniform 7×7 window, sample covariance, the border of (win_size−1)/2 pixels cropped before the
    mean, and the mean over channels.
    """
    pred, target = _batched(pred).double(), _batched(target).double()
    channels = pred.shape[1]
    n_pixels = win_size**2
    cov_norm = n_pixels / (n_pixels - 1)

    def window_mean(x: torch.Tensor) -> torch.Tensor:
        # Valid region only: identical to skimage's filter followed by its border crop.
        return F.avg_pool2d(x, win_size, stride=1)

    ux, uy = window_mean(pred), window_mean(target)
    uxx, uyy, uxy = window_mean(pred * pred), window_mean(target * target), window_mean(pred * target)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.reshape(s.shape[0], channels, -1).mean(-1).mean(-1).float()
