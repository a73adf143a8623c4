"""Train the LRM with the Real3D recipe: `python scripts/train.py experiment=<name> [overrides]`.

Experiments: real3d_sv (the published recipe, 8 GPUs), mv_finetune (step 0), tiny_cpu (a CPU smoke
run on generated data). Resume with `ckpt_path=<run>/checkpoints/last.ckpt`. See config/train.yaml.
Every mistake (an override of the wrong type or range, of a key that does not exist, a bad checkpoint,
a data source that yields nothing) is one line `train: error: ...` and exit 2; Ctrl-C is exit 130.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PROJECT_ROOT", str(ROOT))
if str(ROOT) not in sys.path:  # `python /path/to/scripts/train.py` from any folder
    sys.path.insert(0, str(ROOT))

from omegaconf import DictConfig  # noqa: E402

from real3d.cli import run_cli  # noqa: E402
from real3d.hydra_cli import run_hydra  # noqa: E402
from real3d.training.rules import check_train_config, register_resolvers  # noqa: E402


def job(cfg: DictConfig) -> int:
    """One training run; torch and Lightning are imported only once the config has passed its checks."""
    from real3d.training.run import train_command

    return run_cli(train_command, "train", cfg)


if __name__ == "__main__":
    register_resolvers()
    sys.exit(run_hydra(job, "train", ROOT / "config", "train", check=check_train_config))
