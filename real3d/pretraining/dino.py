"""DINO self-distillation (Caron et al. 2021) in miniature for the small ViT: multi-crop, EMA teacher,
centring and sharpening, as in the paper, at sizes that train on a CPU.

A student ViT sees 2 global crops (64², 40-100% of the framed image) and `local_crops` local crops
(32², 10-40%; the ViT interpolates its position embeddings, as the LRM's tokenizer allows); the teacher,
an exponential moving average of the student, sees the global crops. Each network's CLS token goes
through a projection head (MLP -> L2-normalised bottleneck -> `out_dim` unit-norm prototypes); the
student's softmax (temperature 0.1) learns the teacher's centred, sharpened softmax (0.04) across views.
Centring: DINO's running mean of the teacher's logits (`centering="mean"`, the paper's) or DINOv2's
Sinkhorn-Knopp equipartition (`"sinkhorn"`). Colour jitter, grey and channel permutation make the views
agree on shape rather than on colour.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ViTConfig, ViTModel

from real3d.errors import Real3DError
from real3d.models.image_tokenizer import IMAGENET_MEAN, IMAGENET_STD
from real3d.pretraining.augment import colour_jitter, random_flip, random_resized_crops


@dataclass
class DINOSettings:
    """Head, crops, temperatures and momenta (the paper's values where they fit a small model)."""

    out_dim: int = 1024
    hidden_dim: int = 256
    bottleneck_dim: int = 64
    local_crops: int = 4
    local_size: int = 32
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.1, 0.4)
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    centering: str = "mean"  # "mean" (DINO's running mean) or "sinkhorn" (DINOv2's Sinkhorn-Knopp)
    sinkhorn_iterations: int = 3
    center_momentum: float = 0.9
    momentum: float = 0.996  # teacher EMA, raised to 1 along a cosine over training


def sinkhorn_knopp(logits: torch.Tensor, temperature: float, iterations: int = 3) -> torch.Tensor:
    """Teacher targets [B,K] from logits [B,K]: softmax(logits / temperature) rebalanced so that every
    prototype gets an equal share of the batch (SwAV's / DINOv2's equipartition; rows sum to 1)."""
    q = torch.exp((logits - logits.max()) / temperature).T  # [K,B]
    q = q / q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q = q / (q.sum(dim=1, keepdim=True) * k)
        q = q / (q.sum(dim=0, keepdim=True) * b)
    return (q * b).T


class DINOHead(nn.Module):
    """CLS feature [B,C] -> logits [B,out_dim] over unit-norm prototypes (DINO's weight-normalised layer, g = 1)."""

    def __init__(self, in_dim: int, settings: DINOSettings) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, settings.hidden_dim),
            nn.GELU(),
            nn.Linear(settings.hidden_dim, settings.hidden_dim),
            nn.GELU(),
            nn.Linear(settings.hidden_dim, settings.bottleneck_dim),
        )
        self.prototypes = nn.Parameter(torch.randn(settings.out_dim, settings.bottleneck_dim) * 0.02)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(self.mlp(features), dim=-1), F.normalize(self.prototypes, dim=-1))


class _Branch(nn.Module):
    """ViT + head on images already normalised: CLS token -> head logits."""

    def __init__(self, vit: ViTModel, head: DINOHead) -> None:
        super().__init__()
        self.vit = vit
        self.head = head

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        cls = self.vit(pixels, interpolate_pos_encoding=True).last_hidden_state[:, 0]
        return self.head(cls)


class DINO(nn.Module):
    """Student and EMA teacher; `forward(images [B,3,S,S] in [0,1])` -> the DINO loss; `update(step, total)`
    after each optimizer step moves the teacher; `encoder()` is the teacher's ViT."""

    def __init__(self, vit_config: ViTConfig, settings: DINOSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or DINOSettings()
        if self.settings.centering not in ("mean", "sinkhorn"):
            raise Real3DError(f"DINO centering must be 'mean' or 'sinkhorn', got {self.settings.centering!r}")
        self.student = _Branch(ViTModel(vit_config), DINOHead(vit_config.hidden_size, self.settings))
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, self.settings.out_dim))
        self.register_buffer("image_mean", torch.as_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.as_tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def views(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised global crops [2B,3,S,S] and local crops [LB,3,s,s] of images [B,3,S,S]."""
        s = self.settings
        size = images.shape[-1]

        def augment(crop_size: int, scale: tuple[float, float]) -> torch.Tensor:
            crops = colour_jitter(random_flip(random_resized_crops(images, crop_size, scale)))
            return (crops - self.image_mean) / self.image_std

        globals_ = torch.cat([augment(size, s.global_scale) for _ in range(2)])
        locals_ = torch.cat([augment(s.local_size, s.local_scale) for _ in range(s.local_crops)])
        return globals_, locals_

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        s = self.settings
        globals_, locals_ = self.views(images)
        with torch.no_grad():
            teacher_logits = self.teacher(globals_)  # [2B,K]
            if s.centering == "sinkhorn":
                targets = torch.cat(
                    [sinkhorn_knopp(t, s.teacher_temp, s.sinkhorn_iterations) for t in teacher_logits.chunk(2)]
                )
            else:
                targets = F.softmax((teacher_logits - self.center) / s.teacher_temp, dim=-1)
            targets = targets.chunk(2)
        student_logits = torch.cat([self.student(globals_), self.student(locals_)])  # [(2+L)B,K]
        predictions = F.log_softmax(student_logits / s.student_temp, dim=-1).chunk(2 + s.local_crops)
        terms = [
            -(target * prediction).sum(dim=-1).mean()
            for t, target in enumerate(targets)
            for v, prediction in enumerate(predictions)
            if v != t
        ]
        if self.training:
            batch_center = teacher_logits.mean(dim=0, keepdim=True)
            self.center.mul_(s.center_momentum).add_(batch_center, alpha=1.0 - s.center_momentum)
        return torch.stack(terms).mean()

    @torch.no_grad()
    def update(self, step: int, total_steps: int) -> None:
        """Teacher <- EMA of the student, momentum from `settings.momentum` to 1 along a cosine."""
        m = 1.0 - (1.0 - self.settings.momentum) * (math.cos(math.pi * step / max(total_steps, 1)) + 1.0) / 2.0
        for teacher, student in zip(self.teacher.parameters(), self.student.parameters(), strict=True):
            teacher.mul_(m).add_(student.detach(), alpha=1.0 - m)

    def encoder(self) -> ViTModel:
        """The teacher's ViT (DINO's evaluated network), as a standalone `ViTModel`."""
        return copy.deepcopy(self.teacher.vit).eval()
