"""Curate in-the-wild photos into a single-view training set (see config/curate.yaml).

python scripts/curate.py input_dir=photos/ output_dir=data/curated [model_score.model.path=...]

The config is checked before any photo (every key one line naming it; Hydra's own errors too); a rerun
on the same output_dir resumes: it appends to the manifest and skips the photos already judged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

from real3d.cli import run_cli  # noqa: E402
from real3d.hydra_cli import run_hydra  # noqa: E402


def run(cfg: DictConfig) -> int:
    """Curate, print the summary; a user error (checked before any photo where it can be: config, input,
    output, rembg model file, model weights) is one line on stderr and exit code 2, as the other scripts."""
    return run_cli(_curate, "curate", cfg)


def _curate(cfg: DictConfig) -> int:
    """Curate and print the summary of all runs so far."""
    from real3d.curation.pipeline import curate

    summary = curate(cfg)
    print(json.dumps({k: v for k, v in summary.items() if k != "this_run"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_hydra(run, "curate", ROOT / "config", "curate"))
