"""Contrastive instance discrimination (SimCLR, Chen et al. 2020) in miniature for the small ViT.

Two augmented views of each image (random resized crop, flip, colour jitter, grey, channel permutation;
`real3d.pretraining.augment`) go through the ViT; their CLS tokens through a projection head (MLP ->
L2-normalised embedding). The NT-Xent loss makes each view pick its partner among the 2B - 1 other
views of the batch (temperature 0.2). The other images of the batch are the negatives, so the features
cannot collapse, from the first step on; colour augmentations make shape, not colour, what tells
images apart. That invariance also makes the patch tokens colour-blind, and the LRM reads its colours
from them: with `pixel_weight` > 0 a linear head must redraw each view's patches (8x8x3 pixels) from
its patch tokens (the view as it went in, colour changes included), so the tokens keep colour while
the CLS token learns shape.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from transformers import ViTConfig, ViTModel

from real3d.models.image_tokenizer import IMAGENET_MEAN, IMAGENET_STD
from real3d.pretraining.augment import colour_jitter, random_blur, random_flip, random_resized_crops


@dataclass
class ContrastiveSettings:
    """Projection head, crops and temperature."""

    hidden_dim: int = 256
    out_dim: int = 64
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (1.0, 1.0)  # square crops: a stretched lamp would look like a table
    temperature: float = 0.2
    p_grey: float = 0.5
    p_permute: float = 0.5  # colour channels permuted: teaches hue invariance (0: the features keep colour)
    p_blur: float = 0.8
    pixel_weight: float = 0.0  # weight of the patch-pixel reconstruction loss (0: SimCLR alone)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss for paired embeddings a, b [B,D]: cross-entropy of each view's partner among all others."""
    z = F.normalize(torch.cat([a, b]), dim=-1)  # [2B,D]
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    n = a.shape[0]
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, partner)


class Contrastive(nn.Module):
    """`forward(images [B,3,S,S] in [0,1])` -> NT-Xent over two views; `encoder()` the ViT."""

    def __init__(self, vit_config: ViTConfig, settings: ContrastiveSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or ContrastiveSettings()
        s = self.settings
        self.vit = ViTModel(vit_config)
        self.head = nn.Sequential(
            nn.Linear(vit_config.hidden_size, s.hidden_dim), nn.GELU(), nn.Linear(s.hidden_dim, s.out_dim)
        )
        patch = vit_config.patch_size
        self.pixel_head = nn.Linear(vit_config.hidden_size, 3 * patch * patch) if s.pixel_weight > 0 else None
        self.register_buffer("image_mean", torch.as_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.as_tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def view(self, images: torch.Tensor) -> torch.Tensor:
        """One augmented, normalised view [B,3,S,S] of images [B,3,S,S]."""
        s = self.settings
        crops = random_resized_crops(images, images.shape[-1], s.crop_scale, s.crop_ratio)
        views = random_blur(colour_jitter(random_flip(crops), p_grey=s.p_grey, p_permute=s.p_permute), p=s.p_blur)
        return (views - self.image_mean) / self.image_std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        views = torch.cat([self.view(images), self.view(images)])  # [2B,3,S,S]
        hidden = self.vit(views).last_hidden_state  # [2B,1+P,C]
        loss = nt_xent(*self.head(hidden[:, 0]).chunk(2), self.settings.temperature)
        if self.pixel_head is None:
            return loss
        patch = self.vit.config.patch_size
        target = rearrange(views, "b c (h p) (w q) -> b (h w) (p q c)", p=patch, q=patch)  # [2B,P,3pq]
        return loss + self.settings.pixel_weight * F.mse_loss(self.pixel_head(hidden[:, 1:]), target)

    def update(self, step: int, total_steps: int) -> None:
        """Nothing to do after an optimizer step."""

    def encoder(self) -> ViTModel:
        """A standalone copy of the ViT."""
        return copy.deepcopy(self.vit).eval()
