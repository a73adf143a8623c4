"""Validation under DDP with two gloo processes: a rank whose whole shard is skipped still joins the
reduction of `val/psnr` (before, the other rank waited in the all-reduce until the timeout).

The fast test runs the module's validation hooks in two forked processes; the slow one runs
`Trainer.validate` with Lightning's own DDP launcher."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from pytorch_lightning.strategies import DDPStrategy

from real3d.data.samples import MultiViewBatch
from real3d.evaluation.multiview import evaluate_object
from real3d.metrics import psnr
from real3d.models import load
from real3d.training import Real3DModule
from tests.conftest import TINY_MODEL_DIR
from tests.training.ddp_validate import evaluation_item
from tests.training.runs import ROOT
from tests.training.synthetic import multiview_sample
from tests.training.test_module import NO_NETWORKS, RecordingNet

SKIPPED = {"name": "bad", "skipped": "missing sparse/0"}


def _validate_rank(rank: int, port: int, out: Path) -> None:
    """One process: rank 0 scores two multi-view batches, rank 1 gets only skipped items."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=30))
    try:
        module = Real3DModule(RecordingNet(), loss_weights=NO_NETWORKS)
        module.trainer = SimpleNamespace(strategy=DDPStrategy())  # its reduce is torch.distributed's
        logged: dict[str, float] = {}
        module.log = lambda name, value, **kwargs: logged.update({name: float(value)})
        batch = MultiViewBatch.collate([multiview_sample(0, render_size=16)])
        module.on_validation_epoch_start()
        for index, item in enumerate([batch, batch] if rank == 0 else [SKIPPED, SKIPPED]):
            module.validation_step(item, index)
        module.on_validation_epoch_end()
        (out / f"rank{rank}.json").write_text(json.dumps(logged))
    finally:
        dist.destroy_process_group()


def test_every_rank_reduces_validation_even_with_nothing_scored(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_validate_rank, args=(rank, port, tmp_path)) for rank in (0, 1)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    hung = [p for p in processes if p.is_alive()]
    for process in hung:
        process.kill()
    assert not hung and all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    sample = multiview_sample(0, render_size=16)
    module = Real3DModule(RecordingNet(), loss_weights=NO_NETWORKS)
    with torch.no_grad():
        render = module.net(module._model_input(sample["image_input"][None]), sample["cameras"][None])
    expected = psnr(render["images_rgb"][0].clamp(0, 1), sample["rgb"]).mean()
    assert rank0 == rank1 == {"val/psnr": pytest.approx(float(expected), abs=1e-5)}


@pytest.mark.slow
def test_a_rank_with_only_skipped_items_does_not_hang_lightning_validation(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = ROOT / "tests" / "training" / "ddp_validate.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    torch.manual_seed(0)
    net = load(config=TINY_MODEL_DIR / "config.yaml", render={"num_samples_per_ray": 16}).eval()
    record, _, _ = evaluate_object(net, evaluation_item(), render_size=32)
    # both ranks report the mean over every scored object (rank 0's two, rank 1's none)
    assert rank0["val/psnr"] == pytest.approx(record["all_views"]["psnr"], abs=1e-4)
    assert rank1 == rank0
