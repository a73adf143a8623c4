"""Curate in-the-wild photos into a single-view training set (see config/curate.yaml).

    python scripts/curate.py input_dir=photos/ output_dir=data/curated [model_score.model_dir=...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from real3d.errors import Real3DError  # noqa: E402


@hydra.main(version_base="1.3", config_path="../config", config_name="curate")
def main(cfg: DictConfig) -> None:
    from real3d.curation.pipeline import curate

    try:
        summary = curate(cfg)
    except Real3DError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({k: v for k, v in summary.items() if k != "this_run"}, indent=1))


if __name__ == "__main__":
    main()
