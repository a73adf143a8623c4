"""The model on CUDA: the reference vectors with TF32 off, fast paths and meshes as on the CPU, the
faithful render's memory bounded by chunk_size. Skipped without CUDA (`pytest -m gpu`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from real3d.geometry import spherical_rays
from real3d.models import LRM
from tools.bench_inference import structured_scene

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
TOL = 1e-4  # the CPU parity tolerance
RENDER_TOL = 1e-3  # fast against faithful, per pixel


@pytest.fixture()
def fp32_exact():
    """TF32 off for matmuls and cuDNN convolutions (both may be on by default or by Lightning's advice);
    the previous settings restored."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture(scope="module")
def expected(tiny_model_dir: Path) -> dict:
    return torch.load(tiny_model_dir / "expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> LRM:
    return LRM.from_pretrained(tiny_model_dir).eval().cuda()


@pytest.fixture(scope="module")
def structured(tiny_model_dir: Path) -> tuple[LRM, torch.Tensor]:
    """The tiny model on CUDA with its decoder set to the structured field (ball, rod, wall) on 32² planes."""
    model = LRM.from_pretrained(tiny_model_dir).eval().cuda()
    scene = structured_scene(model.decoder, 32, model.cfg.post_processor.out_channels)
    return model, scene.cuda()


def test_parity_vectors_on_cuda_with_tf32_off(model: LRM, expected: dict, fp32_exact) -> None:
    images = expected["cond_image"].permute(0, 1, 4, 2, 3).cuda()
    with torch.no_grad():
        tokens = model.image_tokenizer(images)
        codes = model.image_to_scene_codes(images)
    assert torch.allclose(tokens.cpu(), expected["image_tokens"], atol=TOL)
    assert torch.allclose(codes.cpu(), expected["scene_codes"], atol=TOL)
    n, elev, dist, fovy, h, w = expected["render_360_args"].tolist()
    for fast in (False, True):
        settings = model.render_settings.replace(fast=fast)
        views = model.render_360(
            expected["scene_codes"].cuda(), int(n), elev, dist, fovy, int(h), int(w), "pt", settings=settings
        )
        assert torch.allclose(torch.stack(views[0]).cpu(), expected["render_360"], atol=TOL)


def test_mesh_on_cuda_matches_the_reference_mesh(model: LRM, expected: dict, fp32_exact) -> None:
    res, threshold = int(expected["mc_resolution"]), float(expected["mc_threshold"])
    mesh = model.extract_mesh(expected["scene_codes"].cuda(), res, threshold)[0]
    reference = expected["mc_vertices"].numpy()
    assert mesh.vertices.shape == reference.shape
    assert cKDTree(mesh.vertices).query(reference)[0].max() <= TOL
    assert cKDTree(reference).query(mesh.vertices)[0].max() <= TOL


def test_tf32_meshes_by_evaluation_and_still_equals_the_dense_mesh(structured: tuple) -> None:
    """Under TF32 matmuls (`set_float32_matmul_precision("high")`) the bounds are not used."""
    model, scene = structured
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        stats: dict = {}
        fast = model.extract_mesh(scene[None], 64, 25.0, settings=model.render_settings.replace(fast=True), stats=stats)
        dense = model.extract_mesh(scene[None], 64, 25.0, settings=model.render_settings.replace(fast=False))
    finally:
        torch.set_float32_matmul_precision(saved)
    assert stats["coarse_to_fine"] == "evaluated"
    assert np.array_equal(fast[0].faces, dense[0].faces)
    assert np.abs(fast[0].vertices - dense[0].vertices).max(initial=0.0) <= 1e-5


def test_fast_render_on_cuda_within_tolerance_of_faithful(structured: tuple, fp32_exact) -> None:
    model, scene = structured
    rays_o, rays_d = (r.cuda() for r in spherical_rays(4, 20.0, 1.9, 40.0, 64, 64))
    field = model.field(scene)
    with torch.no_grad():
        faithful = model.renderer.render_rays(field, rays_o, rays_d, model.render_settings.replace(fast=False))
        always = model.render_settings.replace(fast=True, skip_empty="always")
        fast = model.renderer.render_rays(field, rays_o, rays_d, always)
    assert (faithful[0] - fast[0]).abs().max() <= RENDER_TOL and (faithful[1] - fast[1]).abs().max() <= RENDER_TOL


def test_faithful_render_memory_is_bounded_by_chunk_size(structured: tuple) -> None:
    """30 views of 256² rays x 128 samples: all at once ~1 G floats of temporaries; in chunks of 65536 samples
    the peak stays under 200 MB, with the same images."""
    model, scene = structured
    rays_o, rays_d = (r.cuda() for r in spherical_rays(30, 20.0, 1.9, 40.0, 256, 256))
    field = model.field(scene)
    settings = model.render_settings.replace(fast=False, num_samples_per_ray=128, chunk_size=65536)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.no_grad():
        rgb, _ = model.renderer.render_rays(field, rays_o, rays_d, settings)
    peak_mb = (torch.cuda.max_memory_allocated() - base) / 2**20
    assert peak_mb < 200, peak_mb
    with torch.no_grad():
        part = model.renderer.render_rays(field, rays_o[:2], rays_d[:2], settings.replace(chunk_size=0))[0]
    assert torch.allclose(rgb[:2], part, atol=1e-6)
