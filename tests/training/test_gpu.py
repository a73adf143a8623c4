"""GPU runs of the recipe's precisions (bf16 autocast, fp16 with the GradScaler); skipped without CUDA."""

from __future__ import annotations

import math

import pytest
import torch

from real3d.training.run import train
from tests.training.runs import compose_train, read_metrics

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_tiny_recipe_on_one_gpu(data_dir, tmp_path, precision):
    cfg = compose_train(
        [
            "experiment=tiny_cpu",
            f"paths.data_dir={data_dir}",
            f"paths.output_dir={tmp_path}",
            "trainer.accelerator=gpu",
            "trainer.devices=1",
            f"trainer.precision={precision}",
            "trainer/strategy=ddp",
            "module.training.total_iterations=8",
            "trainer.val_check_interval=8",
        ]
    )
    result = train(cfg)
    assert result["iteration"] == 8
    series = read_metrics(tmp_path / "csv" / "metrics.csv")
    assert all(math.isfinite(v) for v in series["train/loss"])
