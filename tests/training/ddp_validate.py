"""Two-process validation for the DDP test (run as a script; Lightning starts the second process):
rank 0 gets the scorable evaluation items, rank 1 only skipped ones. Each rank writes what it logged."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from real3d.models import load  # noqa: E402
from real3d.training import Real3DModule  # noqa: E402
from tests.conftest import TINY_MODEL_DIR  # noqa: E402
from tests.training.synthetic import multiview_sample  # noqa: E402

NO_NETWORKS = {"perceptual": 0.0, "perceptual_cy": 0.0, "clip_novel": 0.0}


def evaluation_item() -> dict:
    """One scorable evaluation-set item (the layout `evaluate_object` reads)."""
    sample = multiview_sample(0, render_size=16)
    return {
        "name": "sphere",
        "image_input": sample["image_input"],
        "rgb": sample["rgb"],
        "c2w": sample["cameras"].c2w,
        "focal_norm": sample["cameras"].focal / 16,
    }


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = load(config=TINY_MODEL_DIR / "config.yaml", render={"num_samples_per_ray": 16})
    module = Real3DModule(net, loss_weights=NO_NETWORKS, val_render_size=32).eval()
    skipped = {"name": "bad", "skipped": "missing sparse/0"}
    items = [evaluation_item(), skipped, evaluation_item(), skipped]  # rank r gets items r, r + 2
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=pl.strategies.DDPStrategy(timeout=timedelta(seconds=60)),  # a hang fails within a minute
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    metrics = trainer.validate(module, DataLoader(items, batch_size=None), verbose=False)[0]
    path = Path(out_dir) / f"rank{trainer.global_rank}.json"
    path.write_text(json.dumps({k: float(v) for k, v in metrics.items()}))


if __name__ == "__main__":
    main(sys.argv[1])
