"""Per-image curation stages that need no model: read, foreground mask, geometric and quality
filters, and the RGBA crop in the single-view training format (SPEC §7).

Everything here works on one image and a plain-dict config, so it runs in worker processes;
it needs numpy, scipy and PIL only (no torch: spawned workers start fast and stay small).
Scores are plain floats; every rejection names its stage and a short reason.
"""

from __future__ import annotations

import math
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageOps
import scipy.ndimage as ndi

from real3d.errors import Real3DError
from real3d.inference.background import U2NET_FAMILY, BackgroundRemover, default_model_paths, has_transparency
from real3d.io import atomic_path

# Stage names, in the order the stages run (`quality` runs twice: file checks, then pixels).
STAGES = ("quality", "foreground", "geometry", "model")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# One rembg session per process (worker processes each build their own on first use).
_REMOVERS: dict[tuple[str | None, str], BackgroundRemover] = {}


class Rejected(Exception):
    """An image fails a filter: `stage` and `reason` go to the manifest."""

    def __init__(self, stage: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{stage}/{reason}: {detail}")
        self.stage, self.reason, self.detail = stage, reason, detail


@dataclass
class Task:
    """One source image to curate; `name` is the crop's path stem inside the output folder."""

    source: str
    name: str
    mask_path: str | None = None


@dataclass
class Result:
    """The outcome of stages 1–3 for one image (the model stage may still reject a passed one)."""

    source: str
    name: str
    passed: bool
    stage: str | None = None
    reason: str | None = None
    detail: str = ""
    path: str | None = None  # crop path relative to the output folder (passed images)
    mask_source: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- reading


def read_photo(path: str | Path) -> PIL.Image.Image:
    """Decode an image fully (EXIF orientation applied), as RGB or RGBA; raises on a corrupt file."""
    with PIL.Image.open(path) as image:
        image.load()
        image = PIL.ImageOps.exif_transpose(image)
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        return image.convert("RGBA" if has_alpha else "RGB")


def rembg_remover(cfg: dict) -> BackgroundRemover:
    """This process's rembg session (built once); a missing or broken model file stops the run.

    The message names curate's own overrides: where the model file goes, or `foreground.rembg=false`
    to take every mask from a mask file or the photo's alpha channel.
    """
    name, given = cfg.get("rembg_model_name", "u2net"), cfg.get("rembg_model_path")
    key = (given, name)
    if key in _REMOVERS:
        return _REMOVERS[key]
    if name not in U2NET_FAMILY:
        raise Real3DError(f"foreground.rembg_model_name={name!r} is not supported; use one of {U2NET_FAMILY}")
    instead = (
        "or set foreground.rembg=false to take masks only from mask files (mask_dir=<folder>) and the "
        "photos' alpha channels"
    )
    candidates = [Path(given).expanduser()] if given else default_model_paths(name)
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise Real3DError(
            f"rembg model file not found: {candidates[0]}; put rembg's {name}.onnx there "
            f"(or give foreground.rembg_model_path=<file>), {instead}"
        )
    try:
        _REMOVERS[key] = BackgroundRemover(model_path=path, model_name=name)
    except Real3DError as exc:
        raise Real3DError(f"{exc}; {instead}") from exc
    return _REMOVERS[key]


def foreground_alpha(image: PIL.Image.Image, mask_path: str | None, cfg: dict) -> tuple[np.ndarray, str]:
    """Soft object mask [H,W] uint8 and where it came from: a mask file, the alpha channel, rembg."""
    if mask_path is not None:
        try:
            with PIL.Image.open(mask_path) as mask_image:
                mask = np.asarray(mask_image.convert("L"))
        except Exception as exc:  # noqa: BLE001 - any decoding error means an unusable mask
            raise Rejected("foreground", "unreadable_mask", f"{mask_path}: {exc}") from exc
        if mask.shape != (image.height, image.width):
            raise Rejected(
                "foreground",
                "mask_size_mismatch",
                f"mask {mask.shape[1]}x{mask.shape[0]} vs image {image.width}x{image.height}",
            )
        return mask, "file"
    if cfg["use_alpha"] and has_transparency(image):
        return np.asarray(image.getchannel("A")), "alpha"
    if not cfg["rembg"]:
        raise Rejected("foreground", "no_mask", "no mask file or alpha channel and rembg is off")
    remover = rembg_remover(cfg)  # checked before the run starts; a worker builds its own session
    try:
        rgba = remover.remove(image.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - the session failing on this one image
        raise Rejected("foreground", "rembg_failed", f"{type(exc).__name__}: {exc}") from exc
    return np.asarray(rgba.getchannel("A")), "rembg"


# ----------------------------------------------------------------------------- filters


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1), exclusive ends, of a non-empty boolean mask [H,W]."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _check(scores: dict, value_key: str, limit: float | None, low: bool, stage: str, reason: str):
    """Reject when scores[value_key] is below (`low`) or above the limit; None disables it."""
    if limit is None:
        return
    value = scores[value_key]
    if (value < limit) if low else (value > limit):
        rel = "<" if low else ">"
        raise Rejected(stage, reason, f"{value_key} {value:.4g} {rel} {limit:.4g}")


def clean_mask(alpha: np.ndarray, threshold: int, cfg: dict) -> tuple[np.ndarray, dict]:
    """Binary object mask (alpha > threshold) without specks, and its geometric scores.

    Components (8-connected) smaller than `speck_fraction` of the largest are noise: removed and
    ignored by every score.
    """
    binary = alpha > threshold
    labels, n = ndi.label(binary, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        raise Rejected("foreground", "empty_mask", f"no pixel of the mask is > {threshold}")
    sizes = np.bincount(labels.ravel())[1:]
    largest = sizes.max()
    keep = sizes >= cfg["speck_fraction"] * largest
    mask = keep[labels - 1] & binary
    h, w = mask.shape
    x0, y0, x1, y1 = _bbox(mask)
    bw, bh = x1 - x0, y1 - y0
    m = cfg["border_margin_px"]
    ring = np.zeros_like(mask)
    ring[:m], ring[-m:], ring[:, :m], ring[:, -m:] = True, True, True, True
    scores = {
        "area_fraction": float(mask.sum() / (h * w)),
        "object_side_px": int(max(bw, bh)),
        "aspect_ratio": float(max(bw, bh) / max(1, min(bw, bh))),
        "border_fraction": float((mask & ring).sum() / (2 * (bw + bh))),
        "num_components": int(keep.sum()),
        "dominant_fraction": float(largest / sizes[keep].sum()),
    }
    return mask, scores


def check_geometry(scores: dict, cfg: dict) -> None:
    """Geometric filters, in this order: size, area, truncation, one dominant object, aspect."""
    _check(scores, "object_side_px", cfg["min_object_side_px"], True, "geometry", "too_small")
    _check(scores, "area_fraction", cfg["min_area_fraction"], True, "geometry", "area_too_small")
    _check(scores, "area_fraction", cfg["max_area_fraction"], False, "geometry", "area_too_large")
    _check(scores, "border_fraction", cfg["max_border_fraction"], False, "geometry", "truncated")
    _check(scores, "dominant_fraction", cfg["min_dominant_fraction"], True, "geometry", "multiple_objects")
    _check(scores, "aspect_ratio", cfg["max_aspect_ratio"], False, "geometry", "aspect_ratio")


def quality_scores(rgb: np.ndarray, mask: np.ndarray, cfg: dict) -> dict:
    """Blur (variance of the Laplacian) and exposure of the object, at a fixed analysis size.

    The object's box is resized so its longest side is `analysis_size` px: the blur score then
    measures sharpness at roughly the scale the model sees, whatever the photo's resolution.
    """
    x0, y0, x1, y1 = _bbox(mask)
    scale = cfg["analysis_size"] / max(x1 - x0, y1 - y0)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    grey = PIL.Image.fromarray(rgb[y0:y1, x0:x1]).convert("L").resize(size, PIL.Image.BILINEAR)
    grey = np.asarray(grey, dtype=np.float64)
    obj = PIL.Image.fromarray(mask[y0:y1, x0:x1].astype(np.uint8) * 255).resize(size, PIL.Image.NEAREST)
    obj = np.asarray(obj) > 127
    if not obj.any():
        obj = np.ones_like(obj)
    edge_region = ndi.binary_dilation(obj, iterations=2)  # the silhouette's edge counts as detail
    laplacian = ndi.laplace(grey, mode="reflect")
    luminance = grey[obj] / 255.0
    return {
        "blur_variance": float(laplacian[edge_region].var()),
        "dark_fraction": float((luminance < cfg["dark_level"]).mean()),
        "bright_fraction": float((luminance > cfg["bright_level"]).mean()),
    }


def check_quality(scores: dict, cfg: dict) -> None:
    """Image-quality filters on the object: under- and over-exposure, then blur (a badly exposed
    object has little contrast, so it would also look blurred)."""
    _check(scores, "dark_fraction", cfg["max_dark_fraction"], False, "quality", "underexposed")
    _check(scores, "bright_fraction", cfg["max_bright_fraction"], False, "quality", "overexposed")
    _check(scores, "blur_variance", cfg["min_blur_variance"], True, "quality", "blurry")


# ----------------------------------------------------------------------------- crop


def object_crop(rgb: np.ndarray, alpha: np.ndarray, mask: np.ndarray, cfg: dict) -> PIL.Image.Image:
    """RGBA square crop centred on the object's box, with a margin; outside the photo white, alpha 0.

    `mask` is the object as the training loader sees it (alpha > its threshold, specks removed).
    Alpha is the soft mask within `fringe_px` of that object, 0 elsewhere. The colour is the photo
    composited on white by that alpha: the loader's raw-RGB target (the original's) then shows the
    object on white, never the photo's background; the loader pads around the crop's centre.
    """
    fringe = int(cfg["fringe_px"])  # (binary_dilation's iterations=0 would dilate until nothing changes)
    alpha = np.where(ndi.binary_dilation(mask, iterations=fringe) if fringe > 0 else mask, alpha, 0).astype(np.uint8)
    a = alpha[..., None].astype(np.float32) / 255.0
    rgb = np.rint(rgb.astype(np.float32) * a + 255.0 * (1.0 - a)).astype(np.uint8)  # [H,W,3] on white
    x0, y0, x1, y1 = _bbox(mask)
    side = max(1, round(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * cfg["margin"])))
    left = math.floor(0.5 * (x0 + x1 - side) + 0.5)
    top = math.floor(0.5 * (y0 + y1 - side) + 0.5)
    h, w = mask.shape
    crop = np.zeros((side, side, 4), dtype=np.uint8)  # [side,side,RGBA]; outside the photo: white, alpha 0
    crop[..., :3] = 255
    sx0, sy0, sx1, sy1 = max(left, 0), max(top, 0), min(left + side, w), min(top + side, h)
    crop[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = np.dstack([rgb, alpha])[sy0:sy1, sx0:sx1]
    image = PIL.Image.fromarray(crop)
    max_size = cfg.get("max_size")
    if max_size and image.width > max_size:
        image = image.resize((max_size, max_size), PIL.Image.LANCZOS)
    return image


def crop_relpath(name: str) -> str:
    """Where the crop of a kept image lives, relative to the output folder."""
    return f"crops/{name}.png"


# ----------------------------------------------------------------------------- one image


def process_image(task: Task, cfg: dict, output_dir: str) -> Result:
    """Stages 1–3 for one image; writes its crop (atomically) when it passes.

    Only a user error that concerns the whole run (e.g. rembg's model file is missing) raises
    `Real3DError`; everything about this one image ends up in the returned `Result` (an
    unexpected failure as stage `error`, so one odd photo never stops a long run).
    """
    result = Result(task.source, task.name, passed=False)
    scores = result.scores
    try:
        quality, geometry = cfg["quality"], cfg["geometry"]
        try:
            image = read_photo(task.source)
        except Exception as exc:  # noqa: BLE001 - any decoding error means an unusable file
            raise Rejected("quality", "unreadable", f"{type(exc).__name__}: {exc}") from exc
        scores["width"], scores["height"] = image.width, image.height
        if quality["enabled"]:
            scores["min_side_px"] = min(image.width, image.height)
            _check(scores, "min_side_px", quality["min_side_px"], True, "quality", "low_resolution")
        alpha, result.mask_source = foreground_alpha(image, task.mask_path, cfg["foreground"])
        rgb = np.asarray(image.convert("RGB"))
        mask, geo_scores = clean_mask(alpha, cfg["foreground"]["mask_threshold"], geometry)
        scores.update(geo_scores)
        if geometry["enabled"]:
            check_geometry(scores, geometry)
        if quality["enabled"]:
            scores.update(quality_scores(rgb, mask, quality))
            check_quality(scores, quality)
        crop = object_crop(rgb, alpha, mask, cfg["crop"])
        result.path = crop_relpath(task.name)
        with atomic_path(Path(output_dir) / result.path) as tmp:
            crop.save(tmp, format="PNG")
        result.passed = True
    except Rejected as rejection:
        result.stage, result.reason, result.detail = rejection.stage, rejection.reason, rejection.detail
    except Real3DError:
        raise
    except Exception as exc:  # noqa: BLE001 - logged and counted by the caller
        result.stage, result.reason = "error", type(exc).__name__
        result.detail = "".join(traceback.format_exception_only(exc)).strip()
    for key, value in scores.items():
        if isinstance(value, float) and not math.isfinite(value):
            scores[key] = None
    return result
