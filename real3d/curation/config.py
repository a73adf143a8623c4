"""What scripts/curate.py accepts, checked at start-up before any photo: every key of config/curate.yaml
(type and range; a threshold set to null turns its filter off), the list-valued keys, the input and
output folders, and the memory the image sizes would allocate. Each mistake is one line naming the key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from real3d.config_check import Rule, check_config
from real3d.errors import Real3DError
from real3d.evaluation.limits import SV_CONSISTENCY_PIXEL_BYTES, render_bytes
from real3d.memory_budget import SizeCheck, budget_bytes, check_sizes
from real3d.paths import where

FRACTION = {"low": 0.0, "high": 1.0}
RULES = (
    Rule("input_dir", "str", nullable=True),
    Rule("mask_dir", "str", nullable=True),
    Rule("output_dir", "str", nullable=True),
    Rule("overwrite", "bool"),
    Rule("num_workers", "int", low=0, high=64),
    Rule("progress", "bool"),
    Rule("test_fraction", "float", **FRACTION),
    Rule("split_seed", "int"),
    Rule("foreground.use_alpha", "bool"),
    Rule("foreground.rembg", "bool"),
    Rule("foreground.rembg_model_path", "str", nullable=True),
    Rule("foreground.rembg_model_name", "str"),
    Rule("foreground.mask_threshold", "int", low=0, high=254, nullable=True),
    Rule("geometry.enabled", "bool"),
    Rule("geometry.min_object_side_px", "int", low=0, nullable=True),
    Rule("geometry.min_area_fraction", "float", **FRACTION, nullable=True),
    Rule("geometry.max_area_fraction", "float", **FRACTION, nullable=True),
    Rule("geometry.max_border_fraction", "float", **FRACTION, nullable=True),
    Rule("geometry.border_margin_px", "int", low=1, high=10000),
    Rule("geometry.min_dominant_fraction", "float", **FRACTION, nullable=True),
    Rule("geometry.speck_fraction", "float", **FRACTION),
    Rule("geometry.max_aspect_ratio", "float", low=1.0, nullable=True),
    Rule("quality.enabled", "bool"),
    Rule("quality.min_side_px", "int", low=0, nullable=True),
    Rule("quality.analysis_size", "int", low=8),
    Rule("quality.min_blur_variance", "float", low=0.0, nullable=True),
    Rule("quality.dark_level", "float", **FRACTION),
    Rule("quality.max_dark_fraction", "float", **FRACTION, nullable=True),
    Rule("quality.bright_level", "float", **FRACTION),
    Rule("quality.max_bright_fraction", "float", **FRACTION, nullable=True),
    Rule("crop.margin", "float", low=0.0, high=1.0),
    Rule("crop.fringe_px", "int", low=0, high=1000),
    Rule("crop.max_size", "int", low=16, nullable=True),
    Rule("model_score.enabled", "bool"),
    Rule("model_score.model.path", "str", nullable=True),
    Rule("model_score.model.weight_name", "str", nullable=True),
    Rule("model_score.model.config", "str", nullable=True),
    Rule("model_score.model.image_encoder", "str", nullable=True),
    Rule("model_score.model.render.num_samples_per_ray", "int", low=1, high=4096, nullable=True),
    Rule("model_score.model.render.chunk_size", "int", low=0, nullable=True),
    Rule("model_score.batch_size", "int", low=1),
    Rule("model_score.views", "str", choices=("curriculum", "fixed")),
    Rule("model_score.num_views", "int", low=1),
    Rule("model_score.view_seed", "int"),
    Rule("model_score.camera_distance", "float", low=0.1, high=100.0),
    Rule("model_score.fov_rad", "float", low=0.01, high=3.0),
    Rule("model_score.pad_factor", "float", low=1.0, high=10.0),
    Rule("model_score.render_size", "int", low=16, nullable=True),
    Rule("model_score.top_fraction", "float", low=0.001, high=1.0, nullable=True),
    Rule("model_score.rank_by", "str", choices=("psnr", "lpips", "clip")),
    Rule("model_score.min_psnr", "float", nullable=True),
    Rule("model_score.max_lpips", "float", low=0.0, nullable=True),
    Rule("model_score.min_clip", "float", low=-1.0, high=1.0, nullable=True),
    Rule("contact_sheet.per_group", "int", low=0),
    Rule("contact_sheet.thumb_size", "int", low=16),
    Rule("pretrained.root", "str"),
    Rule("pretrained.lpips_vgg", "str", nullable=True),
    Rule("pretrained.clip", "str", nullable=True),
    Rule("pretrained.clip_config", "str"),
    Rule("pretrained.allow_random", "bool"),
)
MODEL_INPUT_SIZE = 512  # TripoSR's cond_image_size: the novel views of the model stage are rendered at it
STAGE_PIXEL_BYTES = 64  # stages 1-3 per pixel of the analysis image or the crop (arrays, PIL copies, resize)
SHEET_PIXEL_BYTES = 8  # the contact sheet and one thumbnail at a time


def check_curate(cfg: DictConfig) -> None:
    """config/curate.yaml's keys, the list-valued ones, the folders and the memory of the sizes."""
    check_config(cfg, RULES)
    m = cfg.model_score
    _check_pair("model_score.curriculum_azimuth_deg", m.curriculum_azimuth_deg, 0.0, 180.0)
    _check_pair("model_score.curriculum_elevation_deg", m.curriculum_elevation_deg, 0.0, 90.0)
    if m.views == "fixed":
        views = OmegaConf.to_container(m.novel_views, resolve=True) if OmegaConf.is_list(m.novel_views) else None
        if not views or not all(_is_pair(v, -360.0, 360.0) for v in views):
            raise Real3DError(
                f"model_score.novel_views={_show(m.novel_views)}: must be a list of [azimuth_deg, elevation_deg] "
                "pairs of numbers in [-360, 360]"
            )
    _check_input(cfg.input_dir, cfg.get("input_list"))
    check_output(cfg.output_dir)
    check_sizes(size_checks(cfg), budget_bytes())


