"""Model-based curation score: Real3D's cycle-consistency self-training turned into a filter.

For each crop (loaded as the single-view training set loads it at evaluation): reconstruct it,
render novel views at the input resolution, composite them on grey where the opacity is > 0.5,
reconstruct again from each, and render the input view through the cycle camera I·N⁻¹·I. The
scores compare that cycle render with the input (PSNR, LPIPS, opacity MSE vs the mask) and, with
CLIP weights, the novel views with the input (CLIP cosine similarity). An image the model cannot
explain consistently from other views scores badly.

The novel views are, by default, the cycle cameras training will draw for the image: training's
own sampler (`sample_single_view_cameras` with the curriculum) at progress points spread over the
run, with a fixed seed, so every image is scored from the same views.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
import torch.nn as nn

from real3d.data import image_ops
from real3d.data.base import singleview_sample
from real3d.data.wild import EVAL_PAD, load_wild_crop
from real3d.errors import Real3DError
from real3d.geometry import cycle_camera, fov_to_focal, rays_from_c2w, spherical_c2w
from real3d.geometry.sampling import curriculum_max_deg, sample_single_view_cameras
from real3d.metrics import clip_similarity, lpips_distance, psnr

log = logging.getLogger(__name__)

SCORE_KEYS = ("cycle_psnr", "cycle_lpips", "cycle_mask_mse", "clip_similarity")


def curriculum_cameras(
    num_views: int,
    distance: float,
    azimuth_deg: Sequence[float] = (15.0, 90.0),
    elevation_deg: Sequence[float] = (15.0, 90.0),
    seed: int = 0,
) -> torch.Tensor:
    """Novel cameras c2w [K,4,4]: training's cycle view at curriculum progress (i + 0.5) / K.

    `azimuth_deg`, `elevation_deg` are training's `curriculum_*_deg` (start = the smallest angle,
    end = the largest angle reached at the end of the run); each camera is drawn by training's
    sampler with a generator seeded by `seed`.
    """
    if num_views < 1:
        raise Real3DError(f"model_score.num_views must be >= 1, got {num_views}")
    generator = torch.Generator().manual_seed(int(seed))
    (az0, az1), (el0, el1) = azimuth_deg, elevation_deg
    views = []
    for i in range(num_views):
        progress = (i + 0.5) / num_views
        limits = (az0, curriculum_max_deg(progress, az0, az1), el0, curriculum_max_deg(progress, el0, el1))
        cams = sample_single_view_cameras(1, 2, distance, curriculum=limits, generator=generator)
        views.append(cams["c2w"][0, -1])  # view 0 is the input; the last is the curriculum view
    return torch.stack(views)


def fixed_cameras(novel_views: Sequence[Sequence[float]], distance: float) -> torch.Tensor:
    """Novel cameras c2w [K,4,4] at the given [azimuth_deg, elevation_deg] pairs."""
    if not novel_views:
        raise Real3DError("model_score.novel_views is empty: give at least one [azimuth, elevation]")
    views = torch.tensor([[float(a), float(e)] for a, e in novel_views])
    return spherical_c2w(views[:, 0], views[:, 1], distance)


class CycleScorer:
    """Batched cycle-consistency scores of RGBA crops under one model.

    `novel_c2w` [K,4,4]: the novel cameras around the input camera (azimuth 0, elevation 0 at
    `camera_distance`); default: two fixed views at azimuth ±45°.
    """

    def __init__(
        self,
        model: nn.Module,
        lpips: nn.Module,
        clip: nn.Module | None = None,
        novel_c2w: torch.Tensor | None = None,
        camera_distance: float = 3.0,
        fov_rad: float = 0.691150367,
        pad_factor: float = EVAL_PAD,
        render_size: int | None = None,
    ) -> None:
        self.model, self.lpips, self.clip = model, lpips, clip
        self.device = next(model.parameters()).device
        self.input_size = int(model.cfg.cond_image_size)
        self.render_size = int(render_size or self.input_size)
        self.pad_factor = float(pad_factor)
        self.camera_distance, self.fov_rad = float(camera_distance), float(fov_rad)
        if novel_c2w is None:
            novel_c2w = fixed_cameras(((45.0, 0.0), (-45.0, 0.0)), camera_distance)
        c2w_input = spherical_c2w(0.0, 0.0, camera_distance)  # [1,4,4]
        self.c2w_novel = novel_c2w.float()  # [K,4,4]
        self.c2w_cycle = cycle_camera(c2w_input, self.c2w_novel)  # [K,4,4]

    @property
    def num_views(self) -> int:
        return self.c2w_novel.shape[0]

    def _rays(self, c2w: torch.Tensor, size: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rays [batch,K,size,size,3] of the K cameras c2w, the same for every batch element."""
        focal = fov_to_focal(self.fov_rad, size)
        rays_o, rays_d = rays_from_c2w(c2w, focal, size, size)
        expand = (batch, *rays_o.shape)
        return rays_o.to(self.device)[None].expand(expand), rays_d.to(self.device)[None].expand(expand)

    def load(self, paths: Sequence[str | os.PathLike]) -> dict[str, torch.Tensor]:
        """Model inputs [B,3,S,S] (grey), the same on white, targets [B,3,R,R] and masks [B,1,R,R]."""
        samples = []
        for path in paths:
            rgb, mask = load_wild_crop(path, self.pad_factor, self.input_size)
            samples.append(singleview_sample(rgb, mask, self.camera_distance, self.fov_rad))
        rgb = torch.stack([s["rgb"] for s in samples])
        mask = torch.stack([s["mask"] for s in samples])
        return {
            "image_input": torch.stack([s["image_input"] for s in samples]),
            "rgb_input": rgb,
            "rgb": image_ops.resize_image(rgb, self.render_size),
            "mask": image_ops.resize_mask(mask, self.render_size),
        }

    @torch.inference_mode()
    def score(self, paths: Sequence[str | os.PathLike]) -> list[dict[str, float | None]]:
        """Scores per crop, averaged over the novel views (see the module docstring)."""
        batch = self.load(paths)
        b, k, s, r = len(paths), self.num_views, self.input_size, self.render_size
        image_input = batch["image_input"].to(self.device)
        scene_codes = self.model.image_to_scene_codes(image_input[:, None])
        novel = self.model.render_scene_codes(scene_codes, *self._rays(self.c2w_novel, s, b))
        novel_rgb = novel["images_rgb"].flatten(0, 1)  # [B*K,3,S,S]
        feedback = torch.where(novel["images_weight"].flatten(0, 1) > 0.5, novel_rgb, 0.5)
        cycle_codes = self.model.image_to_scene_codes(feedback[:, None])
        rays_o, rays_d = self._rays(self.c2w_cycle, r, b)  # [B,K,R,R,3]
        cycle = self.model.render_scene_codes(cycle_codes, rays_o.flatten(0, 1)[:, None], rays_d.flatten(0, 1)[:, None])
        cycle_rgb = cycle["images_rgb"][:, 0].float()  # [B*K,3,R,R]
        cycle_mask = cycle["images_weight"][:, 0].float()
        target = batch["rgb"].repeat_interleave(k, dim=0).to(self.device)
        target_mask = batch["mask"].repeat_interleave(k, dim=0).to(self.device)

        per_view = {
            "cycle_psnr": psnr(cycle_rgb, target),
            "cycle_lpips": lpips_distance(self.lpips, cycle_rgb, target),
            "cycle_mask_mse": ((cycle_mask - target_mask) ** 2).flatten(1).mean(1),
        }
        if self.clip is not None:  # novel views vs the input, both on white
            reference = batch["rgb_input"].repeat_interleave(k, dim=0)
            per_view["clip_similarity"] = clip_similarity(self.clip, novel_rgb.float(), reference)
        means = {key: v.reshape(b, k).double().mean(1).cpu() for key, v in per_view.items()}
        return [{key: _finite(means, key, i) for key in SCORE_KEYS} for i in range(b)]


def _finite(means: dict[str, torch.Tensor], key: str, index: int) -> float | None:
    """The score as a float; None when it was not computed (no CLIP) or is not finite."""
    if key not in means or not torch.isfinite(means[key][index]):
        return None
    return float(means[key][index])
