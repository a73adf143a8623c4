"""Learned triplane tokens: the queries of the backbone, and their folding back into planes."""

from __future__ import annotations

import math

import torch
from einops import rearrange, repeat
from torch import nn


class Triplane1DTokenizer(nn.Module):
    """Three learned planes [3,C,P,P], flattened plane-major into a token sequence [B,C,3·P·P]."""

    def __init__(self, plane_size: int, num_channels: int) -> None:
        super().__init__()
        self.plane_size = plane_size
        self.num_channels = num_channels
        self.embeddings = nn.Parameter(torch.randn(3, num_channels, plane_size, plane_size) / math.sqrt(num_channels))

    def forward(self, batch_size: int) -> torch.Tensor:
        return rearrange(
            repeat(self.embeddings, "Np Ct Hp Wp -> B Np Ct Hp Wp", B=batch_size),
            "B Np Ct Hp Wp -> B Ct (Np Hp Wp)",
        )

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [B,C,3·P·P] -> triplanes [B,3,C,P,P]."""
        return rearrange(tokens, "B Ct (Np Hp Wp) -> B Np Ct Hp Wp", Np=3, Hp=self.plane_size, Wp=self.plane_size)
