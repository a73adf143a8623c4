"""The orbit render: the same cameras for every scene, one renderer call per scene, clamped colours."""

from __future__ import annotations

import torch

from real3d.geometry import orbit_cameras
from real3d.rendering import render_orbit


def test_orbit_renders_every_scene_from_the_same_cameras(opaque_model):
    images = torch.rand(2, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    codes = opaque_model.image_to_scene_codes(images)
    cameras = orbit_cameras(3, 20.0, 3.0, 0.69, 12, 10)
    rgb, opacity = render_orbit(opaque_model, codes, cameras)
    assert rgb.shape == (2, 3, 3, 12, 10) and opacity.shape == (2, 3, 1, 12, 10)
    assert rgb.dtype == torch.float32 and float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0
    for scene in range(2):
        rays_o, rays_d = cameras.rays()
        with torch.no_grad():
            alone = opaque_model.render_scene_codes(codes[scene : scene + 1], rays_o[None], rays_d[None])
        assert torch.equal(rgb[scene], alone["images_rgb"][0].clamp(0.0, 1.0))
        assert torch.equal(opacity[scene], alone["images_weight"][0])
    assert not torch.allclose(rgb[0], rgb[1])  # two scenes, two renders
