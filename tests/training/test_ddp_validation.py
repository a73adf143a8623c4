"""Validation under DDP with two gloo processes: a rank whose whole shard is skipped still joins the
reduction of `val/psnr` (before, the other rank waited in the all-reduce until the timeout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from real3d.evaluation.multiview import evaluate_object
from real3d.models import load
from tests.conftest import TINY_MODEL_DIR
from tests.training.ddp_validate import evaluation_item
from tests.training.runs import ROOT


def test_a_rank_with_only_skipped_items_does_not_hang_validation(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = ROOT / "tests" / "training" / "ddp_validate.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    import torch

    torch.manual_seed(0)
    net = load(config=TINY_MODEL_DIR / "config.yaml", render={"num_samples_per_ray": 16}).eval()
    record, _, _ = evaluate_object(net, evaluation_item(), render_size=32)
    # both ranks report the mean over every scored object (rank 0's two, rank 1's none)
    assert rank0["val/psnr"] == pytest.approx(record["all_views"]["psnr"], abs=1e-4)
    assert rank1 == rank0
