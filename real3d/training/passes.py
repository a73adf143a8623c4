"""The three loss passes of one training iteration (SPEC §6), as methods of the training module.

1. multi-view (synthetic, supervised): render the target views, MSE rgb + MSE opacity + LPIPS;
2. single-view (real, unsupervised): render the input view and novel views; MSE rgb/opacity on the
   input view, CLIP semantic loss on the novel views;
3. cycle consistency (`real3d.rendering.cycle_render`): re-render the last novel view at input
   resolution without gradient, grey composite, feed it back, render the input view through
   I·N⁻¹·I and compare with the input.

`protocol` "original" resizes the single-view targets and the cycle input bilinear without
antialiasing, as the original; "corrected" antialiases. A loss whose weight is 0 is not computed.
"""

from __future__ import annotations

import torch
from torch import nn

from real3d.data.image_ops import resize_image, resize_mask
from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.geometry import Cameras
from real3d.geometry.sampling import curriculum_max_deg, sample_single_view_cameras
from real3d.losses import clip_semantic_loss, reconstruction_losses
from real3d.rendering import cycle_render
from real3d.training.settings import CY_TERMS, MV_TERMS, SV_TERMS, LossWeights, SingleViewConfig, TrainingConfig


class LossPasses:
    """The passes; mixed into `Real3DModule`, which provides the attributes annotated here."""

    net: nn.Module
    lpips_net: nn.Module | None
    clip_encoder: nn.Module | None
    loss_weights: LossWeights
    training_cfg: TrainingConfig
    sv_cfg: SingleViewConfig
    antialias: bool
    iteration: int
    device: torch.device
    global_rank: int

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

    def render(self, images: torch.Tensor, c2w: torch.Tensor, fov_rad: torch.Tensor, size: int) -> dict:
        """The model's renders of input images [B,3,S,S] from cameras c2w [B,V,4,4] with a vertical
        fov [B] per sample, at size² (a dict of [B,V,C,size,size])."""
        cameras = Cameras(c2w, fov_rad.to(c2w.device, torch.float32)[:, None], size, size)
        return self.net(self._model_input(images), cameras)

    def multiview_pass(self, batch: MultiViewBatch) -> tuple[dict[str, torch.Tensor], dict]:
        """Supervised multi-view losses (unweighted terms) and the renders."""
        weights = self.loss_weights.active(MV_TERMS)
        render = self.net(self._model_input(batch.image_input), batch.cameras)
        terms = reconstruction_losses(
            render["images_rgb"],
            render["images_weight"],
            batch.rgb,
            batch.mask,
            self._frozen(self.lpips_net) if "perceptual" in weights else None,
        )
        return {k: v for k, v in terms.items() if k in weights}, render

    def sample_cameras(self, batch: SingleViewBatch) -> dict[str, torch.Tensor]:
        """Input + novel cameras `c2w` [B,V,4,4] and the cycle camera `c2w_cycle` [B,1,4,4].

        The batch's input pose is canonical (azimuth 0, elevation 0); only its distance is used.
        """
        c2w_input = batch.c2w_input
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

    def singleview_targets(self, sv: SingleViewBatch) -> dict[str, torch.Tensor]:
        """Loss targets of a single-view batch at the render size: rgb [B,1,3,h,w], mask [B,1,1,h,w]."""
        size = self.sv_cfg.render_size
        return {
            "rgb": resize_image(sv.rgb, size, antialias=self.antialias, clamp=self.antialias)[:, None],
            "mask": resize_mask(sv.mask, size)[:, None],
        }

    def single_view_pass(
        self, batch: SingleViewBatch, cams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], with_grad: bool
    ) -> tuple[dict[str, torch.Tensor], dict]:
        """Input-view reconstruction and CLIP semantic terms, and the renders [B,V,...]."""
        weights = self.loss_weights.active(SV_TERMS)
        with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
            render = self.render(batch.image_input, cams["c2w"], batch.fov_rad, self.sv_cfg.render_size)
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
        self,
        batch: SingleViewBatch,
        cams: dict[str, torch.Tensor],
        targets: dict[str, torch.Tensor],
        sv_render: dict | None,
    ) -> tuple[dict[str, torch.Tensor], dict, torch.Tensor]:
        """Cycle-consistency terms, the cycle render and the fed-back input [B,3,S,S]
        (`real3d.rendering.cycle_render` of the last novel view)."""
        weights = self.loss_weights.active(CY_TERMS)
        cfg = self.sv_cfg
        fov = batch.fov_rad.to(self.device, torch.float32)  # [B]
        size = cfg.rerender_size or batch.image_input.shape[-1]
        input_view = Cameras(cams["c2w"][:, 0], fov, cfg.render_size, cfg.render_size)  # the cycle render's lens
        out = cycle_render(
            self.net,
            batch.image_input,
            input_view,
            Cameras(cams["c2w"][:, -1:], fov[:, None], size, size),  # the last novel view
            novel=None if cfg.rerender or sv_render is None else {k: v[:, -1:] for k, v in sv_render.items()},
            opacity_threshold=cfg.opacity_threshold,
            background=cfg.background,
            antialias=self.antialias,
        )
        terms = reconstruction_losses(
            out.render["images_rgb"],
            out.render["images_weight"],
            targets["rgb"],
            targets["mask"],
            self._frozen(self.lpips_net) if "perceptual_cy" in weights else None,
        )
        terms = {f"{k}_cy": v for k, v in terms.items() if f"{k}_cy" in weights}
        return terms, out.render, out.feedback[:, 0]
