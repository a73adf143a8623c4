"""A run folder's history, continued by a resumed run and never replaced.

`AppendingCSVLogger` is Lightning's CSVLogger except that it keeps what the folder holds: Lightning's deletes
`metrics.csv` when the folder is not empty, and rewrites it with only the new run's columns when one is new.
Here a resumed run appends its rows; a new column rewrites the file atomically with every earlier row; and
each start's hyperparameters go to the first free `hparams[.N].yaml`. `numbered_path` gives the same
numbering to the resolved configs (`config_resolved.yaml`, `config_resolved.1.yaml`, ...).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from pytorch_lightning.core.saving import save_hparams_to_yaml
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from real3d.io import atomic_path


def numbered_path(path: str | os.PathLike) -> Path:
    """`path` if it does not exist, else the first free `<stem>.<n><suffix>` (n = 1, 2, ...)."""
    path = Path(path)
    if not path.exists():
        return path
    stem, suffix = path.name.split(".", 1) if "." in path.name else (path.name, "")
    n = 1
    while (candidate := path.with_name(f"{stem}.{n}" + (f".{suffix}" if suffix else ""))).exists():
        n += 1
    return candidate


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, appending to an earlier run's `metrics.csv` instead of deleting it."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self.metrics_keys = self._header()
        self.hparams_path = numbered_path(Path(log_dir) / self.NAME_HPARAMS_FILE)

    def _check_log_dir_exists(self) -> None:
        """Keep the folder's files (Lightning's writer deletes `metrics.csv` here)."""

    def _header(self) -> list[str]:
        if not self._fs.isfile(self.metrics_file_path):
            return []
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            return next(csv.reader(file), [])

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        """Every earlier row under the wider header, written to a temporary file and renamed into place."""
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            rows = list(csv.DictReader(file))
        with atomic_path(self.metrics_file_path) as tmp, open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)

    def log_hparams(self, params: dict[str, Any]) -> None:
        self.hparams.update(params)
        save_hparams_to_yaml(self.hparams_path, self.hparams)


class AppendingCSVLogger(CSVLogger):
    """CSVLogger whose writer continues the folder's history (see the module docstring); local folders only."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
