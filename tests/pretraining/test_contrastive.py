"""The contrastive objective: NT-Xent picks each view's partner; a step trains the ViT and its head."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from real3d.pretraining.contrastive import Contrastive, nt_xent
from real3d.pretraining.encoder import PretrainSettings, pretrain, read_vit_config


def test_nt_xent_is_low_when_partners_match_and_log_n_when_all_alike() -> None:
    a = torch.eye(4, 8)
    assert float(nt_xent(a, a.clone(), temperature=0.05)) < 1e-3
    same = torch.ones(4, 8)
    assert float(nt_xent(same, same, temperature=0.2)) == pytest.approx(math.log(7), rel=1e-5)


def test_views_differ_and_the_loss_trains_the_vit() -> None:
    torch.manual_seed(0)
    model = Contrastive(read_vit_config()).train()
    images = torch.rand(3, 3, 64, 64)
    assert not torch.equal(model.view(images), model.view(images))
    loss = model(images)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.vit.embeddings.patch_embeddings.projection.weight.grad is not None
    assert model.encoder().embeddings.cls_token is not model.vit.embeddings.cls_token


def test_contrastive_pretraining_loss_decreases(mini_data: Path) -> None:
    settings = PretrainSettings(method="contrastive", steps=30, batch_size=8, lr=1e-3, seed=0)
    _, history = pretrain(mini_data, read_vit_config(), settings, progress=False)
    first, last = (sum(h["loss"] for h in part) / len(part) for part in (history[:5], history[-5:]))
    assert last < 0.8 * first


def test_views_keep_their_colours_when_no_permutation_or_grey_is_asked() -> None:
    """p_permute = p_grey = 0: no view swaps colour channels or turns grey, so the objective cannot
    teach colour invariance (the LRM needs colour in its features)."""
    from real3d.pretraining.contrastive import ContrastiveSettings

    torch.manual_seed(0)
    settings = ContrastiveSettings(p_permute=0.0, p_grey=0.0, p_blur=0.0, crop_scale=(1.0, 1.0))
    model = Contrastive(read_vit_config(), settings)
    red = torch.zeros(16, 3, 64, 64)
    red[:, 0] = 0.8
    views = model.view(red) * model.image_std + model.image_mean  # back to [0,1]
    assert bool((views[:, 0] > views[:, 1] + 0.2).all())  # red stays the strongest channel in every view


def test_pixel_loss_redraws_the_views_patches_from_the_patch_tokens() -> None:
    """pixel_weight > 0: the objective adds a patch-pixel reconstruction whose gradient reaches the patch
    tokens' head, and a head that redraws the views exactly leaves only the NT-Xent term."""
    from real3d.pretraining.contrastive import ContrastiveSettings

    torch.manual_seed(0)
    plain = Contrastive(read_vit_config())
    assert plain.pixel_head is None
    model = Contrastive(read_vit_config(), ContrastiveSettings(pixel_weight=2.0))
    patch = model.vit.config.patch_size
    assert model.pixel_head.out_features == 3 * patch * patch
    images = torch.rand(2, 3, 64, 64)
    torch.manual_seed(1)
    loss = model(images)
    loss.backward()
    assert model.pixel_head.weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.pixel_head.weight.zero_()
        model.pixel_head.bias.zero_()
        torch.manual_seed(1)
        views = torch.cat([model.view(images), model.view(images)])
        torch.manual_seed(1)
        total = model(images)
        embeddings = model.head(model.vit(views).last_hidden_state[:, 0])
        contrastive = nt_xent(*embeddings.chunk(2), model.settings.temperature)
    assert float(total - contrastive) == pytest.approx(2.0 * float(views.pow(2).mean()), rel=1e-4)
