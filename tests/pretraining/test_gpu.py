"""Pretraining on CUDA (`--device cuda`): models and batches on the GPU, the CPU's augmentation draws."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from real3d.pretraining.augment import colour_jitter, random_blur, random_flip, random_resized_crops
from real3d.pretraining.clip import CaptionTokenizer, TrainSettings, mini_clip_config, pretrain_clip
from real3d.pretraining.encoder import PretrainSettings, knn_report, pretrain, read_vit_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_augmentations_on_cuda_draw_what_the_cpu_draws() -> None:
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def augment(x: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(1)
        crops = random_resized_crops(x, 32, (0.5, 1.0), generator=g)
        return random_blur(colour_jitter(random_flip(crops, generator=g), generator=g), generator=g)

    assert torch.allclose(augment(images.cuda()).cpu(), augment(images), atol=1e-5)


@pytest.mark.parametrize("method", ["contrastive", "dino", "mae"])
def test_encoder_pretrains_on_cuda(mini_data: Path, method: str) -> None:
    config = read_vit_config()
    settings = PretrainSettings(method=method, steps=2, batch_size=4, image_size=config.image_size)
    model, history = pretrain(mini_data, config, settings, progress=False, device="cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert len(history) == 2 and all(math.isfinite(h["loss"]) for h in history)
    report = knn_report(model.encoder(), mini_data, image_size=config.image_size)
    assert 0.0 <= report["S"]["cls"] <= 1.0


def test_clip_pretrains_on_cuda(mini_data: Path, tmp_path: Path) -> None:
    config = mini_clip_config(CaptionTokenizer.for_captions(32).vocab_size, image_size=32, width=32, layers=1)
    metrics = pretrain_clip(mini_data, tmp_path, TrainSettings(steps=2, batch_size=4), config, False, device="cuda")
    assert math.isfinite(metrics["last_loss"]) and (tmp_path / "open_clip_model.safetensors").is_file()
