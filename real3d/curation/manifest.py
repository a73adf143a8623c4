"""Append-only JSONL logs that make a curation run resumable.

Each record is one line, written and fsync'ed before the run moves on, so a crash loses at most
the line being written; a torn last line is cut off when the log is opened again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class JsonlLog:
    """A JSONL file of records, keyed by their `source`; later lines win."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a line torn by a crash: drop it so appends start on a fresh line
            log.warning("%s: dropping an unfinished last line", self.path)
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for number, line in enumerate(data[:end].splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self.records[record["source"]] = record
            except (ValueError, KeyError, TypeError):
                log.warning("%s:%d: skipping an unreadable line", self.path, number)

    def __contains__(self, source: str) -> bool:
        return source in self.records

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def get(self, source: str) -> dict[str, Any] | None:
        return self.records.get(source)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (write, flush, fsync) and remember it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=False, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["source"]] = record
