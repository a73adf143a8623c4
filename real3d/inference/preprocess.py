"""Demo input preparation: decode any common image, find the object, frame it, grey background."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import PIL.Image

from real3d.errors import Real3DError
from real3d.inference.background import BackgroundRemover, has_transparency
from real3d.inference.limits import check_canvas, check_input_size

MAX_SIDE = 4096  # larger inputs are downscaled first: the model sees 512² anyway


def load_image(path: str | Path) -> PIL.Image.Image:
    """Read an image as 8-bit RGB or RGBA (grayscale, palette, 16-bit and CMYK converted); its size is
    checked from the header before the pixels are decoded."""
    path = Path(path)
    if not path.is_file():
        raise Real3DError(f"{path}: file not found")
    try:
        with warnings.catch_warnings():  # PIL warns of large images; check_input_size refuses them
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            opened = PIL.Image.open(path)
        with opened as image:
            check_input_size(*image.size)
            image.load()
            image = _to_8bit(image)
    except PIL.Image.DecompressionBombError as exc:
        raise Real3DError(f"{path}: image too large to decode safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Real3DError(f"{path}: not a readable image ({exc})") from exc
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), PIL.Image.Resampling.LANCZOS)
    return image


def _to_8bit(image: PIL.Image.Image) -> PIL.Image.Image:
    """RGB or RGBA with 8 bits per channel, keeping transparency where the file has it."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "F":
            peak = max(float(array.max()), 1.0) if array.max() > 1.0 else 1.0
        array = np.clip(array / peak * 255.0, 0, 255).astype(np.uint8)
        return PIL.Image.fromarray(array).convert("RGB")
    if image.mode == "P":
        return image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("LA", "PA", "RGBa", "La"):
        return image.convert("RGBA")
    if image.mode in ("RGB", "RGBA"):
        return image.copy()
    return image.convert("RGB")


def resize_foreground(image: PIL.Image.Image, ratio: float) -> PIL.Image.Image:
    """Crop RGBA to its alpha bounding box, pad to a square, then pad so the object fills `ratio`."""
    if not 0.0 < ratio <= 1.0:
        raise Real3DError(f"foreground ratio must be in (0, 1], got {ratio}")
    array = np.asarray(image.convert("RGBA"))
    ys, xs = np.nonzero(array[..., 3] > 0)
    if len(ys) == 0:
        raise Real3DError("no foreground found in the image (the mask is empty)")
    fg = array[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    new_size = check_canvas(max(fg.shape[:2]), ratio)  # before np.pad allocates it
    ph, pw = new_size - fg.shape[0], new_size - fg.shape[1]
    padded = np.pad(fg, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    return PIL.Image.fromarray(padded)


def composite_on_grey(image: PIL.Image.Image, grey: float = 0.5) -> PIL.Image.Image:
    """Blend RGBA onto a uniform grey background (the model's input convention)."""
    array = np.asarray(image.convert("RGBA")).astype(np.float32) / 255.0
    rgb = array[..., :3] * array[..., 3:4] + grey * (1.0 - array[..., 3:4])
    return PIL.Image.fromarray((rgb * 255.0).astype(np.uint8))


def prepare_input(
    image: PIL.Image.Image, remover: BackgroundRemover | None, foreground_ratio: float
) -> PIL.Image.Image:
    """The model-ready RGB image: background removed (unless alpha is given), framed, on grey."""
    if has_transparency(image):
        rgba = image
    elif remover is not None:
        rgba = remover.remove(image)
    else:
        raise Real3DError(
            "image has no transparent background and background removal is off "
            "(turn it on, or give an RGBA image whose alpha is the object mask)"
        )
    return composite_on_grey(resize_foreground(rgba, foreground_ratio))
