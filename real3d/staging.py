"""Whole output folders: a result folder is written under a hidden name beside its final place and moved there
in one step, replacing an earlier folder of that name, so that no folder mixes two runs' files and an
interrupted run leaves nothing that looks complete."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from real3d.errors import Real3DError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block is done (then they act as usual), so that a step of a few
    renames is never cut in half; a no-op outside the main thread, where Python cannot set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            signal.raise_signal(received[0])


@dataclass
class StagedFolder:
    """`path`: where to write; `final`: where the folder goes; `committed`: whether it is there."""

    path: Path
    final: Path
    committed: bool = False


@contextmanager
def staged_folder(final: str | os.PathLike) -> Iterator[StagedFolder]:
    """A fresh hidden folder beside `final` to write into: when the block ends normally it replaces `final`
    (an earlier folder there is removed), on an error or interrupt it is removed and `final` is untouched."""
    final = Path(final)
    if final.exists() and not final.is_dir():
        raise Real3DError(f"{final} is a file, not a results folder: move it or choose another --output-dir")
    try:
        staging = StagedFolder(Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent)), final)
    except OSError as exc:
        raise Real3DError(f"cannot write in {final.parent}: {exc.strerror or exc}") from exc
    try:
        yield staging
    except BaseException:
        with signals_deferred():
            shutil.rmtree(staging.path, ignore_errors=True)
        raise
    with signals_deferred():
        _replace_folder(staging.path, final)
        staging.committed = True


def _replace_folder(staging: Path, final: Path) -> None:
    """Rename `staging` to `final`; an existing `final` is renamed aside first and removed afterwards."""
    aside = None
    if final.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent)) / final.name
        os.replace(final, aside)
    try:
        os.replace(staging, final)
    except OSError as exc:
        if aside is not None:
            os.replace(aside, final)
        shutil.rmtree(staging, ignore_errors=True)
        raise Real3DError(f"cannot move the results into {final}: {exc.strerror or exc}") from exc
    if aside is not None:
        shutil.rmtree(aside.parent, ignore_errors=True)
