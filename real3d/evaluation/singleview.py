"""Single-view evaluation in the wild (SPEC §8): no ground-truth views.

- 360° orbit: `n_views` views at elevation 0, distance 3.0, vertical fov 40°; CLIP ViT-B/16 cosine
  similarity and LPIPS-VGG of each view to the input (per view index and mean over the novel
  views), FID (Inception pool features) between the novel views and the inputs when enough
  images are given.
- Self-consistency: 13 poses (azimuth 0, ±30°, ±60° at elevation 0; ±30°, ±60° at elevations 30°
  and 60°) rendered with fov 0.691150367; each render is composited on grey (opacity > 0.5),
  reconstructed again and rendered through the cycle camera I·N⁻¹·I; PSNR, SSIM, LPIPS and CLIP
  similarity of those 12 cycle renders (input pose excluded) against the input.

Inputs: RGBA crops (mask = alpha > 225) or images with separate masks, padded to a square around
the image centre by 1.7, resized to 512; the model input is composited on grey. The reference
image for the metrics (self-consistency target, CLIP / LPIPS reference, FID inputs) depends on
`protocol`: "original" (the original's) is the padded RAW RGB (white only in the padding), resized
bilinear without antialiasing; "corrected" is the image composited on white with the mask,
resized with antialiasing. The model, CLIP and LPIPS run under fp16 autocast on CUDA by default,
as the original (`real3d.evaluation.precision`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from real3d.data import image_ops
from real3d.data.multiview_eval import check_protocol, resize_rgb
from real3d.data.wild import EVAL_PAD, WILD_ALPHA_THRESHOLD, load_wild_crop
from real3d.errors import Real3DError
from real3d.evaluation.multiview import eval_mode, evaluation_settings, model_device
from real3d.evaluation.precision import autocast, resolve_precision
from real3d.geometry import DEMO_ORBIT_FOVY_DEG, INPUT_FOV_RAD, Cameras, orbit_cameras, spherical_cameras
from real3d.metrics import clip_similarity, fid_from_features, lpips_distance, psnr, ssim
from real3d.models.renderer import RenderSettings
from real3d.rendering import cycle_render, render_orbit, to_model_input

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MASK_THRESHOLD = 127  # separate 8-bit masks: foreground above this


def consistency_poses() -> tuple[torch.Tensor, torch.Tensor]:
    """(azimuth_deg, elevation_deg) [13] of the self-consistency protocol; pose 0 is the input."""
    azimuth = [0.0, 30.0, -30.0, 60.0, -60.0] + [30.0, -30.0, 60.0, -60.0] * 2
    elevation = [0.0] * 5 + [30.0] * 4 + [60.0] * 4
    return torch.tensor(azimuth), torch.tensor(elevation)


@dataclass
class WildItem:
    name: str
    image_path: Path
    mask_path: Path | None = None


def list_wild_items(
    root: str | os.PathLike | None = None,
    split_file: str | os.PathLike | None = "singleview.json.gz",
    split: str = "test",
    every_nth: int = 10,
    folder: str | os.PathLike | None = None,
    mask_dir: str | os.PathLike | None = None,
    manifest: str | os.PathLike | None = None,
    max_items: int | None = None,
) -> list[WildItem]:
    """The images to evaluate: every image under `folder` (masks from `mask_dir/<relative
    stem>.png` when given), or the kept `split` records of a curated `manifest`, or every
    `every_nth` entry of `split` in `split_file` under `root` (the published protocol)."""
    from real3d.data.splits import load_split, manifest_items, read_manifest, resolve_item

    if folder is not None:
        base = Path(folder)
        if not base.is_dir():
            raise Real3DError(f"image folder not found: {base}")
        paths = sorted(p for p in base.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        items = [
            WildItem(
                p.relative_to(base).as_posix(),
                p,
                Path(mask_dir) / p.relative_to(base).with_suffix(".png") if mask_dir is not None else None,
            )
            for p in paths
        ]
    else:
        if manifest is not None:
            manifest = Path(manifest)
            base = Path(root) if root is not None else manifest.parent
            names = manifest_items(read_manifest(manifest), split)
        else:
            if root is None:
                raise Real3DError("give the wild-image root (dataset.root), an image folder or a manifest")
            base = Path(root)
            names = [str(n) for n in load_split(split_file, split)][:: max(1, int(every_nth))]
        items = [WildItem(n, resolve_item(base, n)) for n in names]
    if max_items is not None:
        items = items[: int(max_items)]
    if not items:
        raise Real3DError("no images to evaluate")
    return items


def load_wild_item(
    item: WildItem, image_size: int = 512, pad_factor: float = EVAL_PAD, protocol: str = "original"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square reference rgb [3,S,S] (see the module docstring) and binary mask [1,S,S] (0 outside)
    of one item; the model input is `composite(rgb, mask, GREY)`."""
    if item.mask_path is None:
        try:
            return load_wild_crop(item.image_path, pad_factor, image_size, WILD_ALPHA_THRESHOLD, protocol=protocol)
        except ValueError as exc:
            raise ValueError(f"{exc}; give an RGBA image or a mask folder") from exc
    rgb = image_ops.to_float(image_ops.read_image_uint8(item.image_path, "RGB"))
    mask_u8 = image_ops.read_image_uint8(item.mask_path, "L")
    if mask_u8.shape[-2:] != rgb.shape[-2:]:
        mask_u8 = image_ops.resize_mask(mask_u8, tuple(rgb.shape[-2:]))
    mask = image_ops.binarize(mask_u8, MASK_THRESHOLD)
    rgb = image_ops.pad_to_square(rgb, pad_factor, image_ops.WHITE)
    mask = image_ops.resize_mask(image_ops.pad_to_square(mask, pad_factor, 0.0), image_size)
    rgb = resize_rgb(rgb, image_size, protocol)
    return (rgb if protocol == "original" else image_ops.composite(rgb, mask, image_ops.WHITE)), mask


