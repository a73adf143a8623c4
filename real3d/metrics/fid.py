"""Fréchet Inception Distance between two sets of feature vectors."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with pytorch-fid's regularisation when Σ₁Σ₂ is singular."""
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray) -> float:
    """FID between feature sets `[N,D]` and `[M,D]` (each needs at least 2 rows)."""
    a = np.asarray(torch.as_tensor(features_a).double().cpu().numpy())
    b = np.asarray(torch.as_tensor(features_b).double().cpu().numpy())
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FID needs at least two feature vectors in each set")
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
