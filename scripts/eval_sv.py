"""Single-view evaluation in the wild: 360° orbit (CLIP similarity, LPIPS, FID) and self-consistency.

    python scripts/eval_sv.py dataset.root=/data/wild [visuals.vis360=true]
    python scripts/eval_sv.py dataset.folder=photos/ dataset.mask_dir=masks/
    python scripts/eval_sv.py ... protocol=corrected   # reference composited on white, antialiased resizes

Writes metrics.json (with the protocol, precision and FID network used), metrics.csv, side_by_side/
and videos/ under output_dir (config/eval/eval_sv.yaml), staged and moved into place when the
evaluation succeeds (a rerun replaces the earlier results). The config is checked before the model
loads; a mistake (Hydra's own errors included) is one line `eval_sv: error: ...`, exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install
os.environ.setdefault("PROJECT_ROOT", str(ROOT))  # the config search path (config/pretrained)

from real3d.cli import run_cli  # noqa: E402
from real3d.hydra_cli import run_hydra  # noqa: E402


def job(cfg: DictConfig) -> int:
    """One evaluation; the config is checked before the model loads."""
    from real3d.evaluation.runner import run_singleview

    return run_cli(run_singleview, "eval_sv", cfg)


if __name__ == "__main__":
    sys.exit(run_hydra(job, "eval_sv", ROOT / "config" / "eval", "eval_sv"))
