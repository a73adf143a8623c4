"""Comparison of rendered views with their images: the supervised multi-view loss terms and, with
the input view rendered through the cycle camera, the cycle-consistency terms (SPEC §6)."""

from __future__ import annotations

import torch
from torch import nn

from real3d.losses.perceptual import perceptual_loss
from real3d.losses.photometric import mse_loss


def reconstruction_losses(
    pred_rgb: torch.Tensor,
    pred_opacity: torch.Tensor,
    target_rgb: torch.Tensor,
    target_mask: torch.Tensor,
    lpips_net: nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Terms `rgb` (MSE), `mask` (MSE of opacity vs mask) and, given a network, `perceptual` (LPIPS).

    Views are [B,N,3,H,W] / [B,N,1,H,W] (any leading dims), rgb on white in [0, 1].
    """
    terms = {"rgb": mse_loss(pred_rgb, target_rgb), "mask": mse_loss(pred_opacity, target_mask)}
    if lpips_net is not None:
        terms["perceptual"] = perceptual_loss(lpips_net, pred_rgb, target_rgb)
    return terms
