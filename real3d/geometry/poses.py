"""Camera poses and lenses: focal/fov conversion, look-at and spherical poses, the cycle camera and
input-view canonicalisation.

All camera-to-world matrices here are 4x4, OpenGL convention (camera looks down -z, y up), in a
right-handed world with z up.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def fov_to_focal(fov_rad: float | torch.Tensor, size: float) -> float | torch.Tensor:
    """Focal length in pixels for a field of view spanning `size` pixels."""
    if isinstance(fov_rad, torch.Tensor):
        return 0.5 * size / torch.tan(0.5 * fov_rad)
    return 0.5 * size / math.tan(0.5 * fov_rad)


def focal_to_fov(focal: float | torch.Tensor, size: float) -> float | torch.Tensor:
    """Field of view (radians) spanning `size` pixels at focal length `focal` (pixels)."""
    if isinstance(focal, torch.Tensor):
        return 2.0 * torch.atan(0.5 * size / focal)
    return 2.0 * math.atan(0.5 * size / focal)


def look_at_c2w(
    camera_positions: torch.Tensor, center: torch.Tensor | None = None, up: torch.Tensor | None = None
) -> torch.Tensor:
    """OpenGL c2w [N,4,4] for cameras at `camera_positions` [N,3] looking at `center` (default origin)."""
    n = camera_positions.shape[0]
    if center is None:
        center = torch.zeros_like(camera_positions)
    if up is None:
        up = torch.tensor([0.0, 0.0, 1.0], dtype=camera_positions.dtype, device=camera_positions.device)
    up = up.expand(n, 3)
    lookat = F.normalize(center - camera_positions, dim=-1)
    right = F.normalize(torch.linalg.cross(lookat, up, dim=-1), dim=-1)
    up = F.normalize(torch.linalg.cross(right, lookat, dim=-1), dim=-1)
    c2w = torch.zeros(n, 4, 4, dtype=camera_positions.dtype, device=camera_positions.device)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = up
    c2w[:, :3, 2] = -lookat
    c2w[:, :3, 3] = camera_positions
    c2w[:, 3, 3] = 1.0
    return c2w


def spherical_c2w(
    azimuth_deg: torch.Tensor | float,
    elevation_deg: torch.Tensor | float,
    distance: torch.Tensor | float,
) -> torch.Tensor:
    """OpenGL c2w [N,4,4] on a sphere around the origin: azimuth from +x toward +y, up = +z."""
    azimuth_deg, elevation_deg, distance = torch.broadcast_tensors(
        torch.as_tensor(azimuth_deg, dtype=torch.float32),
        torch.as_tensor(elevation_deg, dtype=torch.float32),
        torch.as_tensor(distance, dtype=torch.float32),
    )
    azimuth = torch.deg2rad(azimuth_deg.reshape(-1))
    elevation = torch.deg2rad(elevation_deg.reshape(-1))
    distance = distance.reshape(-1)
    positions = torch.stack(
        [
            distance * torch.cos(elevation) * torch.cos(azimuth),
            distance * torch.cos(elevation) * torch.sin(azimuth),
            distance * torch.sin(elevation),
        ],
        dim=-1,
    )
    return look_at_c2w(positions)


def canonical_input_c2w(distance: float) -> torch.Tensor:
    """OpenGL c2w [1,4,4] of the canonical input camera: azimuth 0, elevation 0, `distance` from the origin."""
    return spherical_c2w(0.0, 0.0, distance)


def cycle_camera(c2w_input: torch.Tensor, c2w_novel: torch.Tensor) -> torch.Tensor:
    """Camera that sees the input view when the novel view becomes the new input: I · N⁻¹ · I."""
    return c2w_input @ torch.linalg.inv(c2w_novel) @ c2w_input


def canonicalize_to_input(
    c2w: torch.Tensor,
    center: torch.Tensor | None = None,
    distance: float = 3.0,
    input_index: int = 0,
) -> tuple[torch.Tensor, float]:
    """Express cameras [N,4,4] relative to view `input_index`, placed at azimuth 0, elevation 0.

    The world is first translated so `center` (default origin) is at the origin and scaled so the
    input camera is `distance` away from it; returns the new c2w and the scale applied.
    """
    c2w = c2w.clone().to(torch.float64)
    if center is not None:
        c2w[:, :3, 3] -= center.to(c2w)
    scale = distance / float(torch.linalg.norm(c2w[input_index, :3, 3]))
    c2w[:, :3, 3] *= scale
    canonical = canonical_input_c2w(distance)[0].to(c2w)
    relative = canonical @ torch.linalg.inv(c2w[input_index])
    return (relative @ c2w).to(torch.float32), scale
