"""Camera conventions: each constructor's inverse gives its input back, and the conventions agree
with each other on where a world point appears in the image."""

from __future__ import annotations

import math

import pytest
import torch

from real3d.geometry import (
    INPUT_FOV_RAD,
    SOURCE_CAMERA_DISTANCE,
    Cameras,
    c2w_to_spherical,
    cameras_from_blender,
    cameras_from_colmap,
    cameras_from_opencv,
    cameras_from_pytorch3d,
    cameras_to_blender,
    cameras_to_colmap,
    cameras_to_opencv,
    cameras_to_pytorch3d,
    canonical_input_c2w,
    canonical_input_camera,
    look_at_c2w,
    orbit_angles,
    orbit_cameras,
    quaternion_to_rotation,
    rotation_to_quaternion,
    spherical_c2w,
    spherical_rays,
)

HEIGHT, WIDTH = 30, 40


@pytest.fixture
def c2w_opengl() -> torch.Tensor:
    """Four OpenGL cameras [4,4,4] (float64) looking at points near the origin."""
    positions = torch.tensor([[2.0, 0.5, 1.0], [0.0, 2.5, -0.5], [-1.5, -1.5, 1.0], [0.3, -2.0, 2.0]])
    return look_at_c2w(positions, torch.tensor([[0.1, 0.2, 0.0]]).expand(4, 3)).double()


def _opencv_pixel(c2w_opencv: torch.Tensor, focal: float, point: torch.Tensor) -> torch.Tensor:
    """Pixel (u, v) of a world point under the OpenCV pinhole model (principal point at the centre)."""
    cam = torch.linalg.inv(c2w_opencv) @ torch.cat([point, point.new_ones(1)])
    return torch.stack([focal * cam[0] / cam[2] + WIDTH / 2, focal * cam[1] / cam[2] + HEIGHT / 2])


def test_opencv_round_trip_and_projection_agrees_with_the_rays(c2w_opengl):
    c2w_opencv = c2w_opengl @ torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))
    focal = torch.tensor([35.0, 40.0, 28.0, 50.0], dtype=torch.float64)
    cameras = cameras_from_opencv(c2w_opencv, focal, HEIGHT, WIDTH)
    back, focal_back = cameras_to_opencv(cameras)
    torch.testing.assert_close(back, c2w_opencv)
    torch.testing.assert_close(focal_back, focal)
    # a world point projected by OpenCV to pixel (u, v) = (i + ½, j + ½) lies on the ray of pixel (i, j)
    rays_o, rays_d = cameras.to(dtype=torch.float64).rays()
    for k in range(4):
        i, j = 7, 21
        direction = rays_d[k, j, i].double()
        point = rays_o[k, j, i].double() + 1.7 * direction
        u, v = _opencv_pixel(c2w_opencv[k], float(focal[k]), point)
        assert (float(u), float(v)) == pytest.approx((i + 0.5, j + 0.5), abs=1e-4)


