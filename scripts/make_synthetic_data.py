#!/usr/bin/env python
"""Write a small synthetic dataset in the real on-disk formats (GObjaverse, Zero-1-to-3, in-the-wild
crops, MVImgNet frames) with split files, for CPU tests and smoke runs of training.

Example: python scripts/make_synthetic_data.py data/generated/tiny --objects 4 --views 8

Every flag is checked with its range before any work, the sizes against the memory and the disk space
they would take; the folder is written whole (staged beside it, then moved into place, replacing an
earlier generated set there; a folder holding anything else is refused).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real3d.cli import run_cli  # noqa: E402
from real3d.data.synthetic import DEFAULT_DOMAIN, DomainSpec, SetSizes, make_dataset  # noqa: E402
from real3d.data.synthetic.shapes import ALL_SHAPES, TEXTURES  # noqa: E402
from real3d.errors import Real3DError  # noqa: E402
from real3d.memory_budget import SizeCheck, budget_bytes, check_sizes, format_bytes  # noqa: E402
from real3d.staging import check_destination, staged_folder  # noqa: E402

MAX_COUNT = 100_000
WRITTEN = frozenset({"info.json", "gobjaverse", "zero123", "wild", "mvimgnet"})  # what a generated set holds
RENDER_PIXEL_BYTES = 400  # one render's working set per pixel (measured: 307 at 256-1024 px, rounded up)
VIEW_PIXEL_BYTES = 32  # the views of one object kept until they are written
FILE_PIXEL_BYTES = 4  # a PNG on disk, at most (RGBA, compressed)
FILE_BYTES = 4096  # per file: a file system block, the camera file beside each view
BACKGROUNDS = ("noise", "gradient", "white")


def count(high: int = MAX_COUNT, low: int = 0):
    """argparse type: an integer in [low, high]."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is not in [{low}, {high}]")
        return number

    return parse


def fraction(value: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1]")
    return number


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make_synthetic_data", description=__doc__.splitlines()[0])
    p.add_argument("output_dir", type=Path)
    p.add_argument("--objects", type=count(), default=4, help="objects per multi-view set (GObjaverse, Zero123)")
    p.add_argument("--gobjaverse-objects", type=count(), default=None, help="overrides --objects")
    p.add_argument("--zero123-objects", type=count(), default=None, help="overrides --objects")
    p.add_argument("--views", type=count(1024, 1), default=8, help="views per multi-view object")
    p.add_argument("--size", type=count(4096, 16), default=64, help="multi-view render size (pixels)")
    p.add_argument("--wild-images", type=count(), default=8)
    p.add_argument("--wild-size", type=count(4096, 16), default=96)
    p.add_argument("--mvimgnet-sequences", type=count(), default=4)
    p.add_argument("--mvimgnet-frames", type=count(1024, 1), default=3)
    p.add_argument("--test-fraction", type=fraction, default=0.25)
    p.add_argument("--seed", type=count(2**32 - 1), default=0)
    p.add_argument("--domain", type=Path, default=None, help="JSON file of DomainSpec fields")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(_write, "make_synthetic_data", args)


def read_domain(path: Path) -> DomainSpec:
    """A DomainSpec from a JSON file, every field checked (one line naming the first bad one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Real3DError(f"--domain {path}: cannot read it as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise Real3DError(f"--domain {path}: must hold a JSON object of DomainSpec fields")
    try:
        spec = DomainSpec.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise Real3DError(f"--domain {path}: {exc}") from exc
    problem = domain_problem(spec)
    if problem:
        raise Real3DError(f"--domain {path}: {problem}")
    return spec


def domain_problem(spec: DomainSpec) -> str | None:
    """What is wrong with a DomainSpec's values, or None."""
    for name in ("saturation", "value", "texture_frequency", "fill", "ambient", "diffuse",
                 "light_elevation_deg", "elevation_deg", "distance"):  # fmt: skip
        pair = getattr(spec, name)
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(_finite(v) for v in pair) and pair[0] <= pair[1]):
            return (
                f"{name}={list(pair) if isinstance(pair, tuple) else pair!r}: must be [low, high] numbers, low <= high"
            )
    if min(spec.distance) <= 0.0 or min(spec.fill) <= 0.0 or min(spec.texture_frequency) <= 0.0:
        return "distance, fill and texture_frequency must be above 0"
    if not (isinstance(spec.shapes, tuple) and spec.shapes and set(spec.shapes) <= set(ALL_SHAPES)):
        return f"shapes={spec.shapes!r}: must be a non-empty list of {', '.join(ALL_SHAPES)}"
    if not (isinstance(spec.textures, tuple) and spec.textures and set(spec.textures) <= set(TEXTURES)):
        return f"textures={spec.textures!r}: must be a non-empty list of {', '.join(TEXTURES)}"
    if spec.background not in BACKGROUNDS:
        return f"background={spec.background!r}: must be one of {', '.join(BACKGROUNDS)}"
    if not (_finite(spec.fov_deg) and 1.0 <= spec.fov_deg <= 179.0) or not _finite(spec.tilt_deg):
        return "fov_deg must be in [1, 179] and tilt_deg a number"
    return None


