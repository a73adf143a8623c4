"""What eval_mv and eval_sv accept, checked at start-up before the model loads: every key a user sets
(type and range), the dataset and output folders, and the memory the sizes would allocate. Each
mistake is one line naming the key (`real3d.config_check`).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from real3d.config_check import Rule, check_config
from real3d.data.base import PROTOCOLS
from real3d.errors import Real3DError
from real3d.evaluation import limits
from real3d.evaluation.precision import PRECISIONS
from real3d.memory_budget import SizeCheck, budget_bytes, check_sizes
from real3d.paths import project_path, where
from real3d.staging import check_destination

OUTPUT_ENTRIES = frozenset({"metrics.json", "metrics.csv", "side_by_side", "videos"})  # what a run writes
MIN_SCORED_SIZE = limits.MIN_SIZE  # LPIPS-VGG pools an image 4 times before its last layer; SSIM has a 7-px window
MAX_SAMPLES = 4096

_COMMON = (
    Rule("model.path", "str"),
    Rule("model.weight_name", "str", nullable=True),
    Rule("model.config", "str", nullable=True),
    Rule("model.image_encoder", "str", nullable=True),
    Rule("model.render.num_samples_per_ray", "int", low=1, high=MAX_SAMPLES, nullable=True),
    Rule("model.render.chunk_size", "int", low=0, nullable=True),
    Rule("protocol", "str", choices=PROTOCOLS),
    Rule("precision", "str", choices=PRECISIONS),
    Rule("max_objects", "int", low=1, nullable=True),
    Rule("lpips_enabled", "bool"),
    Rule("progress", "bool"),
    Rule("output_dir", "str"),
    Rule("visuals.num_side_by_side", "int", low=0),
    Rule("visuals.vis360", "bool"),
    Rule("pretrained.root", "str"),
    Rule("pretrained.lpips_vgg", "str", nullable=True),
    Rule("pretrained.clip", "str", nullable=True),
    Rule("pretrained.clip_config", "str"),
    Rule("pretrained.inception", "str", nullable=True),
    Rule("pretrained.allow_random", "bool"),
)
MULTIVIEW_RULES = (
    *_COMMON,
    Rule("dataset_name", "str"),
    Rule("render_size", "int", low=MIN_SCORED_SIZE),
    Rule("camera_distance", "float", low=0.1, high=100.0),
    Rule("num_workers", "int", low=0, high=64),
    Rule("visuals.vis360_views", "int", low=1),
    Rule("visuals.vis360_size", "int", low=2),
    Rule("dataset.root", "str"),
    Rule("dataset.mask_root", "str", nullable=True),
    Rule("dataset.split_file", "str"),
    Rule("dataset.split", "str"),
    Rule("dataset.every_nth", "int", low=1),
    Rule("dataset.image_size", "int", low=MIN_SCORED_SIZE),
    Rule("dataset.crop_expand", "float", low=0.1, high=10.0),
    Rule("dataset.mask_box_threshold", "int", low=0, high=254),
    Rule("dataset.num_views", "int", low=2, high=1000),
)
SINGLEVIEW_RULES = (
    *_COMMON,
    Rule("dataset.root", "str", nullable=True),
    Rule("dataset.split_file", "str", nullable=True),
    Rule("dataset.split", "str"),
    Rule("dataset.every_nth", "int", low=1),
    Rule("dataset.folder", "str", nullable=True),
    Rule("dataset.mask_dir", "str", nullable=True),
    Rule("dataset.manifest", "str", nullable=True),
    Rule("dataset.image_size", "int", low=MIN_SCORED_SIZE),
    Rule("orbit.n_views", "int", low=2),
    Rule("orbit.elevation_deg", "float", low=-90.0, high=90.0),
    Rule("orbit.distance", "float", low=0.1, high=100.0),
    Rule("orbit.fovy_deg", "float", low=1.0, high=179.0),
    Rule("orbit.render_size", "int", low=MIN_SCORED_SIZE),
    Rule("consistency.enabled", "bool"),
    Rule("consistency.render_size", "int", low=MIN_SCORED_SIZE),
    Rule("fid.enabled", "bool"),
    Rule("fid.min_images", "int", low=2),
)


def check_multiview(cfg: DictConfig) -> None:
    """eval_mv's config: keys, video size, dataset folders, output folder and memory."""
    check_config(cfg, MULTIVIEW_RULES)
    check_model(cfg.model)
    vis = cfg.visuals
    if vis.vis360:
        _check_even("visuals.vis360_size", int(vis.vis360_size))
    d = cfg.dataset
    check_folder("dataset.root", d.root)
    if d.get("mask_root") is not None:
        check_folder("dataset.mask_root", d.mask_root)
    check_destination(cfg.output_dir, "output_dir", owned_output)
    check_sizes(multiview_sizes(cfg), budget_bytes())


