"""Composing the real Hydra training config in tests, the module's optimizer partials, a quiet CPU
trainer, and reading a run's metrics."""

from __future__ import annotations

import csv
import os
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from real3d.training.optim import cosine_with_warmup
from real3d.training.run import register_resolvers

ROOT = Path(__file__).resolve().parents[2]


def compose_train(overrides: list[str]) -> DictConfig:
    """config/train.yaml with overrides, as `scripts/train.py` would compose it."""
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    register_resolvers()
    with initialize_config_dir(config_dir=str(ROOT / "config"), version_base="1.3"):
        return compose("train", overrides=overrides)


def read_metrics(metrics_csv: Path) -> dict[str, list[float]]:
    """Each column of a CSVLogger metrics file, without its empty cells."""
    rows = list(csv.DictReader(metrics_csv.open()))
    return {k: [float(r[k]) for r in rows if r.get(k)] for k in rows[0]}


def optimizer_parts(lr: float, total: int, accumulation: int) -> dict:
    """`optimizer` and `scheduler` partials for `Real3DModule`: the recipe's AdamW at `lr`, no warmup."""
    return {
        "optimizer": partial(torch.optim.AdamW, lr=lr, betas=(0.9, 0.96), eps=1e-6, weight_decay=0.05),
        "scheduler": partial(
            cosine_with_warmup, warmup_iterations=0, total_iterations=total, accumulation_steps=accumulation
        ),
    }


def cpu_trainer(root: Path, max_steps: int, **kwargs) -> pl.Trainer:
    """A quiet one-process CPU Trainer without logger, checkpoints or validation (unit tests)."""
    return pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=root,
        **kwargs,
    )
