"""Checkpoint files: atomic Lightning checkpoints and export to the published model layout."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from real3d.io import atomic_path
from real3d.models.config import KNOWN_VIT_CONFIGS
from real3d.models.loading import from_training_checkpoint

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed into place (SPEC §10)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        if "://" in str(path):  # remote filesystems: Lightning's own writer
            return super().save_checkpoint(checkpoint, path)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


def export_pretrained(
    checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike, weight_name: str = "model.ckpt"
) -> Path:
    """Write a training checkpoint's model in the published layout (config.yaml + model.ckpt).

    The result loads with `real3d.models.load(output_dir)`, `run.sh` and the original TripoSR
    code. A ViT config that is not a known hub name is written beside it (relative folder).
    """
    net = from_training_checkpoint(checkpoint_path)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    vit_name = str(net.cfg.image_tokenizer.pretrained_model_name_or_path)
    if vit_name not in KNOWN_VIT_CONFIGS:
        if Path(vit_name).is_absolute() or ".." in Path(vit_name).parts:
            vit_name = "image_tokenizer_config"
            net.cfg.image_tokenizer.pretrained_model_name_or_path = vit_name
        with atomic_path(output_dir / vit_name / "config.json") as tmp:
            net.image_tokenizer.model.config.to_json_file(str(tmp))
    net.save_pretrained(output_dir, weight_name=weight_name)
    log.info("exported %s to %s", checkpoint_path, output_dir)
    return output_dir
