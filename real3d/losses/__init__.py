"""Training losses (SPEC §6): pixel MSE, LPIPS-VGG, the CLIP semantic loss.

The functions take already-built frozen networks (`real3d.pretrained.build_lpips` /
`build_clip`); they never load weights themselves.
"""

from real3d.losses.perceptual import perceptual_loss
from real3d.losses.photometric import mse_loss, weighted_sum
from real3d.losses.reconstruction import reconstruction_losses
from real3d.losses.semantic import clip_semantic_loss

__all__ = [
    "clip_semantic_loss",
    "mse_loss",
    "perceptual_loss",
    "reconstruction_losses",
    "weighted_sum",
]
