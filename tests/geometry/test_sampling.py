"""Camera samplers and the cycle camera, checked with known geometry."""

from __future__ import annotations

import math

import pytest
import torch

from real3d.geometry import cycle_camera, rays_from_c2w, spherical_c2w
from real3d.geometry.sampling import (
    curriculum_max_deg,
    sample_curriculum_angles,
    sample_novel_view_angles,
    sample_single_view_cameras,
    sample_split_sign_angles,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_cycle_camera_of_the_input_pose_is_the_input_pose():
    c2w_input = spherical_c2w(0.0, 0.0, 3.0)
    assert torch.allclose(cycle_camera(c2w_input, c2w_input), c2w_input, atol=1e-6)


@pytest.mark.parametrize("azimuth_deg", [-100.0, -30.0, 45.0, 120.0])
def test_cycle_camera_of_an_azimuth_turn_is_the_opposite_turn(azimuth_deg):
    c2w_input = spherical_c2w(0.0, 0.0, 3.0)
    novel = spherical_c2w(azimuth_deg, 0.0, 3.0)
    expected = spherical_c2w(-azimuth_deg, 0.0, 3.0)
    assert torch.allclose(cycle_camera(c2w_input, novel), expected, atol=1e-5)


@pytest.mark.parametrize("elevation_deg", [-40.0, 20.0, 60.0])
def test_cycle_camera_of_an_elevation_change_is_the_opposite_change(elevation_deg):
    c2w_input = spherical_c2w(0.0, 0.0, 3.0)
    novel = spherical_c2w(0.0, elevation_deg, 3.0)
    expected = spherical_c2w(0.0, -elevation_deg, 3.0)
    assert torch.allclose(cycle_camera(c2w_input, novel), expected, atol=1e-5)


def test_ray_through_the_image_centre_hits_the_origin():
    c2w = spherical_c2w(torch.tensor([0.0, 73.0, -150.0]), torch.tensor([0.0, 25.0, -40.0]), 3.0)
    rays_o, rays_d = rays_from_c2w(c2w, 40.0, 5, 5)  # odd size: pixel (2, 2) is the centre
    o, d = rays_o[:, 2, 2], rays_d[:, 2, 2]
    closest = o - (o * d).sum(-1, keepdim=True) * d  # point of the ray nearest to the origin
    assert closest.norm(dim=-1).max() < 1e-5
    assert ((-o * d).sum(-1) > 0).all()  # the origin is in front of the camera


def test_split_sign_angles_halves_and_ranges():
    angles = torch.stack([sample_split_sign_angles(4, 45.0, _gen(s)) for s in range(200)])
    assert (angles[:, :2] >= 0).all() and (angles[:, :2] <= 45).all()
    assert (angles[:, 2:] <= 0).all() and (angles[:, 2:] >= -45).all()


def test_novel_view_angles_first_view_is_input_and_ranges_hold():
    draws = [sample_novel_view_angles(4, 120.0, 45.0, _gen(s)) for s in range(300)]
    azimuth = torch.stack([a for a, _ in draws])
    elevation = torch.stack([e for _, e in draws])
    assert (azimuth[:, 0] == 0).all() and (elevation[:, 0] == 0).all()
    assert azimuth.abs().max() <= 120.0 and elevation.abs().max() <= 45.0
    # the ranges are used: extreme values come up
    assert azimuth.max() > 110 and azimuth.min() < -110
    assert elevation.max() > 40 and elevation.min() < -40


def test_curriculum_endpoints():
    assert curriculum_max_deg(0.0) == 15.0
    assert curriculum_max_deg(1.0) == 90.0
    assert curriculum_max_deg(0.5) == pytest.approx(52.5)
    assert curriculum_max_deg(-1.0) == 15.0 and curriculum_max_deg(3.0) == 90.0


def test_curriculum_angles_have_magnitudes_in_range_and_both_signs():
    angles = sample_curriculum_angles(2000, 15.0, 40.0, _gen())
    assert angles.abs().min() >= 15.0 and angles.abs().max() <= 40.0
    assert (angles > 0).any() and (angles < 0).any()
    start = sample_curriculum_angles(100, 15.0, curriculum_max_deg(0.0), _gen())
    assert torch.allclose(start.abs(), torch.full((100,), 15.0))


def test_single_view_cameras_layout_and_cycle_camera():
    cams = sample_single_view_cameras(3, 4, 3.0, curriculum=(15.0, 30.0, 15.0, 20.0), generator=_gen())
    c2w, c2w_cycle = cams["c2w"], cams["c2w_cycle"]
    assert c2w.shape == (3, 4, 4, 4) and c2w_cycle.shape == (3, 1, 4, 4)
    input_pose = spherical_c2w(0.0, 0.0, 3.0)[0]
    assert torch.allclose(c2w[:, 0], input_pose.expand(3, 4, 4), atol=1e-6)
    # every camera is at the distance and looks at the origin
    positions = c2w[..., :3, 3]
    assert torch.allclose(positions.norm(dim=-1), torch.full((3, 4), 3.0), atol=1e-5)
    forward = -c2w[..., :3, 2]
    assert torch.allclose((forward * -positions / 3.0).sum(-1), torch.ones(3, 4), atol=1e-5)
    # the last view obeys the curriculum: azimuth in ±[15, 30], elevation in ±[15, 20]
    last = positions[:, -1]
    elevation = torch.rad2deg(torch.asin(last[:, 2] / 3.0)).abs()
    azimuth = torch.rad2deg(torch.atan2(last[:, 1], last[:, 0])).abs()
    assert ((elevation >= 15 - 1e-3) & (elevation <= 20 + 1e-3)).all()
    assert ((azimuth >= 15 - 1e-3) & (azimuth <= 30 + 1e-3)).all()
    assert torch.allclose(c2w_cycle[:, 0], cycle_camera(input_pose, c2w[:, -1]), atol=1e-5)


def test_single_view_cameras_are_reproducible_from_the_generator():
    a = sample_single_view_cameras(2, 4, 3.0, curriculum=(15, 90, 15, 90), generator=_gen(7))
    b = sample_single_view_cameras(2, 4, 3.0, curriculum=(15, 90, 15, 90), generator=_gen(7))
    c = sample_single_view_cameras(2, 4, 3.0, curriculum=(15, 90, 15, 90), generator=_gen(8))
    assert torch.equal(a["c2w"], b["c2w"]) and torch.equal(a["c2w_cycle"], b["c2w_cycle"])
    assert not torch.equal(a["c2w"], c["c2w"])
    assert math.isfinite(float(a["c2w"].sum()))
