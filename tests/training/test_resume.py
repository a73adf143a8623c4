"""Resuming without losing anything (real3d.training.resume, real3d.training.logs): a bad `ckpt_path` is one line,
remote checkpoints are refused, a run folder's checkpoints are never replaced by another run, and the CSV
history and resolved configs of a folder are continued, not rewritten."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import pytest
import torch

from real3d.errors import Real3DError
from real3d.training.logs import AppendingCSVLogger, numbered_path
from real3d.training.resume import (
    ResumePoint,
    check_run_folder,
    check_work_left,
    read_resume_point,
    resolve_ckpt_path,
)


def fake_checkpoint(path: Path, iteration: int = 8, global_step: int = 4) -> Path:
    """A file with the entries of a Real3D training checkpoint (no weights: the checks read only these)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "pytorch-lightning_version": "2.6.0",
            "state_dict": {"net.w": torch.zeros(2)},
            "global_step": global_step,
            "loops": {},
            "real3d": {"iteration": iteration},
        },
        path,
    )
    return path


class _RunsCode:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.ckpt", "no such file"),
        (lambda d: d, "not a file (give a checkpoint such as <run>/checkpoints/last.ckpt)"),
        (lambda d: _write(d / "empty.ckpt", b""), "not a readable checkpoint, truncated or not saved by torch"),
        (lambda d: _truncated(d / "cut.ckpt"), "not a readable checkpoint, truncated or not saved by torch"),
        (lambda d: _write(d / "text.ckpt", b"hello"), "not a readable checkpoint"),
        (lambda d: _write(d / "pickle.ckpt", pickle.dumps({"a": 1})), "not a readable checkpoint"),
        (lambda d: _save(d / "code.ckpt", {"x": _RunsCode()}), "refused, it holds objects that only an unsafe load"),
        (lambda d: _save(d / "weights.ckpt", {"w": torch.zeros(1)}), "not a Real3D training checkpoint"),
        (lambda d: _save(d / "lightning.ckpt", {"state_dict": {}, "pytorch-lightning_version": "2"}), "not a Real3D"),
    ],
)
def test_a_bad_checkpoint_is_one_line(tmp_path, capsys, make, message) -> None:
    path = make(tmp_path)
    with pytest.raises(Real3DError) as info:
        read_resume_point(path)
    assert str(info.value).startswith(f"ckpt_path={path}: {message}")
    assert "\n" not in str(info.value) and "this ran" not in capsys.readouterr().out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _save(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


def _truncated(path: Path) -> Path:
    full = fake_checkpoint(path.with_suffix(".full"))
    return _write(path, full.read_bytes()[: full.stat().st_size // 2])


def test_a_checkpoint_says_where_it_stands(tmp_path) -> None:
    point = read_resume_point(fake_checkpoint(tmp_path / "last.ckpt", iteration=60, global_step=30))
    assert point == ResumePoint(tmp_path / "last.ckpt", 60, 30)


@pytest.mark.parametrize("url", ["http://host/last.ckpt", "https://host/x.ckpt", "s3://bucket/last.ckpt"])
def test_remote_checkpoints_are_refused(url) -> None:
    with pytest.raises(Real3DError, match=r"remote checkpoints are refused \(Lightning loads them with weights_only"):
        resolve_ckpt_path(url, Path("/"))


def test_a_relative_checkpoint_is_the_callers(tmp_path) -> None:
    assert resolve_ckpt_path("run/checkpoints/last.ckpt", tmp_path) == tmp_path / "run/checkpoints/last.ckpt"
    assert resolve_ckpt_path("/abs/last.ckpt", tmp_path) == Path("/abs/last.ckpt")
    assert resolve_ckpt_path(None, tmp_path) is None


def test_a_run_folder_is_continued_only_from_its_own_latest_checkpoint(tmp_path) -> None:
    run = tmp_path / "run" / "checkpoints"
    check_run_folder(run, None)  # a new folder
    last = fake_checkpoint(run / "last.ckpt", iteration=20, global_step=10)
    best = fake_checkpoint(run / "best-step4.ckpt", iteration=8, global_step=4)
    check_run_folder(run, read_resume_point(last))  # resume in place
    with pytest.raises(Real3DError, match=r"already holds a run \(best-step4.ckpt, last.ckpt\): resume it with"):
        check_run_folder(run, None)
    other = read_resume_point(fake_checkpoint(tmp_path / "other" / "last.ckpt"))
    with pytest.raises(Real3DError, match="holds another run's checkpoints"):
        check_run_folder(run, other)
    with pytest.raises(Real3DError, match=r"resuming best-step4.ckpt \(iteration 8\) .* would replace last.ckpt"):
        check_run_folder(run, read_resume_point(best))
    (run / ".last.ckpt.x1.tmp.ckpt").write_bytes(b"cut")  # a write that SIGKILL stopped is no run
    (run / "last.ckpt").unlink()
    (run / "best-step4.ckpt").unlink()
    check_run_folder(run, None)


def test_a_finished_checkpoint_leaves_nothing_to_train(tmp_path) -> None:
    point = read_resume_point(fake_checkpoint(tmp_path / "last.ckpt", iteration=60, global_step=30))
    check_work_left(point, 31)
    with pytest.raises(Real3DError, match="nothing to train, the checkpoint is at optimizer step 30 .*max_steps=30"):
        check_work_left(point, 30)


def test_numbered_paths_keep_earlier_files(tmp_path) -> None:
    path = tmp_path / "config_resolved.yaml"
    assert numbered_path(path) == path
    path.write_text("a")
    assert numbered_path(path) == tmp_path / "config_resolved.1.yaml"
    (tmp_path / "config_resolved.1.yaml").write_text("b")
    assert numbered_path(path) == tmp_path / "config_resolved.2.yaml"


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_the_csv_log_of_a_resumed_run_is_appended(tmp_path) -> None:
    first = AppendingCSVLogger(tmp_path, name="csv", version="")
    first.log_hyperparams({"lr": 1.0})
    for step in range(3):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.finalize("success")
    second = AppendingCSVLogger(tmp_path, name="csv", version="")  # Lightning's deletes metrics.csv here
    second.log_hyperparams({"lr": 2.0})
    second.log_metrics({"train/loss": 3.0}, step=3)
    second.save()
    second.log_metrics({"train/loss": 4.0, "val/psnr": 20.0}, step=4)  # a new column: the file is rewritten
    second.finalize("success")
    rows = _rows(tmp_path / "csv" / "metrics.csv")
    assert [r["step"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r["train/loss"] for r in rows] == ["0.0", "1.0", "2.0", "3.0", "4.0"]
    assert rows[4]["val/psnr"] == "20.0" and rows[0]["val/psnr"] == ""
    assert "lr: 1.0" in (tmp_path / "csv" / "hparams.yaml").read_text()
    assert "lr: 2.0" in (tmp_path / "csv" / "hparams.1.yaml").read_text()
    assert not [p.name for p in (tmp_path / "csv").iterdir() if ".tmp" in p.name]
