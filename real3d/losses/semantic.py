"""CLIP semantic loss: novel views of a real object should look like the same object."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


def clip_semantic_loss(clip_encoder: nn.Module, novel_views: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """max over novel views of (−cosine similarity to the reference), averaged over the batch.

    `novel_views` [B,V,3,H,W] and `reference` [B,3,H,W] are in [0, 1]; `clip_encoder` maps
    [N,3,H,W] images to L2-normalised embeddings [N,D] (resizing and CLIP mean/std inside).
    """
    batch_size = novel_views.shape[0]
    embeddings = clip_encoder(torch.cat([rearrange(novel_views, "B V C H W -> (B V) C H W"), reference], dim=0)).float()
    novel = rearrange(embeddings[:-batch_size], "(B V) D -> B V D", B=batch_size)
    ref = embeddings[-batch_size:]
    cosine = torch.einsum("bvd,bd->bv", novel, ref)  # [B, V]
    return (-cosine).amax(dim=1).mean()
