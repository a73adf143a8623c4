"""Composing the real Hydra training config in tests, and reading a run's metrics."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

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
