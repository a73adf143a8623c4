"""The photos a curation run reads: a folder searched recursively or a list, never what a curation wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from real3d.curation.stages import IMAGE_EXTENSIONS
from real3d.errors import Real3DError
from real3d.paths import where

WORK_DIR = ".curate"  # an output folder's resumption state; its presence marks a curation output
OUTPUT_IMAGES = ("crops", "rejected", "contact_sheet.png")  # the images a curation writes into its output folder


def _list_entries(input_list: Any) -> list[Path]:
    """Paths from a text file (one per line, '#' comments; relative to the file) or a list."""
    if isinstance(input_list, (list, tuple)):
        return [Path(p).expanduser() for p in input_list]
    list_path = Path(input_list).expanduser()
    if not list_path.is_file():
        raise Real3DError(f"input_list={input_list}: file not found{where(str(input_list))}")
    try:
        lines = [line.strip() for line in list_path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise Real3DError(f"input_list={input_list}: not a readable text file ({exc})") from exc
    return [
        (p if p.is_absolute() else list_path.parent / p)
        for p in (Path(line).expanduser() for line in lines if line and not line.startswith("#"))
    ]


def find_sources(input_dir: str | None, input_list: Any, exclude: Path | None = None) -> list[tuple[Path, str]]:
    """(absolute path, relative name) of every input photo, sorted. What a curation wrote is never a
    photo: the crops, rejected crops and contact sheet of the output folder `exclude` and of any other
    curation output found under `input_dir` (a folder with the `.curate/` state)."""
    if input_dir is None and input_list is None:
        raise Real3DError("give input_dir=<folder of photos> or input_list=<file listing photos>")
    root = Path(input_dir).expanduser().resolve() if input_dir is not None else None
    outputs = [exclude] if exclude is not None else []
    if input_list is not None:
        try:
            paths = [p.resolve() for p in _list_entries(input_list)]
        except (OSError, ValueError) as exc:  # a line that is no path (a NUL byte, a loop of links)
            raise Real3DError(f"input_list={input_list}: {exc}") from exc
    else:
        if not root.is_dir():
            raise Real3DError(
                f"input_dir={input_dir}: {'is a file, not a folder' if root.exists() else 'folder not found'}"
            )
        outputs += [state.parent for state in root.rglob(WORK_DIR) if state.is_dir()]
        paths = sorted(
            p.resolve()
            for p in root.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    written = [folder / name for folder in outputs for name in OUTPUT_IMAGES]
    sources = []
    for path in paths:
        if any(path.is_relative_to(w) for w in written):
            continue
        rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
        sources.append((path, rel.as_posix()))
    return sources


def find_mask(mask_dir: str | None, rel: str) -> str | None:
    """`<mask_dir>/<rel without suffix>.png`, or MVImgNet's `<mask_dir>/<rel>.png`, if present."""
    if mask_dir is None:
        return None
    for candidate in (Path(mask_dir) / Path(rel).with_suffix(".png"), Path(mask_dir) / f"{rel}.png"):
        if candidate.is_file():
            return str(candidate)
    return None


def assign_names(sources: list[tuple[Path, str]], known: dict[str, str]) -> dict[str, str]:
    """Unique crop names (relative path without suffix); names from earlier runs are kept."""
    names = dict(known)
    used = set(known.values())
    for path, rel in sources:
        source = str(path)
        if source in names:
            continue
        stem = Path(rel).with_suffix("").as_posix()
        name = stem
        if name in used:
            name = f"{stem}_{Path(rel).suffix.lstrip('.').lower()}"
        n = 2
        while name in used:
            name, n = f"{stem}_{n}", n + 1
        names[source] = name
        used.add(name)
    return names
