"""Ray generation from pinhole cameras in the OpenGL convention."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from real3d.geometry.cameras import fov_to_focal, spherical_c2w


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


def spherical_rays(
    n_views: int,
    elevation_deg: float,
    camera_distance: float,
    fovy_deg: float,
    height: int,
    width: int,
    azimuth_offset_deg: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays [n_views,H,W,3] of an orbit with evenly spaced azimuths starting at `azimuth_offset_deg`."""
    azimuth_deg = torch.linspace(0.0, 360.0, n_views + 1)[:n_views] + azimuth_offset_deg
    c2w = spherical_c2w(azimuth_deg, elevation_deg, camera_distance)
    focal = fov_to_focal(torch.deg2rad(torch.tensor(fovy_deg)), height)
    return rays_from_c2w(c2w, focal, height, width)
