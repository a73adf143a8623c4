"""Floaters: which pieces of a mesh `keep_components` keeps, and which values it accepts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from hypothesis import given
from hypothesis import strategies as st

from real3d.errors import Real3DError
from real3d.inference.components import component_labels, keep_components, parse_keep_components
from tests.helpers.fuzz import fuzz_settings


def pieces() -> trimesh.Trimesh:
    """Three disjoint vertex-coloured spheres of radius 1, 0.3 and 0.1 (areas ~ 100 : 9 : 1)."""
    parts = []
    for radius, x, color in ((1.0, 0.0, (255, 0, 0, 255)), (0.3, 3.0, (0, 255, 0, 255)), (0.1, -3.0, (0, 0, 255, 255))):
        sphere = trimesh.creation.icosphere(subdivisions=2, radius=radius)
        sphere.apply_translation((x, 0.0, 0.0))
        sphere.visual.vertex_colors = np.tile(color, (len(sphere.vertices), 1))
        parts.append(sphere)
    return trimesh.util.concatenate(parts)


def test_labels_join_faces_that_share_a_vertex() -> None:
    faces = np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7]])  # the first two meet at vertex 2 only
    labels = component_labels(faces, 8)
    assert labels[0] == labels[1] != labels[2]


def test_all_keeps_the_mesh_itself() -> None:
    mesh = pieces()
    assert keep_components(mesh, "all") is mesh


def test_largest_keeps_only_the_biggest_piece_with_its_colours() -> None:
    kept = keep_components(pieces(), "largest")
    assert np.allclose(kept.bounds, [[-1, -1, -1], [1, 1, 1]], atol=1e-6)
    assert (kept.visual.vertex_colors == (255, 0, 0, 255)).all()
    assert len(np.unique(kept.faces)) == len(kept.vertices)  # the other pieces' vertices are gone


def test_a_fraction_keeps_the_pieces_with_that_share_of_the_area() -> None:
    mesh = pieces()
    kept = keep_components(mesh, 0.05)  # the small sphere has ~1 % of the area, the middle one ~8 %
    assert len(np.unique(component_labels(kept.faces, len(kept.vertices)))) == 2
    assert kept.bounds[0, 0] > -1.01 and kept.bounds[1, 0] > 3.2
    # The largest piece stays even when no piece reaches the fraction's share.
    halves = trimesh.util.concatenate(
        [trimesh.creation.icosphere(2), trimesh.creation.icosphere(2).apply_translation((5, 0, 0))]
    )
    assert len(keep_components(halves, 0.9).faces) == len(halves.faces) // 2


@pytest.mark.parametrize("value", ["largest", "LARGEST ", "all", "0.05", 0.5, "1e-3"])
def test_accepted_values(value: object) -> None:
    parsed = parse_keep_components(value)
    assert parsed in ("all", "largest") or 0 < parsed < 1


@pytest.mark.parametrize("value", ["0", "1", "1.5", "-0.1", "nan", "inf", "biggest", "", None, True, 2])
def test_refused_values_are_one_clear_error(value: object) -> None:
    with pytest.raises(Real3DError, match="keep-components must be 'all', 'largest' or a fraction in \\(0, 1\\)"):
        parse_keep_components(value)


@fuzz_settings(50)
@given(st.one_of(st.text(max_size=12), st.floats(allow_nan=True), st.integers(), st.booleans(), st.none()))
def test_any_value_is_a_choice_or_a_refusal(value: object) -> None:
    try:
        parsed = parse_keep_components(value)
    except Real3DError:
        return
    assert parsed in ("all", "largest") or (isinstance(parsed, float) and math.isfinite(parsed) and 0 < parsed < 1)
