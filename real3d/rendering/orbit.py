"""The orbit render: the same cameras (e.g. `real3d.geometry.orbit_cameras`) for every scene."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from real3d.geometry import Cameras

if TYPE_CHECKING:
    from real3d.models.renderer import RenderSettings


@torch.no_grad()
def render_orbit(
    model: nn.Module,
    scene_codes: torch.Tensor,
    cameras: Cameras,
    settings: RenderSettings | None = None,
    stats: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render cameras [N] of each scene code [B,...], all N views in one renderer call per scene.

    Returns rgb [B,N,3,h,w] clamped to [0,1] and opacity [B,N,1,h,w], float32, on the codes' device;
    `settings` None: the model's; `stats` collects the renderer's counts.
    """
    out = model.render(scene_codes, cameras, settings, stats)
    return out["images_rgb"].float().clamp(0.0, 1.0), out["images_weight"].float()
