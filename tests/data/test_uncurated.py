"""The ablation's uncurated R photos (row g): good photos are the R training photos uncropped, every
faulty kind is one that the miniature's curation settings (config/curate_mini.yaml) remove."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from real3d.curation.pipeline import curate
from real3d.data.synthetic.presets import MiniSizes, write_mini_study_data
from real3d.data.synthetic.uncurated import BAD_KINDS
from real3d.data.wild import WildSingleViewDataset

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
EXPECTED_STAGE = {
    "truncated": "geometry",
    "two_objects": "geometry",
    "tiny": "geometry",
    "blurred": ("quality", "geometry"),  # a blurred mask may also fall apart into several parts
    "dark": "quality",
}


@pytest.fixture(scope="module")
def uncurated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    sizes = MiniSizes(s_train_objects=0, s_val_objects=0, r_train_images=8, test_objects=0, uncurated_bad=10)
    return write_mini_study_data(tmp_path_factory.mktemp("mini"), sizes)


def test_good_crops_are_the_r_training_crops_and_every_kind_is_there(uncurated: dict) -> None:
    kinds = json.loads((Path(uncurated["R_uncurated"]["photos"]) / "kinds.json").read_text())
    assert sorted(set(kinds.values())) == sorted({"good", *BAD_KINDS}) and len(kinds) == 18
    train = Path(uncurated["R_train"]["root"])
    crops = Path(uncurated["R_uncurated"]["crops"])
    for path in sorted((train / "images").glob("*.png")):
        assert (crops / "images" / f"good_{path.name}").read_bytes() == path.read_bytes()
    unfiltered = WildSingleViewDataset(str(crops), uncurated["R_uncurated"]["split"], split="train", image_size=32)
    assert len(unfiltered) == 18


def test_the_miniature_curation_removes_every_faulty_photo_and_keeps_the_good(uncurated: dict, tmp_path: Path) -> None:
    overrides = [
        f"input_dir={uncurated['R_uncurated']['photos']}",
        f"output_dir={tmp_path / 'curated'}",
        "model_score.enabled=false",  # the filters alone; the score needs a trained model
        "progress=false",
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("curate_mini", overrides=overrides)
    summary = curate(cfg)
    records = [json.loads(line) for line in (tmp_path / "curated" / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 18 and summary["kept"] == 8
    for record in records:
        kind = Path(record["source"]).stem.rsplit("_", 1)[0]
        if kind.startswith("good"):
            assert record["kept"], record
        else:
            assert not record["kept"] and record["stage"] in EXPECTED_STAGE[kind], record
    curated = WildSingleViewDataset(
        str(tmp_path / "curated"), str(tmp_path / "curated" / "split.json"), split="train", image_size=32
    )
    assert len(curated) == 8
