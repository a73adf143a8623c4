"""Generated "photos" for the curation tests: a dark textured object on a light textured
background, one photo per case the filters must tell apart.

`write_photo_set(folder)` writes the photos (and a mask folder) and returns, per file, the
expected outcome: None for kept, else (stage, reason).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageFilter

SIZE = 320


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Light, mildly textured background [H,W,3] in [0.7, 0.95]."""
    noise = PIL.Image.fromarray((rng.random((size // 8, size // 8)) * 255).astype(np.uint8))
    noise = np.asarray(noise.resize((size, size), PIL.Image.BICUBIC), dtype=np.float32) / 255.0
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
    grey = 0.72 + 0.13 * noise + 0.08 * ramp
    tint = np.array([1.0, 0.98, 0.95], dtype=np.float32)
    return np.clip(grey[..., None] * tint, 0.0, 1.0)


def _ellipse_alpha(size: int, centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    """Anti-aliased ellipse mask [H,W] in [0,1] (4x supersampled)."""
    s = 4
    yy, xx = np.mgrid[: size * s, : size * s].astype(np.float32) / s
    inside = ((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2 <= 1.0
    return inside.reshape(size, s, size, s).mean(axis=(1, 3))


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Dark, sharp object texture [H,W,3] in [0.08, 0.38]: a checkerboard plus colour."""
    yy, xx = np.mgrid[:size, :size]
    checker = ((yy // 10 + xx // 10) % 2).astype(np.float32)
    colour = np.array([0.9, 0.5, 0.3], dtype=np.float32) * rng.uniform(0.8, 1.0)
    return 0.08 + 0.3 * checker[..., None] * colour


def compose(objects: list[tuple[tuple[float, float], tuple[float, float]]], seed: int = 0, size: int = SIZE):
    """Photo rgb [H,W,3] uint8 and its object mask [H,W] uint8 for ellipses (centre, radii)."""
    rng = np.random.default_rng(seed)
    rgb = _background(rng, size)
    alpha = np.zeros((size, size), dtype=np.float32)
    texture = _texture(rng, size)
    for centre, radii in objects:
        a = _ellipse_alpha(size, centre, radii)
        rgb = rgb * (1 - a[..., None]) + texture * a[..., None]
        alpha = np.maximum(alpha, a)
    return (rgb * 255).round().astype(np.uint8), (alpha * 255).round().astype(np.uint8)


def _save_jpeg_with_mask(folder: Path, masks: Path, name: str, rgb: np.ndarray, alpha: np.ndarray) -> None:
    PIL.Image.fromarray(rgb).save(folder / f"{name}.jpg", quality=95)
    PIL.Image.fromarray(alpha).save(masks / f"{name}.png")


def write_photo_set(folder: Path, masks: Path) -> dict[str, tuple[str, str] | None]:
    """Write the test photos into `folder` (masks into `masks`); returns file name -> expectation."""
    folder.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    c = SIZE / 2
    expected: dict[str, tuple[str, str] | None] = {}

    # Kept: a centred object, with its mask as the PNG's alpha channel.
    rgb, alpha = compose([((c, c), (80, 60))], seed=1)
    PIL.Image.fromarray(np.dstack([rgb, alpha])).save(folder / "centred.png")
    expected["centred.png"] = None
    # Kept: a centred object in a JPEG, mask from a mask file.
    rgb, alpha = compose([((c + 10, c - 5), (60, 90))], seed=2)
    _save_jpeg_with_mask(folder, masks, "centred_masked", rgb, alpha)
    expected["centred_masked.jpg"] = None
    # Kept: a centred object in a JPEG without a mask: rembg finds it.
    rgb, _ = compose([((c, c), (70, 70))], seed=3)
    PIL.Image.fromarray(rgb).save(folder / "centred_rembg.jpg", quality=95)
    expected["centred_rembg.jpg"] = None

    rgb, alpha = compose([((SIZE - 30, c), (80, 60))], seed=4)
    _save_jpeg_with_mask(folder, masks, "cut_by_border", rgb, alpha)
    expected["cut_by_border.jpg"] = ("geometry", "truncated")

    rgb, alpha = compose([((c - 80, c), (55, 55)), ((c + 80, c), (55, 55))], seed=5)
    _save_jpeg_with_mask(folder, masks, "two_objects", rgb, alpha)
    expected["two_objects.jpg"] = ("geometry", "multiple_objects")

    rgb, alpha = compose([((c, c), (12, 10))], seed=6)
    _save_jpeg_with_mask(folder, masks, "tiny_object", rgb, alpha)
    expected["tiny_object.jpg"] = ("geometry", "too_small")

    rgb, alpha = compose([((c, c), (80, 60))], seed=7)
    blurred = np.asarray(PIL.Image.fromarray(rgb).filter(PIL.ImageFilter.GaussianBlur(4)))
    _save_jpeg_with_mask(folder, masks, "blurred", blurred, alpha)
    expected["blurred.jpg"] = ("quality", "blurry")

    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    expected["corrupt.jpg"] = ("quality", "unreadable")

    rgb, alpha = compose([((60, 60), (30, 30))], seed=8, size=120)
    _save_jpeg_with_mask(folder, masks, "low_resolution", rgb, alpha)
    expected["low_resolution.jpg"] = ("quality", "low_resolution")

    rgb, alpha = compose([((c, c), (80, 50))], seed=9)
    dark = (rgb.astype(np.float32) * 0.08).astype(np.uint8)
    _save_jpeg_with_mask(folder, masks, "underexposed", dark, alpha)
    expected["underexposed.jpg"] = ("quality", "underexposed")

    rgb, alpha = compose([((c, c), (150, 20))], seed=10)
    _save_jpeg_with_mask(folder, masks, "elongated", rgb, alpha)
    expected["elongated.jpg"] = ("geometry", "aspect_ratio")
    return expected
