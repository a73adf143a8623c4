"""COLMAP sparse models in the binary format (`cameras.bin`, `images.bin`, `points3D.bin`).

Reader and writer, byte-compatible with COLMAP's own `read_write_model.py`. `images.bin` holds
world-to-camera poses (quaternion w,x,y,z + translation) in OpenCV camera axes; convert them with
`real3d.geometry.colmap_to_c2w` / `cameras_from_colmap` (and back with `c2w_to_colmap`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from real3d.io import atomic_write_bytes

# model id -> (name, number of parameters)
CAMERA_MODELS = {
    0: ("SIMPLE_PINHOLE", 3),
    1: ("PINHOLE", 4),
    2: ("SIMPLE_RADIAL", 4),
    3: ("RADIAL", 5),
    4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8),
    6: ("FULL_OPENCV", 12),
    7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5),
    10: ("THIN_PRISM_FISHEYE", 12),
}
CAMERA_MODEL_IDS = {name: (model_id, n) for model_id, (name, n) in CAMERA_MODELS.items()}
# models whose parameters start with f, cx, cy (the others start with fx, fy, cx, cy)
SINGLE_FOCAL_MODELS = {"SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "FOV", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE"}


@dataclass
class Camera:
    id: int
    model: str
    width: int
    height: int
    params: np.ndarray  # float64 [num_params]

    @property
    def focal(self) -> tuple[float, float]:
        """(fx, fy) in pixels of a `width`×`height` image."""
        if self.model in SINGLE_FOCAL_MODELS:
            return float(self.params[0]), float(self.params[0])
        return float(self.params[0]), float(self.params[1])

    @property
    def principal_point(self) -> tuple[float, float]:
        """(cx, cy) in pixels of a `width`×`height` image."""
        offset = 1 if self.model in SINGLE_FOCAL_MODELS else 2
        return float(self.params[offset]), float(self.params[offset + 1])


@dataclass
class Image:
    id: int
    qvec: np.ndarray  # float64 [4], world-to-camera rotation (w, x, y, z)
    tvec: np.ndarray  # float64 [3], world-to-camera translation
    camera_id: int
    name: str
    xys: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [P,2]
    point3D_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))  # [P]


@dataclass
class Point3D:
    id: int
    xyz: np.ndarray  # float64 [3]
    rgb: np.ndarray  # uint8 [3]
    error: float
    image_ids: np.ndarray  # int32 [T]
    point2D_idxs: np.ndarray  # int32 [T]


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data = memoryview(data)
        self.offset = 0
        self.path = path

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path}: truncated COLMAP file")
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        dtype = np.dtype(dtype).newbyteorder("<")
        size = dtype.itemsize * count
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path}: truncated COLMAP file")
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += size
        return values

    def string(self) -> str:
        end = bytes(self.data[self.offset :]).find(b"\x00")
        if end < 0:
            raise ValueError(f"{self.path}: truncated COLMAP file")
        name = bytes(self.data[self.offset : self.offset + end]).decode("utf-8")
        self.offset += end + 1
        return name


def read_cameras_binary(path: str | os.PathLike) -> dict[int, Camera]:
    reader = _Reader(Path(path).read_bytes(), Path(path))
    cameras = {}
    (count,) = reader.read("Q")
    for _ in range(count):
        camera_id, model_id, width, height = reader.read("iiQQ")
        if model_id not in CAMERA_MODELS:
            raise ValueError(f"{path}: unknown COLMAP camera model id {model_id}")
        name, n_params = CAMERA_MODELS[model_id]
        params = reader.array("f8", n_params).copy()
        cameras[camera_id] = Camera(camera_id, name, int(width), int(height), params)
    return cameras


def read_images_binary(path: str | os.PathLike) -> dict[int, Image]:
    reader = _Reader(Path(path).read_bytes(), Path(path))
    images = {}
    (count,) = reader.read("Q")
    for _ in range(count):
        image_id, qw, qx, qy, qz, tx, ty, tz, camera_id = reader.read("idddddddi")
        name = reader.string()
        (n_points,) = reader.read("Q")
        record = reader.array("f8,f8,i8", n_points) if n_points else None
        xys = np.stack([record["f0"], record["f1"]], -1) if n_points else np.zeros((0, 2))
        ids = record["f2"].astype(np.int64) if n_points else np.zeros((0,), dtype=np.int64)
        images[image_id] = Image(
            image_id, np.array([qw, qx, qy, qz]), np.array([tx, ty, tz]), camera_id, name, xys, ids
        )
    return images


def read_points3D_binary(path: str | os.PathLike) -> dict[int, Point3D]:
    reader = _Reader(Path(path).read_bytes(), Path(path))
    points = {}
    (count,) = reader.read("Q")
    for _ in range(count):
        point_id, x, y, z, r, g, b, error, track_length = reader.read("QdddBBBdQ")
        track = reader.array("i4", 2 * track_length).reshape(-1, 2)
        points[point_id] = Point3D(
            point_id,
            np.array([x, y, z]),
            np.array([r, g, b], dtype=np.uint8),
            float(error),
            track[:, 0].copy(),
            track[:, 1].copy(),
        )
    return points


def read_points3D_xyz(path: str | os.PathLike) -> np.ndarray:
    """Positions [P,3] (float64) of all points of a `points3D.bin`."""
    points = read_points3D_binary(path)
    if not points:
        return np.zeros((0, 3))
    return np.stack([p.xyz for p in points.values()])


def write_cameras_binary(cameras: dict[int, Camera] | list[Camera], path: str | os.PathLike) -> None:
    cameras = list(cameras.values()) if isinstance(cameras, dict) else list(cameras)
    out = [struct.pack("<Q", len(cameras))]
    for cam in cameras:
        model_id, n_params = CAMERA_MODEL_IDS[cam.model]
        params = np.asarray(cam.params, dtype="<f8")
        if params.shape != (n_params,):
            raise ValueError(f"camera {cam.id}: {cam.model} needs {n_params} parameters")
        out.append(struct.pack("<iiQQ", cam.id, model_id, cam.width, cam.height))
        out.append(params.tobytes())
    atomic_write_bytes(path, b"".join(out))


def write_images_binary(images: dict[int, Image] | list[Image], path: str | os.PathLike) -> None:
    images = list(images.values()) if isinstance(images, dict) else list(images)
    out = [struct.pack("<Q", len(images))]
    for im in images:
        out.append(struct.pack("<i4d3di", im.id, *map(float, im.qvec), *map(float, im.tvec), im.camera_id))
        out.append(im.name.encode("utf-8") + b"\x00")
        n_points = len(im.point3D_ids)
        out.append(struct.pack("<Q", n_points))
        if n_points:
            record = np.zeros(n_points, dtype="<f8,<f8,<i8")
            record["f0"], record["f1"] = im.xys[:, 0], im.xys[:, 1]
            record["f2"] = im.point3D_ids
            out.append(record.tobytes())
    atomic_write_bytes(path, b"".join(out))


def write_points3D_binary(points: dict[int, Point3D] | list[Point3D], path: str | os.PathLike) -> None:
    points = list(points.values()) if isinstance(points, dict) else list(points)
    out = [struct.pack("<Q", len(points))]
    for p in points:
        track_length = len(p.image_ids)
        out.append(struct.pack("<Q3d3BdQ", p.id, *map(float, p.xyz), *map(int, p.rgb), p.error, track_length))
        track = np.stack([np.asarray(p.image_ids), np.asarray(p.point2D_idxs)], -1).astype("<i4")
        out.append(track.tobytes())
    atomic_write_bytes(path, b"".join(out))
