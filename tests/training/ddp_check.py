"""A callback for the DDP test: each rank writes checksums of its gradients (at every optimizer
step, after the accumulated backward passes) and of its final parameters."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch


class RankChecksum(pl.Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.grads: list[float] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:  # noqa: ANN001
        with torch.no_grad():
            grads = [p.grad for p in pl_module.net.parameters() if p.grad is not None]
            self.grads.append(sum(float(g.double().sum()) for g in grads))

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        with torch.no_grad():
            params = sum(float(p.double().abs().sum()) for p in pl_module.net.parameters())
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / f"rank{trainer.global_rank}.txt").write_text(f"grads {self.grads!r}\nparams {params!r}\n")