@pytest.mark.parametrize("intrinsics_format", ["ndc_isotropic", "ndc_norm_image_bounds"])
def test_pytorch3d_round_trip_and_agreement_with_opencv(c2w_opengl, intrinsics_format):
    cameras = Cameras.from_focal(c2w_opengl, torch.tensor([35.0, 40.0, 28.0, 50.0]), HEIGHT, WIDTH)
    R, T, focal_ndc = cameras_to_pytorch3d(cameras, intrinsics_format)
    again = cameras_from_pytorch3d(R, T, focal_ndc, HEIGHT, WIDTH, intrinsics_format)
    torch.testing.assert_close(again.c2w, cameras.c2w)
    torch.testing.assert_close(again.fov_rad, cameras.fov_rad)
    half = (min(HEIGHT, WIDTH) if intrinsics_format == "ndc_isotropic" else WIDTH) / 2
    torch.testing.assert_close(focal_ndc * half, cameras.focal.double())
    # PyTorch3D's camera (row vectors, +X left, +Y up) is OpenCV's with x and y negated
    c2w_opencv, _ = cameras_to_opencv(cameras)
    point = torch.tensor([0.3, -0.2, 0.4], dtype=torch.float64)
    for k in range(4):
        p3d = point @ R[k] + T[k]
        cv = (torch.linalg.inv(c2w_opencv[k]) @ torch.cat([point, point.new_ones(1)]))[:3]
        torch.testing.assert_close(p3d, cv * torch.tensor([-1.0, -1.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="intrinsics_format"):
        cameras_to_pytorch3d(cameras, "screen")


def test_colmap_round_trip(c2w_opengl):
    focal = torch.tensor([35.0, 40.0, 28.0, 50.0], dtype=torch.float64)
    cameras = Cameras.from_focal(c2w_opengl, focal, HEIGHT, WIDTH)
    qvec, tvec, focal_back = cameras_to_colmap(cameras)
    assert qvec.shape == (4, 4) and tvec.shape == (4, 3) and bool((qvec[:, 0] >= 0).all())
    torch.testing.assert_close(focal_back, focal)
    again = cameras_from_colmap(qvec, tvec, focal_back, HEIGHT, WIDTH)
    torch.testing.assert_close(again.c2w, c2w_opengl)
    # COLMAP's world-to-camera is OpenCV's: the camera centre is -Rᵀ t
    c2w_opencv, _ = cameras_to_opencv(cameras)
    for k in range(4):
        rot = quaternion_to_rotation(qvec[k])
        torch.testing.assert_close(-rot.T @ tvec[k], c2w_opencv[k, :3, 3])


@pytest.mark.parametrize("axis", [None, 0, 1, 2])
def test_quaternion_round_trip_in_every_branch(axis):
    """Rotations by 180° about x, y, z take Shepperd's other branches (trace = -1)."""
    if axis is None:
        rotation = quaternion_to_rotation(torch.tensor([0.9, 0.1, -0.3, 0.2], dtype=torch.float64))
    else:
        rotation = -torch.eye(3, dtype=torch.float64)
        rotation[axis, axis] = 1.0
    q = rotation_to_quaternion(rotation)
    assert q[0] >= 0 and float(q.norm()) == pytest.approx(1.0)
    torch.testing.assert_close(quaternion_to_rotation(q), rotation)


def test_blender_round_trip_with_a_horizontal_fov(c2w_opengl):
    angle_x = torch.tensor([0.6, 0.7, 0.8, 0.9], dtype=torch.float64)
    cameras = cameras_from_blender(c2w_opengl, angle_x, HEIGHT, WIDTH)
    # the vertical fov of a 40×30 image: tan(fov_y/2) = ¾ tan(fov_x/2)
    torch.testing.assert_close(torch.tan(cameras.fov_rad / 2), 0.75 * torch.tan(angle_x / 2))
    c2w, angle_back = cameras_to_blender(cameras)
    assert torch.equal(c2w, c2w_opengl)
    torch.testing.assert_close(angle_back, angle_x)


def test_orbit_and_its_inverse():
    cameras = orbit_cameras(6, 25.0, 1.9, 0.7, HEIGHT, WIDTH, azimuth_offset_deg=10.0)
    assert cameras.batch_shape == (6,) and bool((cameras.fov_rad == 0.7).all())
    azimuth, elevation, distance = orbit_angles(cameras)
    expected = (torch.arange(6.0) * 60.0 + 10.0 + 180.0) % 360.0 - 180.0  # wrapped to (-180, 180]
    torch.testing.assert_close(azimuth, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(elevation, torch.full((6,), 25.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(distance, torch.full((6,), 1.9))
    # every orbit camera looks at the origin through its image centre
    rays_o, rays_d = orbit_cameras(3, -10.0, 2.2, 0.7, 5, 5).rays()
    torch.testing.assert_close(rays_d[:, 2, 2], -rays_o[:, 2, 2] / 2.2, atol=1e-6, rtol=0)


def test_spherical_inverse_of_random_poses():
    generator = torch.Generator().manual_seed(0)
    azimuth = torch.rand(20, generator=generator) * 358.0 - 179.0
    elevation = torch.rand(20, generator=generator) * 170.0 - 85.0
    distance = torch.rand(20, generator=generator) * 3.0 + 0.5
    back = c2w_to_spherical(spherical_c2w(azimuth, elevation, distance).double())
    for value, expected in zip(back, (azimuth, elevation, distance), strict=True):
        torch.testing.assert_close(value.float(), expected, atol=1e-3, rtol=0)


def test_spherical_rays_are_the_orbit_cameras_rays():
    rays = spherical_rays(3, 20.0, 2.2, 40.0, 8, 8, azimuth_offset_deg=15.0)
    expected = orbit_cameras(3, 20.0, 2.2, math.radians(40.0), 8, 8, azimuth_offset_deg=15.0).rays()
    for value, reference in zip(rays, expected, strict=True):
        assert torch.equal(value, reference)


def test_canonical_input_camera():
    camera = canonical_input_camera(SOURCE_CAMERA_DISTANCE["wild"], 32, 32)
    assert camera.batch_shape == (1,) and float(camera.fov_rad[0]) == INPUT_FOV_RAD
    assert torch.equal(camera.c2w, canonical_input_c2w(3.0))
    torch.testing.assert_close(camera.c2w[0, :3, 3], torch.tensor([3.0, 0.0, 0.0]))
    azimuth, elevation, distance = orbit_angles(camera)
    assert (float(azimuth), float(elevation), float(distance)) == pytest.approx((0.0, 0.0, 3.0), abs=1e-6)
    _, rays_d = camera.rays()
    centre = rays_d[0, 15:17, 15:17].mean((0, 1))
    torch.testing.assert_close(centre / centre.norm(), torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6, rtol=0)
    assert float(canonical_input_camera(2.4, 8, 8, fov_rad=0.5).fov_rad[0]) == 0.5
