"""Export a training checkpoint to the published layout (config.yaml + model.ckpt).

`python scripts/export.py <run>/checkpoints/last.ckpt <folder>`; the folder then loads with
`run.sh --pretrained-model-name-or-path <folder>`, `LRM.from_pretrained` and the original code.
"""

from __future__ import annotations

import argparse
import sys

from real3d.cli import run_cli
from real3d.training.checkpointing import export_pretrained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="A Lightning checkpoint written by scripts/train.py.")
    parser.add_argument("output_dir", help="Folder to write config.yaml and the weights into.")
    parser.add_argument("--weight-name", default="model.ckpt", help="Name of the weights file.")
    args = parser.parse_args(argv)
    return run_cli(_export, parser.prog, args)


def _export(args: argparse.Namespace) -> int:
    """Write the published layout and say where."""
    folder = export_pretrained(args.checkpoint, args.output_dir, weight_name=args.weight_name)
    print(f"exported to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
