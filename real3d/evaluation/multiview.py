"""Multi-view evaluation against ground-truth views (SPEC §8): render, score, aggregate.

`evaluate_multiview(model, dataset, render_size)` is the whole protocol on one dataset of
`real3d.data.multiview_eval` samples; `evaluate_object` scores one sample, for callers (such as a
LightningModule's validation) that iterate themselves.

The 512-px ground truth is resized to `render_size` as `protocol` says: the original's bilinear
without antialiasing (its `get_eval_target`), or antialiased under "corrected". The model and
LPIPS run under fp16 autocast on CUDA by default, as the original (`real3d.evaluation.precision`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from real3d.data import image_ops
from real3d.data.multiview_eval import check_protocol, resize_rgb
from real3d.evaluation.precision import autocast, resolve_precision
from real3d.geometry import Cameras
from real3d.metrics import lpips_distance, psnr, ssim
from real3d.models.renderer import RenderSettings
from real3d.rendering import render_orbit

METRICS = ("psnr", "ssim", "lpips")
log = logging.getLogger(__name__)


def evaluation_settings(model: nn.Module, num_samples_per_ray: int | None, chunk_size: int | None) -> RenderSettings:
    """The model's render settings with an evaluation's samples per ray and chunk size (None: the model's)."""
    return model.render_settings.replace(
        num_samples_per_ray=None if num_samples_per_ray is None else int(num_samples_per_ray),
        chunk_size=None if chunk_size is None else int(chunk_size),
    )


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode inside, its training flag restored after."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's parameters."""
    return next(model.parameters()).device


@torch.no_grad()
def reconstruct(model: nn.Module, image_input: torch.Tensor) -> torch.Tensor:
    """Scene code [1,3,C,Hp,Wp] of one input image [3,H,W] in [0,1] (grey background)."""
    size = int(model.cfg.cond_image_size)
    image = image_ops.resize_image(image_input.float(), size)
    return model.image_to_scene_codes(image[None, None].to(model_device(model)))


@torch.no_grad()
def render_views(
    model: nn.Module,
    scene_codes: torch.Tensor,
    c2w: torch.Tensor,
    focal_px: torch.Tensor,
    size: int,
    settings: RenderSettings | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render cameras c2w [N,4,4] (focal in pixels [N]) of one scene code at size².

    Returns rgb [N,3,size,size] (clamped to [0,1]) and opacity [N,1,size,size], float32, on the
    model's device. All views go to the renderer in one call (its chunking bounds the memory).
    """
    cameras = Cameras.from_focal(c2w.to(model_device(model)), focal_px, size, size)
    rgb, opacity = render_orbit(model, scene_codes, cameras, settings)
    return rgb[0], opacity[0]


@torch.no_grad()
def evaluate_object(
    model: nn.Module,
    sample: dict,
    render_size: int = 224,
    lpips_model: nn.Module | None = None,
    protocol: str = "original",
    precision: str = "auto",
    settings: RenderSettings | None = None,
) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Scores of one sample: per-view PSNR/SSIM(/LPIPS) lists and their all/novel-view means.

    Returns (record, prediction [N,3,s,s], ground truth [N,3,s,s]) with s = render_size; view 0
    is the input view. `sample` is one unbatched dataset item: in a LightningModule, load the
    evaluation set with `DataLoader(dataset, batch_size=None)` and skip items with a "skipped" key.
    `protocol` sets the ground truth's resize; `precision` ("auto", "fp16", "fp32") the autocast;
    `settings` how to render (None: the model's).
    """
    device = model_device(model)
    precision = resolve_precision(precision, device, check_protocol(protocol))
    with autocast(device, precision):
        scene_codes = reconstruct(model, sample["image_input"])
        focal_px = sample["focal_norm"].float() * render_size
        pred, _ = render_views(model, scene_codes, sample["c2w"].float(), focal_px, render_size, settings)
    pred = pred.cpu()
    target = resize_rgb(sample["rgb"].float(), render_size, protocol).cpu()
    scores = {"psnr": psnr(pred, target), "ssim": ssim(pred, target)}
    if lpips_model is not None:
        with autocast(device, precision):
            scores["lpips"] = lpips_distance(lpips_model, pred, target).float()
    record = {"name": sample["name"], "views": list(sample.get("view_names") or [])}
    record.update({k: [round(float(x), 6) for x in v] for k, v in scores.items()})
    record["all_views"] = {k: float(v.mean()) for k, v in scores.items()}
    record["novel_views"] = {k: float(v[1:].mean()) for k, v in scores.items()}
    return record, pred, target


def aggregate(records: list[dict]) -> dict:
    """Means over objects of the per-object means (`all_views` and `novel_views`)."""
    summary = {}
    for group in ("all_views", "novel_views"):
        keys = [k for k in METRICS if records and all(k in r[group] for r in records)]
        summary[group] = {k: float(sum(r[group][k] for r in records) / len(records)) for k in keys}
    return summary


def _unbatched(item):
    return item


@torch.no_grad()
def evaluate_multiview(
    model: nn.Module,
    dataset: Dataset,
    render_size: int = 224,
    lpips_model: nn.Module | None = None,
    num_samples_per_ray: int | None = None,
    chunk_size: int | None = None,
    num_workers: int = 0,
    max_objects: int | None = None,
    on_object: Callable[[int, dict, dict, torch.Tensor, torch.Tensor], None] | None = None,
    progress: bool = False,
    desc: str = "multi-view eval",
    protocol: str = "original",
    precision: str = "auto",
) -> dict:
    """Evaluate `model` on every object of `dataset` (a `MultiViewEvalDataset`).

    Each object: reconstruct from view 0 (grey background), render all listed views at
    `render_size`² with the model's samples per ray (or `num_samples_per_ray`), score against
    the white-background ground truth. Bad objects are skipped with their reason.

    Returns `{"all_views": {psnr, ssim[, lpips]}, "novel_views": {...}, "psnr": all-views PSNR
    (the best-checkpoint metric), "num_objects", "objects": [per-object records], "skipped":
    [{"name", "reason"}], "render_size", "num_samples_per_ray", "protocol", "precision"}`.
    `on_object(i, sample, record, pred, target)` is called for every evaluated object (visual
    outputs). `protocol` and `precision`: see `evaluate_object`; the dataset's own protocol is
    set where it is built.
    """
    precision = resolve_precision(precision, model_device(model), check_protocol(protocol))
    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers, collate_fn=_unbatched)
    records, skipped = [], []
    total = len(dataset) if max_objects is None else min(len(dataset), int(max_objects))
    settings = evaluation_settings(model, num_samples_per_ray, chunk_size)
    with eval_mode(model):
        samples_per_ray = settings.num_samples_per_ray
        iterator = loader
        if progress:
            from tqdm import tqdm

            iterator = tqdm(loader, total=total, desc=desc, dynamic_ncols=True)
        for index, sample in enumerate(iterator):
            if index >= total:
                break
            if "skipped" in sample:
                log.warning("skipping %s: %s", sample["name"], sample["skipped"])
                skipped.append({"name": sample["name"], "reason": sample["skipped"]})
                continue
            record, pred, target = evaluate_object(
                model, sample, render_size, lpips_model, protocol, precision, settings
            )
            records.append(record)
            if on_object is not None:
                on_object(index, sample, record, pred, target)
            if progress:
                iterator.set_postfix(psnr=f"{aggregate(records)['all_views']['psnr']:.2f}", skipped=len(skipped))
    summary = aggregate(records)
    return {
        **summary,
        "psnr": summary["all_views"].get("psnr", math.nan),
        "num_objects": len(records),
        "num_skipped": len(skipped),
        "objects": records,
        "skipped": skipped,
        "render_size": int(render_size),
        "num_samples_per_ray": samples_per_ray,
        "protocol": protocol,
        "precision": precision,
    }
