"""Whole output folders: a run writes into a hidden staging folder beside its destination and moves it
into place in one step when it succeeds, so a folder never mixes two runs' files and a failed or
interrupted run (Ctrl-C, SIGTERM) leaves nothing that looks complete.

The destination is replaced only when it is missing, empty, or holds nothing but what the same kind
of run writes (`owned`); anything else there (a user's own files) stops the run before any work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from real3d.errors import Real3DError

PARTIAL_SUFFIX = ".partial"


def check_destination(dest: str | os.PathLike, key: str, owned: Callable[[Path], bool]) -> Path:
    """The absolute destination folder, after checking that a staged result may replace it: not a file,
    and empty or holding only entries `owned` accepts; a one-line `Real3DError` naming `key` otherwise."""
    path = Path(dest).expanduser().absolute()
    cwd = Path.cwd()
    if path.resolve() == cwd.resolve() or path.resolve() in cwd.resolve().parents:
        raise Real3DError(f"{key}={dest}: is the working directory or above it; give a folder for the results")
    if path.exists() and not path.is_dir():
        raise Real3DError(f"{key}={dest}: is a file, not a folder")
    if path.is_dir():
        try:
            foreign = sorted(entry.name for entry in path.iterdir() if not owned(entry))
        except OSError as exc:
            raise Real3DError(f"{key}={dest}: cannot be read ({exc.strerror or exc})") from exc
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise Real3DError(
                f"{key}={dest}: holds {shown}, which this script did not write; give a new or empty folder "
                "(an earlier result of the same script is replaced)"
            )
    return path


@contextlib.contextmanager
def staged_folder(dest: str | os.PathLike, key: str, owned: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield an empty hidden folder beside `dest`; when the block succeeds it replaces `dest` (checked
    first with `check_destination`), otherwise (an error, Ctrl-C, SIGTERM) it is removed."""
    path = check_destination(dest, key, owned)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent))
    except OSError as exc:
        raise Real3DError(f"{key}={dest}: cannot write there ({exc.strerror or exc})") from exc
    try:
        with terminate_as_interrupt():
            yield staging
            replace_folder(staging, check_destination(dest, key, owned))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(staging: Path, dest: Path) -> None:
    """Move `staging` onto `dest`: a rename when `dest` is missing, else the old folder is moved aside
    first and deleted after (a crash in between leaves it hidden beside `dest`, never mixed)."""
    if not dest.exists():
        os.rename(staging, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    os.rename(dest, old / dest.name)
    os.rename(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises KeyboardInterrupt (as Ctrl-C does), so cleanup runs and the CLI
    reports one line; outside the main thread, where no handler can be set, nothing changes."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
