"""The training task behind `scripts/train.py`: build everything from the Hydra config and fit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from real3d.errors import Real3DError
from real3d.io import atomic_write_text
from real3d.training.checkpointing import AtomicCheckpointIO, export_pretrained

log = logging.getLogger(__name__)


def register_resolvers() -> None:
    """`${div:a,b}`: integer division, for iteration counts turned into optimizer steps."""
    if not OmegaConf.has_resolver("div"):
        OmegaConf.register_new_resolver("div", lambda a, b: int(a) // int(b))


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    if not group:
        return []
    return [hydra.utils.instantiate(c) for c in group.values() if c is not None and "_target_" in c]


@rank_zero_only
def write_resolved_config(cfg: DictConfig, output_dir: Path) -> None:
    atomic_write_text(output_dir / "config_resolved.yaml", OmegaConf.to_yaml(cfg, resolve=True))


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


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit the model; write the resolved config, logs, image grids, checkpoints and the export."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_resolved_config(cfg, output_dir)
    if cfg.get("generate_data"):
        ensure_synthetic_data(**cfg.generate_data)
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)

    datamodule = hydra.utils.instantiate(cfg.data)
    module = hydra.utils.instantiate(cfg.module)
    check_input_size(int(datamodule.hparams.cond_image_size), int(module.net.cfg.cond_image_size))
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers = _instantiate_all(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))

    result: dict[str, Any] = {
        "output_dir": str(output_dir),
        "iteration": module.iteration,
        "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
    }
    export = cfg.get("export")
    if export and export.get("enabled") and trainer.is_global_zero:
        source = Path(cfg.paths.checkpoint_dir) / "last.ckpt"
        if export.get("source") == "best" and trainer.checkpoint_callback is not None:
            best = trainer.checkpoint_callback.best_model_path
            source = Path(best) if best else source
        if source.is_file():
            folder = export_pretrained(source, export.output_dir, export.get("weight_name", "model.ckpt"))
            result["export_dir"] = str(folder)
        else:
            log.warning("no checkpoint at %s: nothing exported", source)
    return result
