"""The model reproduces the reference implementation's vectors (SPEC §2–§3, parity/README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from scipy.spatial import cKDTree

from real3d.geometry import spherical_rays
from real3d.models import LRM
from real3d.models.image_input import images_to_batch
from real3d.models.isosurface import grid_points

TOL = 1e-4


@pytest.fixture(scope="module")
def expected(tiny_model_dir: Path) -> dict:
    return torch.load(tiny_model_dir / "expected.pt", weights_only=True)


@pytest.fixture(scope="module", params=["model.ckpt", "model_real3d_format.ckpt"])
def model(request: pytest.FixtureRequest, tiny_model_dir: Path) -> LRM:
    return LRM.from_pretrained(tiny_model_dir, weight_name=request.param).eval()


@pytest.fixture(scope="module")
def input_image(tiny_model_dir: Path) -> PIL.Image.Image:
    return PIL.Image.open(tiny_model_dir / "input.png")


def test_cond_image_matches(input_image: PIL.Image.Image, expected: dict) -> None:
    batch = images_to_batch(input_image, 64)  # [1,1,3,64,64]
    assert torch.allclose(batch[0, 0].permute(1, 2, 0), expected["cond_image"][0, 0], atol=TOL)


def test_image_tokens_match(model: LRM, expected: dict) -> None:
    with torch.no_grad():
        tokens = model.image_tokenizer(expected["cond_image"].permute(0, 1, 4, 2, 3))
    assert torch.allclose(tokens, expected["image_tokens"], atol=TOL)


def test_scene_codes_match(model: LRM, input_image: PIL.Image.Image, expected: dict) -> None:
    scene_codes = model.get_latent_from_img([input_image], "cpu")
    assert scene_codes.shape == expected["scene_codes"].shape
    assert torch.allclose(scene_codes, expected["scene_codes"], atol=TOL)


def test_render_360_matches(model: LRM, expected: dict) -> None:
    n, elev, dist, fovy, h, w = expected["render_360_args"].tolist()
    views = model.render_360(expected["scene_codes"], int(n), elev, dist, fovy, int(h), int(w), "pt")
    assert torch.allclose(torch.stack(views[0]), expected["render_360"], atol=TOL)


def test_query_triplane_matches(model: LRM, expected: dict) -> None:
    with torch.no_grad():
        out = model.field(expected["scene_codes"][0]).query(expected["query_points"])
    assert torch.allclose(out["density_act"], expected["query_density_act"], atol=TOL)
    assert torch.allclose(out["color"], expected["query_color"], atol=TOL)


def test_training_forward_matches(model: LRM, expected: dict) -> None:
    with torch.no_grad():
        out = model(
            expected["cond_image"].permute(0, 1, 4, 2, 3),
            expected["train_rays_o"],
            expected["train_rays_d"],
        )
    assert torch.allclose(out["images_rgb"], expected["train_images_rgb"], atol=TOL)
    assert torch.allclose(out["images_weight"], expected["train_images_weight"], atol=TOL)


def test_spherical_rays_match_reference_cameras(expected: dict) -> None:
    rays_o, rays_d = spherical_rays(2, 20.0, 2.2, 40.0, 16, 16)
    assert torch.allclose(rays_o, expected["train_rays_o"][0], atol=TOL)
    assert torch.allclose(rays_d, expected["train_rays_d"][0], atol=TOL)


def test_density_grid_and_mesh_match(model: LRM, expected: dict) -> None:
    res = int(expected["mc_resolution"])
    with torch.no_grad():
        grid = model.field(expected["scene_codes"][0]).query(grid_points(res, 0.87))["density_act"]
    grid = grid.reshape(res, res, res)
    assert torch.allclose(grid, expected["mc_density_grid"], atol=TOL)

    mesh = model.extract_mesh(expected["scene_codes"], res, float(expected["mc_threshold"]))[0]
    ref_vertices = expected["mc_vertices"].numpy()
    assert mesh.vertices.shape == ref_vertices.shape
    assert mesh.faces.shape == tuple(expected["mc_faces"].shape)
    dist_to_ref, nearest = cKDTree(mesh.vertices).query(ref_vertices)
    assert dist_to_ref.max() <= TOL
    assert cKDTree(ref_vertices).query(mesh.vertices)[0].max() <= TOL
    colors = mesh.visual.vertex_colors[nearest, :3] / 255.0
    assert np.abs(colors - expected["mc_vertex_colors"].numpy()).max() <= 1 / 255 + TOL
