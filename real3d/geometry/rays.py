"""Ray generation from pinhole cameras in the OpenGL convention (`Cameras.rays` is the entry point)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def get_ray_directions(
    height: int,
    width: int,
    focal: float | tuple[float, float],
    principal: tuple[float, float] | None = None,
    normalize: bool = True,
) -> torch.Tensor:
    """Camera-space ray directions [H,W,3] through pixel centres: ((i+½-cx)/fx, -(j+½-cy)/fy, -1)."""
    fx, fy = (focal, focal) if isinstance(focal, (int, float)) else focal
    cx, cy = (width / 2, height / 2) if principal is None else principal
    i, j = torch.meshgrid(
        torch.arange(width, dtype=torch.float32) + 0.5,
        torch.arange(height, dtype=torch.float32) + 0.5,
        indexing="xy",
    )
    directions = torch.stack([(i - cx) / fx, -(j - cy) / fy, -torch.ones_like(i)], dim=-1)
    return F.normalize(directions, dim=-1) if normalize else directions


def get_rays(directions: torch.Tensor, c2w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World rays from camera directions [...,H,W,3] and c2w [...,4,4]: (rays_o, rays_d) [...,H,W,3]."""
    rot = c2w[..., None, None, :3, :3]  # [..., 1, 1, 3, 3]
    rays_d = F.normalize((directions[..., None, :] * rot).sum(-1), dim=-1)
    rays_o = c2w[..., None, None, :3, 3].expand(rays_d.shape)
    return rays_o, rays_d


def rays_from_c2w(
    c2w: torch.Tensor, focal: float | torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays [N,H,W,3] for cameras c2w [N,4,4] with principal point at the centre and focal(s) in pixels."""
    focal = torch.as_tensor(focal, dtype=torch.float32, device=c2w.device).reshape(-1)
    unit = get_ray_directions(height, width, 1.0, normalize=False).to(c2w.device)
    directions = unit[None].repeat(c2w.shape[0], 1, 1, 1)
    directions[..., :2] = directions[..., :2] / focal[:, None, None, None]
    return get_rays(directions, c2w.to(torch.float32))
