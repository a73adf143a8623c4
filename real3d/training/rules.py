"""What a training config may hold: every recipe number and flag a user may override, with its type and range,
checked at start-up (`check_train_config`) so that a mistake is one line naming the key before anything is built.

The keys are those of `config/train.yaml` and its groups. Keys read in an interpolation (`trainer.max_steps` is
`${div:total_iterations,accumulation_steps}`) come after the keys they read, so the key the user set is the
one named. Values Lightning takes in several types (devices, val_check_interval, limit_val_batches) and the
pairs (betas, curriculum angles, pad range) have their own checks below. Light imports only: the entry point
runs this before torch and Lightning are loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from real3d.config_check import Rule, check_config
from real3d.errors import Real3DError

SEED_MAX = 2**32 - 1  # numpy's and Lightning's seed range
BIG = 10**9  # iteration counts and intervals
LOSS_TERMS = ("rgb", "mask", "perceptual", "rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "perceptual_cy", "mask_cy")
PRECISIONS = (
    "64-true",
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "transformer-engine",
    "transformer-engine-float16",
    "64",
    "32",
    "16",
    "bf16",
    64,
    32,
    16,
)
DATA_PATHS = (
    "gobjaverse_root",
    "gobjaverse_split",
    "zero123_root",
    "zero123_split",
    "wild_root",
    "wild_split",
    "mvimgnet_images_root",
    "mvimgnet_masks_root",
    "mvimgnet_split",
    "val_mvimgnet_root",
    "val_mvimgnet_mask_root",
)

TRAIN_RULES: tuple[Rule, ...] = (
    Rule("seed", "int", 0, SEED_MAX),
    Rule("protocol", "str", choices=("original", "corrected")),
    Rule("ckpt_path", "str", nullable=True),
    Rule("task_name", "str"),
    # length of training (iterations = batches; optimizer steps = iterations / accumulation)
    Rule("module.training.total_iterations", "int", 1, BIG),
    Rule("module.training.accumulation_steps", "int", 1, 10_000),
    Rule("module.training.gradient_clip_norm", "float", 0, 1e6, nullable=True),
    Rule("module.training.ray_patch_size", "int", 1, 4096, nullable=True),
    Rule("module.training.seed", "int", 0, SEED_MAX),
    Rule("module.scheduler.warmup_iterations", "int", 0, BIG),
    Rule("module.scheduler.total_iterations", "int", 1, BIG),
    Rule("module.scheduler.accumulation_steps", "int", 1, 10_000),
    # optimizer (module/optimizer: adamw | zero_adamw)
    Rule("module.optimizer.lr", "float", 0, 10),
    Rule("module.optimizer.eps", "float", 0, 1),
    Rule("module.optimizer.weight_decay", "float", 0, 10),
    Rule("module.param_groups.lr_embeddings", "float", 0, 10, nullable=True),
    Rule("module.param_groups.lr_image_encoder", "float", 0, 10, nullable=True),
    # single-view and cycle passes
    Rule("module.single_view.n_views", "int", 1, 64),
    Rule("module.single_view.azimuth_range_deg", "float", 0, 360),
    Rule("module.single_view.elevation_range_deg", "float", 0, 90),
    Rule("module.single_view.render_size", "int", 8, 2048),
    Rule("module.single_view.curriculum", "bool"),
    Rule("module.single_view.rerender", "bool"),
    Rule("module.single_view.rerender_size", "int", 8, 4096, nullable=True),
    Rule("module.single_view.opacity_threshold", "float", 0, 1),
    Rule("module.single_view.background", "float", 0, 1),
    Rule("module.single_view.stop_gradient", "bool"),
    Rule("module.visualization.every_n_iterations", "int", 0, BIG),
    Rule("module.visualization.dirname", "str"),
    Rule("module.visualization.max_items", "int", 0, 64),
    Rule("module.val_render_size", "int", 8, 2048),
    *(Rule(f"losses.weights.{term}", "float", 0, 1e6) for term in LOSS_TERMS),
    Rule("pretrained.allow_random", "bool"),
    # data
    Rule("data.protocol", "str", choices=("original", "corrected")),
    *(Rule(f"data.{key}", "str", nullable=True) for key in DATA_PATHS),
    Rule("data.val_mvimgnet_split", "str"),
    Rule("data.cond_image_size", "int", 16, 4096),
    Rule("data.render_size", "int", 8, 2048),
    Rule("data.num_target_views", "int", 1, 64),
    Rule("data.num_val_views", "int", 1, 64),
    Rule("data.targets_include_input", "bool"),
    Rule("data.zero123_index", "str", nullable=True),
    Rule("data.zero123_num_views", "int", 1, 10_000, nullable=True),
    Rule("data.mvimgnet_frame", "str", choices=("first", "random")),
    Rule("data.val_camera_distance", "float", 0.1, 100),
    Rule("data.sv_augment", "bool"),
    Rule("data.batch_size_mv", "int", 1, 4096),
    Rule("data.batch_size_sv", "int", 1, 4096),
    Rule("data.val_batch_size", "int", 1, 4096),
    Rule("data.num_workers", "int", 0, 256),
    Rule("data.pin_memory", "bool"),
    Rule("data.persistent_workers", "bool"),
    Rule("data.max_val_objects", "int", 1, BIG, nullable=True),
    Rule("data.max_retries", "int", 0, 1000),
    Rule("data.val_every_nth", "int", 1, BIG),
    Rule("data.shuffle_seed", "int", 0, SEED_MAX, nullable=True),
    # model (its render settings; the rest is read by real3d.models.load)
    Rule("model.path", "str", nullable=True),
    Rule("model.weight_name", "str", nullable=True),
    Rule("model.render.num_samples_per_ray", "int", 1, 4096, nullable=True),  # null: the model config's
    Rule("model.render.chunk_size", "int", 0, 2**31 - 1, nullable=True),
    # trainer
    Rule("trainer.accelerator", "str", choices=("auto", "cpu", "gpu", "cuda", "mps", "tpu")),
    Rule("trainer.num_nodes", "int", 1, 10_000),
    Rule("trainer.precision", "str", choices=PRECISIONS),
    Rule("trainer.max_steps", "int", 1, BIG),
    Rule("trainer.max_epochs", "int", -1, BIG, nullable=True),
    Rule("trainer.check_val_every_n_epoch", "int", 1, BIG, nullable=True),
    Rule("trainer.num_sanity_val_steps", "int", -1, BIG),
    Rule("trainer.log_every_n_steps", "int", 1, BIG),
    Rule("trainer.enable_model_summary", "bool"),
    Rule("trainer.deterministic", "bool", choices=(True, False, "warn")),
    # checkpoints
    Rule("callbacks.periodic_checkpoint.every_n_iterations", "int", 0, BIG),
    Rule("callbacks.periodic_checkpoint.keep_history", "bool"),
    Rule("callbacks.best_checkpoint.save_top_k", "int", -1, BIG),
    Rule("callbacks.best_checkpoint.mode", "str", choices=("min", "max")),
    Rule("callbacks.best_checkpoint.monitor", "str", nullable=True),
    # export of the final model
    Rule("export.enabled", "bool"),
    Rule("export.source", "str", choices=("last", "best")),
    Rule("export.weight_name", "str"),
    # generated data of the smoke runs (experiment=tiny_cpu)
    Rule("generate_data.seed", "int", 0, SEED_MAX),
    *(
        Rule(f"generate_data.sizes.{key}", "int", 0, 10_000)
        for key in ("gobjaverse_objects", "zero123_objects", "views", "wild_images", "mvimgnet_sequences")
    ),
    Rule("generate_data.sizes.image_size", "int", 8, 1024),
    Rule("generate_data.sizes.wild_size", "int", 8, 1024),
)


def register_resolvers() -> None:
    """`${div:a,b}`: integer division, for iteration counts turned into optimizer steps."""
    if not OmegaConf.has_resolver("div"):
        OmegaConf.register_new_resolver("div", lambda a, b: int(a) // int(b))


def check_train_config(cfg: DictConfig) -> None:
    """Raise a one-line `Real3DError` naming the first key of a training config whose value is wrong."""
    total = _read(cfg, "module.training.total_iterations")
    accumulation = _read(cfg, "module.training.accumulation_steps")
    if _is_count(total) and _is_count(accumulation) and 1 <= total < accumulation:  # before trainer.max_steps=0
        raise Real3DError(
            f"module.training.total_iterations={total} is less than module.training.accumulation_steps="
            f"{accumulation}: no optimizer step would be taken"
        )
    check_config(cfg, TRAIN_RULES)
    _check_pair(cfg, "module.optimizer.betas", 0.0, 1.0, high_open=True)
    _check_pair(cfg, "module.single_view.curriculum_azimuth_deg", 0.0, 360.0, ordered=True)
    _check_pair(cfg, "module.single_view.curriculum_elevation_deg", 0.0, 90.0, ordered=True)
    _check_pair(cfg, "data.sv_pad_range", 1.0, 10.0, ordered=True)
    _check_camera_distance(cfg)
    _check_devices(cfg)
    _check_count_or_fraction(cfg, "trainer.val_check_interval", low=1)
    _check_count_or_fraction(cfg, "trainer.limit_val_batches", low=0)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


_ABSENT = object()


def _read(cfg: DictConfig, key: str) -> Any:
    """The resolved value at `key` (`_ABSENT` when absent); one line naming the key if it cannot be resolved."""
    try:
        value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=True)
    except (OmegaConfBaseException, ValueError, TypeError, ArithmeticError) as exc:
        raise Real3DError(f"{key}: cannot be read ({str(exc).strip().splitlines()[0]})") from exc
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _show(value: Any) -> str:
    return repr(value)[:60]


def _check_pair(
    cfg: DictConfig, key: str, low: float, high: float, high_open: bool = False, ordered: bool = False
) -> None:
    """Two numbers in [low, high] (or [low, high)); with `ordered`, the first no larger than the second."""
    value = _read(cfg, key)
    if value is _ABSENT:
        return
    bound = f"[{low:g}, {high:g}{')' if high_open else ']'}"
    valid = (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_number(v) and low <= v and (v < high if high_open else v <= high) for v in value)
        and (not ordered or value[0] <= value[1])
    )
    if not valid:
        order = ", the first no larger than the second" if ordered else ""
        raise Real3DError(f"{key}={_show(value)}: must be a list of two numbers in {bound}{order}")


def _check_camera_distance(cfg: DictConfig) -> None:
    """`data.camera_distance`: one distance for every source, or a mapping source -> distance."""
    value = _read(cfg, "data.camera_distance")
    if value is _ABSENT or value is None:
        return
    items = value.items() if isinstance(value, Mapping) else [(None, value)]
    for source, distance in items:
        if not (_is_number(distance) and 0.1 <= distance <= 100):
            key = "data.camera_distance" + (f".{source}" if source is not None else "")
            raise Real3DError(f"{key}={_show(distance)}: must be a number in [0.1, 100] (a camera distance)")


def _check_devices(cfg: DictConfig) -> None:
    """`trainer.devices`: a count (>= 1, or -1 for all), "auto", or Lightning's device list / string."""
    value = _read(cfg, "trainer.devices")
    if value is _ABSENT or isinstance(value, str | list):
        return  # Lightning parses device strings and lists; its complaint is reported as one line
    if isinstance(value, bool) or not isinstance(value, int) or not (value == -1 or 1 <= value <= 4096):
        raise Real3DError(f"trainer.devices={_show(value)}: must be a device count in [1, 4096], -1 (all) or auto")


def _check_count_or_fraction(cfg: DictConfig, key: str, low: int) -> None:
    """Lightning's int-or-float settings: a count of batches (an integer >= low) or a fraction of an epoch."""
    value = _read(cfg, key)
    if value is _ABSENT or value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= BIG:
        return
    if isinstance(value, float) and math.isfinite(value) and (0.0 < value <= 1.0 or (low == 0 and value == 0.0)):
        return
    raise Real3DError(
        f"{key}={_show(value)}: must be a number of batches (an integer in [{low}, {BIG}]) or a fraction in (0, 1]"
    )
