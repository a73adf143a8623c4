"""run.py's output folders are whole: each image's results are staged and moved into place in one step,
replacing an earlier folder; a failed or interrupted image leaves nothing that looks complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from scripts.run import main
from tests.helpers.cli import ROOT, user_error

TINY = ROOT / "tests" / "fixtures" / "parity" / "tiny"

# run.py with the mesh export of the image at index 1 held (input.png is already staged), announcing it in a file.
HELD_RUN = """
import sys, time
from pathlib import Path
import real3d.inference.pipeline as pipeline
export = pipeline.ImageTo3D._export
def held(mesh, s, out_dir):
    if out_dir.name.startswith(".1.") and out_dir.name.endswith(".partial"):
        Path(sys.argv[1]).write_text(str(out_dir))
        time.sleep(300)
    return export(mesh, s, out_dir)
pipeline.ImageTo3D._export = staticmethod(held)
from scripts.run import main
sys.exit(main(sys.argv[2:]))
"""


def object_png(path: Path, colour: tuple[int, int, int] = (30, 160, 60), width: int = 32) -> Path:
    array = np.zeros((64, 80, 4), np.uint8)
    array[16 : 16 + width, 24 : 24 + width] = [*colour, 255]
    PIL.Image.fromarray(array).save(path)
    return path


def run_args(images: list[Path], out: Path, *extra: str) -> list[str]:
    return [*map(str, images), "--pretrained-model-name-or-path", str(TINY), "--no-remove-bg", "--mc-resolution",
            "16", "--mc-threshold", "1.5", "--output-dir", str(out), *extra]  # fmt: skip


def hidden(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_second_run_replaces_a_folder_whole_never_mixing_two_images(tmp_path: Path) -> None:
    mug, lamp = object_png(tmp_path / "mug.png"), object_png(tmp_path / "lamp.png", (200, 40, 40), width=20)
    out = tmp_path / "O"
    assert main(run_args([mug], out, "--render", "--render-num-views", "3", "--render-size", "16")) == 0
    assert sorted(p.name for p in (out / "0").iterdir()) == [
        "input.png", "mesh.obj", "render.mp4", "render_000.png", "render_001.png", "render_002.png"
    ]  # fmt: skip
    assert main(run_args([lamp], out)) == 0
    assert sorted(p.name for p in (out / "0").iterdir()) == ["input.png", "mesh.obj"]  # the lamp's only
    assert PIL.Image.open(out / "0" / "input.png").size == (30, 30)  # the lamp's 20-px object / 0.65
    assert hidden(out) == []


def test_a_failed_image_leaves_the_earlier_folder_as_it_was_and_no_staging(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "O"
    assert main(run_args([object_png(tmp_path / "mug.png")], out)) == 0
    before = {p.name: p.read_bytes() for p in (out / "0").iterdir()}
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(run_args([corrupt], out)) == 1
    assert "corrupt.png: not a readable image" in user_error(capsys.readouterr().err, "run")
    assert {p.name: p.read_bytes() for p in (out / "0").iterdir()} == before
    assert hidden(out) == []


def test_a_results_name_taken_by_a_file_is_one_line_and_the_file_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "O"
    out.mkdir()
    (out / "0").write_text("my notes")
    assert main(run_args([object_png(tmp_path / "mug.png")], out)) == 1
    assert "O/0: is a file, not a folder" in user_error(capsys.readouterr().err, "run")
    assert (out / "0").read_text() == "my notes" and hidden(out) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_removes_the_staged_folder_and_says_which_images_finished(
    tmp_path: Path, stop: signal.Signals
) -> None:
    images = [object_png(tmp_path / f"{name}.png") for name in ("a", "b", "c")]
    out = tmp_path / "O"
    (out / "1").mkdir(parents=True)
    (out / "1" / "mesh.obj").write_text("an earlier run's result")
    marker = tmp_path / "held"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_RUN, str(marker), *run_args(images, out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), process.communicate(timeout=5)[1] if process.poll() is not None else "not held"
        staging = Path(marker.read_text())
        assert (staging / "input.png").is_file()  # the second image is half written
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("run: ")]
    assert lines == [f"run: interrupted after 1 of 3 image(s); finished: {out / '0'} ({images[0]})"]
    assert (out / "0" / "mesh.obj").is_file()
    assert not staging.exists() and hidden(out) == []
    assert (out / "1" / "mesh.obj").read_text() == "an earlier run's result"  # whole, as it was
    assert not (out / "2").exists()
