"""The training task behind `scripts/train.py`: check the config, build everything from it and fit.

Everything a user can get wrong is found before the first step, in this order: the config's values
(`real3d.training.rules`), the checkpoint to resume and the run folder (`real3d.training.resume`), the data
(each enabled source must yield an item), the model and Lightning's own settings. A resumed run continues the
folder's history (`real3d.training.logs`); a run that trained nothing is an error.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import MisconfigurationException, SIGTERMException

from real3d.cli import INTERRUPTED, find_user_error
from real3d.errors import Real3DError
from real3d.io import atomic_write_text
from real3d.training.checkpointing import AtomicCheckpointIO, export_pretrained
from real3d.training.logs import numbered_path
from real3d.training.resume import (
    LAST,
    ResumePoint,
    check_run_folder,
    check_work_left,
    read_resume_point,
    resolve_ckpt_path,
)
from real3d.training.rules import DATA_PATHS, check_train_config, register_resolvers

log = logging.getLogger(__name__)

TERMINATED = 143  # exit code after SIGTERM (128 + 15), as a shell reports it
__all__ = ["register_resolvers", "train", "train_command"]


class TrainingTerminated(Exception):
    """SIGTERM stopped the fit after its current iteration (Lightning's SIGTERMException)."""


def caller_cwd() -> Path:
    """The folder the user started the run from (Hydra's `runtime.cwd`, even with `hydra.job.chdir=true`)."""
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd)
    return Path.cwd()


def resolve_user_paths(cfg: DictConfig, cwd: Path) -> None:
    """Make the relative data roots (and split files that exist there) of `cfg` absolute against `cwd`, the
    caller's folder, so that they stay the user's whatever the process's folder (`hydra.job.chdir=true`)."""
    for key in DATA_PATHS:
        value = OmegaConf.select(cfg, f"data.{key}", default=None)
        if not value or Path(value).is_absolute():
            continue
        if key.endswith("_root") or (cwd / value).exists():
            OmegaConf.update(cfg, f"data.{key}", str(cwd / value))


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


@rank_zero_only
def write_resolved_config(cfg: DictConfig, output_dir: Path) -> Path:
    """The run's resolved config, with its command line: `config_resolved.yaml`, or `config_resolved.<n>.yaml`
    when the folder holds earlier ones (a resume keeps them)."""
    path = numbered_path(output_dir / "config_resolved.yaml")
    header = f"# {datetime.now().isoformat(timespec='seconds')} overrides: {' '.join(_overrides()) or '(none)'}\n"
    atomic_write_text(path, header + OmegaConf.to_yaml(cfg, resolve=True))
    return path


@rank_zero_only
def ensure_synthetic_data(out_dir: str, sizes: dict, seed: int = 0) -> None:
    """Write the generated datasets of a smoke run (scripts/make_synthetic_data.py) if missing."""
    from real3d.data.synthetic import SetSizes, make_dataset

    if (Path(out_dir) / "info.json").is_file():
        return
    log.info("writing synthetic data to %s", out_dir)
    make_dataset(out_dir, SetSizes(**sizes), seed=seed)


