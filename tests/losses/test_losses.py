"""Loss functions against hand-computed values, and gradients through the frozen networks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from real3d.losses import (
    clip_semantic_loss,
    mse_loss,
    perceptual_loss,
    reconstruction_losses,
    weighted_sum,
)
from real3d.pretrained import build_clip, build_lpips
from tests.conftest import CLIP_TINY


class MeanColourEncoder(nn.Module):
    """A stand-in CLIP: the L2-normalised mean colour of each image."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(images.mean(dim=(2, 3)), dim=-1)


class AbsDiffLPIPS(nn.Module):
    """A stand-in LPIPS: mean |a - b| per image as [B,1,1,1]; records `normalize`."""

    def forward(self, a, b, normalize=False):
        self.normalize = normalize
        return (a - b).abs().mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)


def _solid(colour, size=4) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32).reshape(3, 1, 1).expand(3, size, size).clone()


def test_mse_hand_computed():
    pred = torch.full((1, 2, 3, 2, 2), 0.5)
    target = torch.zeros_like(pred)
    target[:, 1] = 1.0  # view 0 error 0.25, view 1 error 0.25
    assert mse_loss(pred, target).item() == pytest.approx(0.25)
    target[:, 1] = 0.5  # view 1 error 0 -> mean 0.125
    assert mse_loss(pred, target).item() == pytest.approx(0.125)
    opacity = torch.tensor([0.0, 1.0, 0.5, 0.5]).reshape(1, 1, 1, 2, 2)
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0]).reshape(1, 1, 1, 2, 2)
    assert mse_loss(opacity, mask).item() == pytest.approx((1 + 0 + 0.25 + 0.25) / 4)


def test_mse_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        mse_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2))


def test_weighted_sum_hand_computed_and_missing_weight():
    terms = {"rgb": torch.tensor(1.0), "mask": torch.tensor(2.0)}
    assert weighted_sum(terms, {"rgb": 2.0, "mask": 0.5, "other": 9.0}).item() == pytest.approx(3.0)
    with pytest.raises(KeyError):
        weighted_sum(terms, {"rgb": 1.0})


def test_perceptual_loss_flattens_views_and_normalises_inputs():
    net = AbsDiffLPIPS()
    pred = torch.zeros(2, 3, 3, 4, 4)
    target = torch.zeros_like(pred)
    target[0, 0] = 0.6  # one view of six differs by 0.6
    assert perceptual_loss(net, pred, target).item() == pytest.approx(0.6 / 6)
    assert net.normalize is True  # images in [0, 1] are mapped to [-1, 1] by LPIPS


def test_lpips_vgg_zero_for_identical_images_and_gradient_reaches_pred():
    net = build_lpips(allow_random=True)
    target = torch.rand(1, 2, 3, 32, 32)
    assert perceptual_loss(net, target.clone(), target).item() == pytest.approx(0.0, abs=1e-6)
    pred = torch.rand_like(target, requires_grad=True)
    loss = perceptual_loss(net, pred, target)
    loss.backward()
    assert loss.item() > 0 and pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())  # frozen


def test_clip_semantic_loss_hand_computed():
    red, green, yellow = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 1.0, 0.0)
    novel = torch.stack(
        [
            torch.stack([_solid(red), _solid(green)]),  # cosines 1, 0 -> max(-1, -0) = 0
            torch.stack([_solid(yellow), _solid(yellow)]),  # cosines 1/√2 -> -1/√2
        ]
    )
    reference = torch.stack([_solid(red), _solid(red)])
    loss = clip_semantic_loss(MeanColourEncoder(), novel, reference)
    assert loss.item() == pytest.approx((0.0 - 1.0 / math.sqrt(2.0)) / 2.0, abs=1e-6)


def test_clip_semantic_loss_gradient_flows_to_novel_views_only():
    encoder = build_clip(config=CLIP_TINY, allow_random=True)
    novel = torch.rand(2, 3, 3, 32, 32, requires_grad=True)
    reference = torch.rand(2, 3, 32, 32)
    loss = clip_semantic_loss(encoder, novel, reference)
    loss.backward()
    assert -1.0 <= loss.item() <= 1.0
    assert novel.grad is not None and novel.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.parameters())
    same = clip_semantic_loss(encoder, reference[:, None].expand(2, 3, 3, 32, 32), reference)
    assert same.item() == pytest.approx(-1.0, abs=1e-5)


def test_reconstruction_losses_terms():
    pred_rgb, target_rgb = torch.full((1, 1, 3, 4, 4), 0.5), torch.ones(1, 1, 3, 4, 4)
    pred_opacity, target_mask = torch.zeros(1, 1, 1, 4, 4), torch.ones(1, 1, 1, 4, 4)
    terms = reconstruction_losses(pred_rgb, pred_opacity, target_rgb, target_mask)
    assert set(terms) == {"rgb", "mask"}
    assert terms["rgb"].item() == pytest.approx(0.25) and terms["mask"].item() == pytest.approx(1.0)
    terms = reconstruction_losses(pred_rgb, pred_opacity, target_rgb, target_mask, AbsDiffLPIPS())
    assert terms["perceptual"].item() == pytest.approx(0.5)
