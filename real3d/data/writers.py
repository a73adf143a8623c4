"""Writers of every on-disk dataset format the readers take (SPEC §7), one function per format:
GObjaverse and Zero-1-to-3 renders, in-the-wild RGBA crops, MVImgNet sequences (frames and masks,
plus the COLMAP model of the evaluation subset), CO3D sequences and OmniObject3D renders.

They take pixels and OpenGL cameras and write what the matching reader reads back; the synthetic
generator (`real3d.data.synthetic`), the tests and the benchmarks use them. Every file is written
atomically. Images are uint8 or float in [0, 1], channels first ([C,H,W] tensors) or last (HWC
arrays).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from real3d.data import colmap
from real3d.data.co3d import frame_file_name
from real3d.data.mvimgnet import mask_path
from real3d.data.omniobject3d import object_dir as omniobject3d_dir
from real3d.geometry import c2w_to_colmap, c2w_to_pytorch3d, ndc_scale
from real3d.io import atomic_path, atomic_write_bytes, atomic_write_text

Image = torch.Tensor | np.ndarray


def to_uint8_hwc(image: Image) -> np.ndarray:
    """uint8 [H,W,C] (or [H,W] for one channel) from a [C,H,W] tensor or an HWC / HW array."""
    if isinstance(image, torch.Tensor):
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255.0).round().to(torch.uint8)
        image = image.permute(1, 2, 0).cpu().numpy() if image.ndim == 3 else image.cpu().numpy()
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def png_bytes(image: Image) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(np.ascontiguousarray(to_uint8_hwc(image))).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(image: Image, quality: int = 100, subsampling: int = 0) -> bytes:
    """JPEG of an RGB image; `subsampling` is PIL's (0: 4:4:4, -1: its default 4:2:0)."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(to_uint8_hwc(image)).save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_gobjaverse_object(
    folder: str | os.PathLike, rgba: Sequence[Image], c2w: torch.Tensor, fov_rad: float, scale: float = 1.0
) -> None:
    """GObjaverse render folder: `NNNNN/NNNNN.png` (RGBA) and `NNNNN/NNNNN.json` (OpenCV camera axes
    x, y, z as the columns of the c2w matrix, origin, x_fov and y_fov in radians, scale) per view."""
    folder = Path(folder)
    for i, image in enumerate(rgba):
        name = f"{i:05d}"
        m = c2w[i].to(torch.float64)
        meta = {
            "x": m[:3, 0].tolist(),  # OpenCV x = OpenGL x (right)
            "y": (-m[:3, 1]).tolist(),  # OpenCV y = down
            "z": (-m[:3, 2]).tolist(),  # OpenCV z = forward (viewing direction)
            "origin": m[:3, 3].tolist(),
            "x_fov": fov_rad,
            "y_fov": fov_rad,
            "scale": float(scale),
        }
        atomic_write_bytes(folder / name / f"{name}.png", png_bytes(image))
        atomic_write_text(folder / name / f"{name}.json", json.dumps(meta, indent=1))


def write_zero123_object(folder: str | os.PathLike, rgba: Sequence[Image], c2w: torch.Tensor) -> None:
    """Zero-1-to-3 render folder: `NNN.png` (RGBA) and `NNN.npy` (3x4 float32 world-to-camera,
    Blender/OpenGL axes) per view."""
    folder = Path(folder)
    w2c = torch.linalg.inv(c2w.to(torch.float64))[:, :3, :].to(torch.float32).numpy()
    for i, image in enumerate(rgba):
        atomic_write_bytes(folder / f"{i:03d}.png", png_bytes(image))
        atomic_write_bytes(folder / f"{i:03d}.npy", _npy_bytes(np.ascontiguousarray(w2c[i])))


def write_wild_crop(path: str | os.PathLike, rgba: Image) -> None:
    """One in-the-wild crop: an RGBA PNG whose alpha is the object mask."""
    atomic_write_bytes(path, png_bytes(rgba))


