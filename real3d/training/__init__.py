"""Training: the Real3D LightningModule, optimizer groups, checkpoints, export and the Hydra task.

The names below are imported on first use, so that `real3d.training.rules` loads without torch and
Lightning: `scripts/train.py` checks a config before it loads them.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AtomicCheckpointIO": "real3d.training.checkpointing",
    "Real3DModule": "real3d.training.module",
    "export_pretrained": "real3d.training.checkpointing",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
