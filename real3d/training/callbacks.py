"""Periodic checkpoints counted in training iterations (batches), as the reference does.

Lightning's `ModelCheckpoint(every_n_train_steps=...)` counts optimizer steps, which under manual
optimization with accumulation are 1/10 of the iterations; this callback counts iterations and
saves only right after an optimizer step, so a checkpoint never holds a half-accumulated gradient.
The best-by-validation checkpoint stays with `ModelCheckpoint(monitor="val/psnr")`.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class PeriodicCheckpoint(Callback):
    """Save `last.ckpt` every `every_n_iterations` iterations and when training ends; with
    `keep_history`, also `iter_<iteration>.ckpt` each time."""

    def __init__(self, dirpath: str, every_n_iterations: int = 1000, keep_history: bool = False) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_iterations = int(every_n_iterations)
        self.keep_history = keep_history
        self._saved_at: int | None = None

    def _save(self, trainer: pl.Trainer, iteration: int) -> None:
        if self._saved_at == iteration:
            return
        trainer.save_checkpoint(self.dirpath / "last.ckpt", weights_only=False)
        if self.keep_history:
            trainer.save_checkpoint(self.dirpath / f"iter_{iteration:07d}.ckpt", weights_only=False)
        self._saved_at = iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        iteration = pl_module.iteration
        accumulation = pl_module.training_cfg.accumulation_steps
        if self.every_n_iterations > 0 and iteration % self.every_n_iterations == 0 and iteration % accumulation == 0:
            self._save(trainer, iteration)

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        self._save(trainer, pl_module.iteration)
