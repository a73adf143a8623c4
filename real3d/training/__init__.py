"""Training: the Real3D LightningModule, optimizer groups, checkpoints, export and the Hydra task."""

from real3d.training.checkpointing import AtomicCheckpointIO, export_pretrained
from real3d.training.module import Real3DModule

__all__ = ["AtomicCheckpointIO", "Real3DModule", "export_pretrained"]
