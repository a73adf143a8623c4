"""real3d.cli: the one guard every entry script uses (one line `<prog>: error: <message>`, exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from real3d.cli import USER_ERROR, find_user_error, run_cli
from real3d.errors import Real3DError

ROOT = Path(__file__).resolve().parents[1]


def _raise(exc: BaseException) -> None:
    raise exc


def test_exit_code_is_what_main_returns_and_a_result_counts_as_success() -> None:
    assert run_cli(lambda: 3, "prog") == 3
    assert run_cli(lambda: None, "prog") == 0
    assert run_cli(lambda cfg: {"psnr": 20.0}, "prog", object()) == 0


def test_a_user_error_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture) -> None:
    assert run_cli(_raise, "train", Real3DError("model folder not found: /x")) == USER_ERROR == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["train: error: model folder not found: /x"]
    assert captured.out == ""


def test_a_wrapped_user_error_is_found_behind_the_wrapper(capsys: pytest.CaptureFixture) -> None:
    def instantiate() -> None:  # as Hydra's instantiate wraps what a target raises
        try:
            raise Real3DError("weights not found")
        except Real3DError as exc:
            raise RuntimeError("Error in call to target") from exc

    assert run_cli(instantiate, "eval_mv") == 2
    assert capsys.readouterr().err.splitlines() == ["eval_mv: error: weights not found"]


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        run_cli(lambda: 1 / 0, "prog")
    assert find_user_error(RuntimeError("bug")) is None


def test_extra_user_error_kinds_are_reported_only_where_given(capsys: pytest.CaptureFixture) -> None:
    assert run_cli(_raise, "make_synthetic_data", ValueError("bad domain"), user_errors=(ValueError,)) == 2
    assert capsys.readouterr().err.strip() == "make_synthetic_data: error: bad domain"
    with pytest.raises(ValueError):
        run_cli(_raise, "prog", ValueError("a bug elsewhere"))


def test_argparse_errors_share_the_prefix_and_exit_code(capsys: pytest.CaptureFixture) -> None:
    from scripts.export import main

    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("export: error: ")


def test_every_entry_script_uses_the_guard_and_tools_live_apart() -> None:
    scripts = sorted(p for p in (ROOT / "scripts").glob("*.py") if p.name != "__init__.py")
    assert scripts and all("run_cli(" in p.read_text() for p in scripts), [p.name for p in scripts]
    assert not [p.name for p in scripts if p.stem.startswith("bench_") or p.stem.endswith("_report")]
    assert {"bench_inference.py", "mini_study_report.py"} <= {p.name for p in (ROOT / "tools").glob("*.py")}


def test_ctrl_c_is_one_line_and_exit_code_130(capsys: pytest.CaptureFixture) -> None:
    assert run_cli(_raise, "run", KeyboardInterrupt()) == 130
    assert capsys.readouterr().err.splitlines() == ["run: interrupted"]


def test_a_line_break_in_a_message_stays_on_one_line(capsys: pytest.CaptureFixture) -> None:
    assert run_cli(_raise, "eval_mv", Real3DError("model folder not found: a\nb\r")) == 2
    assert capsys.readouterr().err.splitlines() == ["eval_mv: error: model folder not found: a\\nb\\r"]