def consistency_cameras(size: int, distance: float = 3.0, fov_rad: float = INPUT_FOV_RAD) -> Cameras:
    """The 13 cameras [13] of the self-consistency protocol at size²; camera 0 is the input view."""
    azimuth, elevation = consistency_poses()
    return spherical_cameras(azimuth, elevation, distance, fov_rad, size, size)


@torch.no_grad()
def cycle_renders(
    model: nn.Module,
    model_input: torch.Tensor,
    scene_codes: torch.Tensor,
    size: int,
    distance: float = 3.0,
    fov_rad: float = INPUT_FOV_RAD,
    settings: RenderSettings | None = None,
) -> torch.Tensor:
    """The 12 cycle renders [12,3,size,size] of the self-consistency protocol (see module doc) of one
    model input [1,1,3,s,s] and its scene code [1,...]; the new inputs are resized with antialiasing."""
    cameras = consistency_cameras(size, distance, fov_rad)
    rgb, opacity = render_orbit(model, scene_codes, cameras, settings)  # [1,13,...]: the 13 poses in one call
    novel = {"images_rgb": rgb[:, 1:], "images_weight": opacity[:, 1:]}
    cycle = cycle_render(
        model, model_input[:, 0], cameras[:1], cameras[None, 1:], novel=novel, antialias=True, settings=settings
    )
    return cycle.render["images_rgb"][0].float().clamp(0.0, 1.0)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


