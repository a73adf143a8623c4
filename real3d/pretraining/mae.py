"""A masked autoencoder (He et al. 2022) whose encoder is the small ViT, from `transformers`' `ViTMAEForPreTraining`.

Inputs are normalised as the LRM's tokenizer normalises them (ImageNet mean / std), so the weights carry
over unchanged; the loss is MSE on masked patches against per-patch normalised pixels (`norm_pix_loss`).
The MAE encoder's keys are the `ViTModel`'s under `vit.`; only the tokenizer's pooler, unused by the
LRM, stays at its initialisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from transformers import ViTConfig, ViTMAEConfig, ViTMAEForPreTraining, ViTModel

from real3d.models.image_tokenizer import IMAGENET_MEAN, IMAGENET_STD

ENCODER_PREFIX = "vit."  # the MAE encoder's keys inside ViTMAEForPreTraining
VIT_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "image_size",
    "patch_size",
    "qkv_bias",
    "hidden_act",
    "layer_norm_eps",
    "num_channels",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
)


@dataclass
class MAESettings:
    """The MAE's masking and its (discarded) decoder."""

    mask_ratio: float = 0.75
    decoder_hidden_size: int = 128
    decoder_num_hidden_layers: int = 2
    decoder_num_attention_heads: int = 4
    decoder_intermediate_size: int = 256
    norm_pix_loss: bool = True


def mae_config(vit_config: ViTConfig, settings: MAESettings) -> ViTMAEConfig:
    """An MAE whose encoder is `vit_config`'s ViT."""
    return ViTMAEConfig(**{name: getattr(vit_config, name) for name in VIT_FIELDS}, **asdict(settings))


class MaskedAutoencoder(nn.Module):
    """`forward(images [B,3,S,S] in [0,1], noise)` -> mean MSE over the masked patches; `encoder()` the ViT."""

    def __init__(self, vit_config: ViTConfig, settings: MAESettings | None = None) -> None:
        super().__init__()
        self.vit_config = vit_config
        self.mae = ViTMAEForPreTraining(mae_config(vit_config, settings or MAESettings()))
        self.register_buffer("image_mean", torch.as_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.as_tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """`noise` [B,P] fixes the mask (the patches of lowest noise stay visible)."""
        pixels = (images - self.image_mean) / self.image_std
        return self.mae(pixel_values=pixels, noise=noise).loss

    def update(self, step: int, total_steps: int) -> None:
        """Nothing to do after an optimizer step (no teacher)."""

    def encoder(self) -> ViTModel:
        """A `ViTModel` of `vit_config` holding the MAE encoder's weights."""
        vit = ViTModel(self.vit_config)
        state = self.mae.state_dict()
        weights = {k[len(ENCODER_PREFIX) :]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
        result = vit.load_state_dict(weights, strict=False)
        if result.unexpected_keys or any(not k.startswith("pooler.") for k in result.missing_keys):
            raise RuntimeError(f"MAE encoder does not match the ViT: {result}")
        return vit.eval()
