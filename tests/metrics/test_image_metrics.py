"""Metric functions against known values and scikit-image / reference formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from real3d.metrics import clip_similarity, fid_from_features, lpips_distance, psnr, ssim
from real3d.metrics.image import MIN_MSE


def test_psnr_known_values():
    a = torch.rand(2, 3, 16, 16)
    assert psnr(a, a).tolist() == pytest.approx([-10 * math.log10(MIN_MSE)] * 2)  # identical: capped
    b = (a + 0.1).clamp(max=10)  # MSE exactly 0.01 -> 20 dB
    assert psnr(a, b).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)
    assert psnr(a[0], b[0]).shape == (1,)


def test_psnr_and_ssim_match_scikit_image():
    torch.manual_seed(0)
    a = torch.rand(3, 3, 37, 29)
    b = (a + 0.15 * torch.randn_like(a)).clamp(0, 1)
    for i in range(3):
        x, y = a[i].permute(1, 2, 0).double().numpy(), b[i].permute(1, 2, 0).double().numpy()
        assert float(psnr(a[i], b[i])) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1), abs=1e-4)
        expected = structural_similarity(x, y, channel_axis=-1, data_range=1)
        assert float(ssim(a[i], b[i])) == pytest.approx(expected, abs=1e-5)
    assert ssim(a, a).tolist() == pytest.approx([1.0] * 3)


def test_lpips_of_identical_images_is_zero(lpips_random):
    a = torch.rand(2, 3, 32, 32)
    assert lpips_distance(lpips_random, a, a).tolist() == [0.0, 0.0]
    assert (lpips_distance(lpips_random, a, torch.rand_like(a)) > 0).all()


def test_lpips_maps_inputs_to_minus_one_one(lpips_random):
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    expected = lpips_random(a * 2 - 1, b * 2 - 1).flatten()
    torch.testing.assert_close(lpips_distance(lpips_random, a, b), expected)


def test_clip_similarity(clip_random):
    a = torch.rand(3, 3, 40, 40)
    torch.testing.assert_close(clip_similarity(clip_random, a, a), torch.ones(3), atol=1e-5, rtol=0)
    one = clip_similarity(clip_random, a, a[0])
    assert one[0] == pytest.approx(1.0, abs=1e-5) and (one.abs() <= 1 + 1e-5).all()


def test_fid_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 6))
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-8)
    # Shifting the mean by d adds |d|^2; scaling the spread by s adds D (s - 1)^2 in expectation.
    assert fid_from_features(a + 2.0, a) == pytest.approx(6 * 4.0, rel=1e-9)
    b = rng.normal(size=(60, 6)) * 1.5 + 0.3
    import scipy.linalg

    m1, s1, m2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    expected = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError):
        fid_from_features(a[:1], b)
