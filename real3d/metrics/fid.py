"""Fréchet Inception Distance between two sets of feature vectors."""

from __future__ import annotations

import numpy as np
import torch


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ₁−μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2·Tr((Σ₁Σ₂)^½).

    Tr((Σ₁Σ₂)^½) is computed as the sum of the square roots of the eigenvalues of the symmetric
    Σ₁^½ Σ₂ Σ₁^½ (the same eigenvalues as Σ₁Σ₂): exact, and much faster and steadier than a
    general matrix square root for 2048-d features.
    """
    s1 = torch.as_tensor(sigma1, dtype=torch.float64)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64)
    root1 = _sqrt_psd((s1 + s1.T) / 2)
    inner = root1 @ ((s2 + s2.T) / 2) @ root1
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    diff = torch.as_tensor(mu1, dtype=torch.float64) - torch.as_tensor(mu2, dtype=torch.float64)
    return float(diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * trace_sqrt)


def fid_from_features(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """FID between feature sets `[N,D]` and `[M,D]` (each needs at least 2 rows)."""
    a = torch.as_tensor(features_a).to(torch.float64).cpu()
    b = torch.as_tensor(features_b).to(torch.float64).cpu()
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FID needs at least two feature vectors in each set")
    return frechet_distance(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))
