"""Texture baking on the parity model: the texture holds the field's colours, and it survives export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from real3d.errors import Real3DError
from real3d.inference.texture import bake_texture, dilate, export_textured_mesh, rasterize_atlas
from real3d.models import LRM

RESOLUTION = 512


@pytest.fixture(scope="module")
def scene(tiny_model_dir: Path) -> tuple[LRM, torch.Tensor, trimesh.Trimesh]:
    """The tiny model, its reference scene code and a small vertex-coloured mesh of it."""
    model = LRM.from_pretrained(tiny_model_dir).eval()
    expected = torch.load(tiny_model_dir / "expected.pt")
    scene_codes = expected["scene_codes"]
    mesh = model.extract_mesh(scene_codes, 24, float(expected["mc_threshold"]))[0]
    return model, scene_codes[0], mesh


@pytest.fixture(scope="module")
def baked(scene: tuple) -> trimesh.Trimesh:
    model, scene_code, mesh = scene
    torch.set_num_threads(1)
    return bake_texture(model, scene_code, mesh, RESOLUTION, chunk_size=4096)


def bilinear(image: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear samples [N,3] of an image [S,S,3] at UVs [N,2] (row 0 = v 1), and the 4 texels' rows/cols [N,4]."""
    size = image.shape[0]
    x, y = uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    rows = np.clip(np.stack([y0, y0, y0 + 1, y0 + 1], 1), 0, size - 1)
    cols = np.clip(np.stack([x0, x0 + 1, x0, x0 + 1], 1), 0, size - 1)
    texels = image[rows, cols].astype(np.float64)  # [N,4,3]
    weights = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)[..., None]
    return (weights * texels).sum(axis=1), rows, cols


def test_baked_texture_matches_vertex_colours_inside_charts(scene: tuple, baked: trimesh.Trimesh) -> None:
    _, _, mesh = scene
    # The baked mesh's vertices are copies of the input's (xatlas splits them at seams).
    lookup = {v.tobytes(): i for i, v in enumerate(np.asarray(mesh.vertices))}
    source = np.array([lookup[v.tobytes()] for v in np.asarray(baked.vertices)])
    image = np.asarray(baked.visual.material.baseColorTexture)
    assert image.shape == (RESOLUTION, RESOLUTION, 3)
    sampled, rows, cols = bilinear(image, baked.visual.uv)
    # Inside a chart: the four texels read at the vertex's UV are covered by triangles around that vertex.
    _, face_id = rasterize_atlas(baked.visual.uv, baked.faces, baked.vertices, RESOLUTION)
    texel_faces = face_id[rows, cols]  # [N,4]
    corners = baked.faces[texel_faces]  # [N,4,3]: the corners of the triangle under each texel
    incident = (corners == np.arange(len(baked.vertices))[:, None, None]).any(axis=2)  # [N,4]
    inside = ((texel_faces >= 0) & incident).all(axis=1)
    assert inside.mean() > 0.1  # small charts (CHART_AREA): many vertices lie on a seam
    difference = np.abs(sampled - mesh.visual.vertex_colors[source, :3])[inside]
    assert difference.max() <= 2.0


def test_baked_mesh_keeps_the_surface(scene: tuple, baked: trimesh.Trimesh) -> None:
    _, _, mesh = scene
    assert np.isclose(baked.area, mesh.area)
    uv = baked.visual.uv
    assert uv.shape == (len(baked.vertices), 2) and uv.min() >= 0.0 and uv.max() <= 1.0


def test_exported_obj_and_glb_reload_with_their_texture(baked: trimesh.Trimesh, tmp_path: Path) -> None:
    obj_files = export_textured_mesh(baked, tmp_path / "mesh", "obj")
    assert sorted(p.name for p in obj_files) == ["mesh.mtl", "mesh.obj", "mesh.png"]
    glb_files = export_textured_mesh(baked, tmp_path / "mesh", "glb")
    assert glb_files == [tmp_path / "mesh.glb"]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    original = np.asarray(baked.visual.material.baseColorTexture)
    for path in (tmp_path / "mesh.obj", tmp_path / "mesh.glb"):
        loaded = trimesh.load(path, force="mesh", process=False)
        assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
        material = loaded.visual.material
        image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        assert np.array_equal(np.asarray(image.convert("RGB")), original)
        assert len(loaded.faces) == len(baked.faces)
        assert np.allclose(loaded.visual.uv, baked.visual.uv, atol=1e-6)


def test_export_rejects_an_unknown_format(baked: trimesh.Trimesh, tmp_path: Path) -> None:
    with pytest.raises(Real3DError, match="format"):
        export_textured_mesh(baked, tmp_path / "mesh", "ply")


def test_dilation_grows_charts_and_fills_the_background() -> None:
    colors = np.zeros((7, 7, 3), np.float32)
    mask = np.zeros((7, 7), bool)
    colors[3, 3], mask[3, 3] = (0.2, 0.4, 0.6), True
    colors[0, 0], mask[0, 0] = (1.0, 1.0, 1.0), True
    out = dilate(colors, mask, steps=1)
    assert np.allclose(out[2:5, 2:5], (0.2, 0.4, 0.6))  # one texel around the chart: its colour
    assert np.allclose(out[1, 0], (1.0, 1.0, 1.0))
    assert np.allclose(out[6, 6], (0.6, 0.7, 0.8))  # beyond the padding: the mean chart colour


def test_rasterizer_covers_the_triangles_texel_centres() -> None:
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    points, face_id = rasterize_atlas(uv, np.array([[0, 1, 2]]), np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), 4)
    # Texel (row r, col c) has its centre at u = (c + 0.5) / 4, v = 1 - (r + 0.5) / 4: inside when u + v <= 1.
    rows, cols = np.mgrid[0:4, 0:4]
    assert np.array_equal(face_id == 0, (cols + 0.5) / 4 + 1 - (rows + 0.5) / 4 <= 1)
    assert np.allclose(points[3, 0], ((0.5 / 4), 1 - 3.5 / 4, 0.0))  # the point is (u, v) on this triangle


def test_bake_rejects_an_empty_mesh(scene: tuple) -> None:
    model, scene_code, _ = scene
    with pytest.raises(Real3DError, match="empty"):
        bake_texture(model, scene_code, trimesh.Trimesh(), 64)


def test_progress_bar_counts_the_texels(scene: tuple, capsys: pytest.CaptureFixture) -> None:
    model, scene_code, mesh = scene
    baked = bake_texture(model, scene_code, mesh, 64, progress=True)
    assert "baking texture" in capsys.readouterr().err
    assert baked.visual.material.baseColorTexture.size == (64, 64)


@pytest.mark.parametrize("chart_area", [0.0, 0.05])
def test_charts_are_bounded_by_a_share_of_the_area(scene: tuple, chart_area: float) -> None:
    from real3d.inference.components import component_labels
    from real3d.inference.texture import make_atlas

    _, _, mesh = scene
    vmapping, faces, uv = make_atlas(mesh, 256, 2, chart_area)
    charts = component_labels(faces, len(vmapping))  # atlas vertices are split at seams: a piece is a chart
    corners = np.asarray(mesh.vertices, np.float64)[vmapping][faces]
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1) / 2
    chart_share = np.bincount(charts, weights=area) / area.sum()
    assert np.isclose(area.sum(), mesh.area) and uv.min() >= 0 and uv.max() <= 1
    if chart_area:
        assert chart_share.max() <= chart_area * 1.001
    else:  # xatlas's default (TripoSR's atlas): charts as large as it likes
        assert chart_share.max() > 0.05
