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

from real3d.cli import run_cli  # noqa: E402
from real3d.training.run import register_resolvers, train  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path=str(ROOT / "config"), config_name="train")
def main(cfg: DictConfig) -> None:
    sys.exit(run_cli(train, "train", cfg))  # a user error, even wrapped by Hydra's instantiate, is one line


if __name__ == "__main__":
    main()
