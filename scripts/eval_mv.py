"""Multi-view evaluation against ground-truth views (CO3D, MVImgNet, OmniObject3D).

    python scripts/eval_mv.py --config-name eval_mv_co3d dataset.root=/data/co3d [visuals.vis360=true]
    python scripts/eval_mv.py ... protocol=corrected precision=fp32   # every correction, full precision

The default computes what the original Real3D evaluation computes (`protocol: original`, fp16
autocast on CUDA). Writes metrics.json (with the protocol, precision and masks used), metrics.csv,
side_by_side/ and videos/ under output_dir (config/eval/), staged and moved into place when the
evaluation succeeds (a rerun replaces the earlier results). The config is checked before the model
loads; a mistake (Hydra's own errors included) is one line `eval_mv: error: ...`, exit code 2.
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
    from real3d.evaluation.runner import run_multiview

    return run_cli(run_multiview, "eval_mv", cfg)


if __name__ == "__main__":
    sys.exit(run_hydra(job, "eval_mv", ROOT / "config" / "eval", "eval_mv_co3d"))
