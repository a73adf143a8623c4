"""Curation of generated photos: each case kept or rejected for the right reason, a complete
manifest, resumable reruns, the model stage, and output that the single-view loader reads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from hydra import compose, initialize_config_dir

from real3d.curation.manifest import JsonlLog
from real3d.curation.pipeline import curate
from real3d.curation.stages import clean_mask
from real3d.data.wild import WildSingleViewDataset
from real3d.errors import Real3DError
from scripts.curate import run as run_cli
from tests.conftest import CLIP_TINY
from tests.curation.photos import write_photo_set
from tests.helpers.tiny_onnx import write_tiny_u2net

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
TINY_MODEL = ROOT / "tests" / "fixtures" / "parity" / "tiny"
KEPT = ("centred.png", "centred_masked.jpg", "centred_rembg.jpg")
MODEL_OVERRIDES = [
    f"model_score.model.path={TINY_MODEL}",
    "model_score.device=cpu",
    "model_score.num_views=1",
    "model_score.render_size=null",  # the tiny model's input size (64): fast
    "pretrained.allow_random=true",
    f"pretrained.clip_config={CLIP_TINY}",
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("photos")
    expected = write_photo_set(root / "in", root / "masks")
    return {
        "input_dir": root / "in",
        "mask_dir": root / "masks",
        "u2net": write_tiny_u2net(root / "u2net.onnx"),
        "expected": expected,
    }


def make_cfg(photos: dict, output_dir: Path, *overrides: str, model: bool = False) -> dict:
    base = [
        f"input_dir={photos['input_dir']}",
        f"mask_dir={photos['mask_dir']}",
        f"output_dir={output_dir}",
        f"foreground.rembg_model_path={photos['u2net']}",
        "num_workers=0",
        "progress=false",
    ]
    base += MODEL_OVERRIDES if model else ["model_score.enabled=false"]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("curate", overrides=[*base, *overrides])


def read_manifest(output_dir: Path) -> dict[str, dict]:
    lines = (output_dir / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {Path(r["source"]).name: r for r in records}


@pytest.fixture(scope="module")
def curated(photos: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One run of stages 1–3 over every photo (model stage off)."""
    out = tmp_path_factory.mktemp("curated")
    summary = curate(make_cfg(photos, out))
    return out, summary


def test_each_photo_is_kept_or_rejected_for_the_right_reason(photos: dict, curated: tuple) -> None:
    out, summary = curated
    records = read_manifest(out)
    assert set(records) == set(photos["expected"])  # one line per source image, no more
    for name, expectation in photos["expected"].items():
        record = records[name]
        got = None if record["kept"] else (record["stage"], record["reason"])
        assert got == expectation, (name, record)
    assert records["centred.png"]["mask_source"] == "alpha"
    assert records["centred_masked.jpg"]["mask_source"] == "file"
    assert records["centred_rembg.jpg"]["mask_source"] == "rembg"


def test_manifest_summary_split_and_sheet_are_complete(photos: dict, curated: tuple) -> None:
    out, summary = curated
    records = read_manifest(out)
    for name, record in records.items():
        assert {"source", "path", "kept", "stage", "reason", "scores"} <= set(record)
        assert Path(record["source"]).is_absolute()
        if record["kept"]:
            assert record["path"] == f"crops/{Path(name).stem}.png" and record["split"] == "train"
            assert (out / record["path"]).is_file()
            # every filter's score is recorded for a kept image
            for key in ("area_fraction", "border_fraction", "dominant_fraction", "aspect_ratio",
                        "object_side_px", "blur_variance", "dark_fraction", "bright_fraction"):  # fmt: skip
                assert isinstance(record["scores"][key], (int, float)), key
        else:
            assert record["path"] is None and record["detail"]
    assert json.loads((out / "split.json").read_text()) == {
        "train": sorted(f"crops/{Path(n).stem}.png" for n in KEPT),
        "test": [],
    }
    assert summary == json.loads((out / "summary.json").read_text())
    assert (summary["images"], summary["kept"], summary["rejected"]) == (11, 3, 8)
    assert summary["rejected_by_stage"]["geometry"]["reasons"] == {
        "truncated": 1, "multiple_objects": 1, "too_small": 1, "aspect_ratio": 1
    }  # fmt: skip
    assert summary["rejected_by_stage"]["quality"]["rejected"] == 4
    assert summary["this_run"]["processed"] == 11
    sheet = PIL.Image.open(out / "contact_sheet.png")
    assert sheet.width > 500 and sheet.height > 200


