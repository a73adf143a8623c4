"""Pretrain the small model's ViT image encoder self-supervised (contrastive; DINO, MAE) on the domain images.

`python scripts/pretrain_encoder.py --data-dir <mini-study data> --output-dir checkpoints/mini/encoder
--steps 2600 --threads 1`; the data folder is written by `tools/mini_study_report.py data`. Writes the
encoder (config.json, model.safetensors) and pretraining.json (settings, losses, k-NN accuracy of shape
family on the held-out test views, pretrained and a random ViT of the same config, per domain).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

from real3d.cli import run_cli  # noqa: E402

DEFAULT_OUTPUT = Path("checkpoints/mini/encoder")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from real3d import argtypes

    p = argparse.ArgumentParser(prog="pretrain_encoder", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="mini-study data (tools/mini_study_report.py data)")
    p.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT, help="where the encoder is written")
    p.add_argument("--vit-config", type=Path, default=None, help="ViT config.json (default: the small model's)")
    p.add_argument("--method", choices=("contrastive", "dino", "mae"), default="contrastive", help="objective")
    p.add_argument("--steps", type=argtypes.integer(1), default=2000, help="optimizer steps (the schedule's length)")
    p.add_argument("--batch-size", type=argtypes.integer(1, 4096), default=64)
    p.add_argument("--lr", type=argtypes.number(0.0, 1.0, low_open=True), default=5e-4)
    p.add_argument("--local-crops", type=argtypes.integer(0, 32), default=4, help="DINO: local crops per image")
    p.add_argument(
        "--mask-ratio",
        type=argtypes.number(0.0, 1.0, low_open=True, high_open=True),
        default=0.75,
        help="MAE: share masked",
    )
    p.add_argument(
        "--eval-every", type=argtypes.integer(1), default=None, help="k-NN evaluation every N steps (logged)"
    )
    p.add_argument(
        "--max-minutes",
        type=argtypes.number(0.0, low_open=True),
        default=None,
        help="stop early (and save) after this long",
    )
    p.add_argument("--seed", type=argtypes.integer(0), default=0)
    p.add_argument(
        "--threads", type=argtypes.integer(1, 1024), default=None, help="torch CPU threads (default: torch's)"
    )
    p.add_argument("--knn-k", type=argtypes.integer(1, 1000), default=10, help="neighbours of the k-NN evaluation")
    p.add_argument(
        "--p-permute",
        type=argtypes.number(0.0, 1.0),
        default=0.5,
        help="contrastive: share of views with colour channels "
        "permuted (hue invariance; 0 keeps colour in the features, which the LRM needs)",
    )
    p.add_argument(
        "--p-grey", type=argtypes.number(0.0, 1.0), default=0.5, help="contrastive: share of views turned grey"
    )
    p.add_argument(
        "--pixel-weight",
        type=argtypes.number(0.0, 1e6),
        default=0.0,
        help="contrastive: weight of redrawing each view's patches from its patch tokens (keeps colour in them)",
    )
    p.add_argument(
        "--device", type=argtypes.device, default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _run(args: argparse.Namespace) -> int:
    """Pretrain, evaluate against a random ViT, save; print the k-NN table."""
    import json

    import torch
    from transformers import ViTModel

    from real3d.devices import resolve_device

    args.device = resolve_device(args.device)

    from real3d.pretraining.contrastive import ContrastiveSettings
    from real3d.pretraining.dino import DINOSettings
    from real3d.pretraining.encoder import (
        SMALL_VIT_CONFIG,
        PretrainSettings,
        chroma_decodability,
        colour_sensitivity,
        knn_report,
        pretrain,
        read_vit_config,
        save_encoder,
    )
    from real3d.pretraining.mae import MAESettings

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    vit_config = read_vit_config(args.vit_config or SMALL_VIT_CONFIG)
    settings = PretrainSettings(
        method=args.method,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        image_size=vit_config.image_size,
    )
    method_settings = {
        "contrastive": ContrastiveSettings(
            p_grey=args.p_grey, p_permute=args.p_permute, pixel_weight=args.pixel_weight
        ),
        "dino": DINOSettings(local_crops=args.local_crops),
        "mae": MAESettings(mask_ratio=args.mask_ratio),
    }
    start = time.monotonic()
    model, history = pretrain(
        args.data_dir,
        vit_config,
        settings,
        dino=method_settings["dino"],
        mae=method_settings["mae"],
        contrastive=method_settings["contrastive"],
        max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes,
        progress=not args.no_progress,
        eval_every=args.eval_every,
        device=args.device,
    )
    train_seconds = time.monotonic() - start
    encoder = model.encoder()
    torch.manual_seed(args.seed)
    random_vit = ViTModel(vit_config).to(args.device).eval()
    knn = {
        "pretrained": knn_report(encoder, args.data_dir, args.knn_k, vit_config.image_size),
        "random": knn_report(random_vit, args.data_dir, args.knn_k, vit_config.image_size),
    }
    colour = {
        "pretrained": colour_sensitivity(encoder, args.data_dir, vit_config.image_size),
        "random": colour_sensitivity(random_vit, args.data_dir, vit_config.image_size),
    }
    chroma = {
        "pretrained": chroma_decodability(encoder, args.data_dir, vit_config.image_size),
        "random": chroma_decodability(random_vit, args.data_dir, vit_config.image_size),
    }
    window = max(1, min(50, len(history) // 10))
    provenance = {
        "data_dir": str(args.data_dir),
        "settings": settings.__dict__,
        "method_settings": method_settings[args.method].__dict__,
        "steps_done": len(history),
        "train_seconds": round(train_seconds, 1),
        "threads": torch.get_num_threads(),
        "device": str(args.device),
        "loss_first": sum(h["loss"] for h in history[:window]) / window,
        "loss_last": sum(h["loss"] for h in history[-window:]) / window,
        "knn_k": args.knn_k,
        "knn_accuracy": knn,
        "colour_sensitivity": colour,
        "chroma_decodability": chroma,
        "knn_during_training": [{"step": h["step"] + 1, **h["knn"]} for h in history if "knn" in h],
    }
    out = save_encoder(encoder, args.output_dir, provenance)
    print(
        f"{args.method}: {len(history)} steps in {train_seconds / 60:.1f} min, loss {provenance['loss_first']:.4f} -> "
        f"{provenance['loss_last']:.4f} (mean of {window} steps)"
    )
    print(f"k-NN accuracy of shape family (k={args.knn_k}, cosine) on held-out test views:")
    print("| encoder | S cls | S mean | R cls | R mean |")
    print("|---|---|---|---|---|")
    for name, report in knn.items():
        print(
            f"| {name} | {report['S']['cls']:.3f} | {report['S']['mean']:.3f} | "
            f"{report['R']['cls']:.3f} | {report['R']['mean']:.3f} |"
        )
    print(f"queries: S {knn['random']['S']['queries']:.0f}, R {knn['random']['R']['queries']:.0f}; written to {out}")
    print(
        "colour sensitivity (token change under a hue rotation / between two images): "
        + ", ".join(f"{name} S {c['S']:.3f} R {c['R']:.3f}" for name, c in colour.items())
    )
    print(
        "patch chroma read linearly from the patch tokens (test R^2): "
        + ", ".join(f"{name} S {c['S']:.3f} R {c['R']:.3f}" for name, c in chroma.items())
    )
    print(json.dumps(knn))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return run_cli(_run, "pretrain_encoder", args)


if __name__ == "__main__":
    sys.exit(main())
