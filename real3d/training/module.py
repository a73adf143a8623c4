"""The Real3D self-training loop as a LightningModule (SPEC §6).

One training iteration runs up to three passes, each followed by its own backward:

1. multi-view (synthetic, supervised): render the target views, MSE rgb + MSE opacity + LPIPS;
2. single-view (real, unsupervised): render the input view and novel views; MSE rgb/opacity on the
   input view, CLIP semantic loss on the novel views;
3. cycle consistency: re-render the last novel view at input resolution without gradient, grey
   composite, feed it back, render the input view through I·N⁻¹·I and compare with the input.

Losses are divided by the accumulation steps; the optimizer steps (with gradient clipping) every
`accumulation_steps` iterations. A step whose accumulated gradients hold inf/NaN is skipped (as the
original's GradScaler does; the schedule still advances), counted in `skipped_steps` (logged as
`train/skipped_steps`, saved in checkpoints). `protocol` "original" resizes the single-view targets
and the cycle input bilinear without antialiasing, as the original; "corrected" antialiases.
Manual optimization makes the three backward passes explicit;
under DDP Lightning re-arms the gradient reducer before each `manual_backward`, so every pass is
all-reduced (averaging is linear, so this equals one reduction of the accumulated gradient).
A loss whose weight is 0 is not computed; a pass whose losses are all off is skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import nn

from real3d.data.base import check_protocol
from real3d.data.image_ops import resize_image, resize_mask
from real3d.errors import Real3DError
from real3d.evaluation.multiview import evaluate_object
from real3d.geometry import fov_to_focal, rays_from_c2w
from real3d.geometry.sampling import curriculum_max_deg, sample_single_view_cameras
from real3d.losses import clip_semantic_loss, grey_composite, reconstruction_losses, weighted_sum
from real3d.metrics import psnr
from real3d.models import LRM
from real3d.training.optim import build_optimizer, build_scheduler, no_decay_names, parameter_groups
from real3d.training.visualize import save_image_grid

log = logging.getLogger(__name__)

MV_TERMS = ("rgb", "mask", "perceptual")
SV_TERMS = ("rgb_sv", "mask_sv", "clip_novel")
CY_TERMS = ("rgb_cy", "perceptual_cy", "mask_cy")


@dataclasses.dataclass
class LossWeights:
    """Weights of the logged loss terms (`train/loss_<name>`); 0 switches a term off."""

    rgb: float = 2.0
    mask: float = 1.0
    perceptual: float = 1.0
    rgb_sv: float = 0.6
    mask_sv: float = 0.3
    clip_novel: float = 1.0
    rgb_cy: float = 20.0
    perceptual_cy: float = 10.0
    mask_cy: float = 10.0

    def active(self, names: tuple[str, ...]) -> dict[str, float]:
        return {name: getattr(self, name) for name in names if getattr(self, name)}


@dataclasses.dataclass
class TrainingConfig:
    """Accumulation, clipping and the length of training in iterations (batches)."""

    accumulation_steps: int = 10
    gradient_clip_norm: float | None = 1.0
    total_iterations: int = 100_000
    seed: int = 42  # camera sampling: a generator seeded per (seed, iteration, rank)


@dataclasses.dataclass
class SingleViewConfig:
    """Cameras and resolutions of the single-view and cycle passes."""

    n_views: int = 4  # input view + novel views
    azimuth_range_deg: float = 120.0
    elevation_range_deg: float = 45.0
    render_size: int = 128
    curriculum: bool = True
    curriculum_azimuth_deg: tuple[float, float] = (15.0, 90.0)  # (start = min, end of max)
    curriculum_elevation_deg: tuple[float, float] = (15.0, 90.0)
    rerender: bool = True  # re-render the cycle input at input resolution (else upsample)
    rerender_size: int | None = None  # None: the input image's size
    opacity_threshold: float = 0.5
    background: float = 0.5


@dataclasses.dataclass
class OptimizerConfig:
    lr: float = 4e-5
    lr_embeddings: float = 4e-5
    lr_image_encoder: float = 4e-5
    betas: tuple[float, float] = (0.9, 0.96)
    eps: float = 1e-6
    weight_decay: float = 0.05
    warmup_iterations: int = 1000
    zero_redundancy: bool = False


@dataclasses.dataclass
class VisualizationConfig:
    every_n_iterations: int = 500  # 0: never
    dirname: str = "images"
    max_items: int = 2


def _dataclass(cls: type, value: Any) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else dict(value)
    unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise Real3DError(f"unknown {cls.__name__} settings: {sorted(unknown)}")
    return cls(**value)


class Real3DModule(pl.LightningModule):
    """Trains an `LRM` with the Real3D recipe; the LPIPS and CLIP networks are frozen helpers,
    kept outside the module's parameters, checkpoints and optimizer."""

    def __init__(
        self,
        net: LRM,
        loss_weights: dict | LossWeights | None = None,
        training: dict | TrainingConfig | None = None,
        single_view: dict | SingleViewConfig | None = None,
        optimizer: dict | OptimizerConfig | None = None,
        visualization: dict | VisualizationConfig | None = None,
        lpips_net: nn.Module | None = None,
        clip_encoder: nn.Module | None = None,
        output_dir: str | None = None,
        val_render_size: int = 224,
        protocol: str = "original",
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.net = net
        self.loss_weights = _dataclass(LossWeights, loss_weights)
        self.training_cfg = _dataclass(TrainingConfig, training)
        self.sv_cfg = _dataclass(SingleViewConfig, single_view)
        self.optim_cfg = _dataclass(OptimizerConfig, optimizer)
        self.vis_cfg = _dataclass(VisualizationConfig, visualization)
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
        if w.clip_novel and clip_encoder is None:
            raise Real3DError("loss weight clip_novel is non-zero but no CLIP encoder was given (losses.clip)")
        if self.sv_cfg.n_views < 2 and (w.clip_novel or w.active(CY_TERMS)):
            raise Real3DError("single_view.n_views must be >= 2 for the CLIP and cycle losses")
        self._no_decay = no_decay_names(net)  # before any sharding wrapper changes shapes
        self.iteration = 0  # training iterations (batches) done; saved in checkpoints
        self.replaced_batches = 0  # entirely bad batches replaced by the last good one
        self.skipped_steps = 0  # optimizer steps skipped for non-finite gradients; saved in checkpoints
        self._last_good: dict[str, dict] = {}
        self.save_hyperparameters(
            {
                "loss_weights": dataclasses.asdict(self.loss_weights),
                "training": dataclasses.asdict(self.training_cfg),
                "single_view": dataclasses.asdict(self.sv_cfg),
                "optimizer": dataclasses.asdict(self.optim_cfg),
                "visualization": dataclasses.asdict(self.vis_cfg),
                "protocol": self.protocol,
            }
        )

    # ------------------------------------------------------------------ optimizer, checkpoints

    def configure_optimizers(self) -> dict:
        cfg = self.optim_cfg
        groups = parameter_groups(
            self.net.named_parameters(),
            self._no_decay,
            lr=cfg.lr,
            lr_embeddings=cfg.lr_embeddings,
            lr_image_encoder=cfg.lr_image_encoder,
            weight_decay=cfg.weight_decay,
        )
        optimizer = build_optimizer(groups, cfg.betas, cfg.eps, cfg.zero_redundancy)
        scheduler = build_scheduler(
            optimizer,
            cfg.warmup_iterations,
            self.training_cfg.total_iterations,
            self.training_cfg.accumulation_steps,
        )
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

    # ------------------------------------------------------------------ helpers

    def _frozen(self, net: nn.Module | None) -> nn.Module | None:
        if net is not None and next(net.parameters()).device != self.device:
            net.to(self.device)
        return net

    def _model_input(self, images: torch.Tensor) -> torch.Tensor:
        """[B,3,S,S] in [0,1] -> the model's input [B,1,3,s,s] at its conditioning size."""
        return resize_image(images, int(self.net.cfg.cond_image_size), antialias=self.antialias)[:, None]

    def _generator(self) -> torch.Generator:
        seed = hash((self.training_cfg.seed, self.iteration, self.global_rank)) & 0x7FFF_FFFF_FFFF
        return torch.Generator().manual_seed(seed)

    @property
    def progress(self) -> float:
        """Training progress for the curriculum: iteration / total iterations."""
        return self.iteration / max(self.training_cfg.total_iterations, 1)

    def curriculum_limits(self) -> tuple[float, float, float, float]:
        """(min, max azimuth, min, max elevation) of the cycle view at the current iteration."""
        (az0, az1), (el0, el1) = self.sv_cfg.curriculum_azimuth_deg, self.sv_cfg.curriculum_elevation_deg
        return az0, curriculum_max_deg(self.progress, az0, az1), el0, curriculum_max_deg(self.progress, el0, el1)

    def _rays(self, c2w: torch.Tensor, fov_rad: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rays [B,V,size,size,3] for cameras c2w [B,V,4,4] with per-sample vertical fov [B]."""
        batch, views = c2w.shape[:2]
        focal = fov_to_focal(fov_rad.float(), size).to(c2w.device)  # [B]
        rays_o, rays_d = rays_from_c2w(c2w.reshape(batch * views, 4, 4), focal.repeat_interleave(views), size, size)
        return rays_o.reshape(batch, views, size, size, 3), rays_d.reshape(batch, views, size, size, 3)

    # ------------------------------------------------------------------ the three passes

    def multiview_pass(self, batch: dict) -> tuple[dict[str, torch.Tensor], dict]:
        """Supervised multi-view losses (unweighted terms) and the renders."""
        weights = self.loss_weights.active(MV_TERMS)
        render = self.net(self._model_input(batch["image_input"]), batch["rays_o"], batch["rays_d"])
        terms = reconstruction_losses(
            render["images_rgb"],
            render["images_weight"],
            batch["rgb"],
            batch["mask"],
            self._frozen(self.lpips_net) if "perceptual" in weights else None,
        )
        return {k: v for k, v in terms.items() if k in weights}, render

    def sample_cameras(self, batch: dict) -> dict[str, torch.Tensor]:
        """Input + novel cameras `c2w` [B,V,4,4] and the cycle camera `c2w_cycle` [B,1,4,4].

        The batch's input pose is canonical (azimuth 0, elevation 0); only its distance is used.
        """
        c2w_input = batch["c2w_input"]
        distance = float(c2w_input[0, :3, 3].norm())
        cfg = self.sv_cfg
        use_curriculum = cfg.curriculum and bool(self.loss_weights.active(CY_TERMS))
        cams = sample_single_view_cameras(
            c2w_input.shape[0],
            cfg.n_views,
            distance,
            cfg.azimuth_range_deg,
            cfg.elevation_range_deg,
            curriculum=self.curriculum_limits() if use_curriculum else None,
            generator=self._generator(),
        )
        return {k: v.to(self.device) for k, v in cams.items()}

    def single_view_pass(
        self, batch: dict, cams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], with_grad: bool
    ) -> tuple[dict[str, torch.Tensor], dict]:
        """Input-view reconstruction and CLIP semantic terms, and the renders [B,V,...]."""
        weights = self.loss_weights.active(SV_TERMS)
        rays_o, rays_d = self._rays(cams["c2w"], batch["fov_rad"], self.sv_cfg.render_size)
        with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
            render = self.net(self._model_input(batch["image_input"]), rays_o, rays_d)
        terms: dict[str, torch.Tensor] = {}
        if not with_grad:
            return terms, render
        rgb, opacity = render["images_rgb"], render["images_weight"]
        recon = reconstruction_losses(rgb[:, :1], opacity[:, :1], targets["rgb"], targets["mask"])
        if "rgb_sv" in weights:
            terms["rgb_sv"] = recon["rgb"]
        if "mask_sv" in weights:
            terms["mask_sv"] = recon["mask"]
        if "clip_novel" in weights:
            terms["clip_novel"] = clip_semantic_loss(self._frozen(self.clip_encoder), rgb[:, 1:], targets["rgb"][:, 0])
        return terms, render

    def cycle_pass(
        self, batch: dict, cams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], sv_render: dict | None
    ) -> tuple[dict[str, torch.Tensor], dict, torch.Tensor]:
        """Cycle-consistency terms, the cycle render and the fed-back input [B,3,S,S]."""
        weights = self.loss_weights.active(CY_TERMS)
        cfg = self.sv_cfg
        input_size = batch["image_input"].shape[-1]
        with torch.no_grad():
            if cfg.rerender or sv_render is None:
                size = cfg.rerender_size or input_size
                rays_o, rays_d = self._rays(cams["c2w"][:, -1:], batch["fov_rad"], size)
                novel = self.net(self._model_input(batch["image_input"]), rays_o, rays_d)
            else:
                novel = {k: v[:, -1:] for k, v in sv_render.items()}
            new_input = grey_composite(
                novel["images_rgb"][:, 0].float(),
                novel["images_weight"][:, 0].float(),
                cfg.opacity_threshold,
                cfg.background,
            )
            new_input = resize_image(new_input, input_size, antialias=self.antialias)
        rays_o, rays_d = self._rays(cams["c2w_cycle"], batch["fov_rad"], cfg.render_size)
        render = self.net(self._model_input(new_input), rays_o, rays_d)
        terms = reconstruction_losses(
            render["images_rgb"],
            render["images_weight"],
            targets["rgb"],
            targets["mask"],
            self._frozen(self.lpips_net) if "perceptual_cy" in weights else None,
        )
        terms = {f"{k}_cy": v for k, v in terms.items() if f"{k}_cy" in weights}
        return terms, render, new_input

    # ------------------------------------------------------------------ training

    def singleview_targets(self, sv: dict) -> dict[str, torch.Tensor]:
        """Loss targets of a single-view batch at the render size: rgb [B,1,3,h,w], mask [B,1,1,h,w]."""
        size = self.sv_cfg.render_size
        return {
            "rgb": resize_image(sv["rgb"], size, antialias=self.antialias, clamp=self.antialias)[:, None],
            "mask": resize_mask(sv["mask"], size)[:, None],
        }

    def gradients_finite(self) -> bool:
        """Whether every accumulated gradient is finite, on every process."""
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        local = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True
        return not self.trainer.strategy.reduce_boolean_decision(not local, all=False)

    def optimizer_step_or_skip(self, optimizer) -> None:  # noqa: ANN001 - a LightningOptimizer
        """Clip and step, or skip a step whose gradients hold inf/NaN (the original's GradScaler
        skips them); either way the gradients are cleared and the schedule and step count advance."""
        if self.gradients_finite():
            if self.training_cfg.gradient_clip_norm:
                self.clip_gradients(
                    optimizer,
                    gradient_clip_val=self.training_cfg.gradient_clip_norm,
                    gradient_clip_algorithm="norm",
                )
            optimizer.step()
        else:
            self.skipped_steps += 1
            log.warning(
                "iteration %d: non-finite gradients, optimizer step skipped (%d so far)",
                self.iteration,
                self.skipped_steps,
            )
            optimizer._on_before_step()  # Lightning's step counter (max_steps) counts the skipped step
            optimizer._on_after_step()
        optimizer.zero_grad(set_to_none=True)
        self.lr_schedulers().step()

    @staticmethod
    def split_batch(batch: dict | None) -> tuple[dict | None, dict | None]:
        """(multi-view, single-view) parts of a combined {"mv", "sv"} batch or of a single one."""
        if batch is None:
            return None, None
        if "mv" in batch or "sv" in batch:
            return batch.get("mv"), batch.get("sv")
        if "rays_o" in batch:
            return batch, None
        return None, batch

    def _or_last_good(self, kind: str, part: dict | None) -> dict | None:
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

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        start = time.perf_counter()
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
            vis.update(mv_input=mv["image_input"], mv_target=mv["rgb"], mv_render=render["images_rgb"].detach())
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
                vis.update(sv_input=sv["image_input"], sv_render=sv_render["images_rgb"])
                del terms
            if run_cycle:
                terms, render, new_input = self.cycle_pass(sv, cams, targets, sv_render)
                backward(terms)
                vis.update(cy_input=new_input, cy_render=render["images_rgb"].detach(), cy_target=targets["rgb"])
                del render, terms

        stepped = (self.iteration + 1) % accumulation == 0
        if stepped:
            self.optimizer_step_or_skip(optimizer)

        if mv is None and sv is None:
            log.warning("iteration %d: no usable batch, skipped", self.iteration)
            self.iteration += 1
            return None
        batch_size = (mv or sv)["image_input"].shape[0]
        scalars: dict[str, float] = {
            "train/lr": float(optimizer.param_groups[0]["lr"]),
            "train/skipped_steps": float(self.skipped_steps),
        }
        if self.sv_cfg.curriculum and run_cycle:
            scalars["train/curriculum_max_deg"] = self.curriculum_limits()[1]
        scalars["train/iter_time"] = time.perf_counter() - start
        self.log_dict(logged, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log_dict(scalars, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log("train/loss", total, on_step=True, prog_bar=True, batch_size=batch_size)

        every = self.vis_cfg.every_n_iterations
        if every and self.iteration % every == 0 and self.global_rank == 0 and vis:
            self._save_visualization(vis)
        self.iteration += 1
        return total

    # ------------------------------------------------------------------ validation

    def validation_step(self, batch: dict | None, batch_idx: int) -> None:
        """Multi-view PSNR of the rendered views, all views included (`val/psnr`, the best-checkpoint
        metric). Takes the datamodule's multi-view batches (their rays), or unbatched items of an
        evaluation set (`real3d.evaluation.multiview.evaluate_object`, rendered at 224²)."""
        if batch is None or "skipped" in batch:
            return
        if "focal_norm" in batch:  # an evaluation-set item (CO3D / MVImgNet / OmniObject3D layout)
            record, _, _ = evaluate_object(self.net, batch, render_size=self.val_render_size, protocol=self.protocol)
            per_object = torch.tensor([record["all_views"]["psnr"]])
        else:
            mv, _ = self.split_batch(batch)
            if mv is None:
                return
            render = self.net(self._model_input(mv["image_input"]), mv["rays_o"], mv["rays_d"])
            pred = render["images_rgb"].float().clamp(0, 1)
            per_view = psnr(pred.flatten(0, 1), mv["rgb"].float().flatten(0, 1))  # [B*N]
            per_object = per_view.reshape(pred.shape[0], -1).mean(dim=1)
        self.log(
            "val/psnr",
            per_object.mean().to(self.device),
            on_epoch=True,
            sync_dist=True,
            batch_size=per_object.shape[0],
            prog_bar=True,
        )

    # ------------------------------------------------------------------ visualisation

    def _save_visualization(self, vis: dict[str, torch.Tensor]) -> None:
        n = self.vis_cfg.max_items
        rows = []
        if "mv_render" in vis:
            rows.append([vis["mv_input"][:n, None], vis["mv_target"][:n], vis["mv_render"][:n]])
        if "sv_render" in vis:
            rows.append([vis["sv_input"][:n, None], vis["sv_render"][:n]])
        if "cy_render" in vis:
            rows.append([vis["cy_input"][:n, None], vis["cy_render"][:n], vis["cy_target"][:n]])
        directory = (self.output_dir or Path(self.trainer.default_root_dir)) / self.vis_cfg.dirname
        grid = save_image_grid(rows, directory / f"train_{self.iteration:07d}.png")
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_image"):
                experiment.add_image("train/views", grid, global_step=self.iteration)
