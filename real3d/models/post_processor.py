"""Triplane upsampler: a stride-2 transposed convolution applied to each plane."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class TriplaneUpsampleNetwork(nn.Module):
    """Planes [B,3,Ci,P,P] -> [B,3,Co,2P,2P]."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, triplanes: torch.Tensor) -> torch.Tensor:
        upsampled = self.upsample(rearrange(triplanes, "B Np Ci Hp Wp -> (B Np) Ci Hp Wp"))
        return rearrange(upsampled, "(B Np) Co Hp Wp -> B Np Co Hp Wp", Np=3)