def check_input_size(data_size: int, model_size: int) -> None:
    """Refuse a run whose data would feed the model inputs of another size than it was built for."""
    if data_size != model_size:
        raise Real3DError(
            f"data.cond_image_size={data_size} but the model's cond_image_size is {model_size}: "
            f"set data.cond_image_size={model_size} (or pick the model config made for {data_size})"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def build(node: DictConfig, key: str, refusals: tuple[type[Exception], ...] = (), **kwargs: Any) -> Any:
    """`hydra.utils.instantiate(node)`; a key the constructor does not take, or an error of the kinds `refusals`
    (a constructor's answer to a bad setting), is one line naming the config group `key`."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        unknown_key = isinstance(cause, TypeError) and "keyword argument" in str(cause)
        if find_user_error(exc) is None and (unknown_key or isinstance(cause, refusals)):
            raise Real3DError(f"{key}: {_one_line(cause)}") from exc
        raise


def _build_all(group: DictConfig | None, key: str) -> list[Any]:
    if not group:
        return []
    return [build(c, f"{key}.{name}") for name, c in group.items() if c is not None and "_target_" in c]


_UNIFIED_PRECISION = {"16": "16-mixed", "bf16": "bf16-mixed", "32": "32-true", "64": "64-true"}


def check_precision_kept(asked: str, trainer: pl.Trainer) -> None:
    """Refuse a precision Lightning replaced (it runs `16-mixed` as bf16-mixed on a CPU accelerator): an explicit
    choice is never silently changed."""
    wanted = _UNIFIED_PRECISION.get(asked, asked)
    if trainer.precision != wanted:
        raise Real3DError(
            f"trainer.precision={asked}: Lightning would run {trainer.precision} on this accelerator "
            f"({type(trainer.accelerator).__name__}); fp16 mixed precision needs a CUDA GPU: use bf16-mixed or "
            "32-true here"
        )


def fit(trainer: pl.Trainer, module: pl.LightningModule, datamodule: Any, resume: ResumePoint | None) -> None:
    """`trainer.fit`, the checkpoint loaded weights-only; Ctrl-C (which Lightning turns into exit 1 after its
    graceful shutdown) is a KeyboardInterrupt again, SIGTERM a TrainingTerminated, Lightning's refusals of a
    setting one line."""
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume.path if resume else None, weights_only=True)
    except SIGTERMException:
        raise TrainingTerminated() from None
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    except MisconfigurationException as exc:
        raise Real3DError(f"trainer: {_one_line(exc)}") from exc


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit the model; write the resolved config, logs, image grids, checkpoints and the export.

    Raises Real3DError for a mistake (found before the first step) and for a run that trained nothing,
    KeyboardInterrupt after Ctrl-C and TrainingTerminated after SIGTERM; the last checkpoint stays whole.
    """
    check_train_config(cfg)
    cwd = caller_cwd()
    resolve_user_paths(cfg, cwd)
    output_dir = Path(cfg.paths.output_dir)
    resume = None
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cwd)
    if ckpt_path is not None:
        resume = read_resume_point(ckpt_path)
        check_work_left(resume, int(cfg.trainer.max_steps))
    check_run_folder(Path(cfg.paths.checkpoint_dir), resume)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_resolved_config(cfg, output_dir)
    if cfg.get("generate_data"):
        ensure_synthetic_data(**cfg.generate_data)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = build(cfg.data, "data")
    datamodule.setup("fit")  # every enabled source yields an item, before the model is built
    module = build(cfg.module, "module")
    check_input_size(int(datamodule.hparams.cond_image_size), int(module.net.cfg.cond_image_size))
    callbacks = _build_all(cfg.get("callbacks"), "callbacks")
    loggers = _build_all(cfg.get("logger"), "logger")
    trainer: pl.Trainer = build(  # Lightning refuses a bad strategy, devices, ... with these errors
        cfg.trainer,
        "trainer",
        refusals=(MisconfigurationException, ValueError),
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )
    check_precision_kept(str(cfg.trainer.precision), trainer)
    start = resume.iteration if resume else 0
    fit(trainer, module, datamodule, resume)
    if module.iteration <= start:
        raise Real3DError(
            f"no iteration was trained (the run ended at iteration {module.iteration}, where it started): "
            "check trainer.max_steps, trainer.max_epochs and trainer.limit_train_batches"
        )

    result: dict[str, Any] = {
        "output_dir": str(output_dir),
        "iteration": module.iteration,
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
    }
    export = cfg.get("export")
    if export and export.get("enabled") and trainer.is_global_zero:
        source = Path(cfg.paths.checkpoint_dir) / LAST
        if export.get("source") == "best" and trainer.checkpoint_callback is not None:
            best = trainer.checkpoint_callback.best_model_path
            source = Path(best) if best else source
        if source.is_file():
            folder = export_pretrained(source, export.output_dir, export.get("weight_name", "model.ckpt"))
            result["export_dir"] = str(folder)
        else:
            log.warning("no checkpoint at %s: nothing exported", source)
    return result


def last_checkpoint_note(cfg: DictConfig) -> str:
    """Which complete checkpoint a stopped run left (its iteration), for the one line after Ctrl-C / SIGTERM."""
    try:
        last = Path(cfg.paths.checkpoint_dir) / LAST
    except Exception:  # noqa: BLE001 - stopped before the config could say where checkpoints go
        return "no checkpoint was written"
    if not last.is_file():
        return "no checkpoint was written"
    try:
        return f"the last complete checkpoint is {last} (iteration {read_resume_point(last).iteration})"
    except Real3DError:
        return f"the last checkpoint is {last}"


def train_command(cfg: DictConfig) -> int:
    """`train` for the command line: its exit code; after Ctrl-C (130) or SIGTERM (143) one line saying so and
    which checkpoint holds the last complete state."""
    try:
        train(cfg)
    except KeyboardInterrupt:
        print(f"train: interrupted; {last_checkpoint_note(cfg)}", file=sys.stderr)
        return INTERRUPTED
    except TrainingTerminated:
        print(f"train: terminated (SIGTERM); {last_checkpoint_note(cfg)}", file=sys.stderr)
        return TERMINATED
    return 0