def test_crop_is_centred_rgba_with_the_mask_as_alpha(photos: dict, curated: tuple) -> None:
    out, _ = curated
    crop = np.asarray(PIL.Image.open(out / "crops" / "centred_masked.png"))
    assert crop.shape[0] == crop.shape[1] and crop.shape[2] == 4
    ys, xs = np.nonzero(crop[..., 3] > 225)
    side = crop.shape[0]
    assert abs((xs.min() + xs.max() + 1) / 2 - side / 2) <= 1.5
    assert abs((ys.min() + ys.max() + 1) / 2 - side / 2) <= 1.5
    # the object's box fills the crop up to the margin (5 % a side)
    assert 0.85 * side <= max(xs.max() - xs.min(), ys.max() - ys.min()) + 1 <= 0.92 * side
    source_mask = np.asarray(PIL.Image.open(photos["mask_dir"] / "centred_masked.png"))
    assert abs((crop[..., 3] > 225).sum() - (source_mask > 225).sum()) < 0.01 * (source_mask > 225).sum()


def test_kept_output_loads_in_the_single_view_dataset(curated: tuple) -> None:
    out, _ = curated
    for split_file in ("split.json", "manifest.jsonl"):
        dataset = WildSingleViewDataset(out, split_file=out / split_file, split="train", image_size=64)
        assert len(dataset) == 3
        for index in range(len(dataset)):
            sample = dataset[index]
            assert sample is not None
            assert sample["image_input"].shape == (3, 64, 64)
            assert 0.1 < float(sample["mask"].mean()) < 0.6
        assert dataset.skipped_count() == 0


