"""AdamW parameter groups, the recipe's optimizer and schedule, and how they are recorded.

The optimizer and the schedule reach the module as factories (Hydra partials, config/module/):
`optimizer(groups)` and `scheduler(optimizer)`. Groups as the reference (SPEC §6): triplane
embeddings, image encoder, the rest; weight decay is off for biases, norms and other 1-D
parameters. ZeRO (optimizer state sharded across ranks) is the optimizer choice
`module/optimizer=zero_adamw` (torch's `ZeroRedundancyOptimizer` around AdamW).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from transformers import get_cosine_schedule_with_warmup

EMBEDDINGS = "tokenizer.embeddings"
IMAGE_ENCODER_PREFIX = "image_tokenizer."
# Prefixes that wrappers (FSDP, activation checkpointing, torch.compile) add to parameter names.
_WRAPPER_PARTS = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")

OptimizerFactory = Callable[[list[dict]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


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
    lr_embeddings: float | None = None,
    lr_image_encoder: float | None = None,
) -> list[dict]:
    """Optimizer groups (non-empty only), each with a `name`: embeddings, image_encoder[_no_decay],
    rest[_no_decay]. A group's lr is set only where given (else the optimizer's); `_no_decay` groups
    set weight_decay 0 (the others take the optimizer's)."""
    groups: dict[str, dict] = {}
    for raw_name, param in named_parameters:
        if not param.requires_grad:
            continue
        name = clean_name(raw_name)
        if name == EMBEDDINGS:
            group, lr = "embeddings", lr_embeddings
        elif name.startswith(IMAGE_ENCODER_PREFIX):
            group, lr = "image_encoder", lr_image_encoder
        else:
            group, lr = "rest", None
        if name in no_decay:
            group += "_no_decay"
        entry = groups.setdefault(group, {"name": group, "params": []})
        entry["params"].append(param)
        if lr is not None:
            entry["lr"] = float(lr)
        if name in no_decay:
            entry["weight_decay"] = 0.0
    order = ["embeddings", "embeddings_no_decay", "image_encoder", "image_encoder_no_decay", "rest", "rest_no_decay"]
    return [groups[name] for name in order if name in groups]


def recipe_adamw() -> OptimizerFactory:
    """The published optimizer (SPEC §6): AdamW, lr 4e-5, betas (0.9, 0.96), eps 1e-6, weight decay 0.05."""
    return functools.partial(torch.optim.AdamW, lr=4e-5, betas=(0.9, 0.96), eps=1e-6, weight_decay=0.05)


def cosine_with_warmup(
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


def describe_factory(factory: Callable[..., Any]) -> dict[str, Any]:
    """A factory (a partial) as plain data for the checkpoint's hyperparameters: target and arguments."""
    func = getattr(factory, "func", factory)
    keywords = getattr(factory, "keywords", {})

    def plain(value: Any) -> Any:
        if isinstance(value, type) or callable(value):
            return f"{value.__module__}.{value.__qualname__}"
        return list(value) if isinstance(value, tuple) else value

    return {"_target_": plain(func), **{k: plain(v) for k, v in keywords.items()}}
