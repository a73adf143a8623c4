"""`scripts/train.py`, `train.sh` and `train_sv.sh` as a user runs them (issue 26): every mistake is one line
and exit 2 before anything is written; the caller's folder is kept; Hydra still sweeps and prints configs;
Ctrl-C is one line, exit 130, with the last checkpoint whole, and a resume in the same folder continues its
history; a run that would train nothing stops."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from real3d.errors import Real3DError
from real3d.models.checkpoint import load_training_checkpoint
from real3d.training.rules import TRAIN_RULES
from real3d.training.run import resolve_user_paths, train
from tests.helpers.cli import run_entry, user_error
from tests.helpers.fuzz import fuzz_settings
from tests.training.runs import ROOT, compose_train
from tests.training.test_resume import fake_checkpoint
from tests.training.test_rules import quoted

TRAIN = str(ROOT / "scripts" / "train.py")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("module.training.total_iterations=abc", "module.training.total_iterations='abc': must be an integer in"),
        ("module.optimizer.lr=fast", "module.optimizer.lr='fast': must be a number in [0, 10]"),
        ("module.training.accumulation_steps=0", "module.training.accumulation_steps=0: must be an integer in"),
        ("module.training.total_iterations=-5", "module.training.total_iterations=-5: must be an integer in"),
        ("module.training.bogus=1", "Could not override 'module.training.bogus'."),
        ("module.training.total_iterations=[1,2", "no viable alternative at input '[1,2'"),
        ("model=nope", "In 'train': Could not find 'model/nope' Available options in 'model': medium,"),
        ("--no-such-flag", "unrecognized arguments: --no-such-flag"),
    ],
)
def test_a_mistake_is_one_line_before_anything_is_written(tmp_path, override, message):
    proc = run_entry(["python", TRAIN, "experiment=tiny_cpu", f"hydra.run.dir={tmp_path / 'run'}", override], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert user_error(proc.stderr, "train").startswith(message)
    assert "HYDRA_FULL_ERROR" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_the_shell_scripts_keep_the_callers_folder(tmp_path):
    """Relative paths (the run folder, the checkpoint) are the caller's; the scripts are found from anywhere."""
    env = {"PYTHON": sys.executable}
    proc = run_entry(["bash", str(ROOT / "train.sh"), "hydra.run.dir=run", "ckpt_path=mine.ckpt"], tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert user_error(proc.stderr, "train") == f"ckpt_path={tmp_path / 'mine.ckpt'}: no such file"
    assert (tmp_path / "run" / ".hydra").is_dir()  # Hydra's run folder, where the user stands
    proc = run_entry(["bash", str(ROOT / "train_sv.sh"), "seed=-1"], tmp_path, env=env)
    assert proc.returncode == 2 and user_error(proc.stderr, "train").startswith("seed=-1: must be an integer")


def test_hydra_still_prints_configs_and_sweeps(tmp_path):
    shown = run_entry(["python", TRAIN, "experiment=tiny_cpu", "--cfg", "job"], tmp_path)
    assert shown.returncode == 0 and "total_iterations: 60" in shown.stdout
    sweep = run_entry(
        [
            "python",
            TRAIN,
            "-m",
            "experiment=tiny_cpu",
            "module.training.total_iterations=abc,-5",
            f"hydra.sweep.dir={tmp_path / 's'}",
        ],
        tmp_path,
    )
    lines = [line for line in sweep.stderr.splitlines() if line.startswith("train: error: ")]
    assert sweep.returncode == 2 and len(lines) == 2 and "Traceback" not in sweep.stderr  # each job ran
    assert "total_iterations='abc'" in lines[0] and "total_iterations=-5" in lines[1]


RANGED = [rule for rule in TRAIN_RULES if rule.kind in ("int", "float") and rule.low is not None]


@fuzz_settings(5)
@given(rule=st.sampled_from(RANGED), offset=st.floats(1e-3, 1e12), as_text=st.booleans(), text=st.text(max_size=8))
def test_fuzz_bad_overrides_end_to_end(tmp_path_factory, rule, offset, as_text, text):
    """Numbers below a key's range, and words where numbers go: exit 2 with one line naming the key, no traceback,
    no run folder."""
    folder = tmp_path_factory.mktemp("fuzz")
    below = rule.low - offset if rule.kind == "float" else int(rule.low) - max(1, round(offset))
    value = quoted(text) if as_text else repr(below)
    proc = run_entry(
        ["python", TRAIN, "experiment=tiny_cpu", f"hydra.run.dir={folder / 'run'}", f"{rule.key}={value}"], folder
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert rule.key.split(".")[-1] in user_error(proc.stderr, "train")
    assert not (folder / "run").exists()


# -- in-process: nothing to train ----------------------------------------------------------------------------


def _tiny(data_dir: Path, out: Path, *overrides: str, iterations: int = 4):
    return compose_train(
        [
            "experiment=tiny_cpu",
            f"paths.data_dir={data_dir}",
            f"paths.output_dir={out}",
            f"module.training.total_iterations={iterations}",
            "trainer.val_check_interval=2",
            "callbacks.periodic_checkpoint.every_n_iterations=2",
            "+trainer.enable_progress_bar=false",
            *overrides,
        ]
    )


def test_a_resume_with_nothing_left_stops_before_anything_is_written(data_dir, tmp_path):
    done = fake_checkpoint(tmp_path / "done.ckpt", iteration=4, global_step=2)
    with pytest.raises(Real3DError, match=r"nothing to train, the checkpoint is at optimizer step 2 .*max_steps=2"):
        train(_tiny(data_dir, tmp_path / "run", f"ckpt_path={done}"))
    assert not (tmp_path / "run").exists()


def test_a_run_that_trains_nothing_fails(data_dir, tmp_path):
    with pytest.raises(
        Real3DError, match=r"^no iteration was trained \(the run ended at iteration 0, where it started"
    ):
        train(_tiny(data_dir, tmp_path / "run", "+trainer.limit_train_batches=0"))


def test_a_fresh_run_never_replaces_another_runs_checkpoints(data_dir, tmp_path):
    fake_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    with pytest.raises(Real3DError, match=r"already holds a run \(last.ckpt\): resume it with ckpt_path="):
        train(_tiny(data_dir, tmp_path / "run"))
    with pytest.raises(Real3DError, match=r"remote checkpoints are refused"):
        train(_tiny(data_dir, tmp_path / "other", "ckpt_path=https://example.com/last.ckpt"))


def test_a_key_a_constructor_does_not_take_and_a_setting_lightning_refuses_are_one_line(data_dir, tmp_path):
    with pytest.raises(Real3DError, match=r"^data: .*unexpected keyword argument 'bogus'$"):
        train(_tiny(data_dir, tmp_path / "a", "+data.bogus=1"))
    with pytest.raises(Real3DError, match=r"^trainer: .*strategy"):
        train(_tiny(data_dir, tmp_path / "b", "trainer.strategy=nonsense"))


def test_a_training_source_that_yields_nothing_stops_before_the_model_is_built(data_dir, tmp_path):
    with pytest.raises(Real3DError, match=r"^data.gobjaverse_root=/nonexistent: no such folder"):
        train(_tiny(data_dir, tmp_path / "run", "data.gobjaverse_root=/nonexistent"))
    assert not (tmp_path / "run" / "checkpoints").exists()


# -- Ctrl-C, then a resume into the same folder ---------------------------------------------------------------


def _start(data_dir: Path, run: Path, *overrides: str) -> subprocess.Popen:
    command = [sys.executable, TRAIN, "experiment=tiny_cpu", f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"]
    command += ["module.training.total_iterations=400", "callbacks.periodic_checkpoint.every_n_iterations=2"]
    command += ["trainer.val_check_interval=2", "+trainer.enable_progress_bar=false", *overrides]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=run.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint written in time"
        time.sleep(0.2)


def test_ctrl_c_is_one_line_and_a_resume_in_the_same_folder_appends(data_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"
    proc = _start(data_dir, run)
    _wait_for(run / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("train: ")]
    assert len(lines) == 1 and lines[0].startswith(f"train: interrupted; the last complete checkpoint is {run}")
    stopped = load_training_checkpoint(run / "checkpoints" / "last.ckpt")  # whole, weights-only
    assert not [p.name for p in (run / "checkpoints").iterdir() if ".tmp" in p.name]
    rows_before = _rows(run / "csv" / "metrics.csv")

    # the resume: the same folder, the checkpoint given relative to the caller's folder
    monkeypatch.chdir(tmp_path)
    resumed_to = stopped["real3d"]["iteration"] + 2
    cfg = _tiny(data_dir, run, "ckpt_path=run/checkpoints/last.ckpt", "export.enabled=false", iterations=resumed_to)
    assert train(cfg)["iteration"] == resumed_to
    rows_after = _rows(run / "csv" / "metrics.csv")
    assert len(rows_after) > len(rows_before)
    for old, new in zip(rows_before, rows_after, strict=False):  # every earlier row kept, in order
        assert {k: new[k] for k in old} == old
    assert (run / "config_resolved.yaml").is_file() and (run / "config_resolved.1.yaml").is_file()
    assert f"total_iterations: {resumed_to}" in (run / "config_resolved.1.yaml").read_text()
    assert "total_iterations: 400" in (run / "config_resolved.yaml").read_text()
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert load_training_checkpoint(run / "checkpoints" / "last.ckpt")["real3d"]["iteration"] == resumed_to


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.slow
def test_sigterm_stops_after_the_current_iteration_with_its_own_code(data_dir, tmp_path):
    """Lightning lets SIGTERM finish the iteration, then raises SIGTERMException, a SystemExit that exited 0."""
    run = tmp_path / "run"
    proc = _start(data_dir, run)
    _wait_for(run / "checkpoints" / "last.ckpt", proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("train: ")]
    assert "Traceback" not in stderr and len(lines) == 1
    assert lines[0].startswith(f"train: terminated (SIGTERM); the last complete checkpoint is {run}")
    load_training_checkpoint(run / "checkpoints" / "last.ckpt")


def test_relative_data_paths_are_the_callers_even_after_a_chdir(data_dir, tmp_path):
    (tmp_path / "mine").symlink_to(data_dir / "generated" / "tiny")
    cfg = _tiny(
        data_dir, tmp_path / "run", "data.gobjaverse_root=mine/gobjaverse", "data.wild_split=mine/wild/split.json.gz"
    )
    resolve_user_paths(cfg, tmp_path)
    assert cfg.data.gobjaverse_root == str(tmp_path / "mine" / "gobjaverse")
    assert cfg.data.wild_split == str(tmp_path / "mine" / "wild" / "split.json.gz")
    packaged = compose_train(["experiment=real3d_sv", "paths.output_dir=x"])
    resolve_user_paths(packaged, tmp_path)
    assert packaged.data.wild_split == "singleview.json.gz"  # a packaged list's name stays a name


@pytest.mark.slow
def test_sigkill_leaves_no_partial_checkpoint_and_the_run_resumes(data_dir, tmp_path):
    run = tmp_path / "run"
    proc = _start(data_dir, run)
    _wait_for(run / "checkpoints" / "last.ckpt", proc)
    time.sleep(3.0)  # into the next checkpoints
    proc.kill()
    proc.communicate(timeout=60)
    checkpoints = [p for p in (run / "checkpoints").iterdir() if not p.name.startswith(".")]
    for path in checkpoints:
        assert torch.load(path, map_location="cpu", weights_only=True)["real3d"]["iteration"] >= 2, path
    stopped = load_training_checkpoint(run / "checkpoints" / "last.ckpt")
    resumed_to = stopped["real3d"]["iteration"] + 2
    cfg = _tiny(
        data_dir, run, f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "export.enabled=false", iterations=resumed_to
    )
    assert train(cfg)["iteration"] == resumed_to


def test_fp16_on_a_cpu_accelerator_is_refused_not_replaced_by_bf16() -> None:
    import pytorch_lightning as pl

    from real3d.errors import Real3DError
    from real3d.training.run import check_precision_kept

    trainer = pl.Trainer(accelerator="cpu", precision="16-mixed", logger=False, enable_checkpointing=False)
    with pytest.raises(Real3DError, match=r"^trainer\.precision=16-mixed: Lightning would run bf16-mixed"):
        check_precision_kept("16-mixed", trainer)
    check_precision_kept("bf16", pl.Trainer(accelerator="cpu", precision="bf16", logger=False))
