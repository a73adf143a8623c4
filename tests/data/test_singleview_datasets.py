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
from real3d.errors import Real3DError
from real3d.geometry import spherical_c2w

S = 64


def _write_rgba(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1).astype(np.uint8)).save(path)


def _check_contract(sample: dict, size: int, white_target: bool = True) -> None:
    """Shapes, the canonical camera at 3.0, grey input outside the mask, target = input inside it;
    `white_target`: the target is white outside the mask (not the original's raw wild target)."""
    assert {k: tuple(v.shape) for k, v in sample.items() if torch.is_tensor(v)} == {
        "image_input": (3, size, size),
        "rgb": (3, size, size),
        "mask": (1, size, size),
        "c2w_input": (4, 4),
    }
    assert sample["fov_rad"] == pytest.approx(0.691150367) and isinstance(sample["index"], int)
    assert torch.allclose(sample["c2w_input"], spherical_c2w(0.0, 0.0, 3.0)[0])
    outside = sample["mask"].expand(3, -1, -1) == 0
    assert torch.all(sample["image_input"][outside] == 0.5)
    if white_target:
        assert torch.all(sample["rgb"][outside] == 1.0)
    inside = ~outside
    assert torch.equal(sample["rgb"][inside], sample["image_input"][inside])


def test_wild_generated_set(synthetic_set):
    info = synthetic_set["wild"]
    for split_file in (info["split"], info["manifest"]):
        for split, n in (("train", 3), ("test", 1)):
            ds = WildSingleViewDataset(info["root"], split_file, split=split, image_size=S)
            assert len(ds) == n
            _check_contract(ds[0], S, white_target=False)


@pytest.mark.parametrize("protocol", ["original", "corrected"])
def test_wild_padding_factor_and_alpha_threshold(tmp_path, protocol):
    rgb = np.zeros((40, 20, 3), np.uint8)
    rgb[..., 1] = 200  # green object; the background RGB (red) must never show
    rgb[:, :2] = (255, 0, 0)
    alpha = np.full((40, 20), 255, np.uint8)
    alpha[:, :2] = 0
    alpha[:, 2:4] = 225  # not foreground: the threshold is alpha > 225
    alpha[:, 4:6] = 226
    _write_rgba(tmp_path / "crops" / "a.png", rgb, alpha)
    write_split(tmp_path / "split.json", {"train": ["crops/a.png"], "test": ["crops/a.png"]})
    ev = WildSingleViewDataset(tmp_path, tmp_path / "split.json", split="test", image_size=136, protocol=protocol)
    sample = ev[0]
    _check_contract(sample, 136, white_target=protocol == "corrected")
    # evaluation: padded to int(40 * 1.7) = 68 around the centre, then x2 to 136
    box = image_ops.mask_bbox(sample["mask"])
    assert box == (2 * (24 + 4), 2 * 14, 2 * (24 + 20), 2 * (14 + 40))
    redness = sample["rgb"][0] - sample["rgb"][1]
    assert redness[sample["mask"][0] > 0].max() < 0.05  # inside the mask: the object
    assert (sample["image_input"][0] - sample["image_input"][1]).max() < 0.05  # the input: grey around it
    if protocol == "corrected":  # the target: white outside the mask
        assert redness.max() < 0.05
    else:  # the original's target: the crop's raw RGB (red under alpha 0), white only in the padding
        assert redness[29:107, 2 * 24 + 1 : 2 * 24 + 3].min() > 0.95  # pad 24 px, then x2
        assert torch.all(sample["rgb"][:, :, : 2 * 24 - 1] == 1.0)
    # training: r ~ U[1.45, 1.95]: the object's 40 rows span 136 * 40 / (40 r)
    tr = WildSingleViewDataset(tmp_path, tmp_path / "split.json", split="train", image_size=136, protocol=protocol)
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
        _check_contract(s, S)  # augmented: composited on white, as the original
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
    # the object's box spans about 1/1.7 of the side (the original's inclusive, truncated box
    # frames a small object a few % larger)
    x0, y0, x1, y1 = image_ops.mask_bbox(mask)
    assert max(x1 - x0, y1 - y0) == pytest.approx(S / 1.7, rel=0.1)


@pytest.mark.parametrize("protocol", ["original", "corrected"])
def test_mvimgnet_crop_and_threshold(tmp_path, protocol):
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
    ds = MVImgNetSingleViewDataset(images, masks, tmp_path / "split.json", image_size=34, expand=1.7, protocol=protocol)
    sample = ds[0]
    x0, y0, x1, y1 = image_ops.mask_bbox(sample["mask"])
    if protocol == "corrected":  # foreground box 10 x 20 -> square side round(1.7 * 20) = 34
        assert (x1 - x0, y1 - y0) == (10, 20)
    else:  # inclusive box 9 x 19 -> even side 18 -> int(1.7 * 18) // 2 * 2 = 30 -> x 34/30
        assert (x1 - x0, y1 - y0) == (11, 23)
    assert sample["rgb"][2][sample["mask"][0] > 0].mean() > 0.9  # frame 000 (bright blue)
    with pytest.raises(ValueError):
        MVImgNetSingleViewDataset(images, masks, tmp_path / "split.json", frame="last")
    rnd = MVImgNetSingleViewDataset(images, masks, tmp_path / "split.json", image_size=34, frame="random")
    torch.manual_seed(0)
    blues = {round(float(rnd[0]["rgb"][2][sample["mask"][0] > 0].mean()), 1) for _ in range(8)}
    assert len(blues) == 2


