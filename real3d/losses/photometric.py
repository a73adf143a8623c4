"""Pixel losses on rendered views and the weighted sum of named loss terms."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of images or opacities [..., C, H, W], computed in float32.

    Every view has the same size, so this equals the reference's mean per view, then over views,
    then over the batch.
    """
    if pred.shape != target.shape:
        raise ValueError(f"mse_loss: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    return (pred.float() - target.float()).square().mean()


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Σ weights[name] · terms[name] over the terms present (each term needs a weight)."""
    missing = sorted(set(terms) - set(weights))
    if missing:
        raise KeyError(f"no weight for loss terms {missing}")
    values = [weights[name] * value for name, value in terms.items()]
    if not values:
        raise ValueError("weighted_sum of no terms")
    return torch.stack(values).sum()
