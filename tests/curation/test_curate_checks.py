"""curate's start-up checks (every key one line, folders, memory), what a curation wrote is never read as
a photo, and random bytes as photos are rejected one by one; fuzzed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from real3d.cli import error_line
from real3d.curation import config as curate_config
from real3d.curation.config import RULES, check_curate
from real3d.curation.pipeline import curate, stage_config
from real3d.curation.stages import Task, process_image
from real3d.errors import Real3DError
from real3d.hydra_cli import hydra_error
from tests.curation.photos import write_photo_set
from tests.curation.test_curate import CONFIG_DIR, ROOT, make_cfg
from tests.evaluation.test_eval_config import VALUES
from tests.helpers.cli import run_entry, user_error
from tests.helpers.fuzz import fuzz_settings

GIB = 2**30


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("photos")
    write_photo_set(root / "in", root / "masks")
    return {"input_dir": root / "in", "mask_dir": root / "masks", "u2net": root / "no_u2net.onnx", "root": root}


def curate_error(photos: dict, *overrides: str) -> str:
    cfg = make_cfg(photos, photos["root"] / "out", *overrides)
    with pytest.raises(Real3DError) as info:
        check_curate(cfg)
    return str(info.value)


def test_the_test_config_passes(photos: dict) -> None:
    check_curate(make_cfg(photos, photos["root"] / "out"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("num_workers=-1", "num_workers=-1: must be an integer in [0, 64]"),
        ("test_fraction=1.5", "test_fraction=1.5: must be a number in [0, 1]"),
        ("overwrite=yes", "overwrite='yes': must be true or false"),
        ("foreground.mask_threshold=255", "foreground.mask_threshold=255: must be an integer in [0, 254] (or null)"),
        ("geometry.border_margin_px=0", "geometry.border_margin_px=0: must be an integer in [1, 10000]"),
        ("geometry.max_aspect_ratio=0.5", "geometry.max_aspect_ratio=0.5: must be a number >= 1 (or null)"),
        ("geometry.speck_fraction=null", "geometry.speck_fraction=None: must be a number in [0, 1]"),
        ("quality.analysis_size=0", "quality.analysis_size=0: must be an integer >= 8"),
        ("quality.min_blur_variance=-1", "quality.min_blur_variance=-1: must be a number >= 0 (or null)"),
        ("crop.margin=5", "crop.margin=5: must be a number in [0, 1]"),
        ("crop.fringe_px=-1", "crop.fringe_px=-1: must be an integer in [0, 1000]"),
        ("crop.max_size=0", "crop.max_size=0: must be an integer >= 16 (or null)"),
        ("model_score.batch_size=0", "model_score.batch_size=0: must be an integer >= 1"),
        ("model_score.views=random", "model_score.views='random': must be one of curriculum, fixed"),
        ("model_score.top_fraction=0", "model_score.top_fraction=0: must be a number in [0.001, 1] (or null)"),
        ("model_score.rank_by=ssim", "model_score.rank_by='ssim': must be one of psnr, lpips, clip"),
        ("model_score.render_size=8", "model_score.render_size=8: must be an integer >= 16 (or null)"),
        ("model_score.min_clip=2", "model_score.min_clip=2: must be a number in [-1, 1] (or null)"),
        ("model_score.curriculum_azimuth_deg=[90,15]", "model_score.curriculum_azimuth_deg=[90, 15]: must be"),
        ("model_score.curriculum_elevation_deg=5", "model_score.curriculum_elevation_deg=5: must be [start, end]"),
        ("contact_sheet.thumb_size=4", "contact_sheet.thumb_size=4: must be an integer >= 16"),
        ("output_dir=null", "give output_dir=<folder for the curated dataset>"),
        ("input_dir=null", "give input_dir=<folder of photos> or input_list=<file listing photos>"),
        ("input_list=[a.png]", "give one of them, not both"),
    ],
)
def test_a_key_out_of_range_is_one_line_naming_it(photos: dict, override: str, message: str) -> None:
    assert message in curate_error(photos, override)


def test_fixed_novel_views_must_be_pairs(photos: dict) -> None:
    message = curate_error(photos, "model_score.views=fixed", "model_score.novel_views=[[45,0],[1]]")
    assert message.startswith("model_score.novel_views=[[45, 0], [1]]: must be a list of [azimuth_deg, elevation_deg]")


def test_folders_that_are_files_are_one_line(photos: dict, tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert curate_error(photos, f"output_dir={a_file}") == f"output_dir={a_file}: is a file, not a folder"
    assert curate_error(photos, f"input_dir={a_file}") == f"input_dir={a_file}: is a file, not a folder"
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(Real3DError, match="input_list=.*not a readable text file"):
        curate(make_cfg(photos, tmp_path / "out", "input_dir=null", f"input_list={listing}"))
    listing.write_text("a\x00b.png\n")
    with pytest.raises(Real3DError, match="input_list=.*null byte"):
        curate(make_cfg(photos, tmp_path / "out", "input_dir=null", f"input_list={listing}"))


def test_sizes_beyond_the_memory_budget_name_the_key(photos: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curate_config, "budget_bytes", lambda: 2 * GIB)
    message = curate_error(photos, "crop.max_size=100000")
    assert message.startswith("crop.max_size=100000: needs about ") and "the largest that fits here is " in message
    largest = int(message.rsplit(" ", 1)[1])
    cfg = make_cfg(photos, photos["root"] / "out", f"crop.max_size={largest}")
    check_curate(cfg)  # the value named fits
    assert curate_error(photos, "contact_sheet.thumb_size=100000").startswith("contact_sheet.thumb_size=100000")
    model = ["model_score.enabled=true", "model_score.render_size=256"]
    assert curate_error(photos, *model, "model_score.batch_size=1000").startswith("model_score.batch_size=1000")
    message = curate_error(photos, *model, "model_score.batch_size=1000", "crop.max_size=100000")
    assert message.startswith("crop.max_size=100000, quality.analysis_size=256, model_score.batch_size=1000, ")
    assert message.endswith("even with any one of them at its smallest; lower several")


def names_read(output_dir: Path) -> set[str]:
    return {Path(json.loads(line)["source"]).name for line in (output_dir / "manifest.jsonl").read_text().splitlines()}


def test_an_output_inside_the_input_is_never_read_as_photos(photos: dict, tmp_path: Path) -> None:
    """Reruns into the same output, and a second output beside the first, read the photos only."""
    src = tmp_path / "in"
    write_photo_set(src, tmp_path / "masks")
    photos = {**photos, "input_dir": src, "mask_dir": tmp_path / "masks"}
    originals = {p.name for p in src.iterdir()}
    first = curate(make_cfg(photos, src / "curated", "foreground.rembg=false"))
    assert first["kept"] >= 1 and names_read(src / "curated") == originals
    again = curate(make_cfg(photos, src / "curated", "foreground.rembg=false"))
    assert again["this_run"]["processed"] == 0 and names_read(src / "curated") == originals
    curate(make_cfg(photos, src / "other", "foreground.rembg=false"))
    assert names_read(src / "other") == originals  # not the first output's crops nor its contact sheet


def test_an_input_inside_the_output_is_read(photos: dict, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    write_photo_set(out / "photos", tmp_path / "masks")
    cfg = make_cfg(
        {**photos, "input_dir": out / "photos", "mask_dir": tmp_path / "masks"}, out, "foreground.rembg=false"
    )
    assert curate(cfg)["images"] == len(list((out / "photos").iterdir()))


def test_cli_mistakes_are_one_line_exit_2(photos: dict, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    assert hydra_error(CONFIG_DIR, "curate", ["foo=1"]).startswith("Could not override 'foo'")
    script = str(ROOT / "scripts" / "curate.py")
    done = run_entry(["python", script, f"input_dir={photos['input_dir']}", "output_dir=a_file"], tmp_path)
    assert done.returncode == 2 and user_error(done.stderr, "curate") == "output_dir=a_file: is a file, not a folder"


# ------------------------------------------------------------------------------------------ fuzz


@pytest.fixture(scope="module")
def base_cfg(photos: dict):
    return make_cfg(photos, photos["root"] / "out")


@fuzz_settings(100)
@given(key=st.sampled_from([r.key for r in RULES] + ["model_score.novel_views", "model_score.curriculum_azimuth_deg"]),
       value=VALUES)  # fmt: skip
def test_fuzz_curate_config_values(base_cfg, key: str, value: object) -> None:
    cfg = copy.deepcopy(base_cfg)
    try:
        OmegaConf.update(cfg, key, value, force_add=True)
    except Exception:  # noqa: BLE001 - a value OmegaConf itself refuses never reaches the script
        return
    try:
        check_curate(cfg)
    except Real3DError as exc:
        assert str(exc) and len(error_line("curate", exc).splitlines()) == 1


@pytest.fixture(scope="module")
def stages(photos: dict) -> dict:
    """Stages 1-3 of the default config, masks from alpha only."""
    cfg = OmegaConf.to_container(make_cfg(photos, photos["root"] / "out", "foreground.rembg=false"), resolve=True)
    return stage_config(cfg)


@fuzz_settings(40)
@given(content=st.binary(max_size=512), suffix=st.sampled_from([".png", ".jpg", ".webp", ".tif", ".bmp"]))
def test_fuzz_random_bytes_as_photos_are_rejected_one_by_one(stages, tmp_path_factory, content, suffix) -> None:
    """Whatever the bytes, the photo is rejected with its stage and reason (never an exception)."""
    folder = tmp_path_factory.mktemp("bytes")
    photo = folder / f"photo{suffix}"
    photo.write_bytes(content)
    result = process_image(Task(str(photo), "photo"), stages, str(folder / "out"))
    assert not result.passed and result.stage in ("quality", "foreground") and result.detail
