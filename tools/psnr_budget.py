#!/usr/bin/env python
"""Where a model's novel-view PSNR is lost on the mini study's test splits: colour or shape (issue 17).

    python tools/psnr_budget.py MODEL_DIR DATA_DIR [--domains S R] [--out budget.json]

Evaluates as scripts/train_default.sh does (renders at 64x64, 6 views, view 0 the input; the views
read at the size the data was rendered, DATA_DIR/info.json, so that a larger input keeps its
detail) and prints, per domain,
the mean over objects of:
  input_view      PSNR of the input view's render (the visible side);
  novel           novel-view PSNR, the metric of the issue's targets;
  colour_fixed    novel-view PSNR after the best affine colour map (3x4, least squares over the object's
                  novel views) of the renders onto the ground truth: what reading colour right could add;
  white           a blank white canvas (the floor);
  oracle_grey     the ground truth without its chroma (luma kept): a perfect shape that is colour-blind;
  oracle_flat     the ground truth's silhouette filled with each view's mean object colour: a perfect
                  silhouette with no shading or texture.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from real3d.cli import run_cli  # noqa: E402
from real3d.errors import Real3DError  # noqa: E402
from real3d.io import atomic_write_text  # noqa: E402
from real3d.metrics import psnr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LUMA = torch.tensor([0.299, 0.587, 0.114])
RENDER_SIZE = 64
MEASURES = ("input_view", "novel", "colour_fixed", "white", "oracle_grey", "oracle_flat")


def colour_fixed(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """pred [N,3,H,W] through the affine colour map (least squares over all pixels) closest to target."""
    pixels = pred.permute(0, 2, 3, 1).reshape(-1, 3)
    design = torch.cat([pixels, torch.ones(len(pixels), 1)], dim=1).double()  # [N*H*W,4]
    wanted = target.permute(0, 2, 3, 1).reshape(-1, 3).double()
    mapped = (design @ torch.linalg.lstsq(design, wanted).solution).clamp(0, 1).float()
    return mapped.reshape(pred.shape[0], pred.shape[2], pred.shape[3], 3).permute(0, 3, 1, 2)


def without_chroma(image: torch.Tensor) -> torch.Tensor:
    """image [N,3,H,W] with each pixel's colour replaced by its luma."""
    return (image * LUMA[:, None, None]).sum(dim=1, keepdim=True).expand_as(image)


def flat_silhouette(target: torch.Tensor, threshold: float = 2.0 / 255) -> torch.Tensor:
    """target [N,3,H,W] (white background) with each view's object pixels set to their mean colour."""
    inside = ((1.0 - target).abs().amax(dim=1, keepdim=True) > threshold).float()  # [N,1,H,W]
    mean = (target * inside).sum(dim=(2, 3), keepdim=True) / inside.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    return inside * mean + (1.0 - inside)


def object_budget(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """The budget's measures for one object's renders pred and ground truth target [V,3,H,W] (view 0 the input)."""
    novel_pred, novel_target = pred[1:], target[1:]

    def mean_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(psnr(a, b).mean())

    return {
        "input_view": mean_psnr(pred[:1], target[:1]),
        "novel": mean_psnr(novel_pred, novel_target),
        "colour_fixed": mean_psnr(colour_fixed(novel_pred, novel_target), novel_target),
        "white": mean_psnr(torch.ones_like(novel_target), novel_target),
        "oracle_grey": mean_psnr(without_chroma(novel_target), novel_target),
        "oracle_flat": mean_psnr(flat_silhouette(novel_target), novel_target),
    }


def _eval_config(model_dir: Path, data_dir: Path, domain: str) -> DictConfig:
    """The evaluation config of train_default.sh for `data_dir`/<domain>_test (views read at the data's size)."""
    from hydra import compose, initialize_config_dir

    root = data_dir / f"{domain}_test"
    if not (root / "split.json").is_file():
        raise Real3DError(f"no test split at {root} (make it with tools/mini_study_report.py data)")
    info = data_dir / "info.json"
    image_size = json.loads(info.read_text())["sizes"]["image_size"] if info.is_file() else RENDER_SIZE
    overrides = [
        f"dataset_name={domain}_test",
        f"dataset.root={root}",
        f"dataset.split_file={root / 'split.json'}",
        "dataset.every_nth=1",
        "dataset.num_views=6",
        f"dataset.image_size={image_size}",
        f"model.path={model_dir}",
        "model.render.num_samples_per_ray=null",
        "device=cpu",
        "pretrained.allow_random=true",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "config" / "eval"), version_base=None):
        return compose("eval_mv_omniobject3d", overrides=overrides)


def domain_budget(model: torch.nn.Module, cfg: DictConfig) -> dict[str, float]:
    """Mean of `object_budget` over the objects of the test split `cfg` (from `_eval_config`) names."""
    from hydra.utils import instantiate

    from real3d.evaluation.multiview import evaluate_multiview

    dataset = instantiate(
        cfg.dataset,
        cond_image_size=int(model.cfg.cond_image_size),
        camera_distance=float(cfg.camera_distance),
        protocol=str(cfg.protocol),
    )
    rows: list[dict[str, float]] = []
    evaluate_multiview(
        model,
        dataset,
        render_size=RENDER_SIZE,
        chunk_size=0,
        protocol=str(cfg.protocol),
        on_object=lambda index, sample, record, pred, target: rows.append(object_budget(pred, target)),
    )
    if not rows:
        raise Real3DError(f"no readable test objects in {cfg.dataset.root}")
    return {key: round(sum(row[key] for row in rows) / len(rows), 2) for key in MEASURES} | {"objects": len(rows)}


def _run(args: argparse.Namespace) -> int:
    """Load the model once, score every domain, print and optionally write the budget."""
    from real3d.evaluation.runner import load_model

    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    configs = {domain: _eval_config(args.model_dir, args.data_dir, domain) for domain in args.domains}
    model, _ = load_model(next(iter(configs.values())))
    budget = {domain: domain_budget(model, cfg) for domain, cfg in configs.items()}
    for domain, row in budget.items():
        print(f"{domain}: " + ", ".join(f"{key} {row[key]}" for key in (*MEASURES, "objects")))
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(budget, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--domains", nargs="+", default=["S", "R"])
    parser.add_argument("--out", type=Path, default=None, help="also write the budget as JSON")
    return run_cli(_run, "psnr_budget", parser.parse_args(argv), user_errors=(OSError, KeyError, ValueError))


if __name__ == "__main__":
    raise SystemExit(main())
