"""MVImgNet reader/writer: COLMAP cameras, mask layout, world-centre estimate, bad items."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from real3d.data.mvimgnet import (
    MVImgNetMultiView,
    foreground_center,
    mask_path,
    read_first_frame,
)
from real3d.data.writers import write_mvimgnet_sequence
from real3d.geometry import look_at_c2w

NAMES = ["002.jpg", "001.jpg", "003.jpg"]
CENTER = torch.tensor([0.5, -0.2, 0.3], dtype=torch.float64)


def make_sequence(tmp_path, sequence="12/abc"):
    cameras = look_at_c2w(
        torch.tensor([[3.0, 0.5, 1.0], [0.5, 3.0, 0.5], [-2.0, -2.0, 1.0]]) + CENTER.float(),
        CENTER.float().expand(3, 3),
    )
    frames = []
    for i, name in enumerate(NAMES):
        mask = torch.zeros(1, 48, 64, dtype=torch.uint8)
        mask[:, 14:34, 22:42] = 255  # the centre projects to the image centre (32, 24)
        frames.append({"name": name, "rgb": torch.full((3, 48, 64), 0.3 * i), "mask": mask, "c2w": cameras[i]})
    near = CENTER + torch.tensor([[0.05, 0, 0], [-0.05, 0, 0], [0, 0.03, 0.02], [0, -0.03, -0.02]], dtype=torch.float64)
    far = CENTER + torch.tensor([[0.0, 0.0, 30.0], [8.0, 8.0, 0.0]], dtype=torch.float64)  # outside the masks
    write_mvimgnet_sequence(
        tmp_path / "image", tmp_path / "mask", sequence, frames, 60.0, torch.cat([near, far]).numpy()
    )
    return cameras


def test_layout_and_first_frame(tmp_path):
    make_sequence(tmp_path)
    assert mask_path(tmp_path / "mask", "12/abc", "001.jpg") == tmp_path / "mask" / "12" / "abc" / "001.jpg.png"
    assert (tmp_path / "image" / "12" / "abc" / "sparse" / "0" / "points3D.bin").is_file()
    rgb, mask, name = read_first_frame(tmp_path / "image", tmp_path / "mask", "12/abc")
    assert name == "001.jpg" and rgb.shape == (3, 48, 64) and mask.shape == (1, 48, 64)


def test_reads_cameras_and_centre(tmp_path):
    cameras = make_sequence(tmp_path)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [["12/abc", *NAMES]]}))
    dataset = MVImgNetMultiView(tmp_path / "image", tmp_path / "mask", split, image_size=32, cond_image_size=16)
    raw = dataset.read_object(0)
    torch.testing.assert_close(raw.c2w, cameras.double(), atol=1e-5, rtol=0)
    torch.testing.assert_close(raw.center, CENTER, atol=1e-5, rtol=0)  # the far points are dropped
    assert raw.focals.tolist() == [60.0, 60.0, 60.0]
    assert "skipped" not in dataset[0]


def test_foreground_center_weights_and_threshold():
    points = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    w2c = torch.eye(4, dtype=torch.float64).expand(5, 4, 4).clone()
    w2c[:, 2, 3] = 5.0  # both points 5 in front
    K = torch.tensor([[10.0, 0, 8], [0, 10, 8], [0, 0, 1]], dtype=torch.float64).expand(5, 3, 3)
    masks = torch.zeros(5, 16, 16, dtype=torch.bool)
    masks[:, 8, 8] = True  # point 0 (pixel (8, 8)) is foreground everywhere
    masks[:4, 8, 10] = True  # point 1 (pixel (10, 8)) in 4 of 5 frames = 80 %
    center = foreground_center(points, w2c, K, masks, protocol="corrected")
    assert center.tolist() == pytest.approx([0.8 / 1.8, 0, 0])  # weights 1.0 and 0.8
    assert foreground_center(points, w2c, K, masks).tolist() == [0, 0, 0]  # the original: > 80 % only
    masks[3, 8, 10] = False  # 60 %: dropped
    assert foreground_center(points, w2c, K, masks, protocol="corrected").tolist() == pytest.approx([0, 0, 0])


def test_foreground_center_projects_as_the_original():
    """The original rounds the projection to the nearest pixel and clamps it into the image (a
    point outside takes the border pixel's value); corrected: the containing pixel, outside = out."""
    points = torch.tensor([[0.0, 0, 0], [0.56, 0, 0], [5.0, 0, 0]], dtype=torch.float64)
    w2c = torch.eye(4, dtype=torch.float64).expand(2, 4, 4).clone()
    w2c[:, 2, 3] = 5.0
    K = torch.tensor([[10.0, 0, 8], [0, 10, 8], [0, 0, 1]], dtype=torch.float64).expand(2, 3, 3)
    masks = torch.zeros(2, 16, 16, dtype=torch.bool)
    masks[:, 8, 8] = True  # point 0 everywhere
    masks[:, 8, 9] = True  # point 1 projects to u = 9.12: pixel 9 (both)
    masks[:, 8, 15] = True  # point 2 projects to u = 18, outside: the original takes column 15
    original = foreground_center(points, w2c, K, masks, min_fraction=0.5)
    corrected = foreground_center(points, w2c, K, masks, min_fraction=0.5, protocol="corrected")
    assert original.tolist() == pytest.approx([(0.56 + 5.0) / 3, 0, 0])
    assert corrected.tolist() == pytest.approx([0.56 / 2, 0, 0])
    near = torch.tensor([[0.0, 0, 0], [0.8, 0, 0]], dtype=torch.float64)  # point 1 at u = 9.6
    masks[:, 8, 9], masks[:, 8, 10] = False, True
    assert foreground_center(near, w2c, K, masks, min_fraction=0.5).tolist() == pytest.approx([0.4, 0, 0])  # round
    assert foreground_center(near, w2c, K, masks, min_fraction=0.5, protocol="corrected").tolist() == [0, 0, 0]


def test_bad_items_are_skipped(tmp_path):
    make_sequence(tmp_path)
    make_sequence(tmp_path, "12/nomask")
    (tmp_path / "mask" / "12" / "nomask" / "003.jpg.png").unlink()
    make_sequence(tmp_path, "12/nosparse")
    (tmp_path / "image" / "12" / "nosparse" / "sparse" / "0" / "images.bin").write_bytes(b"\x05")
    split = tmp_path / "split.json"
    entries = [["12/abc", *NAMES], ["12/nomask", *NAMES], ["12/nosparse", *NAMES], ["12/abc", "001.jpg", "099.jpg"]]
    split.write_text(json.dumps({"test": entries}))
    dataset = MVImgNetMultiView(tmp_path / "image", tmp_path / "mask", split, image_size=16, cond_image_size=16)
    reasons = [dataset[i].get("skipped") for i in range(4)]
    assert reasons[0] is None and "mask" in reasons[1] and "COLMAP" in reasons[2] and "099.jpg" in reasons[3]
    assert np.isfinite(dataset[0]["c2w"].numpy()).all()
