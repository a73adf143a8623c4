"""Peak host memory of the evaluation's per-object work against the sizes a user sets, on the CPU.

Each case runs in a fresh process (the tiny parity model, random LPIPS-VGG and a tiny CLIP, fp32): the
peak resident memory during the work less the resident memory before it. The table gives the bytes per
rendered pixel (pixels x views) between two sizes, which real3d/evaluation/limits.py must stay above.

    python tools/bench_eval_memory.py            # every case, a table on stdout
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "fixtures" / "parity" / "tiny"
CASES = {  # name: (kind, views, [sizes])
    "eval_mv, LPIPS on": ("mv", 5, [128, 256]),
    "eval_mv, LPIPS off": ("mv_nolpips", 5, [128, 256]),
    "vis360 orbit + video": ("vis360", 8, [128, 256]),
    "eval_sv orbit (consistency off)": ("sv_orbit", 8, [96, 192]),
    "eval_sv consistency": ("sv_consistency", 13, [96, 192]),
}


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def _peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(kind: str, views: int, size: int) -> int:
    """Peak bytes above the resident memory before the work (run in a fresh process)."""
    import numpy as np
    import PIL.Image
    import torch

    from real3d import pretrained
    from real3d.evaluation import outputs
    from real3d.evaluation.multiview import evaluate_object, reconstruct
    from real3d.evaluation.singleview import WildItem, evaluate_singleview
    from real3d.geometry import orbit_cameras
    from real3d.models import LRM
    from real3d.models.config import PACKAGED_CONFIGS
    from real3d.rendering import render_orbit

    torch.set_num_threads(1)
    model = LRM.from_pretrained(TINY).eval()
    lpips = pretrained.build_lpips(None, allow_random=True) if kind != "mv_nolpips" else None
    clip = pretrained.build_clip(None, PACKAGED_CONFIGS / "clip-tiny" / "config.json", allow_random=True)
    image = torch.rand(3, 64, 64)
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "p.png"
        rgba = np.zeros((size, size, 4), np.uint8)
        rgba[..., :3] = 128
        rgba[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4, 3] = 255
        PIL.Image.fromarray(rgba).save(photo)
        cameras = orbit_cameras(views, 0.0, 3.0, math.radians(40.0), size, size)
        sample = {
            "name": "x",
            "image_input": image,
            "rgb": torch.rand(views, 3, size, size),
            "c2w": cameras.c2w.float(),
            "focal_norm": torch.full((views,), 1.0),
        }
        before = _rss_bytes()
        with torch.no_grad():
            if kind.startswith("mv"):
                evaluate_object(model, sample, size, lpips)
            elif kind == "vis360":
                frames = render_orbit(model, reconstruct(model, image), cameras)[0][0]
                outputs.save_orbit_video(frames, Path(tmp) / "v.mp4")
            else:
                consistency = kind == "sv_consistency"
                evaluate_singleview(
                    model,
                    [WildItem("p", photo)],
                    clip,
                    lpips,
                    image_size=64,
                    n_views=2 if consistency else views,
                    render_size=16 if consistency else size,
                    consistency=consistency,
                    consistency_size=size,
                )
        return _peak_bytes() - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, metavar=("KIND", "VIEWS", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), int(args.one[2]))))
        return 0
    print(f"{'case':<34} {'views':>5} {'sizes':>9} {'peak MiB':>17} {'bytes/pixel':>11}")
    for name, (kind, views, sizes) in CASES.items():
        peaks = []
        for size in sizes:
            command = [sys.executable, __file__, "--one", kind, str(views), str(size)]
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
            peaks.append(json.loads(done.stdout.strip().splitlines()[-1]))
        slope = (peaks[1] - peaks[0]) / (views * (sizes[1] ** 2 - sizes[0] ** 2))
        shown = " / ".join(f"{p / 2**20:.0f}" for p in peaks)
        print(f"{name:<34} {views:>5} {sizes[0]:>4}/{sizes[1]:<4} {shown:>17} {slope:>11.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