def test_load_wild_crop_returns_the_protocols_target(tmp_path):
    """original: the padded raw RGB (white only in the padding); corrected: composited on white."""
    from real3d.data.wild import load_wild_crop

    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[..., 0] = 255  # red under alpha 0 (a cut-out that keeps the photo)
    rgb[5:15, 5:15] = (0, 255, 0)
    alpha = np.zeros((20, 20), np.uint8)
    alpha[5:15, 5:15] = 255
    _write_rgba(tmp_path / "a.png", rgb, alpha)
    raw, mask = load_wild_crop(tmp_path / "a.png", 2.0, 40)
    assert raw.shape == (3, 40, 40) and mask.shape == (1, 40, 40)
    assert torch.all(raw[:, :10] == 1.0) and torch.all(raw[0, 11:29, 11] == 1.0)  # white padding, red crop
    assert raw[1, 11:29, 11].max() == 0.0
    white, mask_c = load_wild_crop(tmp_path / "a.png", 2.0, 40, protocol="corrected")
    assert torch.equal(mask, mask_c)
    assert torch.all(white[:, mask_c[0] == 0] == 1.0)
    assert torch.equal(white[:, mask[0] > 0], raw[:, mask[0] > 0])
    with pytest.raises(Real3DError, match="protocol"):
        load_wild_crop(tmp_path / "a.png", 2.0, 40, protocol="paper")


def test_mvimgnet_reference_crop_box_hand_computed():
    """The original's box: inclusive bounding box, even square side, int(1.7 * side) // 2 * 2,
    coordinates truncated toward zero (also for negative ones)."""
    from real3d.data.mvimgnet_sv import reference_crop_box

    mask = torch.zeros(1, 60, 80)
    mask[:, 10:30, 50:60] = 1  # inclusive box x 50..59, y 10..29
    # side max(9, 19) = 19 -> half 9 around (54.5, 19.5) -> (45, 10, 63, 28); int(1.7 * 18) // 2 = 15
    assert reference_crop_box(mask) == (39, 4, 69, 34)
    mask = torch.zeros(1, 60, 80)
    mask[:, 0:12, 0:9] = 1  # box x 0..8, y 0..11: half 5 around (4, 5.5) -> (-1, 0, 9, 10)
    assert reference_crop_box(mask) == (-4, -3, 12, 13)  # int(1.7 * 10) // 2 = 8 around (4, 5)
    mask = torch.zeros(1, 60, 80)
    mask[:, 0:5, 0:2] = 1  # box x 0..1, y 0..4: half 2 around (0.5, 2): x -1.5 -> -1 (toward zero)
    assert reference_crop_box(mask) == (-1, 0, 2, 4)  # the original's crop is then 3 x 4
    assert reference_crop_box(torch.zeros(1, 5, 5)) is None


def test_mvimgnet_masks_resized_with_pil_nearest_in_the_original(tmp_path):
    from real3d.data.mvimgnet_sv import read_frame_and_mask

    images, masks = tmp_path / "images", tmp_path / "masks"
    (images / "1" / "s" / "images").mkdir(parents=True)
    (masks / "1" / "s").mkdir(parents=True)
    PIL.Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(images / "1" / "s" / "images" / "000.jpg")
    small = (np.random.default_rng(0).uniform(0, 1, (30, 30)) > 0.5).astype(np.uint8) * 255
    PIL.Image.fromarray(small).save(masks / "1" / "s" / "000.jpg.png")
    _, mask = read_frame_and_mask(images, masks, "1/s", "000.jpg", "original")
    expected = np.asarray(PIL.Image.fromarray(small).resize((50, 50), PIL.Image.NEAREST))
    assert torch.equal(mask[0], torch.from_numpy(expected.copy()))
    _, corrected = read_frame_and_mask(images, masks, "1/s", "000.jpg", "corrected")
    assert torch.equal(corrected, image_ops.resize_mask(torch.from_numpy(small)[None], (50, 50)))
    assert not torch.equal(corrected, mask)


def test_mvimgnet_frames_in_frame_number_order(tmp_path):
    """The original sorts frames by their number (9 before 10) and drops "bg_removed" images."""
    from real3d.data.mvimgnet_sv import sequence_frames

    folder = tmp_path / "1" / "s" / "images"
    folder.mkdir(parents=True)
    for name in ("10.jpg", "9.jpg", "9_bg_removed.png", "100.jpg"):
        (folder / name).write_bytes(b"")
    assert sequence_frames(tmp_path, "1/s") == ["9.jpg", "10.jpg", "100.jpg"]


def test_a_subclass_of_the_base_only_reads_an_item(tmp_path):
    """The base lists the split, skips bad items and builds the sample; a subclass gives `read`."""
    from real3d.data.singleview import SingleViewDataset

    class Squares(SingleViewDataset):
        def read(self, item: str) -> tuple[torch.Tensor, torch.Tensor]:
            if item == "bad":
                raise OSError("unreadable")
            mask = torch.zeros(1, 8, 8)
            mask[:, 2:6, 2:6] = 1.0
            return torch.full((3, 8, 8), 0.2), mask

    write_split(tmp_path / "split.json", {"train": [], "test": ["a", "bad", "c", "d"]})
    ds = Squares(tmp_path, tmp_path / "split.json", split="test", every_nth=2)
    assert ds.items == ["a", "c"] and not ds.train and ds.camera_distance == 3.0
    _check_contract(ds[1], 8)
    assert ds[1]["index"] == 1
    ds.items = ["bad"]
    assert ds[0] is None and ds.skipped_count() == 1
