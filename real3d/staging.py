"""Whole output folders: a run writes into a hidden staging folder beside its destination and moves it
into place in one step when it succeeds, so a folder never mixes two runs' files and a failed or
interrupted run (Ctrl-C, SIGTERM) leaves nothing that looks complete.

With `owned`, the destination is replaced only when it is missing, empty, or holds nothing but what the
same kind of run writes; anything else there (a user's own files) stops the run before any work. Without
it (the demo's per-image folders), an earlier folder of that name is replaced whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from real3d.errors import Real3DError

PARTIAL_SUFFIX = ".partial"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def check_destination(
    dest: str | os.PathLike, key: str | None = None, owned: Callable[[Path], bool] | None = None
) -> Path:
    """The absolute destination folder, after checking that a staged result may replace it: not a file, not
    the working directory, and (with `owned`) empty or holding only entries `owned` accepts; a one-line
    `Real3DError` naming `key` (or the folder) otherwise."""
    path = Path(dest).expanduser().absolute()
    name = f"{key}={dest}" if key else str(dest)
    cwd = Path.cwd().resolve()
    if path.resolve() == cwd or path.resolve() in cwd.parents:
        raise Real3DError(f"{name}: is the working directory or above it; give a folder for the results")
    if path.exists() and not path.is_dir():
        raise Real3DError(f"{name}: is a file, not a folder")
    if owned is not None and path.is_dir():
        try:
            foreign = sorted(entry.name for entry in path.iterdir() if not owned(entry))
        except OSError as exc:
            raise Real3DError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise Real3DError(
                f"{name}: holds {shown}, which this script did not write; give a new or empty folder "
                "(an earlier result of the same script is replaced)"
            )
    return path


@dataclass
class StagedFolder:
    """`path`: where to write; `final`: where the folder goes; `committed`: whether it is there now."""

    path: Path
    final: Path
    committed: bool = False


@contextlib.contextmanager
def staged_folder(
    dest: str | os.PathLike, key: str | None = None, owned: Callable[[Path], bool] | None = None
) -> Iterator[StagedFolder]:
    """A fresh hidden folder beside `dest` to write into: when the block succeeds it replaces `dest` (checked
    with `check_destination` before and again at the move); on an error, Ctrl-C or SIGTERM it is removed and
    `dest` is untouched."""
    final = check_destination(dest, key, owned)
    name = f"{key}={dest}" if key else str(dest)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=PARTIAL_SUFFIX, dir=final.parent))
    except OSError as exc:
        raise Real3DError(f"{name}: cannot write there ({exc.strerror or exc})") from exc
    staging = StagedFolder(path, final)
    try:
        with terminate_as_interrupt():
            yield staging
    except BaseException:
        with signals_deferred():
            shutil.rmtree(path, ignore_errors=True)
        raise
    with signals_deferred():
        try:
            replace_folder(path, check_destination(dest, key, owned))
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        staging.committed = True


def replace_folder(staging: Path, dest: Path) -> None:
    """Move `staging` onto `dest`: a rename when `dest` is missing, else the old folder is moved aside first
    and deleted after (a crash in between leaves it hidden beside `dest`, never mixed)."""
    aside = None
    if dest.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent)) / dest.name
        os.replace(dest, aside)
    try:
        os.replace(staging, dest)
    except OSError as exc:
        if aside is not None:
            os.replace(aside, dest)
        raise Real3DError(f"cannot move the results into {dest}: {exc.strerror or exc}") from exc
    if aside is not None:
        shutil.rmtree(aside.parent, ignore_errors=True)


@contextlib.contextmanager
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


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises KeyboardInterrupt (as Ctrl-C does), so cleanup runs and the CLI reports
    one line; outside the main thread, where no handler can be set, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
