"""real3d.staging: a folder is written under a hidden name and moved into place whole, replacing an earlier
one; an error removes it; Ctrl-C waits until a move is done."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from real3d.errors import Real3DError
from real3d.staging import signals_deferred, staged_folder


def test_a_staged_folder_replaces_an_earlier_one_whole(tmp_path: Path) -> None:
    final = tmp_path / "0"
    final.mkdir()
    (final / "render.mp4").write_text("earlier run")
    with staged_folder(final) as staging:
        assert staging.path.parent == tmp_path and staging.path.name.startswith(".0.staging-")
        (staging.path / "mesh.obj").write_text("new")
        assert (final / "render.mp4").exists() and not staging.committed  # nothing moved before the end
    assert staging.committed and sorted(p.name for p in tmp_path.iterdir()) == ["0"]
    assert [p.name for p in final.iterdir()] == ["mesh.obj"]


def test_an_error_or_interrupt_removes_the_staged_folder_and_keeps_the_earlier_one(tmp_path: Path) -> None:
    final = tmp_path / "0"
    final.mkdir()
    (final / "mesh.obj").write_text("earlier run")
    for stop in (Real3DError("bad image"), KeyboardInterrupt()):
        with pytest.raises(type(stop)), staged_folder(final) as staging:
            (staging.path / "input.png").write_text("half")
            raise stop
        assert not staging.committed
        assert sorted(p.name for p in tmp_path.iterdir()) == ["0"]
        assert (final / "mesh.obj").read_text() == "earlier run"


def test_a_file_in_the_way_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "0").write_text("notes")
    with pytest.raises(Real3DError, match="is a file, not a results folder"), staged_folder(tmp_path / "0"):
        pass
    assert (tmp_path / "0").read_text() == "notes" and len(list(tmp_path.iterdir())) == 1


def test_ctrl_c_during_a_deferred_step_acts_when_it_is_done() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the step finished")
    assert done == ["the step finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