@torch.no_grad()
def evaluate_singleview(
    model: nn.Module,
    items: Sequence[WildItem],
    clip_encoder: nn.Module | None,
    lpips_model: nn.Module | None,
    inception: nn.Module | None = None,
    image_size: int = 512,
    n_views: int = 30,
    render_size: int = 512,
    elevation_deg: float = 0.0,
    distance: float = 3.0,
    fovy_deg: float = DEMO_ORBIT_FOVY_DEG,
    consistency: bool = True,
    consistency_size: int = 512,
    fid_min_images: int = 10,
    num_samples_per_ray: int | None = None,
    chunk_size: int | None = None,
    on_object: Callable[[int, dict, torch.Tensor, torch.Tensor, torch.Tensor | None], None] | None = None,
    progress: bool = False,
    protocol: str = "original",
    precision: str = "auto",
) -> dict:
    """Run both single-view protocols on `items`; bad images are skipped with their reason.

    `on_object(i, record, reference, orbit, cycles)` is called per evaluated image (visuals).
    `protocol` sets the reference image and the resize filter, `precision` the autocast (see the
    module docstring); both are reported in the result.
    """
    device = model_device(model)
    precision = resolve_precision(precision, device, check_protocol(protocol))
    records, skipped = [], []
    features_inputs, features_novel = [], []
    iterator = items
    orbit_views = orbit_cameras(n_views, elevation_deg, distance, math.radians(fovy_deg), render_size, render_size)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(items, desc="single-view eval", dynamic_ncols=True)
    settings = evaluation_settings(model, num_samples_per_ray, chunk_size)
    with eval_mode(model):
        for index, item in enumerate(iterator):
            try:
                reference, mask = load_wild_item(item, image_size, protocol=protocol)
                if not bool((mask > 0).any()):
                    raise ValueError("empty mask")
            except Exception as exc:  # noqa: BLE001 - one bad image must not stop the evaluation
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("skipping %s: %s", item.name, reason)
                skipped.append({"name": item.name, "reason": reason})
                continue
            with autocast(device, precision):
                model_input = to_model_input(model, image_ops.composite(reference, mask, image_ops.GREY)[None], True)
                model_input = model_input.to(model_device(model))  # [1,1,3,s,s], resized on the CPU
                codes = model.image_to_scene_codes(model_input)
                orbit = render_orbit(model, codes, orbit_views, settings)[0][0].cpu()
            reference_r = resize_rgb(reference, render_size, protocol)
            record: dict = {"name": item.name}
            with autocast(device, precision):
                if clip_encoder is not None:
                    record["clip"] = clip_similarity(clip_encoder, orbit, reference_r).float().tolist()
                if lpips_model is not None:
                    lpips = lpips_distance(lpips_model, orbit, reference_r.expand_as(orbit))
                    record["lpips"] = lpips.float().tolist()
            if inception is not None:
                device = next(inception.parameters()).device
                features_inputs.append(inception(reference[None].to(device)).cpu())
                features_novel.append(inception(orbit[1:].to(device)).cpu())
            cycles = None
            if consistency:
                with autocast(device, precision):
                    cycles = cycle_renders(model, model_input, codes, consistency_size, distance, settings=settings)
                    cycles = cycles.cpu()
                target = resize_rgb(reference, consistency_size, protocol).expand_as(cycles)
                cons = {"psnr": psnr(cycles, target).tolist(), "ssim": ssim(cycles, target).tolist()}
                with autocast(device, precision):
                    if lpips_model is not None:
                        cons["lpips"] = lpips_distance(lpips_model, cycles, target).float().tolist()
                    if clip_encoder is not None:
                        cons["clip"] = clip_similarity(clip_encoder, cycles, target[:1]).float().tolist()
                record["consistency"] = cons
            records.append(record)
            if on_object is not None:
                on_object(index, record, reference, orbit, cycles)

    azimuth = torch.linspace(0.0, 360.0, n_views + 1)[:n_views].tolist()
    orbit_summary: dict = {"azimuth_deg": azimuth}
    for key in ("clip", "lpips"):
        if records and key in records[0]:
            per_view = [_mean([r[key][v] for r in records]) for v in range(n_views)]
            orbit_summary[f"{key}_per_view"] = per_view
            orbit_summary[key] = _mean(per_view[1:])  # novel views (azimuth 0 is the input pose)
            orbit_summary[f"{key}_all_views"] = _mean(per_view)
    result: dict = {"orbit": orbit_summary}
    if consistency and records:
        result["consistency"] = {
            k: _mean([_mean(r["consistency"][k]) for r in records]) for k in records[0]["consistency"]
        }
    result["fid"] = None
    if inception is not None and len(features_inputs) >= max(2, fid_min_images):
        result["fid"] = fid_from_features(torch.cat(features_novel), torch.cat(features_inputs))
    elif inception is not None:
        log.info("FID skipped: %d images, at least %d needed", len(features_inputs), max(2, fid_min_images))
    result.update(num_objects=len(records), num_skipped=len(skipped), objects=records, skipped=skipped)
    result.update(protocol=protocol, precision=precision)
    return result
