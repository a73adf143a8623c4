"""scripts/eval_mv.py's runner: metrics.json / CSV / side-by-side / videos, skipped objects, CLI errors."""

from __future__ import annotations

import json
import logging
import runpy
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from real3d.evaluation import evaluate_multiview
from tests.data.test_co3d import NAMES, make_sequence

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = str(ROOT / "config" / "eval")


def test_eval_mv_writes_outputs_and_skips_bad_objects(tmp_path, tiny_model_dir):
    make_sequence(tmp_path / "co3d", "good")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [["chair/good", *NAMES], ["chair/missing", *NAMES]]}))
    out = tmp_path / "out"
    overrides = [
        f"model.path={tiny_model_dir}",
        "device=cpu",
        f"dataset.root={tmp_path / 'co3d'}",
        f"dataset.split_file={split}",
        "dataset.image_size=32",
        "render_size=16",
        "model.render.num_samples_per_ray=8",
        "num_workers=0",
        "pretrained.allow_random=true",
        "progress=false",
        "visuals.vis360=true",
        "visuals.vis360_views=3",
        "visuals.vis360_size=16",
        f"output_dir={out}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="eval_mv_co3d", overrides=overrides)
    from real3d.evaluation.runner import run_multiview

    run_multiview(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "co3d" and metrics["checkpoint"].endswith("model.ckpt")
    assert metrics["config"]["render_size"] == 16 and metrics["num_listed"] == 2
    assert metrics["num_objects"] == 1 and metrics["skipped"][0]["name"] == "chair/missing"
    assert "missing" in metrics["skipped"][0]["reason"]
    record = metrics["objects"][0]
    assert len(record["psnr"]) == len(record["ssim"]) == len(record["lpips"]) == 3
    assert set(metrics["all_views"]) == set(metrics["novel_views"]) == {"psnr", "ssim", "lpips"}
    assert metrics["psnr"] == metrics["all_views"]["psnr"]
    assert record["novel_views"]["psnr"] == pytest.approx(sum(record["psnr"][1:]) / 2, abs=1e-5)
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("name,all_views.psnr") and csv_lines[1].startswith("chair/good,")
    assert len(list((out / "side_by_side").glob("*.png"))) == 1
    assert len(list((out / "videos").glob("*.mp4"))) == 1


def test_evaluate_multiview_restores_the_renderer(tmp_path, tiny_model):
    from real3d.data.co3d import CO3DMultiView

    make_sequence(tmp_path, "good")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [["chair/good", *NAMES]] * 3}))
    dataset = CO3DMultiView(tmp_path, split, image_size=16, cond_image_size=64)
    tiny_model.train()
    result = evaluate_multiview(
        tiny_model, dataset, render_size=8, num_samples_per_ray=4, chunk_size=100, max_objects=2
    )
    assert result["num_objects"] == 2 and result["num_samples_per_ray"] == 4 and "lpips" not in result["all_views"]
    settings = tiny_model.render_settings
    assert tiny_model.training and settings.num_samples_per_ray == 32 and settings.chunk_size == 0
    assert torch.isfinite(torch.tensor(result["psnr"]))


def test_cli_reports_user_errors_in_one_line(tmp_path, monkeypatch, capsys):
    """The script turns a Real3DError into one line on stderr and exit code 2 (run in-process)."""
    argv = ["eval_mv.py", f"model.path={tmp_path / 'nowhere'}", "device=cpu", f"output_dir={tmp_path / 'out'}"]
    monkeypatch.setattr(sys, "argv", argv)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(ROOT / "scripts" / "eval_mv.py"), run_name="__main__")
    finally:  # Hydra's job logging writes to this test's captured stdout: later tests must not log there
        root.handlers[:] = handlers
        root.setLevel(level)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("eval_mv: error:")]
    assert len(errors) == 1 and "nowhere" in errors[0]
    assert "Traceback" not in stderr
