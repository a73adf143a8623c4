"""A face budget for meshes: quadric-error decimation, then the field's colours at the new vertices.

A 256³ marching-cubes mesh has 100-170k faces, most of them on flat or smooth parts; unwrapping it
for a texture (xatlas) takes minutes. `fast-simplification` (the Fast-Quadric-Mesh-Simplification
library that trimesh's `simplify_quadric_decimation` uses) collapses edges by quadric error until the
budget is met. Its new vertices lie off the old ones, so their colours are queried from the triplane
field as `extract_mesh` colours its vertices, not interpolated.
"""

from __future__ import annotations

import numpy as np
import torch
import trimesh

from real3d.errors import Real3DError

MIN_TARGET_FACES = 4  # a tetrahedron: the smallest closed surface
MAX_TARGET_FACES = 100_000_000  # beyond any marching-cubes mesh the demo makes (a larger budget changes nothing)
_MAX_PASSES = 3  # decimation passes before a budget that cannot be met is reported


def simplify_mesh(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    """The mesh decimated to at most `target_faces` faces (geometry only: no colours); unchanged if within it.

    Unused vertices and faces that collapsed to a line are dropped. The decimation library keeps its
    state in its extension module: call it from one thread at a time.
    """
    import fast_simplification

    if target_faces < MIN_TARGET_FACES:
        raise Real3DError(f"the face budget must be at least {MIN_TARGET_FACES}, got {target_faces}")
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    for _ in range(_MAX_PASSES):
        if len(faces) <= target_faces:
            break
        vertices, faces = fast_simplification.simplify(vertices, faces, target_count=target_faces)
        faces = faces.astype(np.int64)
        faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    if len(faces) > target_faces:
        raise Real3DError(
            f"the mesh cannot be decimated to {target_faces} faces ({len(faces)} left, as small as its pieces go): "
            "give a larger face budget, or drop the floaters first"
        )
    used, faces = np.unique(faces, return_inverse=True)
    return trimesh.Trimesh(
        vertices=vertices[used].astype(np.float32), faces=faces.reshape(-1, 3).astype(np.int64), process=False
    )


def color_vertices(
    model: torch.nn.Module, scene_code: torch.Tensor, mesh: trimesh.Trimesh, chunk_size: int | None = None
) -> trimesh.Trimesh:
    """The mesh with vertex colours queried from the field of `scene_code` [3,C,H,W] at its vertices."""
    from real3d.inference.texture import DEFAULT_QUERY_BATCH, query_colors

    batch_size = chunk_size or model.render_settings.chunk_size or DEFAULT_QUERY_BATCH
    vertices = np.ascontiguousarray(mesh.vertices, np.float32)
    colors = query_colors(model, scene_code, vertices, batch_size)
    return trimesh.Trimesh(vertices=vertices, faces=mesh.faces, vertex_colors=colors, process=False)


def apply_face_budget(
    model: torch.nn.Module,
    scene_code: torch.Tensor,
    mesh: trimesh.Trimesh,
    target_faces: int | None,
    chunk_size: int | None = None,
) -> trimesh.Trimesh:
    """`mesh` itself without a budget or within it; else decimated to `target_faces` and coloured by the field."""
    if target_faces is None or len(mesh.faces) <= target_faces:
        return mesh
    return color_vertices(model, scene_code, simplify_mesh(mesh, target_faces), chunk_size)
