"""Building the LRM for training: released weights or a random init, plus render settings."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from real3d.errors import Real3DError
from real3d.models import LRM

log = logging.getLogger(__name__)


def build_lrm(
    pretrained_dir: str | Path | None = None,
    weight_name: str = "model.ckpt",
    config: str | Path | dict | DictConfig | None = None,
    num_samples_per_ray: int | None = None,
    chunk_size: int = 0,
) -> LRM:
    """The model to train.

    With `pretrained_dir`, `LRM.from_pretrained` (TripoSR `model.ckpt` or Real3D
    `model_both_trained_v1.ckpt`, config.yaml beside it); otherwise a random init from `config`
    (a published-format config.yaml path or mapping). `num_samples_per_ray` overrides the config's
    (the recipe renders 128 per ray); `chunk_size` bounds the renderer's memory (0 = no chunking).
    """
    if pretrained_dir is not None:
        net = LRM.from_pretrained(pretrained_dir, weight_name=weight_name)
        log.info("initialised the model from %s/%s", pretrained_dir, weight_name)
    elif config is not None:
        net = LRM.from_config(config)
        log.warning("model randomly initialised from its config (no pretrained_dir given)")
    else:
        raise Real3DError("model: give pretrained_dir (released weights) or config (random init)")
    if num_samples_per_ray is not None:
        net.renderer.num_samples_per_ray = int(num_samples_per_ray)
    net.renderer.set_chunk_size(int(chunk_size))
    return net
