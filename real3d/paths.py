"""Paths as the user means them: relative to the working directory, and the project's own files
(checkpoints/, config/) found from any folder."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_path(value: str) -> str:
    """A relative path as the working directory has it, else as the project has it (`checkpoints`
    finds the project's checkpoints/ from any folder); absolute paths and paths found here unchanged."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists() or not (PROJECT_ROOT / path).exists():
        return str(path)
    return str(PROJECT_ROOT / path)


def where(value: str) -> str:
    """` (<absolute path>)` for a message about a relative path the user gave, else nothing."""
    path = Path(value).expanduser()
    return "" if str(path.absolute()) == str(value) else f" ({path.absolute()})"
