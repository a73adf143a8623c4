"""scripts/make_synthetic_data.py: every flag typed with its range, the domain file checked, memory and disk
bounded before any work, the folder written whole (staged, replacing an earlier set, never a user's
folder, nothing left by Ctrl-C); fuzzed over its flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scripts.make_synthetic_data as script
from real3d.cli import error_line
from tests.helpers.cli import user_error
from tests.helpers.fuzz import fuzz_settings

TINY = ["--objects", "0", "--wild-images", "1", "--wild-size", "32", "--mvimgnet-sequences", "0"]
GIB = 2**30


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Exit code and the error line ('' when none)."""
    try:
        code = script.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    return code, (user_error(err, "make_synthetic_data") if code == 2 else "")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--objects", "-1", "argument --objects: -1 is not in [0, 100000]"),
        ("--views", "0", "argument --views: 0 is not in [1, 1024]"),
        ("--size", "8", "argument --size: 8 is not in [16, 4096]"),
        ("--size", "big", "argument --size: 'big' is not an integer"),
        ("--wild-size", "100000", "argument --wild-size: 100000 is not in [16, 4096]"),
        ("--mvimgnet-frames", "0", "argument --mvimgnet-frames: 0 is not in [1, 1024]"),
        ("--test-fraction", "1.5", "argument --test-fraction: 1.5 is not in [0, 1]"),
        ("--test-fraction", "nan", "argument --test-fraction: nan is not in [0, 1]"),
        ("--seed", "-3", "argument --seed: -3 is not in [0, 4294967295]"),
    ],
)
def test_a_flag_out_of_range_is_one_line(tmp_path, capsys, flag: str, value: str, message: str) -> None:
    code, line = run([str(tmp_path / "out"), flag, value], capsys)
    assert code == 2 and message in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("{not json", "cannot read it as JSON"),
        ("[1, 2]", "must hold a JSON object of DomainSpec fields"),
        ('{"nope": 1}', "unknown DomainSpec fields: ['nope']"),
        ('{"saturation": [0.9, 0.1]}', "saturation=[0.9, 0.1]: must be [low, high] numbers, low <= high"),
        ('{"distance": "far"}', "distance='far': must be [low, high] numbers"),
        ('{"shapes": ["cube", "dragon"]}', "shapes=('cube', 'dragon'): must be a non-empty list of"),
        ('{"background": "sky"}', "background='sky': must be one of noise, gradient, white"),
        ('{"fov_deg": 0}', "fov_deg must be in [1, 179]"),
    ],
)
def test_a_bad_domain_file_is_one_line(tmp_path, capsys, domain: str, message: str) -> None:
    path = tmp_path / "domain.json"
    path.write_text(domain)
    code, line = run([str(tmp_path / "out"), "--domain", str(path), *TINY], capsys)
    assert code == 2 and line.startswith(f"--domain {path}: ") and message in line


def test_a_set_of_nothing_is_refused(tmp_path, capsys) -> None:
    code, line = run([str(tmp_path / "out"), "--objects", "0", "--wild-images", "0", "--mvimgnet-sequences", "0"],
                     capsys)  # fmt: skip
    assert code == 2 and line.startswith("nothing to write: every set has 0 items")


def test_memory_and_disk_are_checked_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(script, "make_dataset", lambda *args, **kwargs: pytest.fail("generated past the checks"))
    monkeypatch.setattr(script, "budget_bytes", lambda: 1 * GIB)
    code, line = run([str(tmp_path / "out"), "--size", "4096", "--objects", "1"], capsys)
    assert code == 2 and line.startswith("--size=4096: needs about") and "the largest that fits here is " in line
    monkeypatch.setattr(script.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    code, line = run([str(tmp_path / "out"), *TINY], capsys)
    assert code == 2 and line.startswith("the set needs up to ") and "on disk" in line
    assert list(tmp_path.iterdir()) == []


def test_a_rerun_replaces_the_earlier_set_and_a_users_folder_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "set"
    assert run([str(out), *TINY, "--mvimgnet-sequences", "1", "--mvimgnet-frames", "1"], capsys)[0] == 0
    assert run([str(out), *TINY], capsys)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["info.json", "wild"]  # no mvimgnet/ from the first run
    info = json.loads((out / "info.json").read_text())
    assert Path(info["wild"]["root"]) == out.absolute() / "wild" and Path(info["wild"]["split"]).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
    (out / "notes.txt").write_text("mine")
    code, line = run([str(out), *TINY], capsys)
    assert code == 2 and "holds notes.txt, which this script did not write" in line
    (tmp_path / "a_file").write_text("x")
    assert (
        run([str(tmp_path / "a_file"), *TINY], capsys)[1]
        == f"output_dir={tmp_path / 'a_file'}: is a file, not a folder"
    )


def test_ctrl_c_leaves_the_earlier_set_and_no_partial_folder(tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "set"
    assert run([str(out), *TINY], capsys)[0] == 0
    before = (out / "info.json").read_text()

    def interrupted(stage, *args, **kwargs):
        (Path(stage) / "wild").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(script, "make_dataset", interrupted)
    assert script.main([str(out), *TINY]) == 130
    assert capsys.readouterr().err.splitlines() == ["make_synthetic_data: interrupted"]
    assert (out / "info.json").read_text() == before and [p.name for p in tmp_path.iterdir()] == ["set"]


FLAGS = ["--objects", "--gobjaverse-objects", "--zero123-objects", "--views", "--size", "--wild-images", "--wild-size",
         "--mvimgnet-sequences", "--mvimgnet-frames", "--test-fraction", "--seed", "--domain"]  # fmt: skip
VALUE = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True).map(str),
    st.text(max_size=8),
    st.sampled_from(["0", "1", "16", "4096", "1e3", "-0", "inf"]),
)


@fuzz_settings(60)
@given(flags=st.lists(st.tuples(st.sampled_from(FLAGS), VALUE), max_size=3))
def test_fuzz_flags(tmp_path_factory, flags, monkeypatch_module) -> None:
    """Any values of any flags: the set is written (the generator stubbed: only the checks run here) or one
    error line and exit 2; never a traceback."""
    folder = tmp_path_factory.mktemp("fuzz")
    argv = [str(folder / "out"), *TINY] + [f"{flag}={value}" for flag, value in flags]
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = script.main(argv)
        except SystemExit as exc:
            code = exc.code
    assert code in (0, 2)
    if code == 2:
        assert len(error_line("x", user_error(err.getvalue(), "make_synthetic_data")).splitlines()) == 1
    else:
        assert (folder / "out" / "info.json").is_file()


@pytest.fixture(scope="module")
def monkeypatch_module():
    """The generator replaced by a stand-in that writes only info.json (the fuzz exercises the checks)."""
    patch = pytest.MonkeyPatch()

    def stand_in(stage, sizes, seed=0, spec=None):
        info = {"sizes": sizes.__dict__, "timings": {}}
        (Path(stage) / "info.json").write_text(json.dumps(info))
        return info

    patch.setattr(script, "make_dataset", stand_in)
    yield
    patch.undo()
