"""Floaters: the small disconnected pieces marching cubes leaves around the object, and dropping them.

A piece is a connected component of the mesh (faces joined through shared vertices); its size is its
surface area. `keep` is "all" (the original's mesh), "largest" (the biggest piece only) or a fraction
in (0, 1): the pieces with at least that share of the whole mesh's area (and the largest, always).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import trimesh
from scipy.sparse.csgraph import connected_components

from real3d.errors import Real3DError

KEEP_CHOICES = ("all", "largest")
KeepComponents = str | float  # "all", "largest" or an area fraction in (0, 1)


def parse_keep_components(value: str | float) -> KeepComponents:
    """The choice ("all", "largest" or a fraction in (0, 1)) that a flag, page or config gives; else Real3DError."""
    if isinstance(value, str) and value.strip().lower() in KEEP_CHOICES:
        return value.strip().lower()
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = float("nan")
    if isinstance(value, bool) or not 0.0 < fraction < 1.0:
        raise Real3DError(f"keep-components must be 'all', 'largest' or a fraction in (0, 1), got {value!r}")
    return fraction


def component_labels(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """The connected component [F] of each face (faces sharing a vertex are connected), numbered from 0."""
    faces = np.asarray(faces, np.int64)
    rows = np.repeat(faces[:, 0], 2)
    cols = faces[:, 1:].reshape(-1)
    graph = scipy.sparse.coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n_vertices, n_vertices))
    _, vertex_labels = connected_components(graph, directed=False)
    return vertex_labels[faces[:, 0]]


def keep_components(mesh: trimesh.Trimesh, keep: KeepComponents) -> trimesh.Trimesh:
    """The mesh without the pieces that `keep` drops (unused vertices go too); `mesh` itself for "all"."""
    keep = parse_keep_components(keep)
    if keep == "all" or len(mesh.faces) == 0:
        return mesh
    faces = np.asarray(mesh.faces, np.int64)
    labels = component_labels(faces, len(mesh.vertices))
    area = np.bincount(labels, weights=mesh.area_faces)  # [pieces]
    kept = np.arange(len(area)) == int(np.argmax(area))  # the largest piece always (one, even if two are equal)
    if keep != "largest":
        kept |= area >= keep * area.sum()
    selected = kept[labels]
    used, new_faces = np.unique(faces[selected], return_inverse=True)
    colors = mesh.visual.vertex_colors[used] if mesh.visual.kind == "vertex" else None
    return trimesh.Trimesh(
        vertices=np.asarray(mesh.vertices)[used],
        faces=new_faces.reshape(-1, 3),
        vertex_colors=colors,
        process=False,
    )
