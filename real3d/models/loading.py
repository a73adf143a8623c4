"""The one way to get a model: `load(path, weight_name, config, render, device)`.

Every entry point (training, evaluation, curation, the demo, tools) loads through here, with one
vocabulary (the `model:` block of config/model/*, config/eval/*, config/curate.yaml):

- `path`: a released folder (config.yaml + weights, TripoSR or Real3D layout) or a training
  checkpoint (`<run>/checkpoints/*.ckpt`); with `path`, `weight_name` and `config` all null, the released
  weights in the project's `checkpoints/`, else the small default model in `checkpoints/default/` (the
  demo's rule; found from any working folder);
- `weight_name`: the weights file in that folder (with `path` null: in `checkpoints/`); null: the released
  names, first found; a named file that is not there is an error (never replaced by another model);
- `config`: a published-format config.yaml (path or mapping) for a random init (`path` null);
- `image_encoder`: with a random init, a pretrained image encoder to start from (a `transformers` ViT
  folder, e.g. the mini study's `checkpoints/mini/encoder`), as Real3D starts from DINO;
- `render`: the model's default render settings (`RenderSettings` fields: `num_samples_per_ray`,
  `chunk_size`, `fast`, ...); null or absent keys keep the config's.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import ViTConfig

from real3d.errors import Real3DError
from real3d.models.checkpoint import NET_PREFIX, load_training_checkpoint
from real3d.models.config import KNOWN_VIT_CONFIGS
from real3d.models.lrm import LRM
from real3d.models.renderer import RenderSettings

log = logging.getLogger(__name__)


def project_root() -> Path:
    """The checkout that holds `checkpoints/`: the one this package runs from (an editable install or
    PYTHONPATH), else the current folder (a copied install keeps no checkpoints)."""
    checkout = Path(__file__).resolve().parents[2]
    return next((p for p in (checkout, Path.cwd()) if (p / "checkpoints").is_dir()), checkout)


RELEASED_DIR = project_root() / "checkpoints"
DEFAULT_DIR = RELEASED_DIR / "default"
WEIGHT_SUFFIXES = (".ckpt", ".safetensors", ".pth", ".pt", ".bin")
VIT_SHAPE = {  # ViT config fields that decide the weights' shapes and meaning
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size", "patch_size",
    "num_channels", "qkv_bias", "hidden_act", "layer_norm_eps",
}  # fmt: skip
RELEASED_WEIGHTS = ("model.ckpt", "model_both_trained_v1.ckpt", "model_both.ckpt")


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: `kind` released (folder + weights), training (a Lightning
    checkpoint) or random (a config); `weights` is the file read (None for a random init)."""

    kind: str
    weights: Path | None = None
    config: Any = None

    def __str__(self) -> str:
        return str(self.weights) if self.weights is not None else f"random init from {self.config}"


def weights_in(folder: Path) -> str:
    """The weights files in `folder`, for a message ("none" when there are none)."""
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return ", ".join(names) if names else "none"


def locate(
    path: str | os.PathLike | None = None,
    weight_name: str | None = None,
    config: str | os.PathLike | Mapping | DictConfig | None = None,
) -> ModelSource:
    """Resolve the vocabulary above to one source; nothing is read but file names. A model the user
    named (a folder, a weights file) that is not there is an error listing what is; the default model
    stands in only when no model was named."""
    if path is None and config is not None:
        return ModelSource("random", config=config)
    if path is None and weight_name is not None:
        return _named_weights(RELEASED_DIR, weight_name)
    if path is None:
        for name in RELEASED_WEIGHTS:
            if (RELEASED_DIR / name).is_file():
                log.info("using the released weights %s", RELEASED_DIR / name)
                return ModelSource("released", RELEASED_DIR / name)
        if (DEFAULT_DIR / "model.ckpt").is_file():
            log.info("no released weights in %s/: using the small default model in %s/", RELEASED_DIR, DEFAULT_DIR)
            return ModelSource("released", DEFAULT_DIR / "model.ckpt")
        raise Real3DError(
            f"no model weights found: download TripoSR's model.ckpt or Real3D's model_both_trained_v1.ckpt into "
            f"{RELEASED_DIR}/ (see checkpoints/README.md), or pass --pretrained-model-name-or-path"
        )
    path = Path(path)
    if path.is_file():  # a released model is a folder; a file is a training checkpoint (checked on reading)
        if weight_name is not None:
            raise Real3DError(f"{path} is a file (a training checkpoint): a weight name goes with a folder only")
        return ModelSource("training", path)
    if not path.is_dir():
        raise Real3DError(
            f"model folder not found: {path} (it must hold config.yaml and the weights; see checkpoints/README.md)"
        )
    if weight_name is not None:
        return _named_weights(path, weight_name)
    found = next((name for name in RELEASED_WEIGHTS if (path / name).is_file()), None)
    if found is None:
        raise Real3DError(
            f"weights not found in {path}: none of {', '.join(RELEASED_WEIGHTS)} (weights files there: "
            f"{weights_in(path)}; name one with --weight-name)"
        )
    return ModelSource("released", path / found)


