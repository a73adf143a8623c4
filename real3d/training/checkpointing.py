"""Checkpoint files: atomic Lightning checkpoints and export to the published model layout."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from omegaconf.errors import OmegaConfBaseException
from pytorch_lightning.plugins.io import TorchCheckpointIO

from real3d.errors import Real3DError
from real3d.io import atomic_path
from real3d.models.config import KNOWN_VIT_CONFIGS
from real3d.models.loading import from_training_checkpoint
from real3d.staging import check_destination, staged_folder

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


WEIGHT_SUFFIXES = (".ckpt", ".pth", ".pt", ".bin")  # torch files the loaders read (not .safetensors)


def export_pretrained(
    checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike, weight_name: str = "model.ckpt"
) -> Path:
    """Write a training checkpoint's model in the published layout (config.yaml + model.ckpt).

    The result loads with `real3d.models.load(output_dir)`, `run.sh` and the original TripoSR
    code. A ViT config that is not a known hub name is written beside it (relative folder). The
    folder is written whole: staged beside `output_dir` and moved into place, replacing an earlier
    export there (a folder holding anything else is refused); a checkpoint that is not a Real3D
    training checkpoint is a one-line `Real3DError`.
    """
    check_weight_name(weight_name)
    output_dir = Path(output_dir)
    check_destination(output_dir, "output_dir", exported_entry)
    net = read_training_model(checkpoint_path)
    vit_name = str(net.cfg.image_tokenizer.pretrained_model_name_or_path)
    with staged_folder(output_dir, "output_dir", exported_entry) as staged:
        stage = staged.path
        if vit_name not in KNOWN_VIT_CONFIGS:
            if Path(vit_name).is_absolute() or ".." in Path(vit_name).parts:
                vit_name = "image_tokenizer_config"
                net.cfg.image_tokenizer.pretrained_model_name_or_path = vit_name
            with atomic_path(stage / vit_name / "config.json") as tmp:
                net.image_tokenizer.model.config.to_json_file(str(tmp))
        net.save_pretrained(stage, weight_name=weight_name)
    log.info("exported %s to %s", checkpoint_path, output_dir)
    return output_dir


def read_training_model(checkpoint_path: str | os.PathLike):
    """The model of a training checkpoint; a file that does not hold a buildable Real3D model is one line."""
    try:
        return from_training_checkpoint(checkpoint_path)
    except Real3DError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, IndexError, OmegaConfBaseException) as exc:
        # the file is the user's input: a training checkpoint of another project, or one edited by hand
        raise Real3DError(
            f"{checkpoint_path} is not a usable Real3D training checkpoint ({type(exc).__name__}: {exc})"
        ) from exc


def check_weight_name(weight_name: str) -> None:
    """A plain file name with a torch suffix, not config.yaml (the loaders read torch files by name)."""
    path = Path(weight_name)
    if path.name != weight_name or weight_name.startswith(".") or path.suffix not in WEIGHT_SUFFIXES:
        raise Real3DError(
            f"weight name {weight_name!r}: must be a plain file name ending in {', '.join(WEIGHT_SUFFIXES)}"
        )


def exported_entry(entry: Path) -> bool:
    """Whether an entry of a folder is what an export writes: config.yaml, weights, a ViT config folder."""
    if entry.is_dir():
        return all(p.is_dir() or p.name == "config.json" for p in entry.rglob("*"))
    return entry.name == "config.yaml" or entry.suffix in WEIGHT_SUFFIXES
