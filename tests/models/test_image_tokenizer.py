"""The image tokenizer's gradient checkpointing: non-reentrant, the same gradients, layers recomputed."""

from __future__ import annotations

import torch
from torch import nn
from transformers import ViTConfig

from real3d.models.image_tokenizer import DINOSingleImageTokenizer

CONFIG = ViTConfig(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
)


def _tokenizer(checkpointing: bool) -> DINOSingleImageTokenizer:
    torch.manual_seed(0)
    return DINOSingleImageTokenizer(CONFIG, enable_gradient_checkpointing=checkpointing).train()


def _grads(tokenizer: DINOSingleImageTokenizer, images: torch.Tensor) -> dict[str, torch.Tensor | None]:
    tokenizer(images).square().mean().backward()
    return {name: p.grad for name, p in tokenizer.named_parameters()}


def test_checkpointed_encoder_recomputes_its_layers_and_gives_the_same_gradients() -> None:
    images = torch.rand(2, 1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    plain, checkpointed = _tokenizer(False), _tokenizer(True)
    calls = []
    for layer in checkpointed.model.modules():
        if type(layer).__name__ == "ViTLayer":
            layer.attention.register_forward_hook(lambda *args: calls.append(1))
    expected, got = _grads(plain, images), _grads(checkpointed, images)
    assert len(calls) == 2 * CONFIG.num_hidden_layers  # each layer's forward again in the backward pass
    for name, grad in expected.items():
        if grad is None:
            assert got[name] is None, name
        else:
            assert torch.allclose(grad, got[name], atol=1e-6), name


def test_layers_get_gradients_when_the_embeddings_are_frozen() -> None:
    """Non-reentrant: a checkpointed layer whose input needs no gradient still trains (the reentrant
    checkpoint gives its parameters none, and DDP then waits for them)."""
    tokenizer = _tokenizer(True)
    tokenizer.model.embeddings.requires_grad_(False)
    grads = _grads(tokenizer, torch.rand(1, 1, 3, 32, 32))
    layer_grads = [g for name, g in grads.items() if ".layer" in name and "norm" not in name]
    assert layer_grads and all(g is not None and g.abs().sum() > 0 for g in layer_grads)


def test_older_transformers_get_the_non_reentrant_checkpoint_too() -> None:
    """transformers 4.x has only `gradient_checkpointing_enable` (reentrant by default): it is told not to be."""
    seen = {}

    class OlderViT(nn.Module):
        def gradient_checkpointing_enable(self, **kwargs) -> None:  # noqa: ANN003
            seen.update(kwargs)

    tokenizer = _tokenizer(False)
    tokenizer.model = OlderViT()
    tokenizer.enable_gradient_checkpointing()
    assert seen == {"gradient_checkpointing_kwargs": {"use_reentrant": False}}
