#!/usr/bin/env python
"""Write a small synthetic dataset in the real on-disk formats (GObjaverse, Zero-1-to-3, in-the-wild
crops, MVImgNet frames) with split files, for CPU tests and smoke runs of training.

Example: python scripts/make_synthetic_data.py data/generated/tiny --objects 4 --views 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real3d.cli import run_cli  # noqa: E402
from real3d.data.synthetic import DEFAULT_DOMAIN, DomainSpec, SetSizes, make_dataset  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make_synthetic_data", description=__doc__.splitlines()[0])
    p.add_argument("output_dir", type=Path)
    p.add_argument("--objects", type=int, default=4, help="objects per multi-view set (GObjaverse, Zero123)")
    p.add_argument("--gobjaverse-objects", type=int, default=None, help="overrides --objects")
    p.add_argument("--zero123-objects", type=int, default=None, help="overrides --objects")
    p.add_argument("--views", type=int, default=8, help="views per multi-view object")
    p.add_argument("--size", type=int, default=64, help="multi-view render size (pixels)")
    p.add_argument("--wild-images", type=int, default=8)
    p.add_argument("--wild-size", type=int, default=96)
    p.add_argument("--mvimgnet-sequences", type=int, default=4)
    p.add_argument("--mvimgnet-frames", type=int, default=3)
    p.add_argument("--test-fraction", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain", type=Path, default=None, help="JSON file of DomainSpec fields")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a bad --domain file or size is the user's: ValueError/OSError count as user errors here
    return run_cli(_write, "make_synthetic_data", args, user_errors=(ValueError, OSError))


def _write(args: argparse.Namespace) -> int:
    """Write the dataset and print its timings."""
    spec = DEFAULT_DOMAIN
    if args.domain is not None:
        spec = DomainSpec.from_dict(json.loads(args.domain.read_text()))
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
    start = time.perf_counter()
    info = make_dataset(args.output_dir, sizes, seed=args.seed, spec=spec)
    print(f"wrote {args.output_dir} in {time.perf_counter() - start:.1f} s")
    for key, value in info["timings"].items():
        print(f"  {key}: {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
