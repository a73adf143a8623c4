"""The web page's mesh options: whatever the client sends for the face budget and the floaters is a setting
or one clear message; a budget and the largest piece reach the downloads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import trimesh
from hypothesis import given
from hypothesis import strategies as st

from real3d.errors import Real3DError
from real3d.inference.pipeline import ImageTo3D, demo_settings
from real3d.models import LRM
from scripts.app import FLOATER_CHOICES, PAGE_MAX_FACES, DemoApp, face_budget
from tests.helpers.fuzz import fuzz_settings

gr = pytest.importorskip("gradio")


@fuzz_settings(50)
@given(st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=8), st.none(), st.booleans()))
def test_any_face_budget_is_a_setting_or_a_refusal(value: object) -> None:
    try:
        budget = face_budget(value)
    except Real3DError as exc:
        assert "face budget" in str(exc)
        return
    assert budget is None or (isinstance(budget, int) and 1 <= budget <= PAGE_MAX_FACES)
    if budget is None:
        assert math.isclose(float(value), 0.0, abs_tol=1.0)  # 0 (or a fraction of a face): the full mesh


@pytest.fixture
def app(tiny_model_dir: Path, tmp_path: Path, page_ranges) -> DemoApp:  # noqa: ANN001
    model = LRM.from_pretrained(tiny_model_dir).eval()
    work = tmp_path / "work"
    work.mkdir()
    return DemoApp(ImageTo3D(model, demo_settings(model.cfg)), work, page_ranges)


def prepared_input() -> PIL.Image.Image:
    image = PIL.Image.new("RGB", (48, 48), (127, 127, 127))
    image.paste((40, 160, 60), (12, 12, 36, 36))
    return image


def test_budget_and_floaters_reach_the_downloads(app: DemoApp) -> None:
    assert [value for _, value in FLOATER_CHOICES] == ["all", "0.05", "largest"]
    _, _, _, glb, summary = app.reconstruct(prepared_input(), 24, 1.5, 0, False, 64, 300, "largest")
    mesh = trimesh.load(glb, force="mesh", process=False)
    assert 0 < len(mesh.faces) <= 300 and f"{len(mesh.faces):,} faces" in summary


@pytest.mark.parametrize(("budget", "floaters"), [(-5, "all"), (np.nan, "all"), (1e9, "all"), (0, "2"), (0, None)])
def test_bad_values_from_the_client_are_a_message(app: DemoApp, budget: float, floaters: object) -> None:
    with pytest.raises(gr.Error):
        app.reconstruct(prepared_input(), 24, 1.5, 0, False, 64, budget, floaters)