def check_output(output_dir: str | None) -> Path:
    """The output folder: given and not a file (a folder that exists is resumed: reruns append)."""
    if not output_dir:
        raise Real3DError("give output_dir=<folder for the curated dataset>")
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise Real3DError(f"output_dir={output_dir}: is a file, not a folder")
    return out


def size_checks(cfg: DictConfig) -> list[SizeCheck]:
    """The image sizes a run allocates: per worker process (stages 1-3), the model stage's batch, the sheet."""
    workers = max(1, int(cfg.num_workers))
    m, sheet = cfg.model_score, cfg.contact_sheet
    crop = int(cfg.crop.max_size or 0)
    analysis = int(cfg.quality.analysis_size)
    render = OmegaConf.to_container(m.model.render, resolve=True) if m.model.get("render") else {}
    samples, chunk = int(render.get("num_samples_per_ray") or 128), int(render.get("chunk_size") or 0)
    scored = bool(m.enabled)

    def total(crop_size: int, analysis_size: int, batch: int, views: int, size: int, per_group: int, thumb: int):
        stages = workers * (crop_size**2 + analysis_size**2) * STAGE_PIXEL_BYTES
        model = 0
        if scored:
            pixels = size**2 * SV_CONSISTENCY_PIXEL_BYTES[True] + MODEL_INPUT_SIZE**2 * SV_CONSISTENCY_PIXEL_BYTES[0]
            model = batch * views * pixels + render_bytes(samples, chunk)
        return stages + model + 2 * per_group * thumb**2 * SHEET_PIXEL_BYTES

    values = {
        "crop_size": crop,
        "analysis_size": analysis,
        "batch": int(m.batch_size),
        "views": int(m.num_views),
        "size": int(m.render_size or MODEL_INPUT_SIZE),
        "per_group": int(sheet.per_group),
        "thumb": int(sheet.thumb_size),
    }
    keys = {
        "crop_size": ("crop.max_size", 16),
        "analysis_size": ("quality.analysis_size", 8),
        "batch": ("model_score.batch_size", 1),
        "views": ("model_score.num_views", 1),
        "size": ("model_score.render_size", 16),
        "per_group": ("contact_sheet.per_group", 0),
        "thumb": ("contact_sheet.thumb_size", 16),
    }
    if not crop:
        del keys["crop_size"]
    if not scored or m.render_size is None:
        keys.pop("size")
    if not scored:
        keys.pop("batch"), keys.pop("views")

    def cost_of(name: str):
        return lambda v: total(**{**values, name: v})

    return [SizeCheck(key, values[name], cost_of(name), low) for name, (key, low) in keys.items()]


def _check_input(input_dir: str | None, input_list: Any) -> None:
    if input_dir is None and input_list is None:
        raise Real3DError("give input_dir=<folder of photos> or input_list=<file listing photos>")
    if input_dir is not None and input_list is not None:
        raise Real3DError(f"input_dir={input_dir} and input_list: give one of them, not both")
    if input_dir is not None:
        path = Path(input_dir).expanduser()
        if not path.exists():
            raise Real3DError(f"input_dir={input_dir}: folder not found{where(input_dir)}")
        if not path.is_dir():
            raise Real3DError(f"input_dir={input_dir}: is a file, not a folder")
    elif not (isinstance(input_list, str) or OmegaConf.is_list(input_list)):
        raise Real3DError(f"input_list={_show(input_list)}: must be a file listing photos, or a list of paths")


def _check_pair(key: str, value: Any, low: float, high: float) -> None:
    pair = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_list(value) else value
    if not _is_pair(pair, low, high) or pair[0] > pair[1]:
        raise Real3DError(f"{key}={_show(value)}: must be [start, end], numbers in [{low:g}, {high:g}], start <= end")


def _is_pair(value: Any, low: float, high: float) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high
            for v in value
        )
    )


def _show(value: Any) -> str:
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=False)
    return repr(value)[:60]
