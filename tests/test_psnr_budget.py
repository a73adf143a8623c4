"""tools/psnr_budget.py: where novel-view PSNR is lost, colour or shape."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from real3d.data.synthetic.presets import MiniSizes, write_mini_study_data
from tools.psnr_budget import MEASURES, colour_fixed, flat_silhouette, main, object_budget, without_chroma

ROOT = Path(__file__).resolve().parents[1]


def _object(views: int = 3) -> torch.Tensor:
    """A red-and-blue square on white, [V,3,16,16]."""
    image = torch.ones(views, 3, 16, 16)
    image[:, :, 4:12, 4:8] = torch.tensor([0.8, 0.1, 0.1])[:, None, None]
    image[:, :, 4:12, 8:12] = torch.tensor([0.1, 0.2, 0.9])[:, None, None]
    return image


def test_an_affine_colour_error_is_recovered_and_a_shape_error_is_not() -> None:
    target = _object()
    rotated = target[:, [1, 2, 0]]  # right shape, wrong colours
    assert torch.allclose(colour_fixed(rotated, target), target, atol=1e-4)
    shifted = torch.roll(target, shifts=3, dims=3)  # right colours, wrong place
    budget = object_budget(shifted, target)
    assert budget["novel"] <= budget["colour_fixed"] < 15.0  # an upper bound, far from a right shape


def test_the_oracles_keep_the_shape_and_drop_colour_or_shading() -> None:
    target = _object()
    grey = without_chroma(target)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, :, 0, 0], torch.ones(3, 3))
    flat = flat_silhouette(target)
    assert torch.equal(flat[:, :, 0, 0], torch.ones(3, 3))  # background stays white
    assert torch.allclose(flat[:, :, 6, 5], flat[:, :, 6, 10])  # one colour inside the silhouette
    budget = object_budget(target, target)
    assert set(budget) == set(MEASURES)
    assert budget["novel"] == budget["colour_fixed"] == 100.0  # a perfect render (PSNR's cap)
    assert budget["white"] < min(budget["oracle_grey"], budget["oracle_flat"]) < 20.0  # saturated colours lost


def test_the_default_model_budget_is_written_per_domain(tmp_path: Path) -> None:
    sizes = MiniSizes(
        s_train_objects=1, s_val_objects=1, s_views=2, r_train_images=1, test_objects=1, test_views=6, image_size=64
    )
    write_mini_study_data(tmp_path / "data", sizes)
    out = tmp_path / "budget.json"
    assert main([str(ROOT / "checkpoints" / "default"), str(tmp_path / "data"), "--out", str(out)]) == 0
    budget = json.loads(out.read_text())
    for domain in ("S", "R"):
        assert budget[domain]["objects"] == 1
        assert budget[domain]["white"] < budget[domain]["novel"] <= budget[domain]["colour_fixed"] + 1e-6


def test_a_missing_test_split_is_one_line_and_writes_nothing(tmp_path: Path, capsys) -> None:
    from real3d.cli import USER_ERROR

    out = tmp_path / "budget.json"
    assert main([str(ROOT / "checkpoints" / "default"), str(tmp_path / "nowhere"), "--out", str(out)]) == USER_ERROR
    assert "no test split at" in capsys.readouterr().err and not out.exists()
