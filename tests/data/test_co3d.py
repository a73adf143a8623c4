"""CO3D reader/writer: PyTorch3D camera convention, NDC focal lengths, crop protocol, bad items."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from real3d.data.co3d import (
    CO3DMultiView,
    focal_pixels,
    frame_file_name,
    viewpoint_c2w,
)
from real3d.data.multiview_eval import centered_crop_box, original_crop_box
from real3d.data.writers import write_co3d_sequence
from real3d.geometry import INPUT_FOV_RAD, c2w_to_pytorch3d, fov_to_focal, look_at_c2w

NAMES = ["frame000005.jpg", "frame000001.jpg", "frame000009.jpg"]


def make_sequence(root, sequence="seq1", size=(40, 60), focal=(50.0, 55.0, 45.0)):
    h, w = size
    cameras = look_at_c2w(
        torch.tensor([[2.0, 0.5, 1.0], [0.0, 2.5, 0.5], [-1.5, -1.5, 1.0]]), torch.tensor([[0.3, 0.2, 0.1]] * 3)
    )
    frames = []
    for i, name in enumerate(NAMES):
        rgb = torch.full((3, h, w), 0.2 * (i + 1))
        mask = torch.zeros(1, h, w)
        mask[:, 15:25, 22:38] = 1.0  # box x [22, 38), y [15, 25): reach from centre (30, 20) = 8
        frames.append({"name": name, "rgb": rgb, "mask": mask, "c2w": cameras[i], "focal_px": focal[i]})
    points = np.array([[0.3, 0.2, 0.1]]) + np.array([[0.1, 0, 0], [-0.1, 0, 0], [0, 0.2, 0], [0, -0.2, 0]])
    write_co3d_sequence(root, "chair", sequence, frames, points)
    return cameras


def split_file(tmp_path, entries):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"test": entries}))
    return path


def test_pytorch3d_convention_is_independent_of_our_inverse():
    """PyTorch3D: x_cam = X R + T, camera +X left, +Y up, +Z forward (into the scene)."""
    c2w = look_at_c2w(torch.tensor([[0.0, -3.0, 0.0]]))[0].double()  # at -y looking at the origin
    R, T = c2w_to_pytorch3d(c2w)
    to_cam = lambda x: torch.as_tensor(x, dtype=torch.float64) @ R + T  # noqa: E731
    assert to_cam([0, 0, 0])[2] == pytest.approx(3.0)  # the origin is 3 in front
    # OpenGL right is +x for this camera; PyTorch3D's +X points left, so world +x has X < 0.
    assert to_cam([1, 0, 0])[0] < 0 and to_cam([0, 0, 1])[1] > 0  # world up is camera up
    torch.testing.assert_close(viewpoint_c2w({"R": R.tolist(), "T": T.tolist()}), c2w)


def test_focal_conventions_and_frame_names():
    assert focal_pixels({"focal_length": [2.0, 2.0]}, 40, 60) == 40.0  # isotropic: half the short side
    assert focal_pixels({"focal_length": [2.0, 3.0], "intrinsics_format": "ndc_norm_image_bounds"}, 40, 60) == 60.0
    assert frame_file_name("frame10.jpg") == frame_file_name(10) == "frame000010.jpg"


def test_reads_written_sequence(tmp_path):
    cameras = make_sequence(tmp_path)
    dataset = CO3DMultiView(
        tmp_path,
        split_file(tmp_path, [["chair/seq1", 5, "frame1.jpg", "frame000009.jpg"]]),
        image_size=32,
        cond_image_size=16,
    )
    raw = dataset.read_object(0)
    torch.testing.assert_close(raw.c2w, cameras.double(), atol=1e-6, rtol=0)
    torch.testing.assert_close(raw.center, torch.tensor([0.3, 0.2, 0.1], dtype=torch.float64), atol=1e-6, rtol=0)
    assert raw.focals.tolist() == pytest.approx([50.0, 55.0, 45.0])
    sample = dataset[0]
    # The original's arithmetic: inclusive box x 22..37, reach 8, side int(16 · 1.6) = 25 → half 12.
    assert sample["crop_box"] == original_crop_box(raw.box_mask) == (18, 8, 42, 32)
    assert centered_crop_box(raw.box_mask) == (17, 7, 43, 33)  # "corrected": half = round(8 · 1.6)
    assert sample["rgb"].shape == (3, 3, 32, 32) and sample["image_input"].shape == (3, 16, 16)
    focal = fov_to_focal(INPUT_FOV_RAD, 1.0)
    assert sample["focal_norm"].tolist() == pytest.approx([focal, focal * 1.1, focal * 0.9], rel=1e-5)
    torch.testing.assert_close(sample["c2w"][0, :3, 3], torch.tensor([3.0, 0, 0]), atol=1e-5, rtol=0)
    # Ground truth on white outside the mask, input on grey.
    assert sample["rgb"][0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]
    assert sample["image_input"][:, 0, 0].tolist() == pytest.approx([0.5] * 3)


def test_bad_objects_are_skipped_with_a_reason(tmp_path):
    make_sequence(tmp_path, "good")
    make_sequence(tmp_path, "nomask")
    (tmp_path / "chair" / "nomask" / "masks" / "frame000009.png").unlink()
    make_sequence(tmp_path, "nocloud")
    (tmp_path / "chair" / "nocloud" / "pointcloud.ply").unlink()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "frame_annotations.jgz").write_bytes(b"garbage")
    entries = [
        ["chair/good", *NAMES],
        ["chair/nomask", *NAMES],
        ["chair/nocloud", *NAMES],
        ["chair/good", NAMES[0], "frame000777.jpg"],
        ["chair/absent", *NAMES],
        ["broken/seq", *NAMES],
    ]
    dataset = CO3DMultiView(tmp_path, split_file(tmp_path, entries), image_size=16, cond_image_size=16)
    reasons = [dataset[i].get("skipped") for i in range(len(entries))]
    assert reasons[0] is None
    assert "mask" in reasons[1] and "point cloud" in reasons[2] and "frame000777.jpg" in reasons[3]
    assert "absent" in reasons[4] and "annotations" in reasons[5]


def test_annotations_are_one_gzipped_list(tmp_path):
    make_sequence(tmp_path, "a")
    make_sequence(tmp_path, "b")
    with gzip.open(tmp_path / "chair" / "frame_annotations.jgz", "rt") as handle:
        entries = json.load(handle)
    assert len(entries) == 6 and entries[0]["image"]["path"].startswith("chair/a/images/")
    assert entries[0]["viewpoint"]["intrinsics_format"] == "ndc_isotropic"


def test_mask_source_is_reported(tmp_path):
    """metrics.json says which masks were used: CO3D's own, or those under `mask_root` (the
    original's re-segmented tree, which the paper's numbers used)."""
    make_sequence(tmp_path)
    split = split_file(tmp_path, [["chair/seq1", *NAMES]])
    own = CO3DMultiView(tmp_path, split)
    other = CO3DMultiView(tmp_path, split, mask_root=tmp_path / "resegmented")
    assert "CO3D's own masks/" in own.mask_source and "re-segmented" in own.mask_source
    assert "dataset.mask_root" in other.mask_source and str(tmp_path / "resegmented") in other.mask_source
