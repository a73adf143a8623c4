"""AdamW parameter groups, the optional ZeRO-sharded wrapper and the cosine-with-warmup schedule.

Groups as the reference (SPEC §6): triplane embeddings, image encoder, the rest; weight decay is
off for biases, norms and other 1-D parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from transformers import get_cosine_schedule_with_warmup

EMBEDDINGS = "tokenizer.embeddings"
IMAGE_ENCODER_PREFIX = "image_tokenizer."
# Prefixes that wrappers (FSDP, activation checkpointing, torch.compile) add to parameter names.
_WRAPPER_PARTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def clean_name(name: str) -> str:
    """A parameter name without the parts wrappers insert."""
    for part in _WRAPPER_PARTS:
        name = name.replace(part, "")
    return name


def no_decay_names(model: nn.Module) -> set[str]:
    """Names of parameters without weight decay: biases, norm weights, every other 1-D tensor.

    Call it on the unwrapped model: a sharded wrapper can change the parameters' shapes.
    """
    return {clean_name(name) for name, param in model.named_parameters() if param.ndim < 2 or name.endswith(".bias")}


def parameter_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    no_decay: set[str],
    lr: float,
    lr_embeddings: float,
    lr_image_encoder: float,
    weight_decay: float,
) -> list[dict]:
    """AdamW groups (non-empty only), each with a `name`: embeddings, image_encoder[_no_decay], rest[_no_decay]."""
    groups: dict[str, dict] = {}

    def add(group: str, group_lr: float, decay: float, param: nn.Parameter) -> None:
        groups.setdefault(group, {"name": group, "params": [], "lr": group_lr, "weight_decay": decay})
        groups[group]["params"].append(param)

    for raw_name, param in named_parameters:
        if not param.requires_grad:
            continue
        name = clean_name(raw_name)
        decay = 0.0 if name in no_decay else weight_decay
        suffix = "" if decay else "_no_decay"
        if name == EMBEDDINGS:
            add("embeddings" + suffix, lr_embeddings, decay, param)
        elif name.startswith(IMAGE_ENCODER_PREFIX):
            add("image_encoder" + suffix, lr_image_encoder, decay, param)
        else:
            add("rest" + suffix, lr, decay, param)
    order = ["embeddings", "embeddings_no_decay", "image_encoder", "image_encoder_no_decay", "rest", "rest_no_decay"]
    return [groups[name] for name in order if name in groups]


def build_optimizer(
    groups: list[dict],
    betas: tuple[float, float] = (0.9, 0.96),
    eps: float = 1e-6,
    zero_redundancy: bool = False,
) -> torch.optim.Optimizer:
    """AdamW over `groups`; with `zero_redundancy`, its state sharded across ranks (ZeRO stage 1)."""
    betas = (float(betas[0]), float(betas[1]))
    if zero_redundancy:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        return ZeroRedundancyOptimizer(
            groups, optimizer_class=torch.optim.AdamW, lr=groups[0]["lr"], betas=betas, eps=eps
        )
    return torch.optim.AdamW(groups, betas=betas, eps=eps)


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    warmup_iterations: int,
    total_iterations: int,
    accumulation_steps: int,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay with linear warmup, stepped per optimizer step.

    The config counts iterations (batches), as the reference; both are divided by the accumulation
    steps (SPEC §6: 1,000 / 100,000 iterations -> 100 / 10,000 optimizer steps).
    """
    return get_cosine_schedule_with_warmup(
        optimizer,
        num_warmup_steps=warmup_iterations // accumulation_steps,
        num_training_steps=total_iterations // accumulation_steps,
    )
