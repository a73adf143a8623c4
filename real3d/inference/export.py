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

# The model's world is z up with the input camera on +x (docs/architecture.md): the object's front faces
# +x and the image's right is +y. Mesh files are +Y up with the front on +Z (glTF's convention, which
# Blender's and three.js's importers follow, for OBJ too): x' = y, y' = z, z' = x. "z": the model's axes.
FILE_AXES = {
    "y": np.array([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64),
    "z": np.eye(4),
}
UP_AXES = tuple(FILE_AXES)
# z up -> y up for the web page's viewer, as TripoSR's app turns its meshes: x' = -y, y' = z, z' = -x.
GLTF_VIEWER_AXES = np.array([[0, -1, 0, 0], [0, 0, 1, 0], [-1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963  # glTF bufferView targets: vertex data, indices


def smooth_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals [V,3]: the area-weighted face normals around each position (copies at UV seams
    share theirs); a vertex of degenerate faces only gets +z."""
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    _, position = np.unique(vertices, axis=0, return_inverse=True)
    position = position.reshape(-1)
    corners = vertices[faces]  # [F,3,3]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])  # 2·area·normal [F,3]
    owner = position[faces].reshape(-1)  # [3F]
    summed = np.stack(
        [np.bincount(owner, np.repeat(cross[:, k], 3), minlength=position.max() + 1) for k in range(3)], axis=1
    )[position]
    length = np.linalg.norm(summed, axis=1, keepdims=True)
    normals = np.where(length > 1e-20, summed / np.maximum(length, 1e-30), (0.0, 0.0, 1.0))
    return normals.astype(np.float32)


def for_file(mesh: trimesh.Trimesh, up_axis: str = "y") -> trimesh.Trimesh:
    """A copy in the files' axes (`FILE_AXES`), with smooth unit vertex normals for shading."""
    if up_axis not in FILE_AXES:
        raise Real3DError(f"up axis must be one of {UP_AXES}, got {up_axis!r}")
    rotation = FILE_AXES[up_axis][:3, :3]
    vertices = np.asarray(mesh.vertices, np.float64) @ rotation.T
    normals = smooth_normals(mesh.vertices, mesh.faces) @ rotation.T.astype(np.float32)
    return trimesh.Trimesh(
        vertices=vertices, faces=mesh.faces, vertex_normals=normals, visual=mesh.visual.copy(), process=False
    )


def _mark_vertex_buffers(tree: dict) -> None:
    """Give each bufferView of vertex data or indices its target, as the glTF validator advises."""
    views = tree.get("bufferViews", [])
    for gltf_mesh in tree.get("meshes", []):
        for primitive in gltf_mesh["primitives"]:
            for accessor in primitive["attributes"].values():
                views[tree["accessors"][accessor]["bufferView"]]["target"] = _ARRAY_BUFFER
            if "indices" in primitive:
                views[tree["accessors"][primitive["indices"]]["bufferView"]]["target"] = _ELEMENT_ARRAY_BUFFER


def glb_bytes(mesh: trimesh.Trimesh) -> bytes:
    """A mesh (vertex colours or texture) as GLB bytes, with its vertex normals."""
    return trimesh.exchange.gltf.export_glb(mesh, include_normals=True, tree_postprocessor=_mark_vertex_buffers)


def export_mesh(mesh: trimesh.Trimesh, path: str | Path, up_axis: str = "y") -> Path:
    """Save a vertex-coloured mesh with smooth normals, +Y up by default; the format follows the suffix (.obj, .glb)."""
    path = Path(path)
    file_type = path.suffix.lstrip(".").lower()
    if file_type not in MESH_FORMATS:
        raise Real3DError(f"mesh format must be one of {MESH_FORMATS}, got {file_type!r}")
    oriented = for_file(mesh, up_axis)
    with atomic_path(path) as tmp:
        if file_type == "glb":
            tmp.write_bytes(glb_bytes(oriented))
        else:
            oriented.export(str(tmp), file_type="obj", include_normals=True)
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
