"""NeRF MLP: triplane features at a point -> raw density and colour features."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}


class NeRFMLP(nn.Module):
    """`n_hidden_layers` Linear+activation layers then Linear -> 4 (density, 3 colour features)."""

    def __init__(self, in_channels: int, n_neurons: int, n_hidden_layers: int, activation: str = "silu") -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = [nn.Linear(in_channels, n_neurons), act()]
        for _ in range(n_hidden_layers - 1):
            layers += [nn.Linear(n_neurons, n_neurons), act()]
        layers.append(nn.Linear(n_neurons, 4))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.layers(features)
        return {"density": out[..., 0:1], "features": out[..., 1:4]}
