"""The evaluation configs as the scripts compose them, pointed at small on-disk data and the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.conftest import CLIP_TINY, TINY_MODEL_DIR
from tests.data.test_co3d import NAMES, make_sequence

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config" / "eval"


def co3d_set(folder: Path, good: int = 1, missing: int = 0) -> tuple[Path, Path]:
    """(root, split file) of a CO3D set with `good` readable sequences and `missing` listed but absent ones."""
    root = folder / "co3d"
    for i in range(good):
        make_sequence(root, f"good{i}")
    entries = [[f"chair/good{i}", *NAMES] for i in range(good)]
    entries += [[f"chair/missing{i}", *NAMES] for i in range(missing)]
    root.mkdir(parents=True, exist_ok=True)
    split = folder / "split.json"
    split.write_text(json.dumps({"test": entries}))
    return root, split


def mv_overrides(root: Path, split: Path, output_dir: Path) -> list[str]:
    """eval_mv on CO3D at the smallest sizes the scores take, on the CPU."""
    return [
        f"model.path={TINY_MODEL_DIR}",
        "device=cpu",
        f"dataset.root={root}",
        f"dataset.split_file={split}",
        "dataset.image_size=32",
        "render_size=16",
        "model.render.num_samples_per_ray=8",
        "num_workers=0",
        "pretrained.allow_random=true",
        "progress=false",
        f"output_dir={output_dir}",
    ]


def sv_overrides(folder: Path, output_dir: Path) -> list[str]:
    """eval_sv on a folder of RGBA photos at the smallest sizes the scores take, on the CPU."""
    return [
        f"model.path={TINY_MODEL_DIR}",
        "device=cpu",
        f"dataset.folder={folder}",
        "dataset.image_size=32",
        "orbit.n_views=3",
        "orbit.render_size=16",
        "consistency.render_size=16",
        "model.render.num_samples_per_ray=8",
        "pretrained.allow_random=true",
        f"pretrained.clip_config={CLIP_TINY}",
        "fid.enabled=false",
        "progress=false",
        f"output_dir={output_dir}",
    ]


def compose_eval(config_name: str, overrides: list[str]) -> DictConfig:
    """The config `scripts/eval_mv.py` / `eval_sv.py` would run with these overrides."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)
