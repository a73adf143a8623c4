"""eval.sh keeps the caller's folder: scripts found from its own place, relative roots and results the caller's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_MODEL_DIR
from tests.evaluation.configs import ROOT, co3d_set

RECORDER = """#!/usr/bin/env bash
printf '%s\\n' "$PWD" "$@" > "$RECORD_DIR/call_$(ls "$RECORD_DIR" | wc -l)"
"""


def test_eval_sh_runs_the_four_evaluations_from_the_callers_folder(tmp_path: Path) -> None:
    """With a stand-in interpreter that records its folder and arguments: no `cd`, absolute script paths,
    the roots as given, the extra overrides passed to every run."""
    recorder, calls = tmp_path / "python", tmp_path / "calls"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    calls.mkdir()
    user = tmp_path / "user"
    user.mkdir()
    env = {**os.environ, "PYTHON": str(recorder), "RECORD_DIR": str(calls), "WILD_ROOT": "photos"}
    done = subprocess.run([str(ROOT / "eval.sh"), "model.path=mine"], cwd=user, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    runs = [(calls / f"call_{i}").read_text().splitlines() for i in range(4)]
    assert all(run[0] == str(user) for run in runs)
    assert [run[1] for run in runs] == [str(ROOT / "scripts" / s) for s in ("eval_mv.py",) * 3 + ("eval_sv.py",)]
    assert "dataset.root=data/co3d" in runs[0] and "dataset.mask_root=data/mvimgnet/mask" in runs[1]
    assert "dataset.root=photos" in runs[3] and all(run[-1] == "model.path=mine" for run in runs)


@pytest.mark.slow
def test_eval_sh_writes_results_where_the_user_stands(tmp_path: Path) -> None:
    """A real run: CO3D evaluated from a relative root into ./outputs/eval/co3d; the next evaluation (no
    MVImgNet data here) stops the sequence with its one line and exit code 2."""
    root, split = co3d_set(tmp_path / "user" / "data" / "co3d_set")
    os.rename(root, tmp_path / "user" / "data" / "co3d")
    overrides = [f"model.path={TINY_MODEL_DIR}", "device=cpu", f"dataset.split_file={split}", "dataset.image_size=32",
                 "render_size=16", "model.render.num_samples_per_ray=8", "pretrained.allow_random=true",
                 "progress=false"]  # fmt: skip
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [str(ROOT / "eval.sh"), *overrides], cwd=tmp_path / "user", env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    metrics = json.loads((tmp_path / "user" / "outputs" / "eval" / "co3d" / "metrics.json").read_text())
    assert metrics["num_objects"] == 1
    assert "eval_mv: error: dataset.root=data/mvimgnet/image: folder not found" in done.stderr
