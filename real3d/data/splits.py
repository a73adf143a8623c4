"""Split files: `{"train": [...], "test": [...]}` as JSON or gzipped JSON, curated-output manifests
(JSON lines), the lists shipped with the package, and safe resolution of item paths under a root.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from real3d.errors import Real3DError

PACKAGED_SPLITS_DIR = Path(__file__).parent / "splits"


def packaged_split(name: str) -> Path:
    """Path of a split list shipped in `real3d/data/splits/` (e.g. "singleview" or "mvimgnet.json.gz")."""
    for candidate in (name, f"{name}.json", f"{name}.json.gz"):
        path = PACKAGED_SPLITS_DIR / candidate
        if path.is_file():
            return path
    shipped = sorted(p.name for p in PACKAGED_SPLITS_DIR.glob("*.json*"))
    raise Real3DError(f"no packaged split named {name!r}; shipped: {', '.join(shipped)}")


def resolve_split_path(path_or_name: str | os.PathLike) -> Path:
    """A split file given as a path, or as the name of a packaged split list."""
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return path
    if path.parent == Path(".") and not path.exists():
        try:
            return packaged_split(str(path))
        except Real3DError:
            pass
    raise Real3DError(f"split file not found: {path} (give a path or a packaged split name)")


def read_json_any(path: str | os.PathLike) -> Any:
    """Parse a .json or .json.gz file (gzip detected by its magic bytes, not its name)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise Real3DError(f"cannot read split file {path}: {exc}") from exc


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Records of a JSON-lines manifest (blank lines ignored)."""
    records = []
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise Real3DError(f"{path}:{line_no}: not a JSON object ({exc})") from exc
                if not isinstance(record, dict):
                    raise Real3DError(f"{path}:{line_no}: not a JSON object")
                records.append(record)
    except OSError as exc:
        raise Real3DError(f"cannot read manifest {path}: {exc}") from exc
    return records


def is_manifest(path: str | os.PathLike) -> bool:
    return str(path).endswith((".jsonl", ".jsonl.gz", ".ndjson"))


def manifest_items(records: Sequence[dict], split: str) -> list[str]:
    """Paths of the kept records of a curated-output manifest for `split`.

    A record needs "path" and "kept": true; one without a "split" field belongs to "train".
    """
    items = []
    for record in records:
        if record.get("kept") is not True or "path" not in record:
            continue
        if record.get("split", "train") == split:
            items.append(str(record["path"]))
    return items


def load_split(path_or_name: str | os.PathLike, split: str) -> list:
    """Entries of `split` in a split file (JSON / JSON.gz dict of lists) or a curated manifest."""
    path = resolve_split_path(path_or_name)
    if is_manifest(path):
        return manifest_items(read_manifest(path), split)
    data = read_json_any(path)
    if isinstance(data, list):  # a bare list: every entry belongs to every split
        return list(data)
    if not isinstance(data, dict) or split not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise Real3DError(f"split file {path} has no {split!r} list (has {keys})")
    return list(data[split])


def write_split(path: str | os.PathLike, splits: dict[str, list]) -> Path:
    """Write a split file atomically (gzipped when the name ends in .gz)."""
    from real3d.io import atomic_write_bytes

    path = Path(path)
    text = json.dumps(splits, indent=None if path.suffix == ".gz" else 1)
    data = gzip.compress(text.encode(), mtime=0) if path.suffix == ".gz" else text.encode()
    atomic_write_bytes(path, data)
    return path


def resolve_item(root: str | os.PathLike, relative: str) -> Path:
    """`root / relative`, refusing absolute paths and paths that climb out of the root."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"item path must stay inside the data root: {relative!r}")
    return Path(root) / rel


def auto_split(items: Sequence[str], num_test: int, seed: int = 0) -> dict[str, list[str]]:
    """Deterministic train/test split of `items`: a seeded shuffle, the last `num_test` are test."""
    items = sorted(items)
    random.Random(seed).shuffle(items)
    num_test = max(0, min(num_test, len(items) - 1)) if len(items) > 1 else 0
    cut = len(items) - num_test
    return {"train": sorted(items[:cut]), "test": sorted(items[cut:])}


def discover(root: str | os.PathLike, is_item: Callable[[Path], bool], max_depth: int = 4) -> list[str]:
    """Relative paths (posix) of the folders under `root`, up to `max_depth` deep, that are items.

    The search does not descend into an item. Used when no split file is given.
    """
    root = Path(root)
    if not root.is_dir():
        raise Real3DError(f"data root not found: {root}")
    found = []
    frontier = [root]
    for _ in range(max_depth):
        next_frontier = []
        for folder in frontier:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            for child in children:
                if is_item(child):
                    found.append(child.relative_to(root).as_posix())
                else:
                    next_frontier.append(child)
        frontier = next_frontier
    return sorted(found)


def items_for_split(
    root: str | os.PathLike,
    split_file: str | os.PathLike | None,
    split: str,
    is_item: Callable[[Path], bool] | None = None,
    num_test: int = 1000,
    test_fraction: float = 0.1,
) -> list:
    """Items of `split` from the split file, or (without one) discovered under root and split
    deterministically: the test part is min(num_test, test_fraction of the items)."""
    if split_file is not None:
        return load_split(split_file, split)
    if is_item is None:
        raise Real3DError(f"a split file is required for the data under {root}")
    items = discover(root, is_item)
    if not items:
        raise Real3DError(f"no items found under {root}")
    return split_part(items, split, num_test, test_fraction)


def split_part(items: Sequence[str], split: str, num_test: int = 1000, test_fraction: float = 0.1) -> list[str]:
    """The `split` part of a deterministic split of `items`: test = min(num_test, test_fraction)."""
    n_test = min(num_test, max(1, int(round(test_fraction * len(items)))))
    parts = auto_split(items, n_test)
    if split not in parts:
        raise Real3DError(f"unknown split {split!r} (use 'train' or 'test')")
    return parts[split]
