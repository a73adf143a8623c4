"""Checkpoint files: atomic Lightning checkpoints and export to the published model layout."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from pytorch_lightning.plugins.io import TorchCheckpointIO
from transformers import ViTConfig

from real3d.errors import Real3DError
from real3d.io import atomic_path
from real3d.models import LRM
from real3d.models.config import KNOWN_VIT_CONFIGS

log = logging.getLogger(__name__)

NET_PREFIX = "net."


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed into place (SPEC §10)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        if "://" in str(path):  # remote filesystems: Lightning's own writer
            return super().save_checkpoint(checkpoint, path)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


def load_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A Lightning checkpoint of `Real3DModule`, read without executing code from it."""
    path = Path(path)
    if not path.is_file():
        raise Real3DError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a bad file for the user
        raise Real3DError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "real3d" not in checkpoint:
        raise Real3DError(f"{path} is not a Real3D training checkpoint (no state_dict / real3d entry)")
    return checkpoint


def export_pretrained(
    checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike, weight_name: str = "model.ckpt"
) -> Path:
    """Write a training checkpoint's model in the published layout (config.yaml + model.ckpt).

    The result loads with `LRM.from_pretrained(output_dir)`, `run.sh` and the original TripoSR
    code. A ViT config that is not a known hub name is written beside it (relative folder).
    """
    checkpoint = load_training_checkpoint(checkpoint_path)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model_config = OmegaConf.create(checkpoint["real3d"]["model_config"])
    vit_name = str(model_config.image_tokenizer.pretrained_model_name_or_path)
    if vit_name not in KNOWN_VIT_CONFIGS:
        if Path(vit_name).is_absolute() or ".." in Path(vit_name).parts:
            vit_name = "image_tokenizer_config"
            model_config.image_tokenizer.pretrained_model_name_or_path = vit_name
        vit_config = ViTConfig.from_dict(checkpoint["real3d"]["vit_config"])
        with atomic_path(output_dir / vit_name / "config.json") as tmp:
            vit_config.to_json_file(str(tmp))
    net = LRM.from_config(model_config, base_dir=output_dir)
    state_dict = {k[len(NET_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(NET_PREFIX)}
    net.load_state_dict(state_dict, strict=True)
    net.save_pretrained(output_dir, weight_name=weight_name)
    log.info("exported %s to %s", checkpoint_path, output_dir)
    return output_dir
