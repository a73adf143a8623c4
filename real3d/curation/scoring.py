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
from real3d.geometry import INPUT_FOV_RAD, Cameras, canonical_input_camera, spherical_c2w
from real3d.geometry.sampling import curriculum_max_deg, sample_single_view_cameras
from real3d.metrics import clip_similarity, lpips_distance, psnr
from real3d.models.renderer import RenderSettings
from real3d.rendering import cycle_cameras, cycle_render

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
    `camera_distance`); default: two fixed views at azimuth ±45°. `settings`: how to render (None: the model's).
    """

    def __init__(
        self,
        model: nn.Module,
        lpips: nn.Module,
        clip: nn.Module | None = None,
        novel_c2w: torch.Tensor | None = None,
        camera_distance: float = 3.0,
        fov_rad: float = INPUT_FOV_RAD,
        pad_factor: float = EVAL_PAD,
        render_size: int | None = None,
        settings: RenderSettings | None = None,
    ) -> None:
        self.model, self.lpips, self.clip, self.settings = model, lpips, clip, settings
        self.device = next(model.parameters()).device
        self.input_size = int(model.cfg.cond_image_size)
        self.render_size = int(render_size or self.input_size)
        self.pad_factor = float(pad_factor)
        self.camera_distance, self.fov_rad = float(camera_distance), float(fov_rad)
        if novel_c2w is None:
            novel_c2w = fixed_cameras(((45.0, 0.0), (-45.0, 0.0)), camera_distance)
        self.c2w_novel = novel_c2w.float()  # [K,4,4]

    @property
    def num_views(self) -> int:
        return self.c2w_novel.shape[0]

    def cameras(self, batch: int) -> tuple[Cameras, Cameras]:
        """The input cameras [batch] at the render size and the novel cameras [batch,K] at the input size."""
        s, r = self.input_size, self.render_size
        inputs = Cameras.cat([canonical_input_camera(self.camera_distance, r, r, self.fov_rad)] * batch)
        novel = Cameras(self.c2w_novel.expand(batch, self.num_views, 4, 4), self.fov_rad, s, s)
        return inputs.to(self.device), novel.to(self.device)

    @property
    def c2w_cycle(self) -> torch.Tensor:
        """The cycle cameras I·N⁻¹·I [K,4,4] of the novel views."""
        return cycle_cameras(*self.cameras(1)).c2w[0]

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
        b, k = len(paths), self.num_views
        cycle = cycle_render(self.model, batch["image_input"].to(self.device), *self.cameras(b), settings=self.settings)
        cycle_rgb = cycle.render["images_rgb"].flatten(0, 1).float()  # [B*K,3,R,R]
        cycle_mask = cycle.render["images_weight"].flatten(0, 1).float()
        target = batch["rgb"].repeat_interleave(k, dim=0).to(self.device)
        target_mask = batch["mask"].repeat_interleave(k, dim=0).to(self.device)

        per_view = {
            "cycle_psnr": psnr(cycle_rgb, target),
            "cycle_lpips": lpips_distance(self.lpips, cycle_rgb, target),
            "cycle_mask_mse": ((cycle_mask - target_mask) ** 2).flatten(1).mean(1),
        }
        if self.clip is not None:  # novel views vs the input, both on white
            reference = batch["rgb_input"].repeat_interleave(k, dim=0)
            novel_rgb = cycle.novel["images_rgb"].flatten(0, 1).float()  # [B*K,3,S,S]
            per_view["clip_similarity"] = clip_similarity(self.clip, novel_rgb, reference)
        means = {key: v.reshape(b, k).double().mean(1).cpu() for key, v in per_view.items()}
        return [{key: _finite(means, key, i) for key in SCORE_KEYS} for i in range(b)]


def _finite(means: dict[str, torch.Tensor], key: str, index: int) -> float | None:
    """The score as a float; None when it was not computed (no CLIP) or is not finite."""
    if key not in means or not torch.isfinite(means[key][index]):
        return None
    return float(means[key][index])
