"""Mesh files people can use: every GLB passes the Khronos glTF-Validator; +Y up, front +Z; smooth normals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
import trimesh

from real3d.errors import Real3DError
from real3d.inference.export import FILE_AXES, export_mesh, for_file, for_gltf_viewer, smooth_normals
from real3d.inference.pipeline import DemoSettings, ImageTo3D
from real3d.inference.simplify import apply_face_budget
from real3d.inference.texture import bake_texture, export_textured_mesh
from real3d.models import LRM
from tests.helpers.gltf_validator import missing_validator, validate


@pytest.fixture(scope="module")
def scene(tiny_model_dir: Path) -> tuple[LRM, torch.Tensor, trimesh.Trimesh]:
    """The tiny model, its reference scene code and its 24³ vertex-coloured mesh."""
    model = LRM.from_pretrained(tiny_model_dir).eval()
    expected = torch.load(tiny_model_dir / "expected.pt")
    torch.set_num_threads(1)
    mesh = model.extract_mesh(expected["scene_codes"], 24, float(expected["mc_threshold"]))[0]
    return model, expected["scene_codes"][0], mesh


def pipeline_glbs(model: LRM, folder: Path) -> list[Path]:
    """The GLBs the demo pipeline writes: vertex colours and textured, floaters dropped, with a face budget."""
    image = PIL.Image.new("RGB", (48, 48), (127, 127, 127))
    image.paste((40, 160, 60), (12, 12, 36, 36))
    settings = DemoSettings(
        mc_resolution=24, mc_threshold=1.5, mesh_formats=("glb",), target_faces=800, keep_components="largest"
    )
    demo = ImageTo3D(model, settings)
    written = [demo.reconstruct(image, folder / "demo").meshes["glb"]]
    baked = DemoSettings(**{**settings.__dict__, "bake_texture": True, "texture_resolution": 64})
    written.append(demo.reconstruct(image, folder / "demo_baked", baked).meshes["glb"])
    return written


def every_glb(scene: tuple, folder: Path) -> list[Path]:
    """Each kind of GLB the project writes: vertex colours, simplified, textured, the page's views, the pipeline's."""
    model, scene_code, mesh = scene
    simple = apply_face_budget(model, scene_code, mesh, 500)
    baked = bake_texture(model, scene_code, simple, 64)
    return [
        export_mesh(mesh, folder / "colours.glb"),
        export_mesh(simple, folder / "simplified.glb"),
        *export_textured_mesh(baked, folder / "textured", "glb"),
        export_mesh(mesh, folder / "model_axes.glb", up_axis="z"),
        export_mesh(for_gltf_viewer(mesh), folder / "view.glb", up_axis="z"),
        *export_textured_mesh(for_gltf_viewer(baked), folder / "view_textured", "glb", up_axis="z"),
        *pipeline_glbs(model, folder),
    ]


def test_every_glb_passes_the_khronos_validator(scene: tuple, tmp_path: Path) -> None:
    reason = missing_validator()
    if reason:
        pytest.skip(reason)
    paths = every_glb(scene, tmp_path)
    reports = validate(paths)
    assert sorted(reports) == sorted(paths)
    for path, issues in reports.items():
        assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), (path.name, issues["messages"])


def tall_box_facing_x() -> trimesh.Trimesh:
    """A box in the model's axes (z up): 0.4 wide (y), 1.0 tall (z), 0.2 deep (x), its front face at x = +0.1."""
    return trimesh.creation.box(extents=(0.2, 0.4, 1.0))


def test_files_stand_up_on_y_and_face_z(tmp_path: Path) -> None:
    box = tall_box_facing_x()
    for name in ("box.glb", "box.obj"):
        loaded = trimesh.load(export_mesh(box, tmp_path / name), force="mesh", process=False)
        extents = loaded.bounds[1] - loaded.bounds[0]
        assert np.allclose(extents, (0.4, 1.0, 0.2), atol=1e-6)  # right-left on X, up on Y, front-back on Z
        np.testing.assert_allclose(loaded.vertices, trimesh.transform_points(box.vertices, FILE_AXES["y"]), atol=1e-6)
        # The model's front (+x, toward the input camera) is the file's +Z; the input image's right (+y) is +X.
        assert np.allclose(FILE_AXES["y"][:3, :3] @ (1, 0, 0), (0, 0, 1))
        assert np.allclose(FILE_AXES["y"][:3, :3] @ (0, 1, 0), (1, 0, 0))
    model_axes = trimesh.load(export_mesh(box, tmp_path / "z.glb", up_axis="z"), force="mesh", process=False)
    np.testing.assert_allclose(model_axes.vertices, box.vertices, atol=1e-6)


def test_an_unknown_up_axis_is_refused() -> None:
    with pytest.raises(Real3DError, match="up axis"):
        for_file(tall_box_facing_x(), "x")


def test_normals_are_smooth_unit_and_outward(scene: tuple, tmp_path: Path) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)
    normals = smooth_normals(sphere.vertices, sphere.faces)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    assert (np.einsum("ij,ij->i", normals, sphere.vertices) > 0.99).all()  # a unit sphere's normal is its position
    # Copies of a position (a UV seam) share one normal; a vertex of degenerate faces only gets +z.
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0], [0, -1, 0], [5, 5, 5], [5, 5, 5]])
    faces = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 6]])
    normals = smooth_normals(vertices, faces)
    assert np.array_equal(normals[0], normals[4]) and np.array_equal(normals[1], normals[3])
    assert np.array_equal(normals[6], (0, 0, 1))
    # The GLB carries them, turned with the mesh.
    _, _, mesh = scene
    (loaded,) = trimesh.load(export_mesh(mesh, tmp_path / "mesh.glb"), process=False).geometry.values()
    expected = smooth_normals(mesh.vertices, mesh.faces) @ FILE_AXES["y"][:3, :3].T
    np.testing.assert_allclose(loaded.vertex_normals, expected, atol=1e-5)


def test_textured_obj_reloads_with_its_texture_and_normals(scene: tuple, tmp_path: Path) -> None:
    model, scene_code, mesh = scene
    baked = bake_texture(model, scene_code, apply_face_budget(model, scene_code, mesh, 500), 64)
    written = export_textured_mesh(baked, tmp_path / "mesh", "obj")
    assert sorted(p.name for p in written) == ["mesh.mtl", "mesh.obj", "mesh.png"]
    loaded = trimesh.load(tmp_path / "mesh.obj", force="mesh", process=False)
    assert isinstance(loaded.visual, trimesh.visual.TextureVisuals)
    texture = np.asarray(loaded.visual.material.image.convert("RGB"))
    assert np.array_equal(texture, np.asarray(baked.visual.material.baseColorTexture))
    assert "vn " in (tmp_path / "mesh.obj").read_text()
    np.testing.assert_allclose(loaded.vertices, trimesh.transform_points(baked.vertices, FILE_AXES["y"]), atol=1e-5)
