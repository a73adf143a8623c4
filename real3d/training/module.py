"""The Real3D self-training loop as a LightningModule (SPEC §6).

The module receives its parts built: the network, the frozen LPIPS and CLIP networks, and the
optimizer and schedule as factories (Hydra partials; config/module/). One training iteration runs
up to three passes (`real3d.training.passes`), each followed by its own backward.

Losses are divided by the accumulation steps; the optimizer steps (with gradient clipping) every
`accumulation_steps` iterations. A step whose accumulated gradients hold inf/NaN is skipped (as the
original's GradScaler does; the schedule still advances), counted in `skipped_steps` (logged as
`train/skipped_steps`, saved in checkpoints). Under `trainer.precision=16-mixed` Lightning's GradScaler
owns that: it scales each backward, unscales before the clipping (`on_before_optimizer_step`), skips a
non-finite step and lowers its scale. Manual optimization makes the three backward passes
explicit; under DDP Lightning re-arms the gradient reducer before each `manual_backward`, so every
pass is all-reduced (averaging is linear, so this equals one reduction of the accumulated
gradient). A pass whose losses are all off is skipped. Strategies that shard the module (FSDP,
DeepSpeed, model parallel) cannot run backward passes inside the training step and are refused.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy
from torch import nn

from real3d.data.base import check_protocol
from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.errors import Real3DError
from real3d.evaluation.multiview import evaluate_object
from real3d.losses import weighted_sum
from real3d.metrics import psnr
from real3d.training.optim import (
    OptimizerFactory,
    SchedulerFactory,
    cosine_with_warmup,
    describe_factory,
    no_decay_names,
    parameter_groups,
    recipe_adamw,
)
from real3d.training.passes import LPIPS_MIN_SIZE, LossPasses
from real3d.training.settings import (
    CY_TERMS,
    MV_TERMS,
    SV_TERMS,
    LossWeights,
    ParameterGroups,
    SingleViewConfig,
    TrainingConfig,
    VisualizationConfig,
    as_settings,
)
from real3d.training.visualize import save_training_grid

log = logging.getLogger(__name__)

__all__ = ["LossWeights", "Real3DModule", "SingleViewConfig", "TrainingConfig"]

# Lightning runs `training_step` inside these strategies' wrapped forward, where the per-pass backward
# cannot run (Lightning issues #19626, #19685); DDP, with `module/optimizer=zero_adamw` for a sharded
# optimizer state, trains the model instead (its 419M parameters with AdamW state take 6.7 GB).
SHARDING_STRATEGIES = (FSDPStrategy, DeepSpeedStrategy, ModelParallelStrategy)


class Real3DModule(LossPasses, pl.LightningModule):
    """Trains an `LRM` with the Real3D recipe; the LPIPS and CLIP networks are frozen helpers,
    kept outside the module's parameters, checkpoints and optimizer.

    `optimizer(groups)` and `scheduler(optimizer)` build the optimizer over the parameter groups
    and its per-step schedule; None: the published AdamW and the cosine schedule with 1,000
    warmup iterations over `training.total_iterations`.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        loss_weights: dict | LossWeights | None = None,
        lpips_net: nn.Module | None = None,
        clip_encoder: nn.Module | None = None,
        training: dict | TrainingConfig | None = None,
        single_view: dict | SingleViewConfig | None = None,
        param_groups: dict | ParameterGroups | None = None,
        visualization: dict | VisualizationConfig | None = None,
        output_dir: str | None = None,
        val_render_size: int = 224,
        protocol: str = "original",
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = net
        self.loss_weights = as_settings(LossWeights, loss_weights)
        self.training_cfg = as_settings(TrainingConfig, training)
        self.sv_cfg = as_settings(SingleViewConfig, single_view)
        self.groups_cfg = as_settings(ParameterGroups, param_groups)
        self.vis_cfg = as_settings(VisualizationConfig, visualization)
        self.optimizer_factory = optimizer or recipe_adamw()
        self.scheduler_factory = scheduler or functools.partial(
            cosine_with_warmup,
            warmup_iterations=1000,
            total_iterations=self.training_cfg.total_iterations,
            accumulation_steps=self.training_cfg.accumulation_steps,
        )
        self.output_dir = Path(output_dir) if output_dir else None
        self.val_render_size = val_render_size
        self.protocol = check_protocol(protocol)
        self.antialias = self.protocol == "corrected"
        # Frozen networks: plain attributes, not submodules (no state dict, no DDP, no optimizer).
        object.__setattr__(self, "lpips_net", lpips_net)
        object.__setattr__(self, "clip_encoder", clip_encoder)
        w = self.loss_weights
        if (w.perceptual or w.perceptual_cy) and lpips_net is None:
            raise Real3DError("an LPIPS weight is non-zero but no LPIPS network was given (losses.lpips)")
        patch = self.training_cfg.ray_patch_size
        if w.perceptual and patch is not None and patch < LPIPS_MIN_SIZE:
            raise Real3DError(f"training.ray_patch_size={patch} is below LPIPS's {LPIPS_MIN_SIZE} px: enlarge it")
        if w.clip_novel and clip_encoder is None:
            raise Real3DError("loss weight clip_novel is non-zero but no CLIP encoder was given (losses.clip)")
        if self.sv_cfg.n_views < 2 and (w.clip_novel or w.active(CY_TERMS)):
            raise Real3DError("single_view.n_views must be >= 2 for the CLIP and cycle losses")
        self._no_decay = no_decay_names(net)  # before any sharding wrapper changes shapes
        self.iteration = 0  # training iterations (batches) done; saved in checkpoints
        self.replaced_batches = 0  # entirely bad batches replaced by the last good one
        self.skipped_steps = 0  # optimizer steps skipped for non-finite gradients; saved in checkpoints
        self._last_good: dict[str, Any] = {}
        settings = {"loss_weights": w, "training": self.training_cfg, "single_view": self.sv_cfg}
        settings |= {"param_groups": self.groups_cfg, "visualization": self.vis_cfg}
        self.save_hyperparameters(
            {
                **{name: dataclasses.asdict(value) for name, value in settings.items()},
                "optimizer": describe_factory(self.optimizer_factory),
                "scheduler": describe_factory(self.scheduler_factory),
                "protocol": self.protocol,
            }
        )

    # ------------------------------------------------------------------ optimizer, checkpoints

    def setup(self, stage: str) -> None:
        strategy = self.trainer.strategy
        if isinstance(strategy, SHARDING_STRATEGIES):
            raise Real3DError(
                f"trainer.strategy {type(strategy).__name__} is not supported: the training step runs one backward "
                "pass per loss pass, which Lightning cannot do inside a sharded module; use trainer/strategy=ddp "
                "(with module/optimizer=zero_adamw to shard the optimizer state)"
            )

    def configure_optimizers(self) -> dict:
        groups = parameter_groups(self.net.named_parameters(), self._no_decay, **dataclasses.asdict(self.groups_cfg))
        optimizer = self.optimizer_factory(groups)
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["real3d"] = {
            "iteration": self.iteration,
            "skipped_steps": self.skipped_steps,
            "model_config": OmegaConf.to_container(self.net.cfg, resolve=True),
            "vit_config": self.net.image_tokenizer.model.config.to_dict(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.iteration = int(checkpoint.get("real3d", {}).get("iteration", 0))
        self.skipped_steps = int(checkpoint.get("real3d", {}).get("skipped_steps", 0))

    # ------------------------------------------------------------------ the optimizer step

    def gradients_finite(self) -> bool:
        """Whether every accumulated gradient is finite, on every process."""
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        local = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True
        return not self.trainer.strategy.reduce_boolean_decision(not local, all=False)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip the gradient norm right before the update (under 16-mixed: after the GradScaler unscaled it)."""
        if self.training_cfg.gradient_clip_norm:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=self.training_cfg.gradient_clip_norm,
                gradient_clip_algorithm="norm",
            )

    def optimizer_step_or_skip(self, optimizer) -> None:  # noqa: ANN001 - a LightningOptimizer
        """Clip and step, or skip a step whose gradients hold inf/NaN (the original's GradScaler
        skips them); either way the gradients are cleared and the schedule and step count advance.

        Under 16-mixed the GradScaler decides: it skips the step and lowers its scale (counted here).
        """
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        if scaler is not None:
            scale = scaler.get_scale()
            optimizer.step()  # unscale, clip (on_before_optimizer_step), step unless inf/NaN, update the scale
            if scaler.get_scale() < scale:
                self._count_skipped_step(f"loss scale lowered to {scaler.get_scale():g}")
        elif self.gradients_finite():
            optimizer.step()
        else:
            self._count_skipped_step()
            optimizer._on_before_step()  # Lightning's step counter (max_steps) counts the skipped step
            optimizer._on_after_step()
        optimizer.zero_grad(set_to_none=True)
        self.lr_schedulers().step()

    def _count_skipped_step(self, note: str = "") -> None:
        self.skipped_steps += 1
        log.warning(
            "iteration %d: non-finite gradients, optimizer step skipped (%d so far)%s",
            self.iteration,
            self.skipped_steps,
            f"; {note}" if note else "",
        )

    def _synchronized_clock(self) -> float:
        """perf_counter after the device's queued work (CUDA runs asynchronously)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    # ------------------------------------------------------------------ training

    @staticmethod
    def split_batch(batch: Any) -> tuple[MultiViewBatch | None, SingleViewBatch | None]:
        """(multi-view, single-view) parts of a combined {"mv", "sv"} batch (either part may be None:
        all its items were bad) or of a single batch; (None, None) for anything else."""
        if isinstance(batch, MultiViewBatch):
            return batch, None
        if isinstance(batch, SingleViewBatch):
            return None, batch
        if isinstance(batch, dict) and ("mv" in batch or "sv" in batch):
            return batch.get("mv"), batch.get("sv")
        return None, None

    def _or_last_good(self, kind: str, part: Any) -> Any:
        """`part`, or the last good batch of its kind when the loader gave None (all items bad).

        Every rank must run the same passes (DDP reduces the gradients in each backward), so a
        bad batch is replaced rather than skipped; only before any good batch is a pass skipped.
        """
        if part is not None:
            self._last_good[kind] = part
            return part
        if kind in self._last_good:
            log.warning("iteration %d: %s batch entirely bad, reusing the last good one", self.iteration, kind)
            self.replaced_batches += 1
        return self._last_good.get(kind)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        start = self._synchronized_clock()
        optimizer = self.optimizers()
        accumulation = self.training_cfg.accumulation_steps
        mv, sv = self.split_batch(batch)
        mv, sv = self._or_last_good("mv", mv), self._or_last_good("sv", sv)
        w = dataclasses.asdict(self.loss_weights)
        logged: dict[str, torch.Tensor] = {}
        vis: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=self.device)

        def backward(terms: dict[str, torch.Tensor]) -> None:
            nonlocal total
            loss = weighted_sum(terms, w)
            self.manual_backward(loss / accumulation)
            total = total + loss.detach()
            logged.update({f"train/loss_{k}": v.detach() for k, v in terms.items()})

        if mv is not None and self.loss_weights.active(MV_TERMS):
            terms, render = self.multiview_pass(mv)
            backward(terms)
            vis.update(mv_input=mv.image_input, mv_target=mv.rgb, mv_render=render["images_rgb"].detach())
            del render, terms

        run_sv = bool(self.loss_weights.active(SV_TERMS))
        run_cycle = bool(self.loss_weights.active(CY_TERMS))
        if sv is not None and (run_sv or run_cycle):
            cams = self.sample_cameras(sv)
            targets = self.singleview_targets(sv)
            sv_render = None
            if run_sv or not self.sv_cfg.rerender:
                terms, sv_render = self.single_view_pass(sv, cams, targets, with_grad=run_sv)
                if terms:
                    backward(terms)
                sv_render = {k: v.detach() for k, v in sv_render.items()}
                vis.update(sv_input=sv.image_input, sv_render=sv_render["images_rgb"])
                del terms
            if run_cycle:
                terms, render, new_input = self.cycle_pass(sv, cams, targets, sv_render)
                backward(terms)
                vis.update(cy_input=new_input, cy_render=render["images_rgb"].detach(), cy_target=targets["rgb"])
                del render, terms

        if (self.iteration + 1) % accumulation == 0:
            self.optimizer_step_or_skip(optimizer)

        if mv is None and sv is None:
            log.warning("iteration %d: no usable batch, skipped", self.iteration)
            self.iteration += 1
            return None
        batch_size = (mv or sv).batch_size
        scalars: dict[str, float] = {
            "train/lr": float(optimizer.param_groups[0]["lr"]),
            "train/skipped_steps": float(self.skipped_steps),
        }
        if self.sv_cfg.curriculum and run_cycle:
            scalars["train/curriculum_max_deg"] = self.curriculum_limits()[1]
        scalars["train/iter_time"] = self._synchronized_clock() - start
        self.log_dict(logged, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log_dict(scalars, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log("train/loss", total, on_step=True, prog_bar=True, batch_size=batch_size)

        every = self.vis_cfg.every_n_iterations
        if every and self.iteration % every == 0 and self.global_rank == 0 and vis:
            directory = (self.output_dir or Path(self.trainer.default_root_dir)) / self.vis_cfg.dirname
            save_training_grid(vis, self.vis_cfg.max_items, directory, self.iteration, self.loggers)
        self.iteration += 1
        return total

    # ------------------------------------------------------------------ validation

    def on_validation_epoch_start(self) -> None:
        self._val_totals = torch.zeros(2, dtype=torch.float64, device=self.device)  # (sum of PSNR, objects)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Multi-view PSNR of the rendered views, all views included (`val/psnr`, the best-checkpoint
        metric). Takes the datamodule's multi-view batches, or unbatched items of an evaluation set
        (dicts; `real3d.evaluation.multiview.evaluate_object`, rendered at 224²). Skipped items add nothing."""
        mv, _ = self.split_batch(batch)
        if mv is not None:
            render = self.net(self._model_input(mv.image_input), mv.cameras)
            pred = render["images_rgb"].float().clamp(0, 1)
            per_view = psnr(pred.flatten(0, 1), mv.rgb.float().flatten(0, 1))  # [B*N]
            per_object = per_view.reshape(pred.shape[0], -1).mean(dim=1)
        elif isinstance(batch, dict) and "focal_norm" in batch and "skipped" not in batch:
            record, _, _ = evaluate_object(self.net, batch, render_size=self.val_render_size, protocol=self.protocol)
            per_object = torch.tensor([record["all_views"]["psnr"]])
        else:  # a skipped evaluation item, or a batch without multi-view samples
            return
        count = torch.full((), per_object.numel(), dtype=torch.float64, device=per_object.device)
        self._val_totals += torch.stack([per_object.double().sum(), count]).to(self.device)

    def on_validation_epoch_end(self) -> None:
        """`val/psnr`: the mean over every process's objects. Every process joins the reduction, also one
        whose items were all skipped (a process that skipped it would leave the others waiting)."""
        total, count = self.trainer.strategy.reduce(self._val_totals, reduce_op="sum")
        if count == 0:  # the same decision on every process
            log.warning("validation: no item could be scored, val/psnr not logged")
            return
        self.log("val/psnr", (total / count).float(), prog_bar=True, sync_dist=True)  # equal on every process
