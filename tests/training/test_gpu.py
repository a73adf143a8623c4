"""GPU runs of the recipe's precisions (bf16 autocast, fp16 with the GradScaler) and of a resumed run;
skipped without CUDA (`pytest -m gpu`)."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from real3d.training import AtomicCheckpointIO
from real3d.training.callbacks import PeriodicCheckpoint
from real3d.training.run import train
from tests.training.runs import compose_train, read_metrics
from tests.training.synthetic import SphereDataModule
from tests.training.test_fit import NO_NETWORKS, RESUME_TOLERANCE, _module, _net

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _tiny_gpu(data_dir, out, iterations: int, *extra: str):  # noqa: ANN001, ANN202
    return compose_train(
        [
            "experiment=tiny_cpu",
            f"paths.data_dir={data_dir}",
            f"paths.output_dir={out}",
            "trainer.accelerator=gpu",
            "trainer.devices=1",
            "trainer/strategy=ddp",
            f"module.training.total_iterations={iterations}",
            f"trainer.val_check_interval={iterations}",
            "logger.tensorboard=null",
            *extra,
        ]
    )


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_tiny_recipe_on_one_gpu(data_dir, tmp_path, precision):
    result = train(_tiny_gpu(data_dir, tmp_path, 8, f"trainer.precision={precision}"))
    assert result["iteration"] == 8
    series = read_metrics(tmp_path / "csv" / "metrics.csv")
    assert all(math.isfinite(v) for v in series["train/loss"])
    assert series["val/psnr"] and all(math.isfinite(v) for v in series["val/psnr"])


def test_resume_on_cuda_within_the_stated_tolerance(tmp_path, record_property):
    """8 iterations straight against 4, then 4 resumed (test_fit's run on CUDA: data without per-item
    draws, so the CPU run is bitwise equal): parameters within RESUME_TOLERANCE["cuda"]."""

    def run(root, max_steps, ckpt_path=None, seed=0):  # noqa: ANN001, ANN202
        pl.seed_everything(0)
        module = _module(_net(seed), NO_NETWORKS, accumulation=2, total=8, lr=1e-3)
        trainer = pl.Trainer(
            accelerator="gpu",
            devices=1,
            max_steps=max_steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            default_root_dir=root,
            callbacks=[PeriodicCheckpoint(str(root / "checkpoints"), every_n_iterations=4)],
            plugins=[AtomicCheckpointIO()],
        )
        trainer.fit(module, datamodule=SphereDataModule(num_objects=1, render_size=16), ckpt_path=ckpt_path)
        return module

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    resumed = run(tmp_path / "resumed", 4, ckpt_path=tmp_path / "resumed" / "checkpoints" / "last.ckpt", seed=123)
    assert resumed.iteration == straight.iteration == 8
    pairs = list(zip(straight.net.parameters(), resumed.net.parameters(), strict=True))
    record_property("resume_max_param_diff", max(float((a - b).abs().max()) for a, b in pairs))
    for a, b in pairs:
        assert torch.allclose(a, b, **RESUME_TOLERANCE["cuda"])
