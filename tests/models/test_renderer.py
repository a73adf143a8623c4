"""Renderer semantics: chunking, background for rays that miss the box, output shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from real3d.geometry import orbit_cameras
from real3d.models import LRM
from real3d.models.isosurface import marching_cubes
from real3d.models.renderer import RenderSettings, rays_intersect_bbox


def test_rays_missing_the_box_are_invalid() -> None:
    rays_o = torch.tensor([[3.0, 0.0, 0.0], [3.0, 5.0, 0.0]])
    rays_d = torch.tensor([[-1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    t_near, t_far, valid = rays_intersect_bbox(rays_o, rays_d, 0.87)
    assert valid.tolist() == [True, False]
    bound = 0.87 * (1 - 1e-3)
    assert torch.allclose(t_near[0], torch.tensor([3.0 - bound]))
    assert torch.allclose(t_far[0], torch.tensor([3.0 + bound]))
    assert t_near[1].item() == 0.0 and t_far[1].item() == 0.0


def test_missed_rays_render_white_with_zero_opacity(tiny_model: LRM) -> None:
    scene = torch.randn(3, 8, 8, 8)
    rays_o = torch.tensor([[3.0, 5.0, 0.0]])
    rays_d = torch.tensor([[-1.0, 0.0, 0.0]])
    rgb, opacity = tiny_model.renderer.render_rays(tiny_model.field(scene), rays_o, rays_d)
    assert torch.equal(rgb, torch.ones(1, 3))
    assert torch.equal(opacity, torch.zeros(1, 1))


def test_chunking_does_not_change_results(tiny_model: LRM) -> None:
    scene = torch.randn(3, 8, 8, 8)
    rays_o = torch.tensor([[2.0, 0.1, 0.2]]).repeat(50, 1)
    rays_d = torch.nn.functional.normalize(torch.randn(50, 3) * 0.1 + torch.tensor([-1.0, 0, 0]), dim=-1)
    with torch.no_grad():
        full = tiny_model.renderer.render_rays(tiny_model.field(scene), rays_o, rays_d)
        chunked_settings = tiny_model.render_settings.replace(chunk_size=37)
        chunked = tiny_model.renderer.render_rays(tiny_model.field(scene), rays_o, rays_d, chunked_settings)
    assert torch.allclose(full[0], chunked[0], atol=1e-6)
    assert torch.allclose(full[1], chunked[1], atol=1e-6)


def test_training_forward_shapes_and_gradients(tiny_model: LRM) -> None:
    images = torch.rand(2, 1, 3, 64, 64)
    rays_o = torch.tensor([2.0, 0.0, 0.0]).expand(2, 3, 4, 5, 3).contiguous()
    rays_d = torch.tensor([-1.0, 0.0, 0.0]).expand(2, 3, 4, 5, 3).contiguous()
    out = tiny_model(images, rays_o, rays_d)
    assert out["images_rgb"].shape == (2, 3, 3, 4, 5)
    assert out["images_weight"].shape == (2, 3, 1, 4, 5)
    out["images_rgb"].mean().backward()
    assert tiny_model.tokenizer.embeddings.grad is not None
    assert tiny_model.image_tokenizer.model.embeddings.cls_token.grad is not None


def test_marching_cubes_sphere_is_watertight_and_outward() -> None:
    axis = np.linspace(-0.87, 0.87, 40)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    density = 50 * np.exp(-(x**2 + y**2 + z**2) / 0.2)
    vertices, faces = marching_cubes(density, 25.0, 0.87)
    import trimesh

    mesh = trimesh.Trimesh(vertices, faces)
    expected_radius = np.sqrt(0.2 * np.log(2))
    assert mesh.is_watertight
    assert mesh.volume > 0
    assert abs(np.linalg.norm(vertices, axis=1).mean() - expected_radius) < 0.01


def test_render_settings_are_passed_not_set_as_attributes(tiny_model: LRM) -> None:
    with pytest.raises(AttributeError, match="RenderSettings"):
        tiny_model.renderer.fast = False
    with pytest.raises(ValueError, match="skip_empty"):
        RenderSettings(skip_empty="sometimes")
    tiny_model.renderer.set_chunk_size(64)  # TripoSR's call changes the defaults
    try:
        assert tiny_model.render_settings.chunk_size == 64
    finally:
        tiny_model.renderer.set_chunk_size(0)


def test_render_of_cameras_equals_render_of_their_rays(tiny_model: LRM) -> None:
    scene_codes = torch.randn(2, 3, 8, 8, 8)
    cameras = orbit_cameras(3, 15.0, 2.0, 0.7, 6, 5)
    rays_o, rays_d = cameras.rays()
    with torch.no_grad():
        by_cameras = tiny_model.render(scene_codes, cameras)
        shape = (2, *rays_o.shape)
        by_rays = tiny_model.render_scene_codes(scene_codes, rays_o.expand(shape), rays_d.expand(shape))
    assert by_cameras["images_rgb"].shape == (2, 3, 3, 6, 5)
    assert torch.equal(by_cameras["images_rgb"], by_rays["images_rgb"])


@pytest.mark.parametrize("chunk_size, samples_per_call", [(100, 96), (5, 16), (0, 800)])
def test_faithful_render_without_gradient_composites_rays_in_chunks(
    tiny_model: LRM, monkeypatch: pytest.MonkeyPatch, chunk_size: int, samples_per_call: int
) -> None:
    """Without gradient, rays × samples per step stay within chunk_size (at least one ray's samples;
    0: all at once) and the render is the same; with gradient (training) the rays go all at once."""
    from real3d.models.field import TriplaneField

    scene = torch.randn(3, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    rays_o = torch.tensor([[2.0, 0.1, 0.2]]).repeat(50, 1)
    rays_d = torch.nn.functional.normalize(torch.randn(50, 3) * 0.1 + torch.tensor([-1.0, 0, 0]), dim=-1)
    settings = tiny_model.render_settings.replace(fast=False, num_samples_per_ray=16, chunk_size=chunk_size)
    field = tiny_model.field(scene)
    calls: list[int] = []
    query = TriplaneField.query

    def counting_query(self, positions, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(positions.shape[:-1].numel())
        return query(self, positions, **kwargs)

    monkeypatch.setattr(TriplaneField, "query", counting_query)
    with torch.no_grad():
        rgb, opacity = tiny_model.renderer.render_rays(field, rays_o, rays_d, settings)
    assert max(calls) == samples_per_call and sum(calls) == 50 * 16
    calls.clear()
    rgb_grad, opacity_grad = tiny_model.renderer.render_rays(field, rays_o, rays_d, settings)
    assert calls == [50 * 16]
    assert torch.allclose(rgb, rgb_grad, atol=1e-6) and torch.allclose(opacity, opacity_grad, atol=1e-6)
