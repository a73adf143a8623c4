"""Typed batches: every dataset's items carry exactly its batch type's fields, the collate stacks
them (cameras included), and Lightning's device transfer and the DataLoader's pinning keep the type."""

from __future__ import annotations

import pytest
import torch
from lightning_fabric.utilities.apply_func import move_data_to_device

from real3d.data.gobjaverse import GObjaverseDataset
from real3d.data.mvimgnet_sv import MVImgNetSingleViewDataset
from real3d.data.samples import MULTIVIEW_KEYS, SINGLEVIEW_KEYS, MultiViewBatch, SingleViewBatch
from real3d.data.wild import WildSingleViewDataset
from real3d.data.zero123 import Zero123Dataset
from real3d.geometry import Cameras

SIZES = dict(cond_image_size=16, render_size=8)


def _multiview(info) -> list:
    return [
        GObjaverseDataset(info["gobjaverse"]["root"], info["gobjaverse"]["split"], **SIZES),
        Zero123Dataset(info["zero123"]["root"], info["zero123"]["split"], **SIZES),
    ]


def _singleview(info) -> list:
    mv = info["mvimgnet"]
    return [
        WildSingleViewDataset(info["wild"]["root"], info["wild"]["split"], image_size=16),
        MVImgNetSingleViewDataset(mv["images_root"], mv["masks_root"], mv["split"], image_size=16),
    ]


def test_items_have_exactly_the_batch_fields(synthetic_set):
    for ds in _multiview(synthetic_set):
        assert set(ds[0]) == MULTIVIEW_KEYS, type(ds).__name__
    for ds in _singleview(synthetic_set):
        assert set(ds[0]) == SINGLEVIEW_KEYS, type(ds).__name__


def test_multiview_collate_stacks_items_and_cameras(synthetic_set):
    ds = _multiview(synthetic_set)[0]
    items = [ds[0], ds[1]]
    batch = MultiViewBatch.collate(items)
    assert batch.batch_size == 2 and batch.rgb.shape == (2, 4, 3, 8, 8) and batch.index.tolist() == [0, 1]
    assert batch.cameras.batch_shape == (2, 4) and (batch.cameras.height, batch.cameras.width) == (8, 8)
    for b, item in enumerate(items):
        assert torch.equal(batch.cameras.c2w[b], item["cameras"].c2w)
        assert torch.equal(batch.cameras.fov_rad[b], item["cameras"].fov_rad)
        assert torch.equal(batch.image_input[b], item["image_input"])


def test_singleview_collate_and_input_cameras(synthetic_set):
    ds = _singleview(synthetic_set)[0]
    batch = SingleViewBatch.collate([ds[0], ds[1], ds[2]])
    assert batch.batch_size == 3 and batch.image_input.shape == (3, 3, 16, 16) and batch.fov_rad.shape == (3,)
    cameras = batch.input_cameras
    assert isinstance(cameras, Cameras) and cameras.batch_shape == (3,) and cameras.height == 16
    assert torch.equal(cameras.c2w, batch.c2w_input)


def test_device_transfer_keeps_the_types(synthetic_set):
    """Lightning's transfer (lightning_utilities.apply_to_collection) recurses into the dataclasses
    and moves `Cameras` with its own `.to`; "meta" stands in for an accelerator."""
    mv = MultiViewBatch.collate([_multiview(synthetic_set)[1][0]])
    sv = SingleViewBatch.collate([_singleview(synthetic_set)[1][0]])
    moved = move_data_to_device({"mv": mv, "sv": sv}, torch.device("meta"))
    assert isinstance(moved["mv"], MultiViewBatch) and isinstance(moved["sv"], SingleViewBatch)
    assert moved["mv"].cameras.c2w.is_meta and moved["mv"].cameras.fov_rad.is_meta and moved["mv"].rgb.is_meta
    assert all(getattr(moved["sv"], k).is_meta for k in SINGLEVIEW_KEYS)
    assert mv.rgb.device.type == "cpu"  # the original batch is untouched


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs an accelerator")
def test_pin_memory_pins_every_tensor(synthetic_set):
    mv = MultiViewBatch.collate([_multiview(synthetic_set)[0][0]]).pin_memory()
    assert isinstance(mv, MultiViewBatch) and mv.rgb.is_pinned() and mv.cameras.c2w.is_pinned()
    sv = SingleViewBatch.collate([_singleview(synthetic_set)[0][0]]).pin_memory()
    assert all(getattr(sv, k).is_pinned() for k in SINGLEVIEW_KEYS)
