"""COLMAP binary reader/writer: round trips, byte layout and conventions."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from real3d.data import colmap
from real3d.geometry import c2w_to_colmap, colmap_to_c2w, quaternion_to_rotation, rotation_to_quaternion, spherical_c2w


def test_round_trip(tmp_path):
    cams = [
        colmap.Camera(1, "SIMPLE_RADIAL", 640, 480, np.array([500.0, 320.0, 240.0, 0.01])),
        colmap.Camera(2, "PINHOLE", 100, 80, np.array([90.0, 91.0, 50.0, 40.0])),
    ]
    images = [
        colmap.Image(
            3,
            np.array([0.5, 0.5, 0.5, 0.5]),
            np.array([1.0, 2.0, 3.0]),
            1,
            "001.jpg",
            np.array([[1.5, 2.5], [3.0, 4.0]]),
            np.array([7, -1]),
        ),
        colmap.Image(4, np.array([1.0, 0, 0, 0]), np.zeros(3), 2, "002.jpg"),
    ]
    points = [
        colmap.Point3D(
            7,
            np.array([0.1, 0.2, 0.3]),
            np.array([1, 2, 3], np.uint8),
            0.25,
            np.array([3, 4], np.int32),
            np.array([0, 5], np.int32),
        )
    ]
    colmap.write_cameras_binary(cams, tmp_path / "cameras.bin")
    colmap.write_images_binary(images, tmp_path / "images.bin")
    colmap.write_points3D_binary(points, tmp_path / "points3D.bin")
    cams2 = colmap.read_cameras_binary(tmp_path / "cameras.bin")
    assert cams2[1].model == "SIMPLE_RADIAL" and cams2[1].focal == (500.0, 500.0)
    assert cams2[1].principal_point == (320.0, 240.0) and cams2[2].principal_point == (50.0, 40.0)
    assert cams2[2].focal == (90.0, 91.0) and (cams2[2].width, cams2[2].height) == (100, 80)
    ims = colmap.read_images_binary(tmp_path / "images.bin")
    assert ims[3].name == "001.jpg" and ims[3].camera_id == 1
    np.testing.assert_array_equal(ims[3].xys, images[0].xys)
    np.testing.assert_array_equal(ims[3].point3D_ids, [7, -1])
    assert len(ims[4].point3D_ids) == 0
    pts = colmap.read_points3D_binary(tmp_path / "points3D.bin")
    np.testing.assert_array_equal(pts[7].image_ids, [3, 4])
    np.testing.assert_array_equal(colmap.read_points3D_xyz(tmp_path / "points3D.bin"), [[0.1, 0.2, 0.3]])


def test_byte_layout_matches_colmap(tmp_path):
    """cameras.bin as COLMAP writes it: uint64 count, then int32 id, int32 model, uint64 w, h, doubles."""
    cam = colmap.Camera(5, "SIMPLE_PINHOLE", 64, 48, np.array([50.0, 32.0, 24.0]))
    colmap.write_cameras_binary([cam], tmp_path / "cameras.bin")
    expected = struct.pack("<QiiQQ3d", 1, 5, 0, 64, 48, 50.0, 32.0, 24.0)
    assert (tmp_path / "cameras.bin").read_bytes() == expected


def test_truncated_file_raises(tmp_path):
    (tmp_path / "images.bin").write_bytes(struct.pack("<Q", 3) + b"\x01\x02")
    with pytest.raises(ValueError, match="truncated"):
        colmap.read_images_binary(tmp_path / "images.bin")


def test_pose_conversion_round_trip_and_convention():
    torch.manual_seed(0)
    for _ in range(20):
        rot, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64))
        rot = rot * torch.det(rot)
        q = rotation_to_quaternion(rot)
        torch.testing.assert_close(quaternion_to_rotation(q), rot)
    c2w = spherical_c2w(30.0, 20.0, 2.0)[0].double()
    qvec, tvec = c2w_to_colmap(c2w)
    torch.testing.assert_close(colmap_to_c2w(qvec, tvec), c2w, atol=1e-6, rtol=0)
    # OpenCV camera axes: the world origin (in front of the camera) has z > 0, the world up (+z)
    # points to image up, i.e. negative y.
    rot = quaternion_to_rotation(qvec)
    origin_cam = tvec
    assert origin_cam[2] > 0 and abs(origin_cam[0]) < 1e-6
    assert (rot @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))[1] < 0
