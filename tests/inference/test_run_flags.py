"""run.py's flags, as a user types them: every bad value is one line `run: error: ...` and exit 2 before any
work, paths are the caller's, and a model the user named is never replaced."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from real3d.inference import limits
from scripts.run import main, parse_args
from tests.helpers.cli import ROOT, run_entry, user_error

TINY = ROOT / "tests" / "fixtures" / "parity" / "tiny"


def object_png(path: Path) -> Path:
    array = np.zeros((64, 80, 4), np.uint8)
    array[16:48, 24:56] = [30, 160, 60, 255]
    PIL.Image.fromarray(array).save(path)
    return path


def tiny_args(image: Path | str, out: Path | str) -> list[str]:
    return [str(image), "--pretrained-model-name-or-path", str(TINY), "--no-remove-bg", "--mc-resolution", "16",
            "--mc-threshold", "1.5", "--output-dir", str(out)]  # fmt: skip


def parse_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """The one error line argparse prints for `argv` (exit code 2)."""
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    return user_error(capsys.readouterr().err, "run")


MC_MAX, TEX_MAX, SIZE_MAX = limits.MC_RESOLUTION.high, limits.TEXTURE_RESOLUTION.high, limits.RENDER_SIZE.high


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--mc-resolution", "-5", "must be an integer in [8, "),
        ("--mc-resolution", "0", "must be an integer in [8, "),
        ("--mc-resolution", "1", "must be an integer in [8, "),
        ("--mc-resolution", str(MC_MAX + 1), f"in [8, {MC_MAX:.0f}] (the largest within the demo's"),
        ("--mc-resolution", "12.5", "must be an integer"),
        ("--mc-threshold", "nan", "must be a finite number > 0"),
        ("--mc-threshold", "-1", "must be a finite number > 0"),
        ("--mc-threshold", "inf", "must be a finite number > 0"),
        ("--chunk-size", "-1", f"must be an integer in [0, {limits.MAX_QUERY_POINTS}]"),
        ("--chunk-size", str(limits.MAX_QUERY_POINTS + 1), "must be an integer in [0, "),
        ("--render-size", "0", f"must be an even integer in [16, {SIZE_MAX:.0f}]"),
        ("--render-size", "17", "must be an even integer"),  # odd sizes make an empty H.264 video
        ("--render-size", str(SIZE_MAX + 2), "must be an even integer"),
        ("--render-num-views", "0", "must be an integer in [1, 1000]"),
        ("--render-num-views", "1001", "must be an integer in [1, 1000]"),
        ("--texture-resolution", "4", f"must be an integer in [8, {TEX_MAX:.0f}]"),
        ("--texture-resolution", str(TEX_MAX + 1), "must be an integer in [8, "),
        ("--foreground-ratio", "0", "must be a finite number in (0, 1]"),
        ("--foreground-ratio", "1.5", "must be a finite number in (0, 1]"),
        ("--foreground-ratio", "nan", "must be a finite number in (0, 1]"),
        ("--device", "bogus", "unknown device 'bogus': use auto, cpu, cuda or cuda:N"),
        ("--device", "mps", "unknown device 'mps'"),
        ("--device", "meta", "unknown device 'meta'"),
        ("--weight-name", "", "must be a non-empty name or path"),
        ("--output-dir", "", "must be a non-empty name or path"),
        ("--model-save-format", "stl", "invalid choice: 'stl'"),
        ("--precision", "fp8", "invalid choice: 'fp8'"),
    ],
)
def test_a_bad_flag_value_is_argparses_one_line(
    flag: str, value: str, says: str, capsys: pytest.CaptureFixture
) -> None:
    line = parse_error(["photo.png", flag, value], capsys)
    assert line.startswith(f"argument {flag}: ") and says in line


def test_the_largest_values_are_accepted_and_auto_is_the_default_device() -> None:
    largest = ["--mc-resolution", str(MC_MAX), "--render-size", str(SIZE_MAX), "--texture-resolution", str(TEX_MAX)]
    args = parse_args(["photo.png", *largest, "--chunk-size", "0", "--foreground-ratio", "1"])
    assert (args.mc_resolution, args.render_size, args.texture_resolution) == (MC_MAX, SIZE_MAX, TEX_MAX)
    assert args.device == "auto" and args.chunk_size == 0


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (
            ["--render", "--render-size", "512", "--render-num-views", "1000"],
            "--render-num-views 1000 (views of 512x512",
        ),
        (["--chunk-size", "0", "--mc-resolution", "256"], "--chunk-size 0 (no chunking) would query 16,777,216 points"),
    ],
)
def test_sizes_that_fit_alone_but_not_together_are_one_line_before_any_image(
    flags: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert main([*tiny_args(object_png(tmp_path / "a.png"), out), *flags]) == 2
    line = user_error(capsys.readouterr().err, "run")
    assert says in line and "the largest is" in line or "give at most" in line
    assert list(out.iterdir()) == []  # nothing reconstructed


def test_an_explicit_cuda_on_a_machine_without_it_is_an_error_not_the_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out"
    assert main([*tiny_args(object_png(tmp_path / "a.png"), out), "--device", "cuda:0"]) == 2
    line = user_error(capsys.readouterr().err, "run")
    assert "device cuda:0 is not usable" in line and f"CUDA {torch.version.cuda}" in line and "driver:" in line
    assert not out.exists()
    assert main([*tiny_args(tmp_path / "a.png", out)]) == 0  # auto: the CPU here


def test_an_output_dir_that_is_a_file_or_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    image = object_png(tmp_path / "a.png")
    a_file = tmp_path / "results.txt"
    a_file.write_text("mine")
    assert main(tiny_args(image, a_file)) == 2
    assert user_error(capsys.readouterr().err, "run") == f"--output-dir {a_file} is a file, not a folder"
    assert main(tiny_args(image, a_file / "sub")) == 2
    assert "cannot be written: Not a directory" in user_error(capsys.readouterr().err, "run")
    assert a_file.read_text() == "mine"
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    assert main(tiny_args(image, Path("/sys/real3d-test-output"))) == 2  # sysfs refuses new folders, even to root
    assert "cannot be written" in user_error(capsys.readouterr().err, "run")


def test_a_named_weights_file_that_is_not_there_is_an_error_listing_what_is(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    image = object_png(tmp_path / "a.png")
    assert main([*tiny_args(image, tmp_path / "out"), "--weight-name", "model_both_trained_v1.ckt"]) == 2
    line = user_error(capsys.readouterr().err, "run")
    assert f"weights not found: {TINY}/model_both_trained_v1.ckt" in line
    assert "weights files in" in line and "model.ckpt" in line
    # Without a folder, a weight name is looked up in the project's checkpoints/ only: the default model,
    # in checkpoints/default/, does not stand in for it.
    argv = [str(image), "--weight-name", "model_both_trained_v1.ckt", "--output-dir", str(tmp_path / "out2")]
    assert main(argv) == 2
    line = user_error(capsys.readouterr().err, "run")
    assert f"weights not found: {ROOT}/checkpoints/model_both_trained_v1.ckt" in line
    assert not (tmp_path / "out2").exists()


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """A user's own folder, away from the project, holding a photo."""
    folder = tmp_path / "photos"
    folder.mkdir()
    object_png(folder / "photo.png")
    return folder


