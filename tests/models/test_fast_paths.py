"""Fast paths give the faithful results: rendering within 1e-3 per pixel, meshing the same mesh, bf16 ≥ 40 dB.

Fields: the parity model (random weights: a haze), a structured field (weights set sparse) and a fitted
field (the decoder fitted by gradient descent from random weights: dense, like a trained model's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from torch import nn

from real3d.errors import Real3DError
from real3d.geometry import spherical_rays
from real3d.models import LRM
from real3d.models.decoder import NeRFMLP
from real3d.models.field import _fused_mlp
from real3d.models.interval import fp32_matmul_is_ieee
from real3d.models.isosurface import evaluated_density_grid, grid_points
from real3d.models.renderer import RenderSettings
from tools.bench_inference import fitted_scene, structured_scene

RENDER_TOL = 1e-3  # issue #8: max abs per pixel
VERTEX_TOL = 1e-5


@pytest.fixture(scope="module")
def expected(tiny_model_dir: Path) -> dict:
    return torch.load(tiny_model_dir / "expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def parity_model(tiny_model_dir: Path) -> LRM:
    return LRM.from_pretrained(tiny_model_dir).eval()


@pytest.fixture(scope="module")
def structured_model(tiny_model_dir: Path) -> tuple[LRM, torch.Tensor]:
    """The tiny model with its decoder set to a structured field (ball, thin rod, thin wall) on 32² planes."""
    model = LRM.from_pretrained(tiny_model_dir).eval()
    scene = structured_scene(model.decoder, 32, model.cfg.post_processor.out_channels)
    return model, scene


@pytest.fixture(scope="module")
def fitted_model(tiny_model_dir: Path) -> tuple[LRM, torch.Tensor]:
    """The tiny model with its decoder fitted (from random weights) to the structured field on 32² planes."""
    model = LRM.from_pretrained(tiny_model_dir).eval()
    with torch.enable_grad():
        scene = fitted_scene(model.decoder, 32, model.cfg.post_processor.out_channels, steps=300, batch=3072)
    return model, scene


@pytest.fixture()
def fields(parity_model: LRM, structured_model: tuple, fitted_model: tuple, expected: dict) -> dict:
    return {
        "parity": (parity_model, expected["scene_codes"][0]),
        "structured": structured_model,
        "fitted": fitted_model,
    }


def _fast(model: LRM, **changes: object) -> RenderSettings:
    return model.render_settings.replace(fast=True, **changes)


def _faithful(model: LRM) -> RenderSettings:
    return model.render_settings.replace(fast=False)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def _same_mesh(a, b) -> None:  # noqa: ANN001
    assert a.vertices.shape == b.vertices.shape
    assert np.array_equal(a.faces, b.faces)
    assert np.abs(a.vertices - b.vertices).max(initial=0.0) <= VERTEX_TOL
    assert cKDTree(a.vertices).query(b.vertices)[0].max() <= VERTEX_TOL
    assert cKDTree(b.vertices).query(a.vertices)[0].max() <= VERTEX_TOL


# -------------------------------------------------------------------------------------- rendering


def test_fast_render_matches_parity_vectors(parity_model: LRM, expected: dict) -> None:
    n, elev, dist, fovy, h, w = expected["render_360_args"].tolist()
    for fast in (False, True):
        settings = parity_model.render_settings.replace(fast=fast)
        views = parity_model.render_360(
            expected["scene_codes"], int(n), elev, dist, fovy, int(h), int(w), "pt", settings=settings
        )
        assert torch.allclose(torch.stack(views[0]), expected["render_360"], atol=1e-4)


@pytest.mark.parametrize("gain", [24.0, 48.0, 400.0])
def test_fast_render_skips_and_stays_within_tolerance(structured_model: tuple, gain: float) -> None:
    model, scene = structured_model
    last = [m for m in model.decoder.layers if isinstance(m, nn.Linear)][-1]
    saved = last.weight.data.clone()
    last.weight.data[0] *= gain / 48.0  # softer to harder surfaces
    always = _fast(model, skip_empty="always")  # a render this small would not pay for the occupancy grid
    stats: dict = {}
    try:
        rays_o, rays_d = spherical_rays(2, 20.0, 1.9, 40.0, 32, 32)
        with torch.no_grad():
            faithful = model.renderer.render_rays(model.field(scene), rays_o, rays_d, _faithful(model))
            fast = model.renderer.render_rays(model.field(scene), rays_o, rays_d, always, stats)
    finally:
        last.weight.data.copy_(saved)
    assert (faithful[0] - fast[0]).abs().max() <= RENDER_TOL
    assert (faithful[1] - fast[1]).abs().max() <= RENDER_TOL
    assert faithful[1].max() > 0.99 and faithful[1].min() < 0.01  # an opaque object and empty space
    assert stats["samples_evaluated"] < 0.75 * stats["samples_total"]  # 65%, 40%, 16% at these gains


@pytest.mark.parametrize("which", ["parity", "structured", "fitted"])
def test_skipping_empty_space_stays_within_tolerance(fields: dict, which: str) -> None:
    model, scene = fields[which]
    rays_o, rays_d = spherical_rays(2, 20.0, 1.9, 40.0, 24, 24)
    stats: dict = {}
    with torch.no_grad():
        faithful = model.renderer.render_rays(model.field(scene), rays_o, rays_d, _faithful(model))
        fast = model.renderer.render_rays(model.field(scene), rays_o, rays_d, _fast(model, skip_empty="always"), stats)
    assert stats["skipping"] == 1.0
    assert (faithful[0] - fast[0]).abs().max() <= RENDER_TOL
    assert (faithful[1] - fast[1]).abs().max() <= RENDER_TOL
    if which != "parity":  # an object in empty space: most samples skipped or behind the surface
        assert stats["samples_evaluated"] < 0.6 * stats["samples_total"]


def test_fitted_field_has_dense_weights_and_an_object_in_empty_space(fitted_model: tuple) -> None:
    model, scene = fitted_model
    hidden = [m.weight for m in model.decoder.layers if isinstance(m, nn.Linear)][1:-1]
    assert all((w.abs() > 1e-3).float().mean() > 0.9 for w in hidden)
    rays_o, rays_d = spherical_rays(1, 20.0, 1.9, 40.0, 16, 16)
    with torch.no_grad():
        _, opacity = model.renderer.render_rays(model.field(scene), rays_o, rays_d, _faithful(model))
    assert opacity.max() > 0.99 and opacity.min() < 0.01


def test_auto_renders_a_haze_without_skipping(parity_model: LRM, expected: dict) -> None:
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, 16, 16)
    scene = expected["scene_codes"][0]
    stats: dict = {}
    with torch.no_grad():
        faithful = parity_model.renderer.render_rays(parity_model.field(scene), rays_o, rays_d, _faithful(parity_model))
        fast = parity_model.renderer.render_rays(parity_model.field(scene), rays_o, rays_d, _fast(parity_model), stats)
    assert stats["skipping"] == 0.0  # the probe found nothing worth skipping
    assert (faithful[0] - fast[0]).abs().max() <= 1e-5


def test_auto_skips_on_an_object_in_empty_space(fitted_model: tuple) -> None:
    model, scene = fitted_model
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, 96, 96)
    coarser = _fast(model, occupancy_resolution=16)  # a coarser grid, to pay off on a small render
    stats: dict = {}
    with torch.no_grad():
        model.renderer.render_rays(model.field(scene), rays_o, rays_d, coarser, stats)
    assert stats["skipping"] == 1.0


def test_orbit_in_one_pass_matches_views_one_by_one(structured_model: tuple) -> None:
    model, scene = structured_model
    one_by_one = model.render_360(scene[None], 3, 15.0, 1.9, 40.0, 16, 24, "pt", settings=_faithful(model))[0]
    batched = model.render_360(scene[None], 3, 15.0, 1.9, 40.0, 16, 24, "pt", settings=_fast(model))[0]
    assert torch.stack(batched).shape == (3, 16, 24, 3)
    assert (torch.stack(one_by_one) - torch.stack(batched)).abs().max() <= RENDER_TOL


def test_rendering_with_gradient_takes_the_faithful_path(structured_model: tuple) -> None:
    model, scene = structured_model
    scene = scene.clone().requires_grad_(True)
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, 8, 8)
    stats: dict = {}
    rgb, _ = model.renderer.render_rays(model.field(scene), rays_o, rays_d, stats=stats)
    assert stats["samples_evaluated"] == stats["samples_total"]
    rgb.sum().backward()
    assert scene.grad is not None and scene.grad.abs().sum() > 0


def test_renderer_checkpointing_keeps_gradients(structured_model: tuple) -> None:
    model, scene = structured_model
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, 8, 8)
    grads = []
    for checkpointing in (False, True):
        settings = model.render_settings.replace(gradient_checkpointing=checkpointing, chunk_size=100)
        leaf = scene.clone().requires_grad_(True)
        rgb, opacity = model.renderer.render_rays(model.field(leaf), rays_o, rays_d, settings)
        (rgb.sum() + opacity.sum()).backward()
        grads.append(leaf.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_renderer_fast_switch(structured_model: tuple) -> None:
    model, scene = structured_model
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, 8, 8)
    stats: dict = {}
    with torch.no_grad():
        model.renderer.render_rays(model.field(scene), rays_o, rays_d, _faithful(model), stats)
    assert stats["samples_evaluated"] == stats["samples_total"]


# ------------------------------------------------------------------------------------------ bounds


@pytest.mark.parametrize("which", ["parity", "structured"])
def test_field_bounds_contain_every_point_of_a_box(
    which: str, parity_model: LRM, structured_model: tuple, expected: dict
) -> None:
    model, scene = (parity_model, expected["scene_codes"][0]) if which == "parity" else structured_model
    generator = torch.Generator().manual_seed(0)
    radius = model.field_spec.radius
    corners = (torch.rand(40, 3, 2, generator=generator) * 2 - 1) * radius
    lo_corner, hi_corner = corners.amin(-1), corners.amin(-1) + corners.diff(dim=-1).abs()[..., 0] * 0.3
    extents = tuple((lo_corner[:, axis], hi_corner[:, axis]) for axis in range(3))
    cells = torch.arange(40)[:, None].expand(40, 3)
    density_lo, density_hi = model.field(scene).box_bounds(extents, cells)
    t = torch.rand(40, 200, 3, generator=generator)
    points = lo_corner[:, None] + t * (hi_corner - lo_corner)[:, None]
    with torch.no_grad():
        density = model.field(scene).query(points)["density_act"][..., 0]
    assert (density >= density_lo[:, None]).all()
    assert (density <= density_hi[:, None]).all()
    if which == "structured":
        assert (density_lo > 0).any() and (density_hi < 1e-4).any()  # bounds are tight enough to decide


def test_fused_mlp_equals_decoder() -> None:
    decoder = NeRFMLP(24, 16, 3).eval()
    features = torch.randn(1000, 24)
    fused = _fused_mlp(decoder, torch.zeros(3, 8, 4, 4))
    if fused is None:
        pytest.skip("no oneDNN fused linear kernels in this build")
    with torch.no_grad():
        reference = decoder(features)
        out = fused(features)
    assert torch.allclose(out[:, :1], reference["density"], atol=1e-5)
    assert torch.allclose(out[:, 1:4], reference["features"], atol=1e-5)


# ------------------------------------------------------------------------------------------- meshes


def test_coarse_to_fine_mesh_equals_dense_on_parity_model(parity_model: LRM, expected: dict) -> None:
    res = int(expected["mc_resolution"])
    threshold = float(expected["mc_threshold"])
    dense = parity_model.extract_mesh(expected["scene_codes"], res, threshold, settings=_faithful(parity_model))[0]
    fast = parity_model.extract_mesh(expected["scene_codes"], res, threshold, settings=_fast(parity_model))[0]
    _same_mesh(dense, fast)
    assert len(dense.vertices) > 100


@pytest.mark.parametrize("resolution", [64, 97])
def test_coarse_to_fine_mesh_equals_dense_with_thin_parts(structured_model: tuple, resolution: int) -> None:
    model, scene = structured_model
    threshold = 25.0
    dense = model.extract_mesh(scene[None], resolution, threshold, settings=_faithful(model))[0]
    stats: dict = {}
    fast = model.extract_mesh(scene[None], resolution, threshold, settings=_fast(model), stats=stats)[0]
    _same_mesh(dense, fast)
    assert len(dense.vertices) > 100
    assert stats["points_evaluated"] < 0.5 * stats["points_total"]

    # The thin parts slip between the points of the first, coarse level (16 grid cells): a scheme that
    # only evaluated a coarse grid and refined where its corners change sign would lose them.
    with torch.no_grad():
        grid = model.field(scene).query(grid_points(resolution, 0.87))["density_act"]
    grid = grid.reshape(resolution, resolution, resolution)
    stride = 16
    coarse_index = torch.arange(0, resolution, stride)
    coarse_above = grid[coarse_index][:, coarse_index][:, :, coarse_index] > threshold
    vertex_index = np.floor((fast.vertices + 0.87) / (2 * 0.87) * (resolution - 1) / stride).astype(int)
    vertex_index = np.clip(vertex_index, 0, len(coarse_index) - 2)
    missed = 0
    for i, j, k in {tuple(v) for v in vertex_index}:
        corners = coarse_above[i : i + 2, j : j + 2, k : k + 2]
        missed += int(not corners.any())  # surface inside, all eight coarse corners below
    assert missed > 0


@pytest.mark.parametrize("which", ["parity", "structured", "fitted"])
def test_mesh_by_evaluation_equals_dense(fields: dict, which: str, expected: dict) -> None:
    model, scene = fields[which]
    resolution, threshold = (64, float(expected["mc_threshold"])) if which == "parity" else (80, 25.0)
    model.mesh_min_decided = 2.0  # never the bounds: the coarse-to-fine grid by evaluation
    stats: dict = {}
    try:
        dense = model.extract_mesh(scene[None], resolution, threshold, settings=_faithful(model))[0]
        fast = model.extract_mesh(scene[None], resolution, threshold, settings=_fast(model), stats=stats)[0]
    finally:
        model.mesh_min_decided = 0.2
    _same_mesh(dense, fast)
    assert len(dense.vertices) > 100
    if which == "parity":  # a haze whose surface runs through most of the grid: the dense grid's fallback
        assert stats["coarse_to_fine"] in ("evaluated", "dense")
    else:
        assert stats["coarse_to_fine"] == "evaluated"
        assert stats["points_evaluated"] < 0.6 * stats["points_total"]


def test_mesh_by_evaluation_falls_back_to_the_dense_grid(fitted_model: tuple) -> None:
    model, scene = fitted_model
    sparse = evaluated_density_grid(
        lambda p: model.field(scene).query(p)["density_act"], 40, 0.87, 25.0, max_share=0.01
    )
    assert sparse is None


def test_mesh_with_no_surface_is_empty(structured_model: tuple) -> None:
    model, scene = structured_model
    stats: dict = {}
    mesh = model.extract_mesh(scene[None], 32, 1e9, settings=_fast(model), stats=stats)[0]
    assert len(mesh.vertices) == 0 and len(mesh.faces) == 0
    assert stats["points_evaluated"] == 0


# --------------------------------------------------------------------------------------------- bf16


def test_bf16_renders_within_40_db(parity_model: LRM, structured_model: tuple, expected: dict) -> None:
    model, scene = structured_model
    scenes = ((parity_model, expected["scene_codes"]), (model, scene[None]))
    for lrm, codes in scenes:
        fp32 = torch.stack(lrm.render_360(codes, 2, 15.0, 1.9, 40.0, 16, 16, "pt")[0])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = torch.stack(lrm.render_360(codes, 2, 15.0, 1.9, 40.0, 16, 16, "pt")[0])
        assert bf16.dtype == torch.float32
        assert _psnr(fp32, bf16) >= 40.0


def test_bf16_image_to_render_within_40_db(parity_model: LRM) -> None:
    images = torch.rand(1, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fp32 = torch.stack(
            parity_model.render_360(parity_model.image_to_scene_codes(images), 2, 0, 1.9, 40, 16, 16, "pt")[0]
        )
        with torch.autocast("cpu", dtype=torch.bfloat16):  # the backbone's blockwise CPU-bf16 attention included
            codes = parity_model.image_to_scene_codes(images)
            bf16 = torch.stack(parity_model.render_360(codes, 2, 0, 1.9, 40, 16, 16, "pt")[0])
    assert _psnr(fp32, bf16) >= 40.0


def test_bf16_scene_codes_come_back_in_fp32(parity_model: LRM) -> None:
    images = torch.rand(1, 1, 3, 64, 64)
    with torch.no_grad():
        fp32 = parity_model.image_to_scene_codes(images, precision="fp32")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = parity_model.image_to_scene_codes(images)
    assert bf16.dtype == torch.bfloat16  # precision=None keeps the caller's autocast
    assert fp32.dtype == torch.float32
    assert (bf16.float() - fp32).abs().max() < 0.05


def test_bf16_option_is_refused_on_a_cpu_without_bf16(parity_model: LRM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("real3d.models.lrm.cpu_has_bf16", lambda: False)
    with pytest.raises(Real3DError, match="bf16"):
        parity_model.image_to_scene_codes(torch.rand(1, 1, 3, 64, 64), precision="bf16")


# ------------------------------------------------------------------------------- fp32 guarantees


@pytest.fixture()
def matmul_precision():
    """Restores the global fp32 matmul precision that a test changes."""
    saved = torch.get_float32_matmul_precision()
    yield torch.set_float32_matmul_precision
    torch.set_float32_matmul_precision(saved)


def test_only_ieee_fp32_matmuls_count_as_exact(matmul_precision) -> None:
    cpu = torch.device("cpu")
    matmul_precision("highest")
    assert fp32_matmul_is_ieee(cpu) and fp32_matmul_is_ieee(torch.device("cuda"))
    matmul_precision("high")  # TF32 on CUDA (and in oneDNN)
    assert not fp32_matmul_is_ieee(torch.device("cuda")) and not fp32_matmul_is_ieee(cpu)
    matmul_precision("medium")  # bf16 inside fp32 matmuls on a CPU with bf16 instructions
    assert not fp32_matmul_is_ieee(cpu)


def test_reduced_matmul_precision_meshes_by_evaluation_not_bounds(structured_model: tuple, matmul_precision) -> None:
    """The bounds assume IEEE fp32; under `medium` (bf16 inside fp32 matmuls where the CPU has it, as
    Lightning suggests on every start) the bounds-decided field is meshed by evaluation: the dense mesh."""
    model, scene = structured_model
    stats: dict = {}
    model.extract_mesh(scene[None], 64, 25.0, settings=_fast(model), stats=stats)
    assert stats["coarse_to_fine"] == "bounds"
    matmul_precision("medium")
    dense = model.extract_mesh(scene[None], 64, 25.0, settings=_faithful(model))[0]
    fast = model.extract_mesh(scene[None], 64, 25.0, settings=_fast(model), stats=stats)[0]
    assert stats["coarse_to_fine"] == "evaluated"
    _same_mesh(dense, fast)
    assert len(dense.vertices) > 100


def test_isosurface_under_bf16_autocast_is_the_fp32_one(structured_model: tuple) -> None:
    """The density grid is queried with autocast off: the caller's bf16 autocast changes neither the
    proven (bounds) mesh nor the dense one."""
    model, scene = structured_model
    for settings in (_fast(model), _faithful(model)):
        fp32 = model.extract_mesh(scene[None], 64, 25.0, settings=settings)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model.extract_mesh(scene[None], 64, 25.0, settings=settings)[0]
        _same_mesh(fp32, bf16)
        assert np.array_equal(fp32.vertices, bf16.vertices)