def set_sizes(args: argparse.Namespace) -> SetSizes:
    """The sizes of the set; a set of nothing is refused."""
    sizes = SetSizes(
        gobjaverse_objects=args.objects if args.gobjaverse_objects is None else args.gobjaverse_objects,
        zero123_objects=args.objects if args.zero123_objects is None else args.zero123_objects,
        views=args.views,
        image_size=args.size,
        wild_images=args.wild_images,
        wild_size=args.wild_size,
        mvimgnet_sequences=args.mvimgnet_sequences,
        mvimgnet_frames=args.mvimgnet_frames,
        test_fraction=args.test_fraction,
    )
    if not (sizes.gobjaverse_objects or sizes.zero123_objects or sizes.wild_images or sizes.mvimgnet_sequences):
        raise Real3DError("nothing to write: every set has 0 items (--objects, --wild-images, --mvimgnet-sequences)")
    return sizes


def check_resources(sizes: SetSizes, parent: Path) -> None:
    """The largest render against the memory, the whole set against the free disk space."""

    wild = sizes.wild_size if sizes.wild_images else 0
    multiview = sizes.image_size if sizes.gobjaverse_objects or sizes.zero123_objects else 0

    def peak(wild_size: int, size: int, views: int) -> float:  # one object (or photo) is rendered at a time
        return max(wild_size**2 * RENDER_PIXEL_BYTES, size**2 * (RENDER_PIXEL_BYTES + views * VIEW_PIXEL_BYTES))

    checks = [SizeCheck("--wild-size", wild, lambda s: peak(s, multiview, sizes.views), 16)] if wild else []
    if multiview:
        checks += [
            SizeCheck("--size", multiview, lambda s: peak(wild, s, sizes.views), 16),
            SizeCheck("--views", sizes.views, lambda v: peak(wild, multiview, v)),
        ]
    check_sizes(checks, budget_bytes())
    files = [
        ((sizes.gobjaverse_objects + sizes.zero123_objects) * sizes.views, 2, sizes.image_size**2),
        (sizes.wild_images, 1, sizes.wild_size**2),
        (sizes.mvimgnet_sequences * sizes.mvimgnet_frames, 2, sizes.mvimgnet_height * sizes.mvimgnet_width),
    ]
    need = sum(n * (per * FILE_BYTES + pixels * FILE_PIXEL_BYTES) for n, per, pixels in files)
    free = shutil.disk_usage(_existing(parent)).free
    if need > free:
        raise Real3DError(f"the set needs up to {format_bytes(need)} on disk, {format_bytes(free)} are free there")


def _write(args: argparse.Namespace) -> int:
    """Write the dataset into a staging folder, move it into place and print its timings."""
    spec = DEFAULT_DOMAIN if args.domain is None else read_domain(args.domain)
    sizes = set_sizes(args)
    out = check_destination(args.output_dir, "output_dir", _written)
    check_resources(sizes, out.parent)
    start = time.perf_counter()
    with staged_folder(out, "output_dir", _written) as staged:
        stage = staged.path
        info = make_dataset(stage, sizes, seed=args.seed, spec=spec)
        info = _moved(info, stage, out)
        (stage / "info.json").write_text(json.dumps(info, indent=1))
    print(f"wrote {args.output_dir} in {time.perf_counter() - start:.1f} s")
    for key, value in info["timings"].items():
        print(f"  {key}: {value:.3f}")
    return 0


def _moved(value, stage: Path, out: Path):
    """`info` with the staging folder's paths replaced by the final folder's."""
    if isinstance(value, dict):
        return {k: _moved(v, stage, out) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(str(stage)):
        return str(out) + value[len(str(stage)) :]
    return value


def _written(entry: Path) -> bool:
    return entry.name in WRITTEN


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


if __name__ == "__main__":
    sys.exit(main())
