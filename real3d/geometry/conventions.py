"""Camera conventions in one place: the canonical constants, and per convention a constructor of
`Cameras` with its inverse (plus the pose-matrix conversions they are built on).

`Cameras` holds OpenGL camera-to-world matrices (camera looks down -z, y up) in a right-handed
world with z up, and a vertical field of view. The conventions converted here:

- OpenCV / COLMAP: camera x right, y down, z forward; COLMAP stores world-to-camera poses as a
  quaternion (w, x, y, z) and a translation.
- PyTorch3D (CO3D): row vectors, x_cam = x_world · R + T; camera +X left, +Y up, +Z forward; focal
  length in NDC units (half the shorter side, "ndc_isotropic", or half of each side,
  "ndc_norm_image_bounds").
- Blender / OpenGL (OmniObject3D `transforms.json`, Zero-1-to-3 `.npy`): OpenGL camera axes, the
  horizontal field of view `camera_angle_x`.
- Spherical orbit: azimuth from +x toward +y, elevation above the xy plane, looking at the origin.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from real3d.geometry.cameras import Cameras
from real3d.geometry.poses import canonical_input_c2w, focal_to_fov, fov_to_focal, spherical_c2w

# Field of view of the canonical input camera (SPEC §4): real single-view data, the multi-view
# evaluation's input view, eval_sv's renders, curation.
INPUT_FOV_RAD = 0.691150367
# Canonical input-camera distance per training source (SPEC §4; the original's SCALE_OBJAVERSE):
# the synthetic renders (GObjaverse, Zero-1-to-3) keep their own fov (~49.1°) at 2.4, real data
# has INPUT_FOV_RAD at 3.0, so the frame's half width at the object agrees (2.4·tan 24.55° = 1.10
# vs 3.0·tan 19.8° = 1.08).
SYNTHETIC_CAMERA_DISTANCE = 2.4
REAL_CAMERA_DISTANCE = 3.0
SOURCE_CAMERA_DISTANCE = {
    "gobjaverse": SYNTHETIC_CAMERA_DISTANCE,
    "zero123": SYNTHETIC_CAMERA_DISTANCE,
    "mvimgnet": REAL_CAMERA_DISTANCE,
    "wild": REAL_CAMERA_DISTANCE,
}
# The multi-view evaluation puts the input camera at the real-data distance.
EVAL_CAMERA_DISTANCE = REAL_CAMERA_DISTANCE
# TripoSR's demo orbit (`render_360`): distance and vertical field of view.
DEMO_ORBIT_DISTANCE = 1.9
DEMO_ORBIT_FOVY_DEG = 40.0

NDC_FORMATS = ("ndc_isotropic", "ndc_norm_image_bounds")


# ----------------------------------------------------------------------------- pose matrices


def opencv_to_opengl(c2w: torch.Tensor) -> torch.Tensor:
    """Convert c2w [...,4,4] between OpenCV camera axes (x right, y down, z forward) and OpenGL.

    Flipping the camera's y and z axes is its own inverse, so this also converts OpenGL to OpenCV.
    """
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=c2w.dtype, device=c2w.device))
    return c2w @ flip


def w2c_to_c2w(w2c: torch.Tensor) -> torch.Tensor:
    """Invert world-to-camera [...,3,4] or [...,4,4] into a 4x4 camera-to-world."""
    if w2c.shape[-2] == 3:
        bottom = torch.zeros(*w2c.shape[:-2], 1, 4, dtype=w2c.dtype, device=w2c.device)
        bottom[..., 0, 3] = 1.0
        w2c = torch.cat([w2c, bottom], dim=-2)
    return torch.linalg.inv(w2c)


def quaternion_to_rotation(qvec: torch.Tensor) -> torch.Tensor:
    """Rotation matrix [...,3,3] from unit quaternions [...,4] in (w, x, y, z) order (COLMAP)."""
    q = F.normalize(qvec, dim=-1)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        dim=-2,
    )


def rotation_to_quaternion(rotation: torch.Tensor) -> torch.Tensor:
    """Unit quaternion [4] (w, x, y, z), w ≥ 0, of a rotation matrix [3,3] (float64; inverse of
    `quaternion_to_rotation`)."""
    m = rotation.to(torch.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    # Shepperd's method: pick the largest of w, x, y, z for numerical stability.
    k = int(torch.argmax(torch.stack([trace, m[0, 0], m[1, 1], m[2, 2]])))
    if k == 0:
        s = torch.sqrt(1.0 + trace) * 2
        q = torch.stack([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    elif k == 1:
        s = torch.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = torch.stack([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s])
    elif k == 2:
        s = torch.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = torch.stack([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s])
    else:
        s = torch.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = torch.stack([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    q = q / torch.linalg.norm(q)
    return -q if q[0] < 0 else q


def colmap_to_opencv_c2w(qvec: torch.Tensor, tvec: torch.Tensor) -> torch.Tensor:
    """OpenCV c2w [...,4,4] of a COLMAP world-to-camera quaternion (w,x,y,z) and translation."""
    w2c = torch.cat([quaternion_to_rotation(qvec), tvec[..., :, None]], dim=-1)
    return w2c_to_c2w(w2c)


def colmap_to_c2w(qvec: torch.Tensor, tvec: torch.Tensor) -> torch.Tensor:
    """OpenGL c2w [...,4,4] from COLMAP world-to-camera quaternion (w,x,y,z) and translation."""
    return opencv_to_opengl(colmap_to_opencv_c2w(qvec, tvec))


def c2w_to_colmap(c2w_opengl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """COLMAP world-to-camera (qvec [4], tvec [3]), float64, of an OpenGL c2w [4,4] (inverse of `colmap_to_c2w`)."""
    w2c = torch.linalg.inv(opencv_to_opengl(c2w_opengl.to(torch.float64)))
    return rotation_to_quaternion(w2c[:3, :3]), w2c[:3, 3].contiguous()


def pytorch3d_to_c2w(R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """OpenGL c2w [...,4,4] from PyTorch3D R [...,3,3], T [...,3] (row vectors, +X left, +Y up, +Z fwd).

    PyTorch3D maps world points as x_cam = x_world @ R + T, so the column-vector world-to-camera
    rotation is Rᵀ; its camera x axis points left, so OpenGL's camera is that one with x and z flipped.
    """
    w2c = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    w2c[..., :3, :3] = R.transpose(-1, -2)
    w2c[..., :3, 3] = T
    w2c[..., 3, 3] = 1.0
    c2w_p3d = torch.linalg.inv(w2c)
    flip = torch.diag(torch.tensor([-1.0, 1.0, -1.0, 1.0], dtype=R.dtype, device=R.device))
    return c2w_p3d @ flip


def c2w_to_pytorch3d(c2w_opengl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch3D (R [...,3,3], T [...,3]), float64, of OpenGL c2w [...,4,4] (inverse of `pytorch3d_to_c2w`)."""
    c2w = c2w_opengl.to(torch.float64)
    flip = torch.diag(torch.tensor([-1.0, 1.0, -1.0, 1.0], dtype=torch.float64, device=c2w.device))
    w2c = torch.linalg.inv(c2w @ flip)
    return w2c[..., :3, :3].transpose(-1, -2).contiguous(), w2c[..., :3, 3].contiguous()


