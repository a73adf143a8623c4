"""run.py's mesh options: a face budget, floaters dropped, the files' up axis; bad values are one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from real3d.errors import Real3DError
from real3d.inference.components import component_labels
from real3d.inference.export import FILE_AXES
from real3d.inference.pipeline import DemoSettings
from scripts.run import main
from tests.helpers.cli import user_error


def run(image: Path, model: Path, out: Path, *flags: str) -> int:
    return main(
        [str(image), "--pretrained-model-name-or-path", str(model), "--device", "cpu", "--mc-resolution", "24",
         "--mc-threshold", "1.5", "--model-save-format", "glb", "--output-dir", str(out), *flags]
    )  # fmt: skip


def test_face_budget_and_floaters(rgba_path: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    assert run(rgba_path, tiny_model_dir, tmp_path / "full") == 0
    full = trimesh.load(tmp_path / "full" / "0" / "mesh.glb", force="mesh", process=False)
    assert (
        run(rgba_path, tiny_model_dir, tmp_path / "cut", "--target-faces", "400", "--keep-components", "largest") == 0
    )
    cut = trimesh.load(tmp_path / "cut" / "0" / "mesh.glb", force="mesh", process=False)
    assert len(full.faces) > 1000 and 0 < len(cut.faces) <= 400
    assert len(np.unique(component_labels(full.faces, len(full.vertices)))) > 1  # the tiny model leaves floaters
    assert len(np.unique(component_labels(cut.faces, len(cut.vertices)))) == 1


def test_up_axis_z_keeps_the_models_axes(rgba_path: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    assert run(rgba_path, tiny_model_dir, tmp_path / "y") == 0
    assert run(rgba_path, tiny_model_dir, tmp_path / "z", "--up-axis", "z") == 0
    y_up = trimesh.load(tmp_path / "y" / "0" / "mesh.glb", force="mesh", process=False)
    z_up = trimesh.load(tmp_path / "z" / "0" / "mesh.glb", force="mesh", process=False)
    np.testing.assert_allclose(y_up.vertices, trimesh.transform_points(z_up.vertices, FILE_AXES["y"]), atol=1e-6)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--target-faces", "3"], "argument --target-faces: must be an integer in [4, "),
        (["--target-faces", "many"], "argument --target-faces: must be an integer in [4, 100000000], got 'many'"),
        (["--keep-components", "1.5"], "argument --keep-components: must be 'all', 'largest' or a fraction in (0, 1)"),
        (["--keep-components", "biggest"], "argument --keep-components: must be 'all', 'largest' or a fraction"),
        (["--up-axis", "x"], "argument --up-axis: invalid choice: 'x'"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    rgba_path: Path, tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(rgba_path), "--device", "cpu", "--output-dir", str(tmp_path / "out"), *flags])
    assert exit_info.value.code == 2
    assert user_error(capsys.readouterr().err, "run").startswith(message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "settings",
    [{"target_faces": 3}, {"target_faces": 5.5}, {"target_faces": True}, {"keep_components": 2}, {"up_axis": "up"}],
)
def test_settings_from_a_config_are_checked(settings: dict) -> None:
    with pytest.raises(Real3DError):
        DemoSettings(**settings)
