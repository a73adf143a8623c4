"""real3d.staging: a result folder replaced whole or not at all; a user's folder never touched; Ctrl-C waits
until a move is done."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from real3d.errors import Real3DError
from real3d.staging import check_destination, signals_deferred, staged_folder, terminate_as_interrupt


def ours(entry: Path) -> bool:
    return entry.name in ("result.txt", "images")


def hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_a_success_replaces_the_earlier_result_whole(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with staged_folder(dest, "output_dir", ours) as stage:
        (stage.path / "images").mkdir()
        (stage.path / "images" / "a.png").write_text("first")
        assert not dest.exists() and not stage.committed  # nothing in place before the end
    assert stage.committed
    with staged_folder(dest, "output_dir", ours) as stage:
        (stage.path / "result.txt").write_text("second")
    assert sorted(p.name for p in dest.iterdir()) == ["result.txt"] and hidden(tmp_path) == []


def test_a_failure_or_ctrl_c_leaves_the_earlier_result_and_no_staging(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "result.txt").write_text("earlier")
    for error in (RuntimeError("bug"), KeyboardInterrupt()):
        with pytest.raises(type(error)), staged_folder(dest, "output_dir", ours) as stage:
            (stage.path / "result.txt").write_text("partial")
            raise error
        assert not stage.committed
        assert (dest / "result.txt").read_text() == "earlier" and hidden(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d.write_text("x"), "output_dir={dest}: is a file, not a folder"),
        (lambda d: (d.mkdir(), (d / "notes.txt").write_text("mine")), "output_dir={dest}: holds notes.txt, which"),
    ],
)
def test_a_file_or_a_users_folder_is_refused_before_any_work(tmp_path: Path, make, message: str) -> None:
    dest = tmp_path / "out"
    make(dest)
    with pytest.raises(Real3DError, match="^" + message.format(dest=dest).replace(".", r"\.")):
        check_destination(dest, "output_dir", ours)


def test_the_working_directory_and_above_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for dest in (".", "..", str(tmp_path)):
        with pytest.raises(Real3DError, match="is the working directory or above it"):
            check_destination(dest, "output_dir", ours)


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    with (
        pytest.raises(Real3DError, match="^output_dir=.*a_file/out: cannot write there"),
        staged_folder(tmp_path / "a_file" / "out", "output_dir", ours),
    ):
        pass


def test_sigterm_becomes_keyboard_interrupt_inside_the_block_only() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_staged_folder_replaces_an_earlier_one_whole(tmp_path: Path) -> None:
    final = tmp_path / "0"
    final.mkdir()
    (final / "render.mp4").write_text("earlier run")
    with staged_folder(final) as staging:
        assert staging.path.parent == tmp_path and staging.path.name.startswith(".0.")
        (staging.path / "mesh.obj").write_text("new")
        assert (final / "render.mp4").exists() and not staging.committed  # nothing moved before the end
    assert staging.committed and sorted(p.name for p in tmp_path.iterdir()) == ["0"]
    assert [p.name for p in final.iterdir()] == ["mesh.obj"]


def test_a_file_in_the_way_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "0").write_text("notes")
    with pytest.raises(Real3DError, match="is a file, not a folder"), staged_folder(tmp_path / "0"):
        pass
    assert (tmp_path / "0").read_text() == "notes" and len(list(tmp_path.iterdir())) == 1


def test_ctrl_c_during_a_deferred_step_acts_when_it_is_done() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the step finished")
    assert done == ["the step finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
