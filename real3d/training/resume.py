"""Resuming a run without losing anything: the checkpoint a user names is checked before anything is built,
and a run folder that already holds a run's checkpoints is only continued from its own latest state.

`ckpt_path` is a local file (a relative path is the caller's); it is read weights-only and memory-mapped, so
checking a large checkpoint costs little, and Lightning then loads it with `weights_only=True`. Remote
checkpoints (`http(s)://`, `s3://` ...) are refused: Lightning loads URLs with `weights_only=False`, which can
run code from the file.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from real3d.errors import Real3DError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LAST = "last.ckpt"


@dataclass(frozen=True)
class ResumePoint:
    """Where a training checkpoint stands: its file, training iteration and optimizer step."""

    path: Path
    iteration: int
    global_step: int


def resolve_ckpt_path(value: str | None, cwd: Path) -> Path | None:
    """`ckpt_path` as an absolute local path (relative to `cwd`, the caller's folder); URLs are refused."""
    if value is None:
        return None
    text = str(value)
    if _URL.match(text):
        raise Real3DError(
            f"ckpt_path={text}: remote checkpoints are refused (Lightning loads them with weights_only=False, "
            "which can run code from the file); download it and give the local file"
        )
    path = Path(text).expanduser()
    return path if path.is_absolute() else cwd / path


def read_resume_point(path: Path, key: str = "ckpt_path") -> ResumePoint:
    """The iteration and step of a Real3D training checkpoint, read weights-only without loading its tensors."""
    if not path.exists():
        raise Real3DError(f"{key}={path}: no such file")
    if not path.is_file():
        raise Real3DError(f"{key}={path}: not a file (give a checkpoint such as <run>/checkpoints/{LAST})")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        raise Real3DError(
            f"{key}={path}: refused, it holds objects that only an unsafe load (which can run code) would read"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - whatever the reader says, the file is not a checkpoint we can use
        reason = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().split(". ")[0].splitlines()
        detail = f"{type(exc).__name__}: {reason[0][:160]}" if reason else type(exc).__name__
        raise Real3DError(
            f"{key}={path}: not a readable checkpoint, truncated or not saved by torch ({detail})"
        ) from exc
    needed = ("pytorch-lightning_version", "state_dict", "global_step", "loops", "real3d")
    if not isinstance(checkpoint, dict) or not all(name in checkpoint for name in needed):
        raise Real3DError(
            f"{key}={path}: not a Real3D training checkpoint (it lacks the training state; to start from a "
            "model's weights, set model.path instead)"
        )
    real3d = checkpoint["real3d"]
    iteration = real3d.get("iteration") if isinstance(real3d, dict) else None
    step = checkpoint["global_step"]
    if not isinstance(iteration, int) or not isinstance(step, int) or iteration < 0 or step < 0:
        raise Real3DError(f"{key}={path}: its iteration / global_step entries are not counts")
    return ResumePoint(path, iteration, step)


def check_run_folder(checkpoint_dir: Path, point: ResumePoint | None) -> None:
    """Refuse a run that would replace another run's checkpoints in `checkpoint_dir`: a fresh start there, a
    resume from elsewhere, or a resume from an earlier checkpoint than the folder's `last.ckpt`."""
    # a hidden `.<name>.<random>.tmp.ckpt` is a write that a kill stopped (real3d.io.atomic_path): no checkpoint
    found = checkpoint_dir.glob("*.ckpt") if checkpoint_dir.is_dir() else []
    existing = sorted(p.name for p in found if not p.name.startswith("."))
    if not existing:
        return
    run = checkpoint_dir.parent
    shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
    if point is None:
        raise Real3DError(
            f"{run} already holds a run ({shown}): resume it with ckpt_path={checkpoint_dir / LAST}, "
            "or give another hydra.run.dir"
        )
    if point.path.resolve().parent != checkpoint_dir.resolve():
        raise Real3DError(
            f"{run} holds another run's checkpoints ({shown}): resume {point.path} in another hydra.run.dir "
            "(or the run of that folder from its own checkpoints)"
        )
    last = checkpoint_dir / LAST
    if last.is_file() and last.resolve() != point.path.resolve():
        latest = read_resume_point(last, key=str(last))
        if latest.iteration > point.iteration:
            raise Real3DError(
                f"resuming {point.path.name} (iteration {point.iteration}) in {run} would replace {LAST} "
                f"(iteration {latest.iteration}): resume it in another hydra.run.dir"
            )


def check_work_left(point: ResumePoint, max_steps: int) -> None:
    """Refuse a resume whose checkpoint already reached the last optimizer step (it would train nothing)."""
    if point.global_step >= max_steps:
        raise Real3DError(
            f"ckpt_path={point.path}: nothing to train, the checkpoint is at optimizer step {point.global_step} "
            f"(iteration {point.iteration}) and trainer.max_steps={max_steps}; raise "
            "module.training.total_iterations to train on"
        )
