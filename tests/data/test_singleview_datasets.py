"""In-the-wild crops and MVImgNet first frames as single-view samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from real3d.data import image_ops
from real3d.data.mvimgnet import read_first_frame
from real3d.data.mvimgnet_sv import MVImgNetSingleViewDataset, crop_around_mask
from real3d.data.splits import load_split, write_split
from real3d.data.wild import WildSingleViewDataset
from real3d.geometry import spherical_c2w

S = 64


def _write_rgba(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1).astype(np.uint8)).save(path)


def _check_contract(sample: dict, size: int) -> None:
    assert {k: tuple(v.shape) for k, v in sample.items() if torch.is_tensor(v)} == {
        "image_input": (3, size, size),
        "rgb": (3, size, size),
        "mask": (1, size, size),
        "c2w_input": (4, 4),
    }
    assert sample["fov_rad"] == pytest.approx(0.691150367) and isinstance(sample["index"], int)
    assert torch.allclose(sample["c2w_input"], spherical_c2w(0.0, 0.0, 3.0)[0])
    outside = sample["mask"].expand(3, -1, -1) == 0
    assert torch.all(sample["rgb"][outside] == 1.0) and torch.all(sample["image_input"][outside] == 0.5)
    inside = ~outside
    assert torch.equal(sample["rgb"][inside], sample["image_input"][inside])


def test_wild_generated_set(synthetic_set):
    info = synthetic_set["wild"]
    for split_file in (info["split"], info["manifest"]):
        for split, n in (("train", 3), ("test", 1)):
            ds = WildSingleViewDataset(info["root"], split_file, split=split, image_size=S)
            assert len(ds) == n
            _check_contract(ds[0], S)


def test_wild_padding_factor_and_alpha_threshold(tmp_path):
    rgb = np.zeros((40, 20, 3), np.uint8)
    rgb[..., 1] = 200  # green object; the background RGB (red) must never show
    rgb[:, :2] = (255, 0, 0)
    alpha = np.full((40, 20), 255, np.uint8)
    alpha[:, :2] = 0
    alpha[:, 2:4] = 225  # not foreground: the threshold is alpha > 225
    alpha[:, 4:6] = 226
    _write_rgba(tmp_path / "crops" / "a.png", rgb, alpha)
    write_split(tmp_path / "split.json", {"train": ["crops/a.png"], "test": ["crops/a.png"]})
    ev = WildSingleViewDataset(tmp_path, tmp_path / "split.json", split="test", image_size=136)
    sample = ev[0]
    _check_contract(sample, 136)
    # evaluation: padded to int(40 * 1.7) = 68 around the centre, then x2 to 136
    box = image_ops.mask_bbox(sample["mask"])
    assert box == (2 * (24 + 4), 2 * 14, 2 * (24 + 20), 2 * (14 + 40))
    redness = sample["rgb"][0] - sample["rgb"][1]  # the background RGB (red) is never used
    assert redness[sample["mask"][0] > 0].max() < 0.05 and redness.max() < 0.05
    # training: r ~ U[1.45, 1.95]: the object's 40 rows span 136 * 40 / (40 r)
    tr = WildSingleViewDataset(tmp_path, tmp_path / "split.json", split="train", image_size=136)
    heights = []
    for _ in range(12):
        x0, y0, x1, y1 = image_ops.mask_bbox(tr[0]["mask"])
        heights.append(y1 - y0)
    assert min(heights) >= 136 / 1.95 - 2 and max(heights) <= 136 / 1.45 + 2 and len(set(heights)) > 3


def test_wild_augmentation_is_off_by_default(synthetic_set):
    info = synthetic_set["wild"]
    plain = WildSingleViewDataset(info["root"], info["split"], split="train", image_size=S, pad_range=(1.7, 1.7))
    assert torch.equal(plain[0]["rgb"], plain[0]["rgb"])
    torch.manual_seed(0)
    aug = WildSingleViewDataset(
        info["root"], info["split"], split="train", image_size=S, pad_range=(1.7, 1.7), augment=True
    )
    samples = [aug[0] for _ in range(4)]
    assert any(not torch.equal(s["rgb"], plain[0]["rgb"]) for s in samples)
    for s in samples:
        _check_contract(s, S)
        assert set(s["mask"].unique().tolist()) <= {0.0, 1.0}


def test_wild_default_split_is_the_published_list(tmp_path):
    ds = WildSingleViewDataset(tmp_path, split="test", every_nth=10)
    assert len(ds) == 100  # every 10th of the 999 published test images
    assert ds[0] is None and ds.skipped_count() == 1  # no images under this root: skipped, counted


def test_mvimgnet_first_frame(synthetic_set):
    info = synthetic_set["mvimgnet"]
    ds = MVImgNetSingleViewDataset(info["images_root"], info["masks_root"], info["split"], image_size=S)
    assert len(ds) == 2
    sample = ds[0]
    _check_contract(sample, S)
    seq = load_split(info["split"], "train")[0]
    rgb_u8, mask_u8, frame = read_first_frame(info["images_root"], info["masks_root"], seq)
    assert frame == "000.jpg"
    rgb, mask = crop_around_mask(rgb_u8, mask_u8, S)
    assert torch.equal(sample["mask"], mask)
    assert torch.allclose(sample["rgb"], image_ops.composite(rgb, mask, 1.0))
    # the object's box spans 1/1.7 of the side
    x0, y0, x1, y1 = image_ops.mask_bbox(mask)
    assert max(x1 - x0, y1 - y0) == pytest.approx(S / 1.7, abs=2)


def test_mvimgnet_crop_and_threshold(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    (images / "7" / "abc" / "images").mkdir(parents=True)
    (masks / "7" / "abc").mkdir(parents=True)
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[10:30, 50:70] = (0, 0, 250)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:30, 50:60] = 255
    mask[10:30, 60:70] = 225  # not foreground (> 225 is)
    for i in (1, 0):  # frame 000 is the first whatever the writing order
        PIL.Image.fromarray(photo if i == 0 else photo // 2).save(
            images / "7" / "abc" / "images" / f"00{i}.jpg", quality=100
        )
        PIL.Image.fromarray(mask).save(masks / "7" / "abc" / f"00{i}.jpg.png")
    (tmp_path / "split.json").write_text(json.dumps({"train": ["7/abc"], "test": []}))
    ds = MVImgNetSingleViewDataset(images, masks, tmp_path / "split.json", image_size=34, expand=1.7)
    sample = ds[0]
    # foreground box 10 x 20 -> square side 34 -> the foreground is 10 x 20 pixels at size 34
    x0, y0, x1, y1 = image_ops.mask_bbox(sample["mask"])
    assert (x1 - x0, y1 - y0) == (10, 20)
    assert sample["rgb"][2][sample["mask"][0] > 0].mean() > 0.9  # frame 000 (bright blue)
    with pytest.raises(ValueError):
        MVImgNetSingleViewDataset(images, masks, tmp_path / "split.json", frame="last")
    rnd = MVImgNetSingleViewDataset(images, masks, tmp_path / "split.json", image_size=34, frame="random")
    torch.manual_seed(0)
    blues = {round(float(rnd[0]["rgb"][2][sample["mask"][0] > 0].mean()), 1) for _ in range(8)}
    assert len(blues) == 2
