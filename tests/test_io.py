"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from real3d.io import atomic_path, atomic_write_text


def test_atomic_write_replaces_and_uses_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    target.write_text("good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]