def test_rerun_does_no_work_twice(photos: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{photos['input_dir'] / n}\n" for n in ("centred.png", "blurred.jpg")))
    first = curate(make_cfg(photos, out, "input_dir=null", f"input_list={listing}"))
    assert first["this_run"]["processed"] == 2
    crop = out / "crops" / "centred.png"
    stamp = crop.stat().st_mtime_ns

    # A crash left a torn last line: it is dropped, that image is done again, the others are not.
    with open(out / "manifest.jsonl", "a") as f:
        f.write('{"source": "/x", "ka')
    second = curate(make_cfg(photos, out))
    assert second["this_run"] == {**second["this_run"], "processed": 9, "skipped_done": 2}
    third = curate(make_cfg(photos, out))
    assert third["this_run"]["processed"] == 0 and third["this_run"]["skipped_done"] == 11
    assert crop.stat().st_mtime_ns == stamp
    records = (out / "manifest.jsonl").read_text().splitlines()
    assert len(records) == 11 and len({json.loads(r)["source"] for r in records}) == 11


def test_parallel_workers_and_test_fraction(photos: dict, curated: tuple, tmp_path: Path) -> None:
    out = tmp_path / "out"
    names = (*KEPT, "cut_by_border.jpg", "blurred.jpg", "corrupt.jpg")
    listing = ",".join(str(photos["input_dir"] / n) for n in names)
    summary = curate(make_cfg(photos, out, "input_dir=null", f"input_list=[{listing}]",
                              "num_workers=2", "test_fraction=0.5", "split_seed=3"))  # fmt: skip
    serial = {n: (r["kept"], r["reason"]) for n, r in read_manifest(curated[0]).items() if n in names}
    assert {n: (r["kept"], r["reason"]) for n, r in read_manifest(out).items()} == serial
    split = json.loads((out / "split.json").read_text())
    assert sorted(split["train"] + split["test"]) == sorted(f"crops/{Path(n).stem}.png" for n in KEPT)
    assert split["train"] and split["test"]  # with this seed, both parts are used
    assert summary["split"] == {k: len(v) for k, v in split.items() if v}
    for record in read_manifest(out).values():
        if record["kept"]:
            assert record["path"] in split[record["split"]]


def rejudge(source: Path, dest: Path) -> None:
    """A copy of a curated folder whose decisions are forgotten but whose model scores are kept."""
    shutil.copytree(source, dest)
    (dest / "manifest.jsonl").unlink()


def test_model_stage_scores_and_filters(photos: dict, tmp_path: Path) -> None:
    listing = ",".join(str(photos["input_dir"] / n) for n in (*KEPT, "two_objects.jpg"))
    out = tmp_path / "out"
    cfg = make_cfg(photos, out, "input_dir=null", f"input_list=[{listing}]", "model_score.batch_size=2",
                   "model_score.top_fraction=null", model=True)  # fmt: skip
    summary = curate(cfg)
    records = read_manifest(out)
    assert summary["kept"] == 3 and summary["this_run"]["model_scored"] == 3
    assert records["two_objects.jpg"]["reason"] == "multiple_objects"  # never reaches the model
    psnrs = {}
    for name in KEPT:
        scores = records[name]["scores"]
        assert 0 < scores["cycle_psnr"] < 100 and scores["cycle_lpips"] >= 0
        assert 0 <= scores["cycle_mask_mse"] <= 1 and -1 <= scores["clip_similarity"] <= 1
        psnrs[name] = scores["cycle_psnr"]
    assert len(set(psnrs.values())) == 3

    # A threshold nobody passes: rejected by the model stage, crops set aside. The scores come
    # from the resumption state: nothing is scored twice (only two_objects is judged again).
    strict = tmp_path / "strict"
    rejudge(out, strict)
    summary = curate(make_cfg(photos, strict, "input_dir=null", f"input_list=[{listing}]",
                              "model_score.min_psnr=100", model=True))  # fmt: skip
    assert summary["this_run"] == {**summary["this_run"], "processed": 1, "model_scored": 0}
    for name in KEPT:
        record = read_manifest(strict)[name]
        assert (record["kept"], record["stage"], record["reason"]) == (False, "model", "cycle_psnr")
        assert (strict / record["rejected_path"]).is_file()
        assert record["scores"]["cycle_psnr"] == psnrs[name]
    assert json.loads((strict / "split.json").read_text())["train"] == []
    assert not list((strict / "crops").glob("*.png"))

    # Top fraction: the best 2 of 3 by cycle PSNR.
    top = tmp_path / "top"
    rejudge(out, top)
    curate(make_cfg(photos, top, "input_dir=null", f"input_list=[{listing}]", "model_score.top_fraction=0.5",
                    model=True))  # fmt: skip
    records = read_manifest(top)
    assert {n for n, r in records.items() if r["kept"]} == set(sorted(psnrs, key=psnrs.get)[1:])
    worst = records[min(psnrs, key=psnrs.get)]
    assert (worst["stage"], worst["reason"]) == ("model", "top_fraction")


def test_missing_model_or_rembg_file_stops_with_a_clear_message(photos: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = make_cfg(photos, out, f"model_score.model.path={tmp_path / 'nowhere'}", "model_score.enabled=true")
    with pytest.raises(Real3DError, match="model_score.enabled=false"):
        curate(cfg)
    assert not (out / "manifest.jsonl").exists()  # stopped before any image

    rgb = np.asarray(PIL.Image.open(photos["input_dir"] / "centred_rembg.jpg"))
    (tmp_path / "in").mkdir()
    PIL.Image.fromarray(rgb).save(tmp_path / "in" / "photo.jpg")
    cfg = make_cfg(photos, out, f"input_dir={tmp_path / 'in'}",
                   f"foreground.rembg_model_path={tmp_path / 'u2net.onnx'}")  # fmt: skip
    with pytest.raises(Real3DError, match="rembg model file not found"):
        curate(cfg)
    assert not JsonlLog(out / "manifest.jsonl").records  # the photo is not marked done


def test_missing_rembg_file_stops_before_any_photo_and_names_the_overrides(
    photos: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # A photo with an alpha channel sorts first, then one that needs rembg: nothing is done at all.
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photos["input_dir"] / "centred.png", folder / "a_alpha.png")
    shutil.copy(photos["input_dir"] / "centred_rembg.jpg", folder / "b_photo.jpg")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "u2net_home"))
    monkeypatch.setenv("REMBG_HOME", str(tmp_path / "rembg_home"))
    out = tmp_path / "out"
    code = run_cli(make_cfg(photos, out, f"input_dir={folder}", "foreground.rembg_model_path=null"))
    assert code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("curate: error: rembg model file not found: ")
    for named in (str(tmp_path / "u2net_home" / "u2net.onnx"), "foreground.rembg_model_path=", "foreground.rembg=false",
                  "mask_dir="):  # fmt: skip
        assert named in lines[0]
    assert "--no-remove-bg" not in lines[0]  # run.py's flag means nothing to curate.py
    assert not (out / "manifest.jsonl").exists() and not (out / "crops").exists()


