"""Uncurated domain-R photos for the ablation's row (g) (issue 17): the R training photos with bad
ones mixed in, as a crawl of real photos would bring them.

Good photos are exactly the R training set's photos before their crop (same objects, cameras,
light and backgrounds), so their naive crops are the R training crops byte for byte. Bad photos
are what curation (`scripts/curate.py`) is there to remove: an object cut by the frame, two
objects, a tiny object, a blurred or an underexposed photo.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageFilter
import torch

from real3d.data import writers
from real3d.data.splits import write_split
from real3d.data.synthetic.domain import DomainSpec
from real3d.data.synthetic.generate import background_image, crop_around_object, random_cameras, wild_photo
from real3d.data.synthetic.render import render_rgba
from real3d.data.synthetic.shapes import random_object
from real3d.geometry import fov_to_focal
from real3d.io import atomic_write_text

BAD_KINDS = ("truncated", "two_objects", "tiny", "blurred", "dark")
TRUNCATION_SHIFT = 0.75  # sideways camera shift (object units): the object crosses the frame's edge
TINY_DISTANCE = 3.5  # camera distance factor: the object spans ~1/8 of the photo
PAIR_DISTANCE, PAIR_SHIFT = 1.8, 0.55  # two objects side by side
BLUR_RADIUS = 2.5  # Gaussian blur (pixels of a 96² photo)
DARK_GAIN = 0.05


def _shifted(c2w: torch.Tensor, sideways: float = 0.0, distance: float = 1.0) -> torch.Tensor:
    """c2w [1,4,4] moved `distance` times as far from the origin, then `sideways` along its right axis."""
    out = c2w.clone()
    out[:, :3, 3] = out[:, :3, 3] * distance + sideways * out[:, :3, 0]
    return out


def _two_objects(rng: np.random.Generator, spec: DomainSpec, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two objects side by side on one background: (rgb uint8 [S,S,3], alpha uint8 [S,S])."""
    c2w = _shifted(random_cameras(rng, 1, spec), distance=PAIR_DISTANCE)
    focal = fov_to_focal(math.radians(spec.fov_deg), size)
    layers = []
    for side in (-1.0, 1.0):
        obj = random_object(rng, spec)
        layers.append(render_rgba(obj, _shifted(c2w, side * PAIR_SHIFT), focal, size)[0].numpy())
    (front, back), background = layers, background_image(rng, size, size, spec.background)
    rgb = front[..., :3] * front[..., 3:] + (1 - front[..., 3:]) * (
        back[..., :3] * back[..., 3:] + (1 - back[..., 3:]) * background
    )
    alpha = np.maximum(front[..., 3], back[..., 3])
    return (rgb * 255 + 0.5).astype(np.uint8), (alpha * 255 + 0.5).astype(np.uint8)


def bad_photo(rng: np.random.Generator, spec: DomainSpec, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo of the domain with the fault `kind` (one of BAD_KINDS): (rgb uint8 [S,S,3], alpha uint8 [S,S])."""
    if kind == "two_objects":
        return _two_objects(rng, spec, size)
    obj = random_object(rng, spec)
    c2w = random_cameras(rng, 1, spec)
    if kind == "truncated":
        c2w = _shifted(c2w, sideways=float(rng.choice([-1.0, 1.0])) * TRUNCATION_SHIFT)
    elif kind == "tiny":
        c2w = _shifted(c2w, distance=TINY_DISTANCE)
    elif kind not in ("blurred", "dark"):
        raise ValueError(f"unknown kind of bad photo {kind!r}; known: {', '.join(BAD_KINDS)}")
    rgb, alpha = wild_photo(obj, rng, spec, size, c2w)
    if kind == "blurred":
        blur = PIL.ImageFilter.GaussianBlur(BLUR_RADIUS)
        rgb = np.asarray(PIL.Image.fromarray(rgb).filter(blur))
        alpha = np.asarray(PIL.Image.fromarray(alpha).filter(blur))
    elif kind == "dark":
        rgb = (rgb.astype(np.float32) * DARK_GAIN + 0.5).astype(np.uint8)
    return rgb, alpha


def write_uncurated_photos(
    out_dir: str | os.PathLike, spec: DomainSpec, good: int, bad: int, size: int, seed: int
) -> dict[str, str]:
    """Write the uncurated set under `out_dir` and return {"photos", "crops", "split"} paths.

    - `photos/<name>.png`: RGBA photos (alpha = the object mask, as a matting tool gives it): the
      first `good` R training photos (rng streams [seed, 2, i], as the R training set) and `bad`
      faulty ones (streams [seed, 5, j]; kinds in turn); `photos/kinds.json` says which is which;
    - `crops/images/<name>.png` + `crops/split.json.gz`: every photo cropped around its mask with
      no filtering, in the in-the-wild layout (the unfiltered training set).
    """
    out = Path(out_dir)
    kinds: dict[str, str] = {}
    photos = []
    for i in range(good):
        rng = np.random.default_rng([seed, 2, i])
        obj = random_object(rng, spec)
        photos.append((f"good_{obj.family}_{i:06d}", "good", wild_photo(obj, rng, spec, size)))
    for j in range(bad):
        kind = BAD_KINDS[j % len(BAD_KINDS)]
        photos.append((f"{kind}_{j:06d}", kind, bad_photo(np.random.default_rng([seed, 5, j]), spec, kind, size)))
    names = []
    for name, kind, (rgb, alpha) in photos:
        rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
        writers.write_wild_crop(out / "photos" / f"{name}.png", rgba)
        writers.write_wild_crop(out / "crops" / "images" / f"{name}.png", crop_around_object(rgb, alpha))
        kinds[name] = kind
        names.append(f"images/{name}.png")
    atomic_write_text(out / "photos" / "kinds.json", json.dumps(kinds, indent=1))
    split = write_split(out / "crops" / "split.json.gz", {"train": names, "test": []})
    return {"photos": str(out / "photos"), "crops": str(out / "crops"), "split": str(split)}
