"""eval_mv / eval_sv start-up checks: every user-set key one line naming it, folders, memory, Hydra's errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from real3d.cli import error_line
from real3d.errors import Real3DError
from real3d.evaluation import config as eval_config
from real3d.evaluation.config import (
    MULTIVIEW_RULES,
    SINGLEVIEW_RULES,
    check_multiview,
    check_singleview,
)
from real3d.hydra_cli import hydra_error
from real3d.paths import PROJECT_ROOT, project_path
from tests.evaluation.configs import CONFIG_DIR, co3d_set, compose_eval, mv_overrides, sv_overrides
from tests.helpers.fuzz import fuzz_settings

GIB = 2**30


@pytest.fixture(scope="module")
def mv_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("mv")
    root, split = co3d_set(folder)
    return root, split, folder / "out"


@pytest.fixture(scope="module")
def sv_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sv")
    (folder / "photos").mkdir()
    return folder / "photos", folder / "out"


def mv_error(mv_data, *overrides: str) -> str:
    root, split, out = mv_data
    cfg = compose_eval("eval_mv_co3d", [*mv_overrides(root, split, out), *overrides])
    with pytest.raises(Real3DError) as info:
        check_multiview(cfg)
    assert "\n" not in str(info.value)
    return str(info.value)


def sv_error(sv_data, *overrides: str) -> str:
    folder, out = sv_data
    cfg = compose_eval("eval_sv", [*sv_overrides(folder, out), *overrides])
    with pytest.raises(Real3DError) as info:
        check_singleview(cfg)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_the_test_configs_pass(mv_data, sv_data) -> None:
    root, split, out = mv_data
    check_multiview(compose_eval("eval_mv_co3d", mv_overrides(root, split, out)))
    check_singleview(compose_eval("eval_sv", sv_overrides(*sv_data)))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("render_size=0", "render_size=0: must be an integer >= 16"),
        ("render_size=abc", "render_size='abc': must be an integer >= 16"),
        ("render_size=8", "render_size=8: must be an integer >= 16"),
        ("dataset.image_size=-3", "dataset.image_size=-3: must be an integer >= 16"),
        ("visuals.num_side_by_side=-1", "visuals.num_side_by_side=-1: must be an integer >= 0"),
        ("visuals.vis360_views=0", "visuals.vis360_views=0: must be an integer >= 1"),
        ("visuals.vis360=yes", "visuals.vis360='yes': must be true or false"),
        ("num_workers=-1", "num_workers=-1: must be an integer in [0, 64]"),
        ("protocol=orig", "protocol='orig': must be one of original, corrected"),
        ("precision=fp8", "precision='fp8': must be one of auto, fp16, fp32"),
        ("lpips_enabled=maybe", "lpips_enabled='maybe': must be true or false"),
        ("camera_distance=0", "camera_distance=0: must be a number in [0.1, 100]"),
        ("camera_distance=nan", "camera_distance=nan: must be a number"),
        ("max_objects=0", "max_objects=0: must be an integer >= 1 (or null)"),
        ("dataset.every_nth=0", "dataset.every_nth=0: must be an integer >= 1"),
        ("dataset.mask_box_threshold=300", "dataset.mask_box_threshold=300: must be an integer in [0, 254]"),
        ("model.render.num_samples_per_ray=0", "model.render.num_samples_per_ray=0: must be an integer in [1, 4096]"),
        ("model.render.chunk_size=-1", "model.render.chunk_size=-1: must be an integer >= 0"),
        ("visuals=3", "visuals=3: must be a section"),
        ("output_dir=${nowhere}", "output_dir: cannot be read"),
    ],
)
def test_eval_mv_key_out_of_range_is_one_line_naming_it(mv_data, override: str, message: str) -> None:
    assert message in mv_error(mv_data, override)


def test_eval_mv_video_size_must_be_even_only_when_videos_are_written(mv_data) -> None:
    assert "visuals.vis360_size=15: must be even" in mv_error(mv_data, "visuals.vis360=true", "visuals.vis360_size=15")
    root, split, out = mv_data
    check_multiview(compose_eval("eval_mv_co3d", [*mv_overrides(root, split, out), "visuals.vis360_size=15"]))


def test_eval_mv_folders_are_checked_before_the_model_loads(mv_data, tmp_path: Path) -> None:
    assert f"dataset.root={tmp_path / 'no'}: folder not found" in mv_error(mv_data, f"dataset.root={tmp_path / 'no'}")
    (tmp_path / "file").write_text("x")
    assert "dataset.root=" in mv_error(mv_data, f"dataset.root={tmp_path / 'file'}")
    assert "is a file, not a folder" in mv_error(mv_data, f"dataset.mask_root={tmp_path / 'file'}")
    assert "output_dir=" in mv_error(mv_data, f"output_dir={tmp_path / 'file'}")
    assert "model folder not found" in mv_error(mv_data, f"model.path={tmp_path / 'nomodel'}")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    message = mv_error(mv_data, f"output_dir={tmp_path / 'mine'}")
    assert "holds notes.txt, which this script did not write" in message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("orbit.n_views=1", "orbit.n_views=1: must be an integer >= 2"),
        ("orbit.fovy_deg=180", "orbit.fovy_deg=180: must be a number in [1, 179]"),
        ("orbit.elevation_deg=-91", "orbit.elevation_deg=-91: must be a number in [-90, 90]"),
        ("orbit.distance=0", "orbit.distance=0: must be a number in [0.1, 100]"),
        ("orbit.render_size=0", "orbit.render_size=0: must be an integer >= 16"),
        ("consistency.render_size=8", "consistency.render_size=8: must be an integer >= 16"),
        ("consistency.enabled=1", "consistency.enabled=1: must be true or false"),
        ("fid.min_images=1", "fid.min_images=1: must be an integer >= 2"),
        ("dataset.every_nth=0", "dataset.every_nth=0: must be an integer >= 1"),
        ("dataset.folder=null", "dataset.root=data/wild: folder not found"),
        ("dataset.folder=nowhere", "dataset.folder=nowhere: folder not found"),
        ("dataset.manifest=m.jsonl", "dataset.manifest=m.jsonl: give one of them, not both"),
    ],
)
def test_eval_sv_key_out_of_range_is_one_line_naming_it(sv_data, override: str, message: str) -> None:
    assert message in sv_error(sv_data, override)


def test_eval_sv_sources(sv_data, tmp_path: Path) -> None:
    missing = tmp_path / "m.jsonl"
    assert f"dataset.manifest={missing}: file not found" in sv_error(
        sv_data, "dataset.folder=null", f"dataset.manifest={missing}"
    )
    assert "dataset.root is null" in sv_error(sv_data, "dataset.folder=null", "dataset.root=null")
    assert "orbit.render_size=17: must be even" in sv_error(sv_data, "visuals.vis360=true", "orbit.render_size=17")


def test_sizes_beyond_the_memory_budget_name_the_key_and_the_largest_that_fits(
    mv_data, sv_data, monkeypatch: pytest.MonkeyPatch
) -> None:
    from real3d.evaluation import limits

    monkeypatch.setattr(eval_config, "budget_bytes", lambda: 2 * GIB)
    message = mv_error(mv_data, "render_size=4096")
    assert message.startswith("render_size=4096: needs about ") and "more than the 2.0 GiB" in message
    largest = int(message.rsplit(" ", 1)[1])
    checks = {c.key: c for c in limits.multiview_checks(3, largest, 32, True, None, (8, 65536))}
    assert checks["render_size"].cost(largest) <= 2 * GIB < checks["render_size"].cost(largest + 1)
    message = mv_error(mv_data, "visuals.vis360=true", "visuals.vis360_views=1000000")
    assert message.startswith("visuals.vis360_views=1000000: needs about ")
    assert sv_error(sv_data, "orbit.render_size=8192").startswith("orbit.render_size=8192: needs about")
    assert sv_error(sv_data, "orbit.n_views=100000").startswith("orbit.n_views=100000: needs about")
    assert sv_error(sv_data, "consistency.render_size=8192").startswith("consistency.render_size=8192: needs")
    assert mv_error(mv_data, "model.render.chunk_size=100000000").startswith("model.render.chunk_size=100000000")


def test_relative_model_path_is_the_working_directorys_then_the_projects(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert project_path("checkpoints") == str(PROJECT_ROOT / "checkpoints")
    (tmp_path / "checkpoints").mkdir()
    assert project_path("checkpoints") == "checkpoints"
    assert project_path("nowhere") == "nowhere"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["foo=1"], "Could not override 'foo'. To append to your config use +foo=1 (Key 'foo' is not in struct)"),
        (["render_size=["], "no viable alternative at input '['"),
        (["dataset.root"], "Error parsing override 'dataset.root' missing EQUAL at '<EOF>'"),
        (["--config-name", "nope"], "Cannot find primary config 'nope'"),
        (["pretrained=nope"], "Could not find 'pretrained/nope' Available options in 'pretrained': default, mini"),
        (["render_size=1,2"], "Ambiguous value for argument 'render_size=1,2'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_hydra_errors_are_one_line(argv: list[str], message: str) -> None:
    error = hydra_error(CONFIG_DIR, "eval_mv_co3d", argv)
    assert error is not None and message in error and "\n" not in error


def test_hydra_modes_and_good_command_lines_pass() -> None:
    assert hydra_error(CONFIG_DIR, "eval_mv_co3d", ["render_size=32", "--config-name", "eval_mv_mvimgnet"]) is None
    assert hydra_error(CONFIG_DIR, "eval_mv_co3d", ["--help"]) is None
    assert hydra_error(CONFIG_DIR, "eval_mv_co3d", ["-m", "render_size=16,32"]) is None
    assert "available: eval_mv_base, eval_mv_co3d" in hydra_error(CONFIG_DIR, "eval_mv_co3d", ["-cn", "x"])


# ------------------------------------------------------------------------------------------ fuzz

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, 2, 15, 16, 17, 64, 255, 4096, 2**31]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["original", "corrected", "auto", "fp16", "fp32", "${nowhere}", "${render_size}", ""]),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), max_size=2),
)


def _check_one(check, cfg, key: str, value: object) -> None:
    try:
        OmegaConf.update(cfg, key, value, force_add=True)
    except Exception:  # noqa: BLE001 - a value OmegaConf itself refuses never reaches a script
        return
    try:
        check(cfg)
    except Real3DError as exc:
        assert str(exc) and len(error_line("eval", exc).splitlines()) == 1


@pytest.fixture(scope="module")
def mv_cfg(mv_data):
    root, split, out = mv_data
    return compose_eval("eval_mv_co3d", mv_overrides(root, split, out))


@pytest.fixture(scope="module")
def sv_cfg(sv_data):
    return compose_eval("eval_sv", sv_overrides(*sv_data))


@fuzz_settings(100)
@given(key=st.sampled_from([r.key for r in MULTIVIEW_RULES]), value=VALUES)
def test_fuzz_eval_mv_config_values(mv_cfg, key: str, value: object) -> None:
    """Any value of any key: the check passes or says one line; never another exception."""
    _check_one(check_multiview, copy.deepcopy(mv_cfg), key, value)


@fuzz_settings(100)
@given(key=st.sampled_from([r.key for r in SINGLEVIEW_RULES]), value=VALUES)
def test_fuzz_eval_sv_config_values(sv_cfg, key: str, value: object) -> None:
    _check_one(check_singleview, copy.deepcopy(sv_cfg), key, value)


@fuzz_settings(60)
@given(key=st.sampled_from([r.key for r in MULTIVIEW_RULES] + ["foo", "+x", "~model", "hydra.run.dir"]), text=st.text())
def test_fuzz_hydra_command_lines(key: str, text: str) -> None:
    """Any text after `key=`: Hydra's errors are one line, and what composes is left to the checks."""
    error = hydra_error(CONFIG_DIR, "eval_mv_co3d", [f"{key}={text}"])
    assert error is None or (error and "\n" not in error)
