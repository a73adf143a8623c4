"""Learned perceptual metrics: LPIPS distance and CLIP image-image similarity."""

from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def lpips_distance(lpips_model: nn.Module, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS per image `[B]` for images `[B,3,H,W]` in [0,1] (mapped to [−1,1] for the network)."""
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    device = next(lpips_model.parameters()).device
    pred = pred.to(device, torch.float32) * 2.0 - 1.0
    target = target.to(device, torch.float32) * 2.0 - 1.0
    return lpips_model(pred, target).flatten().cpu()


@torch.no_grad()
def clip_similarity(clip_encoder: nn.Module, images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Cosine similarity `[B]` of CLIP embeddings of `images` `[B,3,H,W]` to `reference`.

    `reference` is `[B,3,H,W]` (paired) or `[3,H,W]`/`[1,3,H,W]` (one image for all).
    """
    if reference.ndim == 3:
        reference = reference[None]
    device = next(clip_encoder.parameters()).device
    emb = clip_encoder(images.to(device, torch.float32))
    ref = clip_encoder(reference.to(device, torch.float32))
    return (emb * ref).sum(-1).cpu()
