"""What `scripts/eval_mv.py` and `scripts/eval_sv.py` run: build the parts from the config,
evaluate, write metrics.json, metrics.csv, side-by-side images and optional 360° videos.

metrics.json records what ran: `protocol` (original | corrected), `precision` (fp16 | fp32),
`masks` (multi-view: which masks the reader used) and `fid_network` (single-view: which Inception
weights, or null without FID).

The config is checked before the model loads (`real3d.evaluation.config`). Everything is written into
a staging folder beside `output_dir` and moved into place when the evaluation succeeds, replacing an
earlier evaluation's results there; an evaluation in which no object could be evaluated is an error
that names the dataset root and why the objects were skipped.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from real3d.data.multiview_eval import check_protocol
from real3d.errors import Real3DError
from real3d.evaluation import outputs
from real3d.evaluation.config import (
    check_multiview,
    check_singleview,
    multiview_sizes,
    owned_output,
    singleview_sizes,
)
from real3d.evaluation.multiview import evaluate_multiview, reconstruct
from real3d.evaluation.singleview import evaluate_singleview, list_wild_items
from real3d.geometry import DEMO_ORBIT_FOVY_DEG, orbit_cameras
from real3d.memory_budget import budget_bytes, check_sizes
from real3d.paths import project_path
from real3d.rendering import render_orbit
from real3d.staging import staged_folder

log = logging.getLogger(__name__)


def load_model(cfg: DictConfig):
    """(model on its device in eval mode, weights file) from `cfg.model` (real3d.models.load's
    keys) and `cfg.device`."""
    from real3d.devices import resolve_device
    from real3d.models import load, locate

    m = cfg.model
    source = locate(m.path, m.weight_name, m.config)
    device = resolve_device(str(cfg.device))
    model = load(source, render=OmegaConf.to_container(m.render, resolve=True), device=device)
    log.info("model %s on %s", source, device)
    return model, source.weights


def _lpips(cfg: DictConfig, device: torch.device):
    """LPIPS-VGG (the pretrained group's file), or None where `lpips_enabled: false`."""
    from real3d.pretrained import build_lpips

    if not cfg.get("lpips_enabled", True):
        return None
    p = cfg.pretrained
    return build_lpips(p.lpips_vgg, allow_random=bool(p.allow_random), device=device, root=p.root)


def _device(model) -> torch.device:
    return next(model.parameters()).device


def run_multiview(cfg: DictConfig) -> dict:
    """Multi-view evaluation of one dataset; returns the result written to metrics.json."""
    check_multiview(cfg)
    cfg.model.path = project_path(cfg.model.path)  # the project's checkpoints/ from any folder
    with staged_folder(cfg.output_dir, "output_dir", owned_output) as staged:
        result = _multiview(cfg, staged.path)
    log.info(
        "%s (%s protocol, %s): %d objects (%d skipped); all views %s; novel views %s -> %s",
        cfg.dataset_name,
        result["protocol"],
        result["precision"],
        result["num_objects"],
        result["num_skipped"],
        _fmt(result["all_views"]),
        _fmt(result["novel_views"]),
        Path(cfg.output_dir) / "metrics.json",
    )
    return result


def _multiview(cfg: DictConfig, out_dir: Path) -> dict:
    """Evaluate and write every output into `out_dir`."""
    from hydra.utils import instantiate

    protocol = check_protocol(str(cfg.protocol))
    model, checkpoint = load_model(cfg)
    check_sizes(multiview_sizes(cfg), budget_bytes(_device(model)))  # on a GPU: its free memory too
    dataset = instantiate(
        cfg.dataset,
        cond_image_size=int(model.cfg.cond_image_size),
        camera_distance=float(cfg.camera_distance),
        protocol=protocol,
    )
    lpips_model = _lpips(cfg, _device(model))
    vis = cfg.visuals

    def on_object(index: int, sample: dict, record: dict, pred: torch.Tensor, target: torch.Tensor) -> None:
        stem = f"{index:04d}_{record['name'].replace('/', '_')}"
        if index < int(vis.num_side_by_side):
            image = outputs.side_by_side(sample["image_input"], pred, target)
            outputs.save_png(image, out_dir / "side_by_side" / f"{stem}.png")
        if vis.vis360:
            codes = reconstruct(model, sample["image_input"])
            size, fov_rad = int(vis.vis360_size), math.radians(DEMO_ORBIT_FOVY_DEG)
            cameras = orbit_cameras(int(vis.vis360_views), 0.0, float(cfg.camera_distance), fov_rad, size, size)
            frames = render_orbit(model, codes, cameras)[0][0]
            outputs.save_orbit_video(frames, out_dir / "videos" / f"{stem}.mp4")

    result = evaluate_multiview(
        model,
        dataset,
        render_size=int(cfg.render_size),
        lpips_model=lpips_model,
        num_workers=int(cfg.num_workers),
        max_objects=cfg.max_objects,
        on_object=on_object,
        progress=bool(cfg.progress),
        desc=f"eval {cfg.dataset_name}",
        protocol=protocol,
        precision=str(cfg.precision),
    )
    check_evaluated(result, "objects", f"dataset.root={cfg.dataset.root}")
    result = {"dataset": str(cfg.dataset_name), "num_listed": len(dataset), "masks": dataset.mask_source, **result}
    outputs.write_metrics_json(out_dir / "metrics.json", result, OmegaConf.to_container(cfg, resolve=True), checkpoint)
    columns = [f"{g}.{m}" for g in ("all_views", "novel_views") for m in ("psnr", "ssim", "lpips")]
    outputs.write_objects_csv(out_dir / "metrics.csv", result["objects"], columns)
    return result


def run_singleview(cfg: DictConfig) -> dict:
    """Single-view (orbit + self-consistency) evaluation; returns the result written to metrics.json."""
    check_singleview(cfg)
    cfg.model.path = project_path(cfg.model.path)  # the project's checkpoints/ from any folder
    with staged_folder(cfg.output_dir, "output_dir", owned_output) as staged:
        result = _singleview(cfg, staged.path)
    log.info(
        "single-view: %d images (%d skipped); orbit CLIP %.4f LPIPS %.4f; FID %s; consistency %s -> %s",
        result["num_objects"],
        result["num_skipped"],
        result["orbit"].get("clip", float("nan")),
        result["orbit"].get("lpips", float("nan")),
        result["fid"],
        _fmt(result.get("consistency", {})),
        Path(cfg.output_dir) / "metrics.json",
    )
    return result


def _singleview(cfg: DictConfig, out_dir: Path) -> dict:
    """Evaluate and write every output into `out_dir`."""
    from real3d import pretrained

    protocol = check_protocol(str(cfg.protocol))
    d = cfg.dataset
    items = list_wild_items(
        root=d.root,
        split_file=d.split_file,
        split=d.split,
        every_nth=d.every_nth,
        folder=d.folder,
        mask_dir=d.mask_dir,
        manifest=d.manifest,
        max_items=cfg.max_objects,
    )
    model, checkpoint = load_model(cfg)
    device = _device(model)
    check_sizes(singleview_sizes(cfg), budget_bytes(device))  # on a GPU: its free memory too
    lpips_model = _lpips(cfg, device)
    p = cfg.pretrained
    clip = pretrained.build_clip(p.clip, p.clip_config, allow_random=bool(p.allow_random), device=device, root=p.root)
    inception = None
    if cfg.fid.enabled:
        inception = pretrained.build_inception(
            p.inception, allow_random=bool(p.allow_random), device=device, root=p.root
        )
    vis = cfg.visuals

    def on_object(index: int, record: dict, reference, orbit, cycles) -> None:
        stem = f"{index:04d}_{Path(record['name']).with_suffix('').as_posix().replace('/', '_')}"
        if index < int(vis.num_side_by_side):
            views = orbit[:: max(1, len(orbit) // 6)]
            outputs.save_png(outputs.side_by_side(reference, views), out_dir / "side_by_side" / f"{stem}.png")
            if cycles is not None:
                image = outputs.side_by_side(reference, cycles)
                outputs.save_png(image, out_dir / "side_by_side" / f"{stem}_consistency.png")
        if vis.vis360:
            outputs.save_orbit_video(orbit, out_dir / "videos" / f"{stem}.mp4")

    o = cfg.orbit
    result = evaluate_singleview(
        model,
        items,
        clip,
        lpips_model,
        inception,
        image_size=int(d.image_size),
        n_views=int(o.n_views),
        render_size=int(o.render_size),
        elevation_deg=float(o.elevation_deg),
        distance=float(o.distance),
        fovy_deg=float(o.fovy_deg),
        consistency=bool(cfg.consistency.enabled),
        consistency_size=int(cfg.consistency.render_size),
        fid_min_images=int(cfg.fid.min_images),
        on_object=on_object,
        progress=bool(cfg.progress),
        protocol=protocol,
        precision=str(cfg.precision),
    )
    source = next(f"dataset.{k}={d[k]}" for k in ("folder", "manifest", "root") if d[k] is not None)
    check_evaluated(result, "images", source)
    result = {
        "dataset": "wild",
        "num_listed": len(items),
        "fid_network": inception.network if inception else None,
        **result,
    }
    outputs.write_metrics_json(out_dir / "metrics.json", result, OmegaConf.to_container(cfg, resolve=True), checkpoint)
    columns = ["clip", "lpips", *(f"consistency.{k}" for k in ("psnr", "ssim", "lpips", "clip"))]
    outputs.write_objects_csv(out_dir / "metrics.csv", result["objects"], columns)
    return result


def check_evaluated(result: dict, what: str, source: str) -> None:
    """A run that evaluated nothing is an error naming where the items came from and why they were skipped."""
    if result["num_objects"] > 0:
        return
    skipped = result["skipped"]
    if not skipped:
        raise Real3DError(f"nothing evaluated: no {what} listed under {source}")
    reasons = skip_reasons(skipped)
    raise Real3DError(f"nothing evaluated: all {len(skipped)} {what} under {source} were skipped: {reasons}")


def skip_reasons(skipped: list[dict], shown: int = 3) -> str:
    """Skip reasons counted, the most frequent first: paths in a reason are shown as <path>, so one cause
    (a missing folder, an unreadable file) counts once, with the first item it hit."""
    keys = [re.sub(r"'?[^\s':,()]*/[^\s':,()]*'?", "<path>", str(s["reason"])) for s in skipped]
    first = {}
    for key, item in zip(keys, skipped, strict=True):
        first.setdefault(key, item["name"])
    counts = Counter(keys).most_common()
    text = "; ".join(f"{n} x {key} (e.g. {first[key]})" for key, n in counts[:shown])
    return text + (f"; and {len(counts) - shown} other reasons" if len(counts) > shown else "")


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()) or "-"
