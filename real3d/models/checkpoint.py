"""Checkpoint I/O: the published layouts, training checkpoints, and ViT key names across
`transformers` versions. `load_state_dict_file` is the one reader of weight files (models and the
frozen pretrained networks alike).

Released TripoSR weights are a bare state dict; Real3D's are `{"state_dict": ...}` with keys that
may carry a `module.` prefix. Both were saved with `transformers` 4.x ViT names ("legacy"):
`encoder.layer.N.attention.attention.query` ... `transformers` 5.x names the same tensors
`layers.N.attention.q_proj` ... The renaming is exact, so files convert in both directions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from real3d.errors import Real3DError

VIT_PREFIX = "image_tokenizer.model."
NET_PREFIX = "net."  # the model's keys inside a training checkpoint's state dict (`Real3DModule.net`)

# ViT sub-module names per layer: (transformers 4.x "legacy", transformers 5.x).
_VIT_LAYER_NAMES = [
    ("attention.attention.query", "attention.q_proj"),
    ("attention.attention.key", "attention.k_proj"),
    ("attention.attention.value", "attention.v_proj"),
    ("attention.output.dense", "attention.o_proj"),
    ("intermediate.dense", "mlp.fc1"),
    ("output.dense", "mlp.fc2"),
    ("layernorm_before", "layernorm_before"),
    ("layernorm_after", "layernorm_after"),
]
_LAYER = r"^(?:encoder\.)?layers?\.(\d+)\."
_TO_LEGACY = [
    (re.compile(rf"{_LAYER}(?:{re.escape(old)}|{re.escape(new)})\."), rf"encoder.layer.\1.{old}.")
    for old, new in _VIT_LAYER_NAMES
]


def legacy_key(key: str) -> str:
    """The transformers-4.x ("legacy", as released) name of a model key in any known layout."""
    if not key.startswith(VIT_PREFIX):
        return key
    rest = key[len(VIT_PREFIX) :]
    for pattern, replacement in _TO_LEGACY:
        new_rest, n = pattern.subn(replacement, rest)
        if n:
            return VIT_PREFIX + new_rest
    return key


def to_legacy_layout(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """State dict with the released (legacy) key names."""
    return {legacy_key(k): v for k, v in state_dict.items()}


def to_model_layout(state_dict: Mapping[str, torch.Tensor], model_keys: Iterable[str]) -> dict[str, torch.Tensor]:
    """Rename keys of any known layout to the names of the installed model (`model_keys`)."""
    by_legacy = {legacy_key(k): k for k in model_keys}
    return {by_legacy.get(legacy_key(k), k): v for k, v in state_dict.items()}


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """The bare state dict from a TripoSR (bare) or Real3D (`state_dict`, `module.`) file."""
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise Real3DError("checkpoint does not hold a state dict (name -> tensor)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _read(path: str | os.PathLike) -> object:
    """A torch or safetensors file's content, read without executing code from it."""
    path = Path(path)
    if not path.is_file():
        raise Real3DError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise Real3DError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The bare state dict of a weights file (TripoSR bare, Real3D `state_dict` / `module.`, safetensors)."""
    return unwrap_state_dict(_read(path))


def load_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A Lightning checkpoint of `Real3DModule` (state_dict with `net.` keys, `real3d` entry)."""
    checkpoint = _read(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "real3d" not in checkpoint:
        raise Real3DError(f"{path} is not a Real3D training checkpoint (no state_dict / real3d entry)")
    return checkpoint


def describe_mismatch(
    model_state: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor], limit: int = 5
) -> str | None:
    """One line naming missing, unexpected and wrongly shaped keys, or None when they match."""
    missing = sorted(set(model_state) - set(loaded))
    unexpected = sorted(set(loaded) - set(model_state))
    shapes = sorted(
        f"{k} {tuple(loaded[k].shape)} vs {tuple(model_state[k].shape)}"
        for k in set(model_state) & set(loaded)
        if tuple(model_state[k].shape) != tuple(loaded[k].shape)
    )
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
        if items:
            shown = ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")
            parts.append(f"{label}: {shown}")
    return "; ".join(parts) if parts else None
