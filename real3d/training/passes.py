"""The three loss passes of one training iteration (SPEC §6), as methods of the training module.

1. multi-view (synthetic, supervised): render the target views, MSE rgb + MSE opacity + LPIPS;
2. single-view (real, unsupervised): render the input view and novel views; MSE rgb/opacity on the
   input view, CLIP semantic loss on the novel views;
3. cycle consistency (`real3d.rendering.cycle_render`): re-render the last novel view at input
   resolution without gradient, grey composite, feed it back, render the input view through
   I·N⁻¹·I and compare with the input.

`protocol` "original" resizes the single-view targets and the cycle input bilinear without
antialiasing, as the original; "corrected" antialiases. A loss whose weight is 0 is not computed.

`training.ray_patch_size` p (None: whole views, the original's computation) supervises one random p×p
window of rays per multi-view target and of the single-view input view (a per-iteration seeded
draw, so resumed runs draw the same windows); the CLIP loss's novel views and the cycle pass stay
whole (`cycle_render` renders whole input views).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from real3d.data.image_ops import resize_image, resize_mask
from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.geometry import Cameras
from real3d.geometry.sampling import curriculum_max_deg, sample_single_view_cameras
from real3d.losses import clip_semantic_loss, reconstruction_losses
from real3d.rendering import cycle_render
from real3d.training.settings import CY_TERMS, MV_TERMS, SV_TERMS, LossWeights, SingleViewConfig, TrainingConfig

LPIPS_MIN_SIZE = 16  # LPIPS-VGG pools four times before its last layer
MV_PATCHES, SV_PATCHES = 1, 2  # random streams of the ray windows (0: camera sampling)


@dataclasses.dataclass(frozen=True)
class RayWindows:
    """One window of `height`×`width` pixels per view of a batch [*B] of views: corners `top`, `left` [*B]."""

    top: torch.Tensor
    left: torch.Tensor
    height: int
    width: int

    @classmethod
    def sample(
        cls, batch_shape: torch.Size, height: int, width: int, size: int, generator: torch.Generator
    ) -> RayWindows:
        """Uniformly placed size×size windows (at most the view) in views of height×width pixels."""
        h, w = min(size, height), min(size, width)
        top = torch.randint(0, height - h + 1, batch_shape, generator=generator)
        left = torch.randint(0, width - w + 1, batch_shape, generator=generator)
        return cls(top, left, h, w)

    def crop(self, values: torch.Tensor) -> torch.Tensor:
        """The windows [*B,h,w,C] of channels-last values [*B,H,W,C]."""
        device = values.device
        flat = values.reshape(-1, *values.shape[-3:])  # [n,H,W,C]
        rows = self.top.to(device).reshape(-1, 1, 1) + torch.arange(self.height, device=device)[:, None]
        cols = self.left.to(device).reshape(-1, 1, 1) + torch.arange(self.width, device=device)
        items = torch.arange(flat.shape[0], device=device)[:, None, None]
        return flat[items, rows, cols].reshape(*self.top.shape, self.height, self.width, values.shape[-1])

    def crop_images(self, images: torch.Tensor) -> torch.Tensor:
        """The windows [*B,C,h,w] of images [*B,C,H,W]."""
        return self.crop(images.movedim(-3, -1)).movedim(-1, -3)

    def rays(self, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
        """The windows' rays rays_o, rays_d [*B,h,w,3] of cameras [*B]."""
        rays_o, rays_d = cameras.rays()
        return self.crop(rays_o), self.crop(rays_d)


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

    def _generator(self, stream: int = 0) -> torch.Generator:
        """The iteration's generator of random `stream` (0: camera sampling; others: ray windows)."""
        key = (self.training_cfg.seed, self.iteration, self.global_rank) + ((stream,) if stream else ())
        return torch.Generator().manual_seed(hash(key) & 0x7FFF_FFFF_FFFF)

    def ray_windows(self, cameras: Cameras, stream: int) -> RayWindows | None:
        """This iteration's random ray windows of the views of `cameras` [*B]; None: whole views."""
        size = self.training_cfg.ray_patch_size
        if size is None:
            return None
        return RayWindows.sample(cameras.batch_shape, cameras.height, cameras.width, size, self._generator(stream))

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
        """Supervised multi-view losses (unweighted terms) and the renders (of the ray windows, if any)."""
        weights = self.loss_weights.active(MV_TERMS)
        images = self._model_input(batch.image_input)
        windows = self.ray_windows(batch.cameras, MV_PATCHES)
        if windows is None:
            render, rgb, mask = self.net(images, batch.cameras), batch.rgb, batch.mask
        else:
            render = self.net(images, *windows.rays(batch.cameras))
            rgb, mask = windows.crop_images(batch.rgb), windows.crop_images(batch.mask)
        terms = reconstruction_losses(
            render["images_rgb"],
            render["images_weight"],
            rgb,
            mask,
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
        """Input-view reconstruction and CLIP semantic terms, and the renders [B,V,...] (with ray
        windows: the novel views [B,V-1,...], or the input view's window when there are none)."""
        weights = self.loss_weights.active(SV_TERMS)
        terms: dict[str, torch.Tensor] = {}
        if not with_grad or self.training_cfg.ray_patch_size is None:
            with torch.set_grad_enabled(with_grad and torch.is_grad_enabled()):
                render = self.render(batch.image_input, cams["c2w"], batch.fov_rad, self.sv_cfg.render_size)
            if not with_grad:
                return terms, render
            input_view = {key: value[:, :1] for key, value in render.items()}
            novel, input_targets = render["images_rgb"][:, 1:], targets
        else:
            input_view, input_targets, render = self.render_input_window(batch, cams, targets)
            novel = render["images_rgb"] if cams["c2w"].shape[1] > 1 else None
        recon = reconstruction_losses(
            input_view["images_rgb"], input_view["images_weight"], input_targets["rgb"], input_targets["mask"]
        )
        if "rgb_sv" in weights:
            terms["rgb_sv"] = recon["rgb"]
        if "mask_sv" in weights:
            terms["mask_sv"] = recon["mask"]
        if "clip_novel" in weights:
            terms["clip_novel"] = clip_semantic_loss(self._frozen(self.clip_encoder), novel, targets["rgb"][:, 0])
        return terms, render

    def render_input_window(
        self, batch: SingleViewBatch, cams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]
    ) -> tuple[dict, dict[str, torch.Tensor], dict]:
        """The input view's ray window rendered [B,1,C,p,p], its targets' window, and the novel views
        [B,V-1,...] rendered whole (the CLIP loss compares whole views; the input window when V = 1)."""
        size = self.sv_cfg.render_size
        fov = batch.fov_rad.to(cams["c2w"].device, torch.float32)[:, None]
        cameras = Cameras(cams["c2w"], fov, size, size)  # [B,V], the cameras of `render`
        windows = self.ray_windows(cameras[:, :1], SV_PATCHES)
        scene_codes = self.net.image_to_scene_codes(self._model_input(batch.image_input))
        window = self.net.render_scene_codes(scene_codes, *windows.rays(cameras[:, :1]))
        render = self.net.render(scene_codes, cameras[:, 1:]) if cameras.batch_shape[1] > 1 else window
        return window, {key: windows.crop_images(value) for key, value in targets.items()}, render

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
            stop_gradient=cfg.stop_gradient,
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
