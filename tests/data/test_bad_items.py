"""Bad items (missing, corrupt, empty) are skipped, logged and counted, never silently."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from torch.utils.data import default_collate

from real3d.data.datamodule import Real3DDataModule, SkippingCollate
from real3d.data.gobjaverse import GObjaverseDataset
from real3d.data.mvimgnet_sv import MVImgNetSingleViewDataset
from real3d.data.splits import load_split, write_split
from real3d.data.wild import WildSingleViewDataset
from real3d.data.zero123 import Zero123Dataset

SIZES = dict(cond_image_size=16, render_size=8)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def _clear_alpha(path: Path) -> None:
    rgba = np.array(PIL.Image.open(path))
    rgba[..., 3] = 0
    PIL.Image.fromarray(rgba).save(path)


def test_multiview_bad_items(synthetic_copy, caplog):
    info = synthetic_copy["gobjaverse"]
    root = Path(info["root"])
    train_items = load_split(info["split"], "train")
    for png in (root / train_items[0]).glob("*/*.png"):
        _truncate(png)  # corrupt renders
    test_item = load_split(info["split"], "test")[0]
    for png in (root / test_item).glob("*/*.png"):
        _clear_alpha(png)  # empty masks

    caplog.set_level(logging.WARNING)
    train = GObjaverseDataset(root, info["split"], **SIZES, max_retries=20)
    torch.manual_seed(0)
    sample = train[0]  # retried on the good object
    assert sample is not None and sample["index"] == 1
    assert train.skipped_count() >= 1 and train.given_up_count() == 0
    assert train_items[0] in caplog.text and "skipping bad item" in caplog.text

    test = GObjaverseDataset(root, info["split"], split="test", **SIZES)
    assert test[0] is None  # evaluation never substitutes another object
    assert test.skipped_count() == 1 and test.given_up_count() == 1
    assert "empty mask" in caplog.text


def test_zero123_missing_and_malformed_cameras(synthetic_copy, caplog):
    info = synthetic_copy["zero123"]
    root = Path(info["root"])
    first, second = load_split(info["split"], "train")
    for npy in (root / first).glob("*.npy"):
        npy.unlink()
    for npy in (root / second).glob("*.npy"):
        np.save(npy, np.zeros((2, 2)))
    caplog.set_level(logging.WARNING)
    train = Zero123Dataset(root, info["split"], **SIZES, max_retries=3)
    assert train[0] is None  # every item is bad: gives up after the retries
    assert train.skipped_count() == 4 and train.given_up_count() == 1
    assert "FileNotFoundError" in caplog.text or "must be 3x4" in caplog.text


def test_singleview_bad_items(tmp_path, synthetic_copy):
    good = Path(synthetic_copy["wild"]["root"]) / load_split(synthetic_copy["wild"]["split"], "train")[0]
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    PIL.Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(tmp_path / "clear.png")
    (tmp_path / "good.png").write_bytes(good.read_bytes())
    items = ["missing.png", "rgb.png", "clear.png", "../escape.png", "good.png"]
    write_split(tmp_path / "split.json", {"train": items, "test": items})
    ev = WildSingleViewDataset(tmp_path, tmp_path / "split.json", split="test", image_size=16)
    assert [ev[i] is None for i in range(5)] == [True, True, True, True, False]
    assert ev.skipped_count() == 4
    tr = WildSingleViewDataset(tmp_path, tmp_path / "split.json", split="train", image_size=16, max_retries=50)
    torch.manual_seed(1)
    assert tr[0]["index"] == 4 and tr.skipped_count() >= 1

    mv = synthetic_copy["mvimgnet"]
    seq = load_split(mv["split"], "train")[0]
    (Path(mv["masks_root"]) / seq / "000.jpg.png").unlink()
    ds = MVImgNetSingleViewDataset(mv["images_root"], mv["masks_root"], mv["split"], split="train", train=False)
    assert ds[0] is None and ds.skipped_count() == 1


def test_collate_drops_and_counts():
    collate = SkippingCollate(default_collate)
    batch = collate([{"x": torch.ones(2)}, None, {"x": torch.zeros(2)}])
    assert batch["x"].shape == (2, 2) and collate.dropped == 1
    assert collate([None, None]) is None
    assert collate.dropped == 3 and collate.empty_batches == 1


def test_counts_from_worker_processes_reach_the_datamodule(synthetic_copy):
    info = synthetic_copy["gobjaverse"]
    root = Path(info["root"])
    dm = Real3DDataModule(
        gobjaverse_root=str(root),
        gobjaverse_split=info["split"],
        **SIZES,
        num_workers=2,
        batch_size_mv=2,
        val_batch_size=1,
    )
    dm.setup("fit")  # a source whose every item is bad stops setup: this one goes bad during the run
    bad = load_split(info["split"], "test")[0]
    for png in (root / bad).glob("*/*.png"):
        _truncate(png)
    assert list(dm.val_dataloader()) == [None]  # the only validation object is bad
    counts = dm.skipped_counts()
    assert counts["gobjaverse/test"] == 1
    assert counts["dropped/mv_val"] == 1 and counts["empty_batches/mv_val"] == 1
    assert dm.total_skipped() == 1
    train = next(iter(dm.train_dataloader()))
    assert train.rgb.shape[0] == 2 and dm.skipped_counts()["gobjaverse/train"] == 0


@pytest.mark.parametrize("entry", ["../outside", "/abs/path"])
def test_split_entries_cannot_leave_the_root(synthetic_set, tmp_path, entry):
    write_split(tmp_path / "s.json", {"train": [entry], "test": [entry]})
    ds = GObjaverseDataset(synthetic_set["gobjaverse"]["root"], tmp_path / "s.json", split="test", **SIZES)
    assert ds[0] is None and ds.skipped_count() == 1
