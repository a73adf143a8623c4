"""LPIPS-VGG perceptual loss between rendered and target views."""

from __future__ import annotations

import torch
from torch import nn


def perceptual_loss(lpips_net: nn.Module, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean LPIPS of images [..., 3, H, W] in [0, 1] (`normalize=True` maps them to [-1, 1]).

    The network is frozen but not under no_grad: the gradient flows to `pred`.
    """
    if pred.shape != target.shape:
        raise ValueError(f"perceptual_loss: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    shape = pred.shape[-3:]
    distance = lpips_net(pred.reshape(-1, *shape), target.reshape(-1, *shape), normalize=True)
    return distance.float().mean()