def write_mvimgnet_sequence(
    images_root: str | os.PathLike,
    masks_root: str | os.PathLike,
    sequence: str,
    frames: Sequence[dict],
    focal_px: float | None = None,
    points: np.ndarray | None = None,
    jpeg_quality: int = 100,
    jpeg_subsampling: int = 0,
) -> None:
    """One MVImgNet sequence: `<images>/<seq>/images/<name>` JPEGs and 8-bit masks
    `<masks>/<seq>/<name>.png`; with `focal_px`, also its COLMAP model `<images>/<seq>/sparse/0`
    (one SIMPLE_RADIAL camera, the frames' poses, `points` [P,3]) as in the evaluation subset.

    frames: dicts with `name` ('001.jpg'), `rgb`, `mask` and, for the COLMAP model, `c2w` (OpenGL
    [4,4]); all frames share the image size and `focal_px`.
    """
    seq_dir = Path(images_root) / sequence
    height = width = 0
    records = []
    for image_id, frame in enumerate(frames, start=1):
        rgb = to_uint8_hwc(frame["rgb"])
        height, width = rgb.shape[:2]
        atomic_write_bytes(seq_dir / "images" / frame["name"], jpeg_bytes(rgb, jpeg_quality, jpeg_subsampling))
        atomic_write_bytes(mask_path(masks_root, sequence, frame["name"]), png_bytes(frame["mask"]))
        if focal_px is not None:
            qvec, tvec = c2w_to_colmap(torch.as_tensor(frame["c2w"]))
            records.append(colmap.Image(image_id, qvec.numpy(), tvec.numpy(), 1, frame["name"]))
    if focal_px is None:
        return
    sparse = seq_dir / "sparse" / "0"
    sparse.mkdir(parents=True, exist_ok=True)
    camera = colmap.Camera(1, "SIMPLE_RADIAL", width, height, np.array([focal_px, width / 2, height / 2, 0.0]))
    colmap.write_cameras_binary([camera], sparse / "cameras.bin")
    colmap.write_images_binary(records, sparse / "images.bin")
    grey, empty = np.array([128, 128, 128], np.uint8), np.zeros(0, np.int32)
    cloud = np.zeros((0, 3)) if points is None else np.asarray(points, dtype=np.float64)
    colmap.write_points3D_binary(
        [colmap.Point3D(i + 1, p, grey, 0.5, empty, empty) for i, p in enumerate(cloud)], sparse / "points3D.bin"
    )


def write_co3d_sequence(
    root: str | os.PathLike,
    category: str,
    sequence: str,
    frames: Sequence[dict],
    points: np.ndarray,
    jpeg_quality: int = 100,
) -> None:
    """One sequence in CO3D's layout, its frames added to the category's `frame_annotations.jgz`.

    frames: dicts with `name` ('frame000001.jpg'), `rgb`, `mask`, `c2w` (OpenGL [4,4]) and
    `focal_px`; principal point at the centre. points [P,3] becomes `pointcloud.ply`.
    """
    import trimesh

    root = Path(root)
    seq_dir = root / category / sequence
    annotations_path = root / category / "frame_annotations.jgz"
    entries = []
    if annotations_path.is_file():
        with gzip.open(annotations_path, "rt", encoding="utf-8") as handle:
            entries = [e for e in json.load(handle) if e["sequence_name"] != sequence]
    for index, frame in enumerate(frames):
        rgb = to_uint8_hwc(frame["rgb"])
        height, width = rgb.shape[:2]
        name = frame_file_name(frame["name"])
        mask_name = Path(name).with_suffix(".png")
        atomic_write_bytes(seq_dir / "images" / name, jpeg_bytes(rgb, jpeg_quality))
        atomic_write_bytes(seq_dir / "masks" / mask_name, png_bytes(frame["mask"]))
        R, T = c2w_to_pytorch3d(torch.as_tensor(frame["c2w"]))
        entries.append(
            {
                "sequence_name": sequence,
                "frame_number": index,
                "frame_timestamp": float(index),
                "image": {"path": f"{category}/{sequence}/images/{name}", "size": [height, width]},
                "mask": {"path": f"{category}/{sequence}/masks/{mask_name}"},
                "viewpoint": {
                    "R": R.tolist(),
                    "T": T.tolist(),
                    "focal_length": [float(frame["focal_px"]) / ndc_scale(height, width)] * 2,
                    "principal_point": [0.0, 0.0],
                    "intrinsics_format": "ndc_isotropic",
                },
            }
        )
    with atomic_path(seq_dir / "pointcloud.ply") as tmp:
        trimesh.PointCloud(np.asarray(points, dtype=np.float64)).export(str(tmp), file_type="ply")
    atomic_write_bytes(annotations_path, gzip.compress(json.dumps(entries).encode(), mtime=0))


def write_omniobject3d_object(
    root: str | os.PathLike, name: str, rgba: Sequence[Image], c2w_opengl: torch.Tensor, camera_angle_x: float
) -> Path:
    """One object in OmniObject3D's render layout (`images/r_N.png` RGBA, `transforms.json` with
    the OpenGL c2w per view and the horizontal fov `camera_angle_x`); returns its folder."""
    folder = omniobject3d_dir(root, name)
    frames = []
    for i, image in enumerate(rgba):
        atomic_write_bytes(folder / "images" / f"r_{i}.png", png_bytes(image))
        frames.append({"file_path": f"r_{i}", "transform_matrix": c2w_opengl[i].tolist()})
    meta = {"camera_angle_x": float(camera_angle_x), "frames": frames}
    atomic_write_text(folder / "transforms.json", json.dumps(meta, indent=1))
    return folder
