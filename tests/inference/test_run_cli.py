"""The demo CLI: outputs per image, and one clear line per bad input without losing the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import trimesh

from scripts.run import main


def test_demo_writes_input_mesh_and_video(rgba_path: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "out"
    code = main(
        [str(rgba_path), "--pretrained-model-name-or-path", str(tiny_model_dir), "--device", "cpu",
         "--mc-resolution", "24", "--mc-threshold", "1.5", "--render", "--render-num-views", "3",
         "--render-size", "16", "--model-save-format", "glb", "--output-dir", str(out)]
    )  # fmt: skip
    assert code == 0
    folder = out / "0"
    assert PIL.Image.open(folder / "input.png").size == (49, 49)  # 32 px object / 0.65
    assert sorted(p.name for p in folder.glob("render_*.png")) == ["render_000.png", "render_001.png", "render_002.png"]
    assert (folder / "render.mp4").stat().st_size > 0
    mesh = trimesh.load(folder / "mesh.glb", force="mesh")
    assert len(mesh.vertices) > 0


def test_bad_inputs_fail_one_line_each_and_others_still_run(
    rgba_path: Path, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"garbage")
    empty = tmp_path / "empty.png"
    PIL.Image.new("RGBA", (20, 20)).save(empty)
    out = tmp_path / "out"
    code = main(
        [str(corrupt), str(tmp_path / "missing.png"), str(empty), str(rgba_path), "--no-remove-bg",
         "--pretrained-model-name-or-path", str(tiny_model_dir), "--device", "cpu", "--mc-resolution", "16",
         "--mc-threshold", "1.5", "--output-dir", str(out)]
    )  # fmt: skip
    assert code == 1
    stderr = capsys.readouterr().err
    err_lines = [line for line in stderr.splitlines() if line.startswith("run: error:")]
    assert len(err_lines) == 3
    assert "corrupt.jpg: not a readable image" in err_lines[0]
    assert "missing.png: file not found" in err_lines[1]
    assert "no foreground" in err_lines[2]
    assert "3 of 4 image(s) failed" in stderr
    assert (out / "3" / "mesh.obj").is_file()
    assert "Traceback" not in stderr


def test_missing_checkpoint_is_one_line(rgba_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main([str(rgba_path), "--pretrained-model-name-or-path", str(tmp_path), "--device", "cpu"])
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("run: error:")]
    assert len(err) == 1 and "weights not found" in err[0]


def test_mismatched_checkpoint_is_one_line(
    rgba_path: Path, tiny_model_copy: Path, capsys: pytest.CaptureFixture
) -> None:
    import torch

    state = torch.load(tiny_model_copy / "model.ckpt", weights_only=True)
    state["tokenizer.embeddings"] = torch.zeros(3, 32, 2, 2)
    torch.save(state, tiny_model_copy / "model.ckpt")
    code = main([str(rgba_path), "--pretrained-model-name-or-path", str(tiny_model_copy), "--device", "cpu"])
    assert code == 2
    stderr = capsys.readouterr().err
    err = [line for line in stderr.splitlines() if line.startswith("run: error:")]
    assert len(err) == 1 and "does not match the model config" in err[0]
    assert "Traceback" not in stderr


def test_demo_settings_prefer_flags_then_checkpoint_then_triposr() -> None:
    from omegaconf import OmegaConf

    from real3d.inference.pipeline import demo_settings

    cfg = OmegaConf.create({"demo": {"mc_threshold": 5.0, "render_distance": 3.0}})
    settings = demo_settings(cfg, mc_threshold=7.0)
    assert settings.mc_threshold == 7.0
    assert settings.render_distance == 3.0
    assert settings.foreground_ratio == 0.65
    assert demo_settings(OmegaConf.create({})).mc_threshold == 25.0


def _demo_args(image: Path, model_dir: Path, out: Path) -> list[str]:
    return [str(image), "--pretrained-model-name-or-path", str(model_dir), "--device", "cpu",
            "--mc-resolution", "24", "--mc-threshold", "1.5", "--output-dir", str(out)]  # fmt: skip


def test_faithful_flag_turns_the_fast_paths_off_and_gives_the_same_mesh(
    rgba_path: Path, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scripts.run as run_cli

    seen = []
    original = run_cli.ImageTo3D

    def record(model, *args, **kwargs):
        seen.append(model.render_settings.fast)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(run_cli, "ImageTo3D", record)
    assert main(_demo_args(rgba_path, tiny_model_dir, tmp_path / "fast")) == 0
    assert main([*_demo_args(rgba_path, tiny_model_dir, tmp_path / "faithful"), "--faithful"]) == 0
    assert seen == [True, False]
    fast = trimesh.load(tmp_path / "fast" / "0" / "mesh.obj", force="mesh", process=False)
    faithful = trimesh.load(tmp_path / "faithful" / "0" / "mesh.obj", force="mesh", process=False)
    assert fast.vertices.shape == faithful.vertices.shape and len(fast.vertices) > 0
    assert np.abs(np.sort(fast.vertices, axis=0) - np.sort(faithful.vertices, axis=0)).max() < 1e-4


def test_bf16_on_a_cpu_without_bf16_is_one_line_before_loading(
    rgba_path: Path,
    tmp_path: Path,
    tiny_model_dir: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("real3d.models.lrm.cpu_has_bf16", lambda: False)
    out = tmp_path / "out"
    assert main([*_demo_args(rgba_path, tiny_model_dir, out), "--precision", "bf16"]) == 2
    stderr = capsys.readouterr().err
    err = [line for line in stderr.splitlines() if line.startswith("run: error:")]
    assert len(err) == 1 and "bf16" in err[0] and "fp32" in err[0]
    assert not out.exists() and "Traceback" not in stderr


def test_bf16_demo_runs_where_the_cpu_has_bf16(
    rgba_path: Path, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("real3d.models.lrm.cpu_has_bf16", lambda: True)
    out = tmp_path / "out"
    assert main([*_demo_args(rgba_path, tiny_model_dir, out), "--precision", "bf16"]) == 0
    assert len(trimesh.load(out / "0" / "mesh.obj", force="mesh").vertices) > 0


def test_bake_texture_writes_textured_obj_and_glb(rgba_path: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    pytest.importorskip("xatlas")
    for fmt in ("obj", "glb"):
        out = tmp_path / fmt
        args = [*_demo_args(rgba_path, tiny_model_dir, out), "--model-save-format", fmt]
        assert main([*args, "--bake-texture", "--texture-resolution", "64"]) == 0
        mesh = trimesh.load(out / "0" / f"mesh.{fmt}", force="mesh")
        assert isinstance(mesh.visual, trimesh.visual.TextureVisuals)
    written = sorted(p.name for p in (tmp_path / "obj" / "0").iterdir())
    assert written == ["input.png", "mesh.mtl", "mesh.obj", "mesh.png"]
    assert PIL.Image.open(tmp_path / "obj" / "0" / "mesh.png").size == (64, 64)