def _named_weights(folder: Path, weight_name: str) -> ModelSource:
    """The weights file the user named in `folder`, or an error listing the weights files there."""
    if Path(weight_name).name != weight_name:
        raise Real3DError(f"weight name {weight_name!r} must be a file name in the model folder, not a path")
    if not (folder / weight_name).is_file():
        where = weights_in(folder) if folder.is_dir() else f"none ({folder} does not exist)"
        raise Real3DError(f"weights not found: {folder / weight_name} (weights files in {folder}: {where})")
    return ModelSource("released", folder / weight_name)


def from_training_checkpoint(path: str | os.PathLike) -> LRM:
    """The model of a `Real3DModule` Lightning checkpoint (config and weights both inside it)."""
    checkpoint = load_training_checkpoint(path)
    model_config = OmegaConf.create(checkpoint["real3d"]["model_config"])
    vit_name = str(model_config.image_tokenizer.pretrained_model_name_or_path)
    with tempfile.TemporaryDirectory() as tmp:
        if vit_name not in KNOWN_VIT_CONFIGS:  # the ViT config saved in the checkpoint, read once
            ViTConfig.from_dict(checkpoint["real3d"]["vit_config"]).to_json_file(str(Path(tmp) / "config.json"))
            model_config.image_tokenizer.pretrained_model_name_or_path = tmp
        net = LRM.from_config(model_config, base_dir=tmp)
    model_config.image_tokenizer.pretrained_model_name_or_path = vit_name
    net.cfg = model_config
    state_dict = {k[len(NET_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(NET_PREFIX)}
    net.load_state_dict(state_dict, strict=True)
    return net


def set_render_defaults(model: LRM, render: Mapping[str, Any] | None) -> None:
    """Replace the model's default render settings (`RenderSettings` fields); None values keep the config's."""
    known = {f.name for f in dataclasses.fields(RenderSettings)}
    unknown = set(render or {}) - known
    if unknown:
        raise Real3DError(f"unknown render settings {sorted(unknown)}; known: {sorted(known)}")
    model.renderer.settings = model.renderer.settings.replace(**dict(render or {}))


def load_image_encoder(model: LRM, folder: str | os.PathLike) -> None:
    """Copy a pretrained `transformers` ViT (config.json + model.safetensors in `folder`) into the
    model's image tokenizer; a ViT of another shape is refused."""
    from transformers import ViTModel

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise Real3DError(f"no pretrained encoder in {folder} (needs config.json and model.safetensors)")
    vit = ViTModel.from_pretrained(str(folder), local_files_only=True)
    target = model.image_tokenizer.model
    mismatched = [k for k in VIT_SHAPE if getattr(vit.config, k, None) != getattr(target.config, k, None)]
    if mismatched:
        raise Real3DError(f"pretrained encoder {folder} does not fit the model's ViT (differs in {sorted(mismatched)})")
    target.load_state_dict(vit.state_dict(), strict=True)


def load(
    path: str | os.PathLike | ModelSource | None = None,
    weight_name: str | None = None,
    config: str | os.PathLike | Mapping | DictConfig | None = None,
    image_encoder: str | os.PathLike | None = None,
    render: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
) -> LRM:
    """The model: released weights, a training checkpoint or a random init (module docstring),
    with its default render settings; in eval mode on `device` when one is given."""
    source = path if isinstance(path, ModelSource) else locate(path, weight_name, config)
    if source.kind == "random":
        model = LRM.from_config(Path(source.config) if isinstance(source.config, (str, os.PathLike)) else source.config)
        log.warning("model randomly initialised from its config (no weights given)")
        if image_encoder is not None:
            load_image_encoder(model, image_encoder)
            log.info("image encoder initialised from %s", image_encoder)
    elif image_encoder is not None:
        raise Real3DError("model.image_encoder starts a random init (model.config) only: the weights carry their own")
    elif source.kind == "training":
        model = from_training_checkpoint(source.weights)
        log.info("model loaded from the training checkpoint %s", source.weights)
    else:
        model = LRM.from_pretrained(source.weights.parent, weight_name=source.weights.name)
        log.info("model loaded from %s", source.weights)
    set_render_defaults(model, render)
    if device is not None:
        model = model.to(device).eval()
    return model
