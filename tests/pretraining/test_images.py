"""The domain-image dataset: both domains' images from the mini-study layout, families from the names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from real3d.data.datamodule import SkippingCollate
from real3d.errors import Real3DError
from real3d.pretraining.images import FAMILIES, DomainImages, list_domain_images
from tests.pretraining.conftest import TINY_SIZES


def test_train_split_holds_s_views_and_r_crops_but_not_s_validation(mini_data: Path) -> None:
    items = list_domain_images(mini_data, "train")
    s_items = [i for i in items if i.domain == "S"]
    r_items = [i for i in items if i.domain == "R"]
    assert len(s_items) == TINY_SIZES.s_train_objects * TINY_SIZES.s_views
    assert len(r_items) == TINY_SIZES.r_train_images
    assert {i.object_index for i in s_items} == set(range(TINY_SIZES.s_train_objects))


def test_test_split_holds_every_view_of_the_test_objects(mini_data: Path) -> None:
    items = list_domain_images(mini_data, "test", ("R",))
    assert len(items) == TINY_SIZES.test_objects * TINY_SIZES.test_views
    assert {i.view for i in items} == set(range(TINY_SIZES.test_views))


def test_family_comes_from_the_generator_names(mini_data: Path) -> None:
    for item in list_domain_images(mini_data, "train") + list_domain_images(mini_data, "test"):
        names = item.path.relative_to(mini_data).parts
        assert any(part == item.family or part.startswith(f"{item.family}_") for part in names)
        assert FAMILIES[item.family_index] == item.family


def test_items_are_framed_model_inputs_on_grey(mini_data: Path) -> None:
    dataset = DomainImages(mini_data, "test", image_size=64)
    batch = SkippingCollate(default_collate)([dataset[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 64, 64)
    assert float(batch["image"].min()) >= 0.0 and float(batch["image"].max()) <= 1.0
    corners = batch["image"][:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.allclose(corners, torch.full_like(corners, 0.5), atol=1e-6)
    assert torch.equal(dataset[0]["image"], dataset[0]["image"])  # evaluation framing is fixed
    assert batch["family"].tolist() == dataset.families[:4].tolist()


def test_bad_file_is_skipped_and_counted(mini_data: Path, tmp_path: Path) -> None:
    dataset = DomainImages(mini_data, "test", ("S",))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    dataset.items[0] = type(dataset.items[0])(bad, "S", "sphere", 0, 0)
    assert dataset[0] is None
    assert dataset.skipped_count() == 1


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(Real3DError, match="data folder not found"):
        list_domain_images(tmp_path / "nothing")
    with pytest.raises(Real3DError, match="split file not found"):
        list_domain_images(tmp_path)
