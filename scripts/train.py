"""Train the LRM with the Real3D recipe: `python scripts/train.py experiment=<name> [overrides]`.

Experiments: real3d_sv (the published recipe, 8 GPUs), mv_finetune (step 0), tiny_cpu (a CPU smoke
run on generated data). Resume with `ckpt_path=<run>/checkpoints/last.ckpt`. See config/train.yaml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROJECT_ROOT", str(ROOT))

from real3d.errors import Real3DError  # noqa: E402
from real3d.training.run import register_resolvers, train  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(ROOT / "config"), config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except Exception as exc:  # a user error (often wrapped by Hydra's instantiate) is one line
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, Real3DError):
            cause = cause.__cause__
        if not isinstance(cause, Real3DError):
            raise
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
