#!/usr/bin/env python
"""Pretrain the miniature CLIP (open_clip, image and text towers) on the mini study's domain images
and the captions the generator knows; save it for `real3d.pretrained.build_clip` and print its
zero-shot shape-family accuracy on the test images, trained against random weights.

Example: python scripts/pretrain_clip.py --data-dir outputs/mini_study/data --steps 3000 --threads 1
Evaluate a saved one on another data folder's test images (e.g. more test objects), adding the numbers to
its metrics.json: python scripts/pretrain_clip.py --data-dir <data> --output-dir checkpoints/mini/clip --eval-only
Use it in training: pretrained=mini (checkpoints/mini/clip), or pretrained.clip=... pretrained.clip_config=...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real3d.cli import run_cli  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from real3d import argtypes

    p = argparse.ArgumentParser(prog="pretrain_clip", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True, help="mini-study data (tools/mini_study_report.py data)")
    p.add_argument("--output-dir", type=Path, default=Path("checkpoints/mini/clip"), help="where the model is written")
    p.add_argument("--steps", type=argtypes.integer(1), default=3000)
    p.add_argument("--batch-size", type=argtypes.integer(2, 4096), default=64)
    p.add_argument("--lr", type=argtypes.number(0.0, 1.0, low_open=True), default=1e-3)
    p.add_argument(
        "--width", type=argtypes.integer(32, 1024, multiple_of=32), default=128, help="image tower width (heads of 32)"
    )
    p.add_argument("--layers", type=argtypes.integer(1, 24), default=4, help="image tower layers")
    p.add_argument(
        "--image-size", type=argtypes.integer(8, 512, multiple_of=8), default=64, help="image side (patches of 8)"
    )
    p.add_argument("--seed", type=argtypes.integer(0), default=0)
    p.add_argument("--threads", type=argtypes.integer(1, 1024), default=1, help="torch CPU threads")
    p.add_argument(
        "--device", type=argtypes.device, default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N"
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument(
        "--eval-only", action="store_true", help="evaluate the model saved in --output-dir on --data-dir's test images"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_cli(_pretrain, "pretrain_clip", parse_args(argv))


def _pretrain(args: argparse.Namespace) -> int:
    """Train, save and print the zero-shot numbers."""
    import torch

    from real3d.devices import resolve_device
    from real3d.pretraining.clip import (
        CaptionTokenizer,
        TrainSettings,
        evaluate_saved,
        mini_clip_config,
        pretrain_clip,
    )

    args.device = resolve_device(args.device)

    if args.eval_only:
        torch.set_num_threads(args.threads)
        evaluation = evaluate_saved(args.output_dir, args.data_dir, args.seed, args.device)
        metrics_path = args.output_dir / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        metrics.setdefault("evaluations", {})[str(args.data_dir)] = evaluation
        metrics_path.write_text(json.dumps(metrics, indent=1) + "\n")
        _print(evaluation)
        return 0
    torch.set_num_threads(args.threads)
    vocab_size = CaptionTokenizer.for_captions(context_length=32).vocab_size
    config = mini_clip_config(vocab_size, image_size=args.image_size, width=args.width, layers=args.layers)
    settings = TrainSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    metrics = pretrain_clip(
        args.data_dir, args.output_dir, settings, config, progress=not args.no_progress, device=args.device
    )
    print(f"saved {args.output_dir} ({metrics['parameters']} parameters, {metrics['seconds'] / 60:.1f} min)")
    print(f"loss {metrics['first_loss']:.3f} -> {metrics['last_loss']:.3f}")
    _print(metrics)
    return 0


def _print(evaluation: dict) -> None:
    print("zero-shot family accuracy (test images; 'own': among the domain's 5 families, 'all': among 10):")
    print(json.dumps(evaluation["zero_shot"], indent=1))
    print("R test objects, input view vs novel views (cosine of the same object / of others, nearest-input match):")
    print(json.dumps(evaluation["view_similarity"], indent=1))


if __name__ == "__main__":
    sys.exit(main())
