"""OmniObject3D reader/writer: render selection by index, OpenGL cameras, fov, bad items."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from real3d.data.omniobject3d import OmniObject3DMultiView, object_dir, render_index
from real3d.data.writers import write_omniobject3d_object
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


def test_renders_composited_on_white_then_lanczos(tmp_path):
    """Original: each render composited on white (alpha > 0) at full resolution, then resized with
    PIL's LANCZOS (mask: PIL NEAREST); no dark fringe where the RGB under alpha 0 is black, and the
    target is not composited again. Corrected: the same composite, then antialiased bilinear."""
    import PIL.Image

    from real3d.data import image_ops

    size, n = 32, 3
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    alpha = (((yy - 15.5) ** 2 + (xx - 15.5) ** 2) < 81).float()  # a disc: edges at odd positions
    image = torch.zeros(4, size, size)
    image[:3] = torch.tensor([0.9, 0.6, 0.3])[:, None, None] * alpha  # black under alpha 0
    image[3] = alpha
    rgba = [image] * n
    write_omniobject3d_object(tmp_path, "pear_001", rgba, spherical_c2w(torch.arange(n) * 40.0, 10.0, 4.0), 0.7)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": ["pear_001"]}))
    kwargs = {"every_nth": 1, "num_views": n, "image_size": 12, "cond_image_size": 12}
    original = OmniObject3DMultiView(tmp_path, split, **kwargs)[0]
    corrected = OmniObject3DMultiView(tmp_path, split, protocol="corrected", **kwargs)[0]

    rgb_u8 = (rgba[0][:3] * 255).round().to(torch.uint8)
    white = torch.where(alpha.bool(), rgb_u8, torch.full_like(rgb_u8, 255))
    torch.testing.assert_close(original["rgb"][0], image_ops.resize_lanczos(white, 12))
    pil_mask = PIL.Image.fromarray(alpha.numpy()).resize((12, 12), PIL.Image.NEAREST)
    torch.testing.assert_close(original["mask"][0, 0], torch.from_numpy(np.asarray(pil_mask).copy()))
    inside = original["mask"][0, 0] == 1
    assert original["rgb"][0][2][inside].min() > 0.2  # blue 0.3 inside; resizing the raw RGB gives 0.04
    white_f = image_ops.composite(image_ops.to_float(rgb_u8), alpha[None], image_ops.WHITE)
    torch.testing.assert_close(corrected["rgb"][0], image_ops.resize_image(white_f, 12, antialias=True))
