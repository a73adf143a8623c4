"""DINO ViT image tokenizer: images -> patch tokens (CLS included) used as cross-attention context."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from transformers import ViTConfig, ViTModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DINOSingleImageTokenizer(nn.Module):
    """A `transformers` ViTModel (with pooler, as in the released weights) over ImageNet-normalised images."""

    def __init__(self, vit_config: ViTConfig, enable_gradient_checkpointing: bool = False) -> None:
        super().__init__()
        self.model = ViTModel(vit_config)
        if enable_gradient_checkpointing:
            self.enable_gradient_checkpointing()
        mean = torch.as_tensor(IMAGENET_MEAN).reshape(1, 1, 3, 1, 1)
        std = torch.as_tensor(IMAGENET_STD).reshape(1, 1, 3, 1, 1)
        self.register_buffer("image_mean", mean, persistent=False)
        self.register_buffer("image_std", std, persistent=False)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute the ViT layers' activations in the backward pass, with torch's non-reentrant checkpoint
        (transformers 4.x defaults to the reentrant one, which breaks DDP with unused parameters)."""
        kwargs = {"use_reentrant": False}
        enable = getattr(self.model, "activation_checkpointing_enable", None)
        if enable is not None:  # transformers >= 5, where gradient_checkpointing_enable is deprecated
            enable(activation_checkpointing_kwargs=kwargs)
        else:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Tokens [B,N,C,T] for images [B,N,3,H,W] in [0,1] (T = 1 + number of patches)."""
        batch_size = images.shape[0]
        images = (images - self.image_mean) / self.image_std
        out = self.model(rearrange(images, "B N C H W -> (B N) C H W"), interpolate_pos_encoding=True)
        return rearrange(out.last_hidden_state, "(B N) T C -> B N C T", B=batch_size)
