"""Export a training checkpoint to the published layout (config.yaml + model.ckpt).

`python scripts/export.py <run>/checkpoints/last.ckpt <folder>`; the folder then loads with
`run.sh --pretrained-model-name-or-path <folder>`, `LRM.from_pretrained` and the original code.
The folder is written whole (staged beside it, then moved into place, replacing an earlier export);
a folder holding anything else is refused, as is a file that is no Real3D training checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from real3d.cli import run_cli  # noqa: E402
from real3d.errors import Real3DError  # noqa: E402


def weight_name(value: str) -> str:
    """argparse type: a plain file name with a torch suffix."""
    from real3d.training.checkpointing import check_weight_name

    try:
        check_weight_name(value)
    except Real3DError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="A Lightning checkpoint written by scripts/train.py.")
    parser.add_argument("output_dir", type=Path, help="Folder to write config.yaml and the weights into.")
    parser.add_argument(
        "--weight-name", type=weight_name, default="model.ckpt", help="Name of the weights file (.ckpt, .pth, ...)."
    )
    args = parser.parse_args(argv)
    return run_cli(_export, parser.prog, args)


def _export(args: argparse.Namespace) -> int:
    """Write the published layout and say where."""
    from real3d.training.checkpointing import export_pretrained

    folder = export_pretrained(args.checkpoint, args.output_dir, weight_name=args.weight_name)
    print(f"exported to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
