"""Peak memory of `scripts/run.py` per size setting: the numbers behind the demo's limits
(`real3d/inference/limits.py`) and the README's flag table.

Each case is one run.py process on the default model (CPU unless `--device` says otherwise); its peak is
the process's maximum resident set (`wait4`). `costs` runs each size at a moderate value and prints the
bytes per unit above the baseline run (the per-unit costs of limits.py); `largest` runs each flag at its
largest allowed value and prints a markdown table. Inputs are generated RGBA images (an opaque square
object on a transparent margin).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL.Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from real3d.inference import limits  # noqa: E402

MUG = str(ROOT / "assets" / "examples" / "mug.png")
MIB = 2**20


def object_image(path: Path, side: int, canvas: int | None = None) -> str:
    """An RGBA image of `canvas` px (default: the object and a 1-px margin) with an opaque `side`-px object."""
    canvas = canvas or side + 2
    array = np.zeros((canvas, canvas, 4), np.uint8)
    array[1 : side + 1, 1 : side + 1] = [90, 60, 30, 255]
    PIL.Image.fromarray(array).save(path, compress_level=1)
    return str(path)


def peak_of(args: list[str], out: Path) -> tuple[float, float, str]:
    """(peak resident MiB, seconds, error text or "") of one run.py process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "run.py"), *args, "--output-dir", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - start, f"exit {code}: {stderr[-300:]}" if code else ""


def cost_cases(folder: Path) -> list[tuple[str, list[str], float]]:
    """(label, run.py arguments, units of the size measured) at moderate sizes; the first is the baseline."""
    small, big = object_image(folder / "small.png", 254), object_image(folder / "big.png", 4094)
    decode = object_image(folder / "decode.png", 64, canvas=6000)
    mc32 = ["--mc-resolution", "32"]
    return [
        ("baseline: mug, --mc-resolution 32", [MUG, *mc32], 1),
        ("input pixels: a 6000x6000 image", [decode, *mc32], 6000**2),
        ("canvas pixels: a 4094-px object at ratio 0.5", [big, *mc32, "--foreground-ratio", "0.5"], 8188**2),
        ("grid points: --faithful --mc-resolution 192", [small, "--faithful", "--mc-resolution", "192"], 192**3),
        ("grid points, fast path: --mc-resolution 256", [small, "--mc-resolution", "256"], 256**3),
        (
            "view pixels: 24 views of 256 px",
            [MUG, *mc32, "--render", "--render-num-views", "24", "--render-size", "256"],
            24 * 256**2,
        ),  # fmt: skip
        (
            "ray samples: --faithful, one view of 512 px, 48 samples",
            [MUG, *mc32, "--render", "--render-num-views", "1", "--render-size", "512", "--faithful"],
            512**2 * 48,
        ),  # fmt: skip
        (
            "texels: --bake-texture --texture-resolution 4096",
            [MUG, "--mc-resolution", "64", "--bake-texture", "--texture-resolution", "4096"],
            4096**2,
        ),  # fmt: skip
        (
            "query points: --chunk-size 0 --faithful --mc-resolution 128",
            [small, "--chunk-size", "0", "--faithful", "--mc-resolution", "128"],
            128**3,
        ),  # fmt: skip
    ]


def largest_cases(folder: Path) -> list[tuple[str, list[str], float]]:
    """(label, run.py arguments, 1): each flag at its largest allowed value, the others at their defaults."""
    mc, size, tex = int(limits.MC_RESOLUTION.high), int(limits.RENDER_SIZE.high), int(limits.TEXTURE_RESOLUTION.high)
    side = int(limits.MAX_INPUT_PIXELS**0.5)
    small = object_image(folder / "small.png", 254)
    obj = 4096  # the largest object side after decoding (inputs are downscaled to 4096 px)
    ratio = f"{obj / limits.MAX_CANVAS_SIDE + 1e-6:.6f}"
    render = ["--render", "--render-num-views", "1", "--render-size", str(size)]
    return [
        ("defaults: mug", [MUG], 1),
        (f"input image {side}x{side} px", [object_image(folder / "input.png", 64, canvas=side)], 1),
        (
            f"--foreground-ratio {ratio}: a {limits.MAX_CANVAS_SIDE}-px canvas",
            [object_image(folder / "canvas.png", obj), "--foreground-ratio", ratio],
            1,
        ),
        (f"--mc-resolution {mc}", [small, "--mc-resolution", str(mc)], 1),
        (f"--mc-resolution {mc} --faithful", [small, "--mc-resolution", str(mc), "--faithful"], 1),
        (f"--render-size {size}, one view", [MUG, *render], 1),
        (f"--render-size {size} --faithful, one view", [MUG, *render, "--faithful"], 1),
        (f"--texture-resolution {tex}", [MUG, "--bake-texture", "--texture-resolution", str(tex)], 1),
        (
            f"--chunk-size {limits.MAX_QUERY_POINTS} --faithful",
            [small, "--chunk-size", str(limits.MAX_QUERY_POINTS), "--faithful"],
            1,
        ),  # fmt: skip
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["costs", "largest"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", default=None, help="Only the cases whose label has one of these words.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        todo = (cost_cases if args.kind == "costs" else largest_cases)(folder)
        print("| case | peak (GB) | above the first | per unit (B) | seconds |\n|---|---|---|---|---|", flush=True)
        baseline = None
        for index, (label, run_args, units) in enumerate(todo):
            if index and args.only and not any(word in label for word in args.only):
                continue
            peak, seconds, error = peak_of([*run_args, "--device", args.device], folder / "out")
            baseline = peak if baseline is None else baseline
            above = (peak - baseline) * MIB
            per_unit = f"{above / units:.0f}" if units > 1 else ""
            print(f"| {label} | {peak * MIB / 1e9:.2f} | {above / 1e9:.2f} | {per_unit} | {seconds:.0f} |", flush=True)
            if error:
                print(f"<!-- {error} -->", flush=True)


if __name__ == "__main__":
    main()
