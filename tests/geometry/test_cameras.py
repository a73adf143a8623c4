"""`Cameras`: the lens held as a field of view, its rays, and its batch methods."""

from __future__ import annotations

import math

import pytest
import torch

from real3d.geometry import Cameras, fov_to_focal, look_at_c2w, spherical_c2w


@pytest.fixture
def cameras() -> Cameras:
    """Six cameras [2,3] with different fields of view, 5×7 images."""
    c2w = spherical_c2w(torch.arange(6.0) * 30.0, torch.linspace(-20.0, 40.0, 6), 2.5).reshape(2, 3, 4, 4)
    return Cameras(c2w, torch.linspace(0.5, 1.0, 6).reshape(2, 3), 5, 7)


def test_focal_in_pixels_round_trips_exactly_through_the_fov():
    focal = torch.tensor([37.3, 101.9, 0.71], dtype=torch.float32) * 16
    cameras = Cameras.from_focal(torch.eye(4).expand(3, 4, 4), focal, 16, 16)
    assert cameras.fov_rad.dtype == torch.float64 and cameras.focal.dtype == torch.float32
    assert torch.equal(cameras.focal, focal)
    assert cameras.fov_rad[0].item() == pytest.approx(2 * math.atan(8 / float(focal[0])), rel=1e-12)


def test_rays_of_the_identity_camera_go_through_the_pixel_centres():
    """OpenGL camera at the origin looking down -z: pixel (i, j) is ((i+½-W/2)/f, -(j+½-H/2)/f, -1)."""
    height, width, fov = 4, 6, 0.8
    rays_o, rays_d = Cameras(torch.eye(4)[None], fov, height, width).rays()
    assert rays_o.shape == rays_d.shape == (1, height, width, 3)
    focal = 0.5 * height / math.tan(0.5 * fov)
    for j, i in [(0, 0), (3, 5), (1, 4)]:
        expected = torch.tensor([(i + 0.5 - width / 2) / focal, -(j + 0.5 - height / 2) / focal, -1.0])
        torch.testing.assert_close(rays_d[0, j, i], expected / expected.norm())
    assert torch.equal(rays_o, torch.zeros_like(rays_o))


def test_rays_of_a_look_at_camera_hit_the_target_at_the_image_centre():
    position = torch.tensor([[1.0, -2.0, 0.5]])
    target = torch.tensor([[0.2, 0.1, -0.3]])
    rays_o, rays_d = Cameras(look_at_c2w(position, target), 0.6, 5, 5).rays()  # odd size: pixel (2,2) is the centre
    torch.testing.assert_close(rays_o[0, 2, 2], position[0])
    torch.testing.assert_close(rays_d[0, 2, 2], (target - position)[0] / (target - position).norm())
    torch.testing.assert_close(rays_d.norm(dim=-1), torch.ones(1, 5, 5))
    # the image's top row looks more upward (+z) than its bottom row
    assert bool((rays_d[0, 0, :, 2] > rays_d[0, -1, :, 2]).all())


def test_batch_dimensions_index_reshape_and_cat(cameras: Cameras):
    assert cameras.batch_shape == (2, 3) and len(cameras) == 2
    rays_o, rays_d = cameras.rays()
    assert rays_o.shape == rays_d.shape == (2, 3, 5, 7, 3)
    flat = cameras.reshape(6)
    torch.testing.assert_close(flat.rays()[1], rays_d.reshape(6, 5, 7, 3))
    one = cameras[1, 2]
    assert one.batch_shape == () and float(one.fov_rad) == pytest.approx(float(cameras.fov_rad[1, 2]))
    torch.testing.assert_close(one.rays()[1], rays_d[1, 2])
    joined = Cameras.cat([cameras[0], cameras[1]])
    assert joined.batch_shape == (6,) and torch.equal(joined.c2w, flat.c2w)
    assert torch.equal(joined.fov_rad, flat.fov_rad)
    with pytest.raises(ValueError, match="different image sizes"):
        Cameras.cat([cameras[0], cameras[1].resized(9)])


def test_resized_keeps_the_field_of_view_and_scales_the_focal(cameras: Cameras):
    bigger = cameras.resized(10, 14)
    assert (bigger.height, bigger.width) == (10, 14) and torch.equal(bigger.fov_rad, cameras.fov_rad)
    torch.testing.assert_close(bigger.focal, 2 * cameras.focal)
    assert cameras.resized(8).width == 8
    torch.testing.assert_close(cameras.focal, fov_to_focal(cameras.fov_rad, 5).float())


def test_to_casts_the_pose_and_keeps_the_fov_in_float64(cameras: Cameras):
    moved = cameras.to("cpu", torch.float64)
    assert moved.c2w.dtype == torch.float64 and moved.fov_rad.dtype == torch.float64
    assert moved.focal.dtype == torch.float64 and moved.device == torch.device("cpu")
    torch.testing.assert_close(moved.rays()[1], cameras.rays()[1])


def test_a_scalar_fov_is_shared_and_bad_poses_are_refused():
    cameras = Cameras(torch.eye(4).expand(3, 4, 4), 0.5, 4, 4)
    assert cameras.fov_rad.shape == (3,) and bool((cameras.fov_rad == 0.5).all())
    with pytest.raises(ValueError, match=r"\[\.\.\.,4,4\]"):
        Cameras(torch.eye(3), 0.5, 4, 4)
