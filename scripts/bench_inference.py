"""Inference benchmark: image->triplane, one rendered view and mesh extraction, medians of runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from real3d.geometry import spherical_rays
from real3d.models import LRM


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="checkpoints/config.yaml", help="Model config (random weights).")
    parser.add_argument("--pretrained", default=None, help="Checkpoint folder instead of a random model.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="Autocast precision.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs per stage (after one warm-up).")
    parser.add_argument("--render-size", type=int, default=256)
    parser.add_argument("--mc-resolution", type=int, default=256)
    parser.add_argument("--chunk-size", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's).")
    parser.add_argument("--json", default=None, help="Also write the results to this JSON file.")
    return parser.parse_args(argv)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA allocator peak, or the process's peak resident set on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_stage(fn: Callable[[], object], device: torch.device, repeats: int) -> tuple[float, float]:
    """Median seconds of `repeats` runs after a warm-up, and the peak memory (MB) of the stage."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak_memory_mb(device)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = LRM.from_pretrained(args.pretrained) if args.pretrained else LRM.from_config(Path(args.config))
    model.to(device).eval()
    model.renderer.set_chunk_size(args.chunk_size)
    size = model.cfg.cond_image_size
    image = torch.rand(1, 1, 3, size, size, device=device)
    rays_o, rays_d = spherical_rays(1, 0.0, 1.9, 40.0, args.render_size, args.render_size)
    rays_o, rays_d = rays_o[None].to(device), rays_d[None].to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.dtype == "bf16" else contextlib.nullcontext()
    results: dict[str, object] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
        "repeats": args.repeats,
    }
    with torch.inference_mode(), autocast:
        scene_codes = model.image_to_scene_codes(image)
        stages = {
            "image_to_triplane": lambda: model.image_to_scene_codes(image),
            f"render_{args.render_size}": lambda: model.render_scene_codes(scene_codes, rays_o, rays_d),
            f"mesh_{args.mc_resolution}": lambda: model.extract_mesh(scene_codes, args.mc_resolution, 25.0),
        }
        for name, fn in stages.items():
            seconds, peak = time_stage(fn, device, args.repeats)
            results[name] = {"median_s": round(seconds, 4), "peak_mem_mb": round(peak, 1)}
            print(f"{name:>20}: {seconds:8.3f} s   peak memory {peak:9.1f} MB", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
