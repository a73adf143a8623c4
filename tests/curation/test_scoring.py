"""The model stage's novel views follow training's curriculum cameras (its own sampler and its
config), the same views for every image; the fixed views stay an option."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from real3d.curation.pipeline import build_scorer
from real3d.curation.scoring import curriculum_cameras, fixed_cameras
from real3d.errors import Real3DError
from real3d.geometry import cycle_camera, spherical_c2w
from real3d.geometry.sampling import curriculum_max_deg
from real3d.training.module import SingleViewConfig
from tests.conftest import CLIP_TINY

ROOT = Path(__file__).resolve().parents[2]
TINY_MODEL = ROOT / "tests" / "fixtures" / "parity" / "tiny"


def angles(c2w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(azimuth_deg, elevation_deg, distance) [K] of cameras c2w [K,4,4] (spherical_c2w's convention)."""
    position = c2w[:, :3, 3]
    distance = position.norm(dim=-1)
    elevation = torch.rad2deg(torch.asin(position[:, 2] / distance))
    azimuth = torch.rad2deg(torch.atan2(position[:, 1], position[:, 0]))
    return azimuth, elevation, distance


@pytest.fixture(scope="module")
def curate_cfg() -> dict:
    with initialize_config_dir(config_dir=str(ROOT / "config"), version_base="1.3"):
        composed = compose("curate", overrides=[f"model_score.model.path={TINY_MODEL}", "model_score.device=cpu",
                                                "pretrained.allow_random=true"])  # fmt: skip
    return OmegaConf.to_container(composed, resolve=True)


@pytest.fixture(scope="module")
def model_cfg(curate_cfg: dict) -> dict:
    return curate_cfg["model_score"]


def test_curate_config_uses_the_training_curriculum(model_cfg: dict) -> None:
    with initialize_config_dir(config_dir=str(ROOT / "config"), version_base="1.3"):
        train = compose("train").module.single_view
    assert model_cfg["views"] == "curriculum"
    for key in ("curriculum_azimuth_deg", "curriculum_elevation_deg"):
        assert list(model_cfg[key]) == list(train[key]) == list(getattr(SingleViewConfig(), key))


def test_curriculum_cameras_follow_the_curriculum_at_spread_progress() -> None:
    num_views, samples = 4, 200
    magnitudes = torch.zeros(samples, num_views, 2)
    for seed in range(samples):
        c2w = curriculum_cameras(num_views, 3.0, (15.0, 90.0), (15.0, 90.0), seed=seed)  # [K,4,4]
        azimuth, elevation, distance = angles(c2w)
        assert torch.allclose(distance, torch.full((num_views,), 3.0), atol=1e-4)
        magnitudes[seed] = torch.stack([azimuth.abs(), elevation.abs()], dim=-1)
    for i in range(num_views):  # view i: |angle| uniform in [15, curriculum max at progress (i + .5) / K]
        top = curriculum_max_deg((i + 0.5) / num_views, 15.0, 90.0)
        assert magnitudes[:, i].min() >= 15.0 - 1e-3 and magnitudes[:, i].max() <= top + 1e-3
        assert magnitudes[:, i].max() > top - 0.1 * (top - 15.0)  # the range is covered
        assert magnitudes[:, i].mean().item() == pytest.approx((15.0 + top) / 2, abs=0.15 * (top - 15.0))
    # the same views for every image of a run (a fixed seed), others for another seed
    assert torch.equal(curriculum_cameras(4, 3.0, seed=7), curriculum_cameras(4, 3.0, seed=7))
    assert not torch.allclose(curriculum_cameras(4, 3.0, seed=7), curriculum_cameras(4, 3.0, seed=8))
    with pytest.raises(Real3DError, match="num_views"):
        curriculum_cameras(0, 3.0)


def test_scorer_gets_the_configured_views(curate_cfg: dict, model_cfg: dict) -> None:
    pretrained = {**curate_cfg["pretrained"], "clip_config": str(CLIP_TINY)}  # random tiny LPIPS / CLIP
    scorer = build_scorer({**model_cfg, "num_views": 3}, pretrained)
    expected = curriculum_cameras(3, 3.0, (15.0, 90.0), (15.0, 90.0), seed=0)
    assert torch.allclose(scorer.c2w_novel, expected)
    assert torch.allclose(scorer.c2w_cycle, cycle_camera(spherical_c2w(0.0, 0.0, 3.0), expected), atol=1e-5)

    scorer = build_scorer({**model_cfg, "views": "fixed", "novel_views": [[45.0, 0.0], [-45.0, 0.0]]}, pretrained)
    azimuth, elevation, _ = angles(scorer.c2w_novel)
    assert torch.allclose(azimuth, torch.tensor([45.0, -45.0]), atol=1e-4) and elevation.abs().max() < 1e-4
    assert torch.allclose(scorer.c2w_novel, fixed_cameras([[45.0, 0.0], [-45.0, 0.0]], 3.0))
    with pytest.raises(Real3DError, match="curriculum or fixed"):
        build_scorer({**model_cfg, "views": "orbit"}, pretrained)
    assert math.isclose(scorer.camera_distance, 3.0)