def test_run_py_from_another_folder_keeps_the_users_paths_and_finds_the_default_model(user_folder: Path) -> None:
    result = run_entry(["python", str(ROOT / "scripts" / "run.py"), "photo.png", "--no-remove-bg",
                        "--mc-resolution", "16", "--output-dir", "results"], cwd=user_folder)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"using the small default model in {ROOT}/checkpoints/default" in result.stderr or "released" in result.stderr
    )
    assert (user_folder / "results" / "0" / "mesh.obj").is_file()
    assert not (ROOT / "results").exists()


def test_run_sh_keeps_the_callers_working_directory(user_folder: Path) -> None:
    result = run_entry([str(ROOT / "run.sh"), "photo.png", "absent.png", "--no-remove-bg", "--mc-resolution", "16",
                        "--output-dir", "results"], cwd=user_folder, env={"PYTHON": sys.executable})  # fmt: skip
    assert result.returncode == 1, result.stderr  # one of two images failed
    assert user_error(result.stderr, "run") == "absent.png: file not found"
    assert (user_folder / "results" / "0" / "mesh.obj").is_file() and not (user_folder / "results" / "1").exists()


def test_app_sh_refuses_a_busy_port_in_one_line_before_loading(user_folder: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_entry([str(ROOT / "app.sh"), "--device", "cpu", "--port", str(port)], cwd=user_folder,
                           env={"PYTHON": sys.executable}, timeout=120)  # fmt: skip
    assert result.returncode == 2
    line = user_error(result.stderr, "app")
    assert f"cannot serve on 127.0.0.1:{port}" in line and "choose another with --port" in line
    assert "model loaded" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--port", "70000"], "argument --port: must be an integer in [1, 65535], got '70000'"),
        (["--port", "0"], "argument --port: must be an integer in [1, 65535]"),
        (["--port", "http"], "argument --port: must be an integer in [1, 65535]"),
        (["--queue-size", "0"], "argument --queue-size: must be an integer in [1, 1000]"),
        (["--max-file-size", "50 parsecs"], "argument --max-file-size: must be a size such as 50mb, from 1kb to 1gb"),
        (["--max-file-size", "2gb"], "argument --max-file-size: must be a size such as 50mb"),
        (["--device", "cuda:x"], "argument --device: unknown device 'cuda:x'"),
        (["--chunk-size", "-1"], "argument --chunk-size: must be an integer in [0, "),
        (["--host", ""], "argument --host: must be a non-empty name or path"),
    ],
)
def test_app_flags_are_checked_by_argparse(flags: list[str], says: str, capsys: pytest.CaptureFixture) -> None:
    from scripts.app import parse_args as app_args

    with pytest.raises(SystemExit) as exit_info:
        app_args(flags)
    assert exit_info.value.code == 2
    assert user_error(capsys.readouterr().err, "app").startswith(says)
    assert app_args(["--max-file-size", "50mb"]).max_file_size == 50 * 2**20


def test_app_refuses_an_address_it_cannot_serve_on(tmp_path: Path) -> None:
    from real3d.errors import Real3DError
    from scripts.app import check_port

    with pytest.raises(Real3DError, match="--host no-such-host.invalid: not an address of this machine"):
        check_port("no-such-host.invalid", 8000)
    with pytest.raises(Real3DError, match="cannot serve on 192.0.2.1:8000"):  # TEST-NET: not this machine's
        check_port("192.0.2.1", 8000)


def test_app_refuses_at_start_a_chunk_size_that_the_pages_largest_request_would_not_fit(
    capsys: pytest.CaptureFixture,
) -> None:
    from scripts.app import main as app_main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--chunk-size", "0", "--port", str(port), "--device", "cpu", "--pretrained-model-name-or-path", str(TINY)]
    assert app_main(argv) == 2
    line = user_error(capsys.readouterr().err, "app")
    assert line.startswith("--chunk-size 0 (no chunking) would query") and "give at most" in line
