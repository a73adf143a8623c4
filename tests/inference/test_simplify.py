"""The face budget: decimation keeps the budget and the surface, and colours come from the field itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from real3d.errors import Real3DError
from real3d.inference.simplify import apply_face_budget, simplify_mesh
from real3d.models import LRM


@pytest.fixture(scope="module")
def scene(tiny_model_dir: Path) -> tuple[LRM, torch.Tensor, trimesh.Trimesh]:
    """The tiny model, its reference scene code and its 32³ vertex-coloured mesh (~19k faces)."""
    model = LRM.from_pretrained(tiny_model_dir).eval()
    expected = torch.load(tiny_model_dir / "expected.pt")
    scene_codes = expected["scene_codes"]
    torch.set_num_threads(1)
    mesh = model.extract_mesh(scene_codes, 32, float(expected["mc_threshold"]))[0]
    return model, scene_codes[0], mesh


@pytest.mark.parametrize("budget", [100, 300, 5000])
def test_decimation_keeps_the_face_budget(scene: tuple, budget: int) -> None:
    _, _, mesh = scene
    simple = simplify_mesh(mesh, budget)
    assert 0 < len(simple.faces) <= budget
    assert len(np.unique(simple.faces)) == len(simple.vertices)  # no unused vertices
    assert (simple.faces[:, 0] != simple.faces[:, 1]).all() and (simple.faces[:, 1] != simple.faces[:, 2]).all()


def test_decimated_surface_stays_on_the_original(scene: tuple) -> None:
    _, _, mesh = scene
    simple = simplify_mesh(mesh, 5000)
    diagonal = np.linalg.norm(mesh.bounds[1] - mesh.bounds[0])
    # Every vertex of the decimated mesh lies within 1% of the diagonal of the original surface.
    distance = trimesh.proximity.closest_point(mesh, simple.vertices)[1]
    assert distance.max() < 0.01 * diagonal
    assert abs(simple.area - mesh.area) < 0.05 * mesh.area


def test_colours_are_the_fields_at_the_new_vertices(scene: tuple) -> None:
    model, scene_code, mesh = scene
    budgeted = apply_face_budget(model, scene_code, mesh, 1000)
    assert len(budgeted.faces) <= 1000
    # Decimation moves vertices: most new ones are not old ones, so no old colour could be reused.
    old = {v.tobytes() for v in np.asarray(mesh.vertices, np.float32)}
    assert np.mean([v.tobytes() not in old for v in np.asarray(budgeted.vertices, np.float32)]) > 0.5
    # The colours are the field's at those vertices, by the query (and uint8 rounding) extract_mesh colours with.
    vertices = torch.from_numpy(np.asarray(budgeted.vertices, np.float32))
    with torch.inference_mode():
        expected = model.field(scene_code).query(vertices)["color"].numpy()
    reference = trimesh.Trimesh(budgeted.vertices, budgeted.faces, vertex_colors=expected, process=False)
    assert np.array_equal(budgeted.visual.vertex_colors, reference.visual.vertex_colors)


def test_no_budget_or_a_mesh_within_it_is_left_as_it_is(scene: tuple) -> None:
    model, scene_code, mesh = scene
    assert apply_face_budget(model, scene_code, mesh, None) is mesh
    assert apply_face_budget(model, scene_code, mesh, len(mesh.faces)) is mesh


def test_a_budget_below_what_the_pieces_allow_is_one_clear_error(scene: tuple) -> None:
    _, _, mesh = scene  # 7 pieces: they cannot all fit in 4 faces
    with pytest.raises(Real3DError, match="cannot be decimated to 4 faces .* drop the floaters"):
        simplify_mesh(mesh, 4)


@pytest.mark.parametrize("budget", [-1, 0, 3])
def test_a_budget_below_a_tetrahedron_is_refused(scene: tuple, budget: int) -> None:
    _, _, mesh = scene
    with pytest.raises(Real3DError, match="at least 4"):
        simplify_mesh(mesh, budget)