def test_rembg_is_not_needed_with_masks_or_when_off(photos: dict, tmp_path: Path) -> None:
    missing = f"foreground.rembg_model_path={tmp_path / 'none.onnx'}"
    # every photo has a mask file: no rembg check, the run goes through
    listing = ",".join(str(photos["input_dir"] / n) for n in ("centred_masked.jpg", "blurred.jpg"))
    summary = curate(make_cfg(photos, tmp_path / "masked", "input_dir=null", f"input_list=[{listing}]", missing))
    assert (summary["images"], summary["kept"]) == (2, 1)
    # rembg off: a photo without mask file or alpha is rejected, the others are curated
    listing = ",".join(str(photos["input_dir"] / n) for n in ("centred.png", "centred_rembg.jpg"))
    out = tmp_path / "off"
    curate(make_cfg(photos, out, "input_dir=null", f"input_list=[{listing}]", missing, "foreground.rembg=false"))
    records = read_manifest(out)
    assert records["centred.png"]["kept"]
    assert (records["centred_rembg.jpg"]["stage"], records["centred_rembg.jpg"]["reason"]) == ("foreground", "no_mask")


def test_default_keep_rule_is_the_top_fraction(photos: dict, tmp_path: Path) -> None:
    cfg = make_cfg(photos, tmp_path / "out")["model_score"]
    assert (cfg.top_fraction, cfg.rank_by) == (0.8, "psnr")
    assert (cfg.min_psnr, cfg.max_lpips, cfg.min_clip) == (None, None, None)  # absolute limits: options


def test_specks_are_ignored_and_the_border_is_measured() -> None:
    alpha = np.zeros((100, 100), np.uint8)
    alpha[30:70, 20:60] = 255  # the object: 40 x 40
    alpha[90, 90] = 255  # a speck (1 px < 1 % of the object)
    mask, scores = clean_mask(alpha, 128, {"speck_fraction": 0.01, "border_margin_px": 1})
    assert not mask[90, 90] and scores["num_components"] == 1 and scores["dominant_fraction"] == 1.0
    assert scores["object_side_px"] == 40 and scores["border_fraction"] == 0.0
    alpha[30:70, 0:20] = 255  # the object now runs into the left edge: 40 of 2*(60+40) px
    _, scores = clean_mask(alpha, 128, {"speck_fraction": 0.01, "border_margin_px": 1})
    assert scores["border_fraction"] == pytest.approx(40 / 200)


def test_cli_runs_end_to_end(photos: dict, tmp_path: Path) -> None:
    listing = tmp_path / "photos.txt"
    listing.write_text("".join(f"{photos['input_dir'] / n}\n" for n in (*KEPT, "tiny_object.jpg")))
    args = [
        f"input_list={listing}", f"mask_dir={photos['mask_dir']}", f"output_dir={tmp_path / 'out'}",
        f"foreground.rembg_model_path={photos['u2net']}", "num_workers=0", "progress=false",
        *MODEL_OVERRIDES,
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "curate.py"), *args],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the default keep rule: the best 80 % by cycle PSNR (2 of the 3 that reach the model stage)
    assert json.loads(done.stdout[done.stdout.index("{") :])["kept"] == 2
    reasons = [r["reason"] for r in read_manifest(tmp_path / "out").values() if not r["kept"]]
    assert sorted(reasons) == ["too_small", "top_fraction"]
    assert {p.name for p in tmp_path.iterdir()} == {"photos.txt", "out"}  # no Hydra logs or outputs/


def test_cli_reports_a_user_error_in_one_line(photos: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "missing"
    code = run_cli(make_cfg(photos, tmp_path / "out", f"input_dir={missing}"))
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [f"curate: error: input_dir={missing}: folder not found"]


@pytest.mark.slow
def test_curated_output_trains_with_tiny_cpu(curated: tuple, tmp_path: Path) -> None:
    out, _ = curated
    overrides = [
        "experiment=tiny_cpu", f"data.wild_root={out}", f"data.wild_split={out / 'split.json'}",
        "module.training.total_iterations=4", "trainer.val_check_interval=4",
        "callbacks.periodic_checkpoint.every_n_iterations=4",
        f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), *overrides], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wild/train: 3 items" in done.stdout + done.stderr
