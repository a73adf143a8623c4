"""Image-quality metrics for evaluation: PSNR, SSIM, LPIPS, CLIP similarity, FID."""

from real3d.metrics.fid import fid_from_features, frechet_distance
from real3d.metrics.image import psnr, ssim
from real3d.metrics.perceptual import clip_similarity, lpips_distance

__all__ = [
    "clip_similarity",
    "fid_from_features",
    "frechet_distance",
    "lpips_distance",
    "psnr",
    "ssim",
]
