"""The frozen networks the losses use, built from local weights (SPEC §9).

Thin wrappers of `real3d.pretrained.build_lpips` / `build_clip` that say loudly when a run falls
back to random weights (`allow_random`, meant for CPU smoke runs and tests only).
"""

from __future__ import annotations

import logging
import os

from torch import nn

from real3d.pretrained import CLIP_FILES, VGG16_FILE, build_clip, build_lpips, resolve_pretrained_file

log = logging.getLogger(__name__)


def _warn_if_random(
    weights_path: str | os.PathLike | None, names: tuple[str, ...], what: str, allow_random: bool
) -> None:
    if allow_random and resolve_pretrained_file(weights_path, names, what, allow_random=True) is None:
        log.warning(
            "%s: no weights file found, using RANDOM weights (allow_random=true); loss values are not meaningful",
            what,
        )


def lpips_network(weights_path: str | os.PathLike | None = None, allow_random: bool = False) -> nn.Module:
    """Frozen LPIPS-VGG for the perceptual losses."""
    _warn_if_random(weights_path, (VGG16_FILE,), "LPIPS VGG-16", allow_random)
    return build_lpips(weights_path, allow_random=allow_random)


def clip_network(
    weights_path: str | os.PathLike | None = None,
    config: str | os.PathLike | dict | None = None,
    allow_random: bool = False,
) -> nn.Module:
    """Frozen CLIP image encoder (default ViT-B/16) for the semantic loss."""
    _warn_if_random(weights_path, CLIP_FILES, "CLIP", allow_random)
    return build_clip(weights_path, config=config, allow_random=allow_random)
