"""The MAE objective: it learns, and its encoder is the tokenizer's ViT with the same weights."""

from __future__ import annotations

from pathlib import Path

import torch

from real3d.pretraining.encoder import PretrainSettings, pretrain, read_vit_config
from real3d.pretraining.mae import MAESettings, MaskedAutoencoder


def test_mae_loss_decreases(mini_data: Path) -> None:
    settings = PretrainSettings(method="mae", steps=30, batch_size=8, lr=2e-3, seed=0)
    _, history = pretrain(mini_data, read_vit_config(), settings, progress=False)
    assert len(history) == 30
    first, last = (sum(h["loss"] for h in part) / len(part) for part in (history[:5], history[-5:]))
    assert last < 0.8 * first


def test_encoder_is_the_mae_encoder_in_vit_form() -> None:
    torch.manual_seed(0)
    mae = MaskedAutoencoder(read_vit_config(), MAESettings(mask_ratio=0.0)).eval()
    vit = mae.encoder()
    images = torch.rand(2, 3, 64, 64)
    pixels = (images - mae.image_mean) / mae.image_std
    ordered = torch.arange(64, dtype=torch.float32).expand(2, 64)  # no masking, tokens kept in order
    with torch.no_grad():
        expected = mae.mae.vit(pixels, noise=ordered).last_hidden_state
        got = vit(pixels).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
