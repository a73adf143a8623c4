"""Cameras, rays and camera-convention conversions (world: right-handed, z up; c2w in OpenGL)."""

from real3d.geometry.camera_type import Cameras
from real3d.geometry.cameras import (
    canonicalize_to_input,
    cycle_camera,
    focal_to_fov,
    fov_to_focal,
    look_at_c2w,
    spherical_c2w,
)
from real3d.geometry.rays import get_ray_directions, get_rays, rays_from_c2w, spherical_rays

__all__ = [
    "Cameras",
    "canonicalize_to_input",
    "cycle_camera",
    "fov_to_focal",
    "focal_to_fov",
    "get_ray_directions",
    "get_rays",
    "look_at_c2w",
    "rays_from_c2w",
    "spherical_c2w",
    "spherical_rays",
]
