"""The crop as the single-view loader reads it: centred on the loader's foreground (alpha > 225),
the object on white in the colour channels, and one threshold for the box, filters and loader."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from real3d.curation.pipeline import stage_config
from real3d.curation.stages import Task, process_image
from real3d.data.wild import WILD_ALPHA_THRESHOLD

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def cfg() -> dict:
    """Stage config of config/curate.yaml with the filters off (the crop is what is tested)."""
    overrides = ["geometry.enabled=false", "quality.enabled=false", "model_score.enabled=false"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        composed = compose("curate", overrides=overrides)
    return OmegaConf.to_container(composed, resolve=True)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _curate_one(tmp_path: Path, rgb: np.ndarray, alpha: np.ndarray, stage_cfg: dict) -> np.ndarray:
    """Write the photo as RGBA, run stages 1-3 on it, return the crop [S,S,4] uint8."""
    path = tmp_path / "photo.png"
    PIL.Image.fromarray(np.dstack([rgb, alpha])).save(path)
    result = process_image(Task(str(path), "photo"), stage_cfg, str(tmp_path / "out"))
    assert result.passed, result
    return np.asarray(PIL.Image.open(tmp_path / "out" / result.path))


def test_one_threshold_the_loaders_by_default(cfg: dict, caplog: pytest.LogCaptureFixture) -> None:
    assert cfg["foreground"]["mask_threshold"] is None
    assert stage_config(cfg)["foreground"]["mask_threshold"] == WILD_ALPHA_THRESHOLD == 225
    cfg["foreground"]["mask_threshold"] = 128
    with caplog.at_level(logging.WARNING):
        assert stage_config(cfg)["foreground"]["mask_threshold"] == 128
    assert "alpha > 225" in caplog.text


def test_crop_is_centred_on_the_loaders_foreground(cfg: dict, tmp_path: Path) -> None:
    # An opaque square with a half-transparent band on one side (alpha 200: object for > 128, not
    # for the loader's > 225). The crop must centre what training sees, the opaque square.
    rgb = np.full((160, 160, 3), 90, np.uint8)
    alpha = np.zeros((160, 160), np.uint8)
    alpha[50:110, 40:100] = 255
    alpha[50:110, 100:130] = 200
    crop = _curate_one(tmp_path, rgb, alpha, stage_config(cfg))
    side = crop.shape[0]
    x0, y0, x1, y1 = _box(crop[..., 3] > WILD_ALPHA_THRESHOLD)
    assert abs((x0 + x1) / 2 - side / 2) <= 0.5 and abs((y0 + y1) / 2 - side / 2) <= 0.5
    assert round(60 * 1.1) == side  # the opaque square's side plus the 5 % margins
    # under the old box threshold (128) the band would have counted and shifted the crop
    cfg["foreground"]["mask_threshold"] = 128
    old = _curate_one(tmp_path, rgb, alpha, stage_config(cfg))
    x0, _, x1, _ = _box(old[..., 3] > WILD_ALPHA_THRESHOLD)
    assert abs((x0 + x1) / 2 - old.shape[0] / 2) > 10


def test_crop_colour_is_the_object_composited_on_white(cfg: dict, tmp_path: Path) -> None:
    # A textured photo background and an object with a soft edge that runs past the photo's top:
    # the loader's raw-RGB target (the original's) must show the object on white, no background.
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 120, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:120, :120]
    distance = np.hypot(xx - 60.0, yy - 30.0)
    alpha = np.clip((36.0 - distance) * 64.0, 0, 255).astype(np.uint8)  # radius 36, 4 px soft edge
    stage_cfg = stage_config(cfg)
    crop = _curate_one(tmp_path, rgb, alpha, stage_cfg)
    a = crop[..., 3].astype(np.float32) / 255.0
    assert (crop[..., 3] == 0).any() and ((crop[..., 3] > 0) & (crop[..., 3] < 255)).any()
    assert (crop[..., :3][crop[..., 3] == 0] == 255).all()  # background and outside the photo: white
    # where the object is inside the photo: the photo composited on white by the crop's alpha
    x0, y0, x1, y1 = _box(alpha > WILD_ALPHA_THRESHOLD)
    side = crop.shape[0]
    left, top = (math.floor(0.5 * (a0 + a1 - side) + 0.5) for a0, a1 in ((x0, x1), (y0, y1)))  # half up
    assert top < 0 and left >= 0 and left + side <= 120  # the box runs past the photo's top only
    inside = np.zeros((side, side), bool)
    inside[-top:, :] = True
    photo = np.full((side, side, 3), 255, np.uint8)
    photo[-top:] = rgb[: side + top, left : left + side]
    expected = photo.astype(np.float32) * a[..., None] + 255.0 * (1.0 - a[..., None])
    assert np.abs(crop[..., :3].astype(np.float32) - expected)[inside].max() <= 0.5
    assert (crop[..., 3][~inside] == 0).all()


def test_soft_alpha_is_kept_only_near_the_object(cfg: dict, tmp_path: Path) -> None:
    rgb = np.full((160, 160, 3), 60, np.uint8)
    alpha = np.zeros((160, 160), np.uint8)
    alpha[40:120, 40:120] = 255
    alpha[40:120, 120:124] = 100  # the object's soft edge: kept
    alpha[40:120, 128:150] = 100  # a faint shadow beyond fringe_px: dropped
    crop = _curate_one(tmp_path, rgb, alpha, stage_config(cfg))
    assert cfg["crop"]["fringe_px"] == 4
    column = crop[crop.shape[0] // 2, :, 3]  # a row through the object
    assert (column == 100).sum() == 4 and (column == 255).sum() == 80