def multiview_sizes(cfg: DictConfig) -> list[SizeCheck]:
    """eval_mv's sizes with what they allocate per object (`check_sizes` against a device's budget)."""
    vis, d = cfg.visuals, cfg.dataset
    video = (int(vis.vis360_views), int(vis.vis360_size)) if vis.vis360 else None
    size, image = int(cfg.render_size), int(d.image_size)
    return limits.multiview_checks(views_per_object(d), size, image, bool(cfg.lpips_enabled), video, _render(cfg))


def check_singleview(cfg: DictConfig) -> None:
    """eval_sv's config: keys, video size, image sources and memory."""
    check_config(cfg, SINGLEVIEW_RULES)
    check_model(cfg.model)
    d, o = cfg.dataset, cfg.orbit
    if cfg.visuals.vis360:
        _check_even("orbit.render_size", int(o.render_size), "the 360° videos (visuals.vis360) are its frames")
    if d.folder is not None and d.manifest is not None:
        raise Real3DError(f"dataset.folder={d.folder} and dataset.manifest={d.manifest}: give one of them, not both")
    if d.folder is not None:
        check_folder("dataset.folder", d.folder)
    elif d.manifest is not None:
        if not Path(d.manifest).is_file():
            raise Real3DError(f"dataset.manifest={d.manifest}: file not found{where(d.manifest)}")
    elif d.root is None:
        raise Real3DError("dataset.root is null: give the wild-image root, dataset.folder or dataset.manifest")
    else:
        check_folder("dataset.root", d.root)
    check_destination(cfg.output_dir, "output_dir", owned_output)
    check_sizes(singleview_sizes(cfg), budget_bytes())


def singleview_sizes(cfg: DictConfig) -> list[SizeCheck]:
    """eval_sv's sizes with what they allocate per image (`check_sizes` against a device's budget)."""
    o = cfg.orbit
    consistency = int(cfg.consistency.render_size) if cfg.consistency.enabled else None
    return limits.singleview_checks(
        int(o.n_views),
        int(o.render_size),
        consistency,
        int(cfg.dataset.image_size),
        bool(cfg.lpips_enabled),
        bool(cfg.visuals.vis360),
        _render(cfg),
    )


def check_model(model: DictConfig) -> None:
    """The model's files exist (names only: the weights are read when the model loads)."""
    from real3d.models import locate

    locate(project_path(model.path), model.weight_name, model.config)


def check_folder(key: str, value: str) -> Path:
    """A folder the evaluation reads: it must exist (a relative path is the working directory's)."""
    path = Path(value).expanduser()
    if not path.exists():
        raise Real3DError(f"{key}={value}: folder not found{where(value)}")
    if not path.is_dir():
        raise Real3DError(f"{key}={value}: is a file, not a folder")
    return path


def views_per_object(dataset: DictConfig) -> int:
    """The most views one object of the dataset lists (its split's entries, or `num_views`)."""
    if dataset.get("num_views") is not None:
        return int(dataset.num_views)
    from real3d.data.splits import load_split

    entries = load_split(dataset.split_file, dataset.split)
    lengths = [len(e) - 1 for e in entries if isinstance(e, (list, tuple))]
    return max(lengths, default=1)


def owned_output(entry: Path) -> bool:
    """Whether an entry of an output folder is one an evaluation writes (replaced by the next run)."""
    return entry.name in OUTPUT_ENTRIES


def _render(cfg: DictConfig) -> tuple[int, int]:
    """(samples per ray, chunk size) of the config; null: TripoSR's 128 samples, the whole chunk at once."""
    render = OmegaConf.to_container(cfg.model.render, resolve=True) if cfg.model.get("render") else {}
    samples = render.get("num_samples_per_ray") or 128
    chunk = render.get("chunk_size") or 0
    return int(samples), int(chunk)


def _check_even(key: str, value: int, why: str = "an H.264 video needs even sides") -> None:
    if value % 2:
        raise Real3DError(f"{key}={value}: must be even ({why})")