def c2w_to_spherical(c2w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(azimuth_deg, elevation_deg, distance) [...] of the camera centres of c2w [...,4,4] (inverse of
    `spherical_c2w` for cameras looking at the origin); azimuth in (-180, 180]."""
    position = c2w[..., :3, 3]
    distance = torch.linalg.norm(position, dim=-1)
    azimuth = torch.rad2deg(torch.atan2(position[..., 1], position[..., 0]))
    elevation = torch.rad2deg(torch.asin((position[..., 2] / distance).clamp(-1.0, 1.0)))
    return azimuth, elevation, distance


# ----------------------------------------------------------------------------- Cameras per convention


def ndc_scale(height: int, width: int, intrinsics_format: str = "ndc_isotropic") -> float:
    """Pixels per PyTorch3D NDC unit along x: half the shorter side (isotropic) or half the width."""
    if intrinsics_format not in NDC_FORMATS:
        raise ValueError(f"intrinsics_format must be one of {', '.join(NDC_FORMATS)}; got {intrinsics_format!r}")
    return (min(height, width) if intrinsics_format == "ndc_isotropic" else width) / 2.0


def cameras_from_pytorch3d(
    R: torch.Tensor,
    T: torch.Tensor,
    focal_ndc: float | torch.Tensor,
    height: int,
    width: int,
    intrinsics_format: str = "ndc_isotropic",
) -> Cameras:
    """Cameras from PyTorch3D R [*B,3,3], T [*B,3] and the (x) focal length in NDC [*B]."""
    focal_px = torch.as_tensor(focal_ndc, dtype=torch.float64) * ndc_scale(height, width, intrinsics_format)
    return Cameras.from_focal(pytorch3d_to_c2w(R, T), focal_px, height, width)


def cameras_to_pytorch3d(
    cameras: Cameras, intrinsics_format: str = "ndc_isotropic"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(R [*B,3,3], T [*B,3], focal_ndc [*B]) of `cameras` (inverse of `cameras_from_pytorch3d`)."""
    R, T = c2w_to_pytorch3d(cameras.c2w)
    focal_px = fov_to_focal(cameras.fov_rad, cameras.height)
    return R, T, focal_px / ndc_scale(cameras.height, cameras.width, intrinsics_format)


def cameras_from_opencv(c2w_opencv: torch.Tensor, focal_px: float | torch.Tensor, height: int, width: int) -> Cameras:
    """Cameras from OpenCV camera-to-world [*B,4,4] and focal lengths in pixels [*B]."""
    return Cameras.from_focal(opencv_to_opengl(c2w_opencv), focal_px, height, width)


def cameras_to_opencv(cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """(OpenCV c2w [*B,4,4], focal in pixels [*B] float64) of `cameras` (inverse of `cameras_from_opencv`)."""
    return opencv_to_opengl(cameras.c2w), fov_to_focal(cameras.fov_rad, cameras.height)


def cameras_from_colmap(
    qvec: torch.Tensor, tvec: torch.Tensor, focal_px: float | torch.Tensor, height: int, width: int
) -> Cameras:
    """Cameras from COLMAP world-to-camera poses (qvec [*B,4], tvec [*B,3]) and focal lengths in pixels."""
    return Cameras.from_focal(colmap_to_c2w(qvec, tvec), focal_px, height, width)


def cameras_to_colmap(cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(qvec [N,4], tvec [N,3], focal in pixels [N]) of `cameras` flattened to N (inverse of
    `cameras_from_colmap`)."""
    poses = [c2w_to_colmap(c2w) for c2w in cameras.c2w.reshape(-1, 4, 4)]
    qvec, tvec = (torch.stack(parts) for parts in zip(*poses, strict=True))
    return qvec, tvec, fov_to_focal(cameras.fov_rad.reshape(-1), cameras.height)


def cameras_from_blender(
    transform_matrix: torch.Tensor, camera_angle_x: float | torch.Tensor, height: int, width: int
) -> Cameras:
    """Cameras from Blender / NeRF-synthetic c2w [*B,4,4] (OpenGL axes) and the horizontal fov."""
    focal_px = fov_to_focal(torch.as_tensor(camera_angle_x, dtype=torch.float64), width)
    return Cameras.from_focal(transform_matrix, focal_px, height, width)


def cameras_to_blender(cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """(c2w [*B,4,4], camera_angle_x [*B]) of `cameras` (inverse of `cameras_from_blender`)."""
    return cameras.c2w, focal_to_fov(fov_to_focal(cameras.fov_rad, cameras.height), cameras.width)


def spherical_cameras(
    azimuth_deg: torch.Tensor | float,
    elevation_deg: torch.Tensor | float,
    distance: torch.Tensor | float,
    fov_rad: float | torch.Tensor,
    height: int,
    width: int,
) -> Cameras:
    """Cameras [N] on a sphere around the origin looking at it (`spherical_c2w`), up = +z."""
    return Cameras(spherical_c2w(azimuth_deg, elevation_deg, distance), fov_rad, height, width)


def orbit_cameras(
    n_views: int,
    elevation_deg: float,
    distance: float,
    fov_rad: float,
    height: int,
    width: int,
    azimuth_offset_deg: float = 0.0,
) -> Cameras:
    """Cameras [n_views] of an orbit with evenly spaced azimuths starting at `azimuth_offset_deg`."""
    azimuth_deg = torch.linspace(0.0, 360.0, n_views + 1)[:n_views] + azimuth_offset_deg
    return spherical_cameras(azimuth_deg, elevation_deg, distance, fov_rad, height, width)


def orbit_angles(cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(azimuth_deg, elevation_deg, distance) [*B] of cameras looking at the origin (inverse of
    `spherical_cameras` / `orbit_cameras`); azimuth in (-180, 180]."""
    return c2w_to_spherical(cameras.c2w)


def canonical_input_camera(distance: float, height: int, width: int, fov_rad: float = INPUT_FOV_RAD) -> Cameras:
    """The canonical input camera [1]: azimuth 0, elevation 0, `distance` from the origin (SPEC §4)."""
    return Cameras(canonical_input_c2w(distance), fov_rad, height, width)


def spherical_rays(
    n_views: int,
    elevation_deg: float,
    camera_distance: float,
    fovy_deg: float,
    height: int,
    width: int,
    azimuth_offset_deg: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays [n_views,H,W,3] of `orbit_cameras` with the field of view in degrees (TripoSR's signature)."""
    fov_rad = math.radians(fovy_deg)
    return orbit_cameras(n_views, elevation_deg, camera_distance, fov_rad, height, width, azimuth_offset_deg).rays()
