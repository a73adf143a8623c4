"""The pretraining scripts' flags: every value is checked where it enters (one argparse line, exit 2),
and `--device` names a device that is there (auto: CUDA when present)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from real3d.argtypes import integer, number
from scripts.pretrain_clip import parse_args as clip_args
from scripts.pretrain_encoder import main as encoder_main
from scripts.pretrain_encoder import parse_args as encoder_args
from tests.helpers.fuzz import fuzz_settings


def test_number_types_check_their_ranges() -> None:
    assert integer(1)("3") == 3 and integer(8, 512, multiple_of=8)("64") == 64
    assert number(0.0, 1.0, low_open=True)("1") == 1.0
    for parse, text in [
        (integer(1), "0"),
        (integer(1), "1.5"),
        (integer(8, 512, multiple_of=8), "60"),
        (integer(0, 32), "33"),
        (number(0.0, 1.0, low_open=True), "0"),
        (number(0.0, 1.0), "nan"),
        (number(0.0), "inf"),
        (number(0.0, 1.0, high_open=True), "1"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


ENCODER_FLAGS = [
    ("--steps", "0"),
    ("--batch-size", "-1"),
    ("--lr", "0"),
    ("--local-crops", "1000"),
    ("--mask-ratio", "1"),
    ("--eval-every", "0"),
    ("--max-minutes", "-5"),
    ("--seed", "-1"),
    ("--threads", "0"),
    ("--knn-k", "0"),
    ("--p-permute", "1.5"),
    ("--p-grey", "nan"),
    ("--pixel-weight", "-1"),
    ("--device", "gpu"),
]
CLIP_FLAGS = [
    ("--steps", "0"),
    ("--batch-size", "1"),
    ("--lr", "inf"),
    ("--width", "48"),
    ("--layers", "0"),
    ("--image-size", "30"),
    ("--seed", "x"),
    ("--threads", "0"),
    ("--device", "cuda:x"),
]


@pytest.mark.parametrize(
    "parse, prog, flag, value",
    [(encoder_args, "pretrain_encoder", *f) for f in ENCODER_FLAGS]
    + [(clip_args, "pretrain_clip", *f) for f in CLIP_FLAGS],
)
def test_each_bad_flag_value_is_one_line(parse, prog, flag, value, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        parse(["--data-dir", str(tmp_path), flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"{prog}: error: argument {flag}: ") and "Traceback" not in "\n".join(err)


IN_RANGE = {
    "--steps": lambda v: v >= 1,
    "--batch-size": lambda v: 1 <= v <= 4096,
    "--lr": lambda v: 0 < v <= 1,
    "--local-crops": lambda v: 0 <= v <= 32,
    "--mask-ratio": lambda v: 0 < v < 1,
    "--eval-every": lambda v: v >= 1,
    "--max-minutes": lambda v: 0 < v < math.inf,
    "--seed": lambda v: v >= 0,
    "--threads": lambda v: 1 <= v <= 1024,
    "--knn-k": lambda v: 1 <= v <= 1000,
    "--p-permute": lambda v: 0 <= v <= 1,
    "--p-grey": lambda v: 0 <= v <= 1,
    "--pixel-weight": lambda v: 0 <= v <= 1e6,
    "--device": lambda v: v in ("auto", "cpu", "cuda") or v.startswith("cuda:"),
}


@fuzz_settings(60)
@given(
    flag=st.sampled_from(sorted(IN_RANGE)),
    value=st.one_of(st.text(max_size=12), st.integers(-(10**12), 10**12).map(str), st.floats().map(str)),
)
def test_fuzzed_encoder_flags_parse_in_range_or_are_one_line(flag: str, value: str) -> None:
    """Any value of any flag: parsed within its range, or argparse's one error line naming the flag (exit 2)."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = encoder_args(["--data-dir", "d", flag, value])
    except SystemExit as exc:
        assert exc.code == 2
        assert stderr.getvalue().strip().splitlines()[-1].startswith(f"pretrain_encoder: error: argument {flag}")
        return
    assert IN_RANGE[flag](getattr(args, flag.removeprefix("--").replace("-", "_")))


def test_encoder_script_records_the_device_it_trained_on(mini_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "encoder"
    args = f"--data-dir {mini_data} --output-dir {out} --steps 1 --batch-size 4 --no-progress --device cpu"
    assert encoder_main(args.split()) == 0
    assert json.loads((out / "pretraining.json").read_text())["device"] == "cpu"
