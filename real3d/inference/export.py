"""Writing results: meshes (OBJ/GLB), frames and 360° videos, each written atomically."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import PIL.Image
import trimesh

from real3d.errors import Real3DError
from real3d.io import atomic_path

MESH_FORMATS = ("obj", "glb")

# z up -> y up for web glTF viewers, as TripoSR's app turns its meshes: x' = -y, y' = z, z' = -x.
GLTF_VIEWER_AXES = np.array([[0, -1, 0, 0], [0, 0, 1, 0], [-1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def export_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Save a vertex-coloured mesh; the format follows the suffix (.obj or .glb)."""
    path = Path(path)
    file_type = path.suffix.lstrip(".").lower()
    if file_type not in MESH_FORMATS:
        raise Real3DError(f"mesh format must be one of {MESH_FORMATS}, got {file_type!r}")
    with atomic_path(path) as tmp:
        mesh.export(str(tmp), file_type=file_type)
    return path


def save_image(image: PIL.Image.Image, path: str | Path) -> Path:
    """Save a PIL image atomically (format from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format=PIL.Image.registered_extensions()[path.suffix.lower()])
    return path


def save_video(frames: Sequence[PIL.Image.Image | np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Encode frames as an H.264 MP4 with imageio's bundled ffmpeg."""
    path = Path(path)
    arrays = [np.asarray(f.convert("RGB") if isinstance(f, PIL.Image.Image) else f) for f in frames]
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(str(tmp), format="FFMPEG", fps=fps, codec="libx264", macro_block_size=1)
        try:
            for array in arrays:
                writer.append_data(array)
        finally:
            writer.close()
    return path


def for_gltf_viewer(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy turned y-up for a web 3D viewer (colours or texture kept); downloads keep the model's axes."""
    view = mesh.copy()
    view.apply_transform(GLTF_VIEWER_AXES)
    return view


def zip_files(paths: Sequence[Path], path: str | Path) -> Path:
    """One ZIP archive of `paths` (flat, by file name), e.g. an OBJ with its MTL and texture."""
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in paths:
            archive.write(member, arcname=Path(member).name)
    return path
