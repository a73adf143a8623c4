"""Model-based curation score: Real3D's cycle-consistency self-training turned into a filter.

For each crop (loaded as the single-view training set loads it at evaluation): reconstruct it,
render novel views at the input resolution, composite them on grey where the opacity is > 0.5,
reconstruct again from each, and render the input view through the cycle camera I·N⁻¹·I. The
scores compare that cycle render with the input (PSNR, LPIPS, opacity MSE vs the mask) and, with
CLIP weights, the novel views with the input (CLIP cosine similarity). An image the model cannot
explain consistently from other views scores badly.
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
from real3d.metrics import clip_similarity, lpips_distance, psnr

log = logging.getLogger(__name__)

SCORE_KEYS = ("cycle_psnr", "cycle_lpips", "cycle_mask_mse", "clip_similarity")


class CycleScorer:
    """Batched cycle-consistency scores of RGBA crops under one model."""

    def __init__(
        self,
        model: nn.Module,
        lpips: nn.Module,
        clip: nn.Module | None = None,
        novel_views: Sequence[Sequence[float]] = ((45.0, 0.0), (-45.0, 0.0)),
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
        if not novel_views:
            raise Real3DError("model_score.novel_views is empty: give at least one [azimuth, elevation]")
        views = torch.tensor([[float(a), float(e)] for a, e in novel_views])
        c2w_input = spherical_c2w(0.0, 0.0, camera_distance)  # [1,4,4]
        self.c2w_novel = spherical_c2w(views[:, 0], views[:, 1], camera_distance)  # [K,4,4]
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
