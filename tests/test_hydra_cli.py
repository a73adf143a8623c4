"""real3d.hydra_cli: Hydra's own errors as one line `<prog>: error: ...` and exit code 2, before the task."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from real3d.hydra_cli import one_line, run_hydra

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def test_a_bad_override_stops_before_main_with_one_line(monkeypatch, capsys) -> None:
    called = []
    monkeypatch.setattr(sys, "argv", ["curate.py", "geometry.nope=1"])
    with pytest.raises(SystemExit) as info:
        run_hydra(lambda: called.append(1), "curate", CONFIG_DIR, "curate")
    assert info.value.code == 2 and not called
    assert capsys.readouterr().err.splitlines() == [
        "curate: error: Could not override 'geometry.nope'. To append to your config use +geometry.nope=1 "
        "(Key 'nope' is not in struct)"
    ]


def test_a_good_command_line_runs_main(monkeypatch) -> None:
    called = []
    monkeypatch.setattr(sys, "argv", ["curate.py", "input_dir=x", "crop.margin=0.1"])
    run_hydra(lambda: called.append(1), "curate", CONFIG_DIR, "curate")
    assert called == [1]


def test_one_line_joins_sentences_options_and_the_cause() -> None:
    text = "In 'x': Could not find 'g/y'\n\nAvailable options in 'g':\n\ta\n\tb\nConfig search path:\n\tp"
    assert one_line(ValueError(text)) == "In 'x': Could not find 'g/y' Available options in 'g': a, b"
    try:
        raise ValueError("Could not override 'k'.\nTo append use +k=1") from TypeError("not in struct\n  full_key: k")
    except ValueError as exc:
        assert one_line(exc) == "Could not override 'k'. To append use +k=1 (not in struct)"
