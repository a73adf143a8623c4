"""OmniObject3D reader/writer: render selection by index, OpenGL cameras, fov, bad items."""

from __future__ import annotations

import json

import pytest
import torch

from real3d.data.omniobject3d import OmniObject3DMultiView, object_dir, render_index, write_omniobject3d_object
from real3d.geometry import fov_to_focal, spherical_c2w


def make_object(root, name="apple_007", n=12, fov=0.7):
    rgba = []
    for i in range(n):
        image = torch.zeros(4, 16, 16)
        image[:3] = i / n
        image[3, 4:12, 4:12] = 1.0
        rgba.append(image)
    c2w = spherical_c2w(torch.arange(n) * 30.0, 20.0, 4.0)
    write_omniobject3d_object(root, name, rgba, c2w, fov)
    return c2w


def test_render_index():
    assert render_index("r_12") == 12 and render_index("./images/r_3.png") == 3 and render_index("x") is None


def test_first_renders_by_index_and_fov(tmp_path):
    c2w = make_object(tmp_path)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [f"apple_{i:03d}" for i in range(7)] + ["apple_007"]}))
    dataset = OmniObject3DMultiView(tmp_path, split, every_nth=7, num_views=11, image_size=16, cond_image_size=16)
    assert dataset.entries == ["apple_000", "apple_007"]
    assert dataset[0]["skipped"]  # apple_000 does not exist
    raw = dataset.read_object(1)
    assert raw.view_names == [f"r_{i}" for i in range(11)]  # r_10 after r_9, r_11 unused
    torch.testing.assert_close(raw.c2w, c2w[:11].double())
    sample = dataset[1]
    assert sample["focal_norm"].tolist() == pytest.approx([fov_to_focal(0.7, 1.0)] * 11, rel=1e-6)
    torch.testing.assert_close(sample["c2w"][0], spherical_c2w(0.0, 0.0, 3.0)[0], atol=1e-5, rtol=0)
    assert sample["mask"][0, 0, 0, 0] == 0 and sample["mask"][0, 0, 8, 8] == 1


def test_missing_renders_and_bad_transforms(tmp_path):
    make_object(tmp_path, "apple_001", n=5)
    make_object(tmp_path, "apple_002")
    (object_dir(tmp_path, "apple_002") / "transforms.json").write_text("{not json")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["apple_001", "apple_002"]}))
    dataset = OmniObject3DMultiView(tmp_path, split, every_nth=1, image_size=16, cond_image_size=16)
    assert "5 renders found" in dataset[0]["skipped"] and "transforms.json" in dataset[1]["skipped"]
