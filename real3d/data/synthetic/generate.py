"""Synthetic data in the real distributed formats (SPEC §7): GObjaverse renders, Zero-1-to-3
renders, in-the-wild RGBA crops (+ split file and curated-style manifest) and MVImgNet frames with
masks (+ split file). The `make_*` functions render one item and write it with the format's writer
(`real3d.data.writers`); `make_dataset` writes a whole small set."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from real3d.data import writers
from real3d.data.image_ops import mask_bbox, square_box_around
from real3d.data.splits import write_split
from real3d.data.synthetic.domain import DEFAULT_DOMAIN, DomainSpec
from real3d.data.synthetic.render import Lighting, render_rgba, to_uint8
from real3d.data.synthetic.shapes import SceneObject, random_object
from real3d.geometry import fov_to_focal, look_at_c2w, spherical_c2w
from real3d.io import atomic_write_text

GOBJAVERSE_SUBDIR = "campos_512_v4"  # the view folders' parent in the GObjaverse download


# ----------------------------------------------------------------------------- cameras and lights


def random_lighting(rng: np.random.Generator, spec: DomainSpec) -> Lighting:
    return Lighting.from_angles(
        float(rng.uniform(0.0, 360.0)),
        float(rng.uniform(*spec.light_elevation_deg)),
        float(rng.uniform(*spec.ambient)),
        float(rng.uniform(*spec.diffuse)),
    )


def gobjaverse_cameras(rng: np.random.Generator, num_views: int, spec: DomainSpec) -> torch.Tensor:
    """OpenGL c2w [V,4,4] laid out like GObjaverse: a first orbit (about 2/3 of the views, evenly
    spaced azimuths, one elevation and distance), then a second orbit at another elevation and
    distance."""
    n1 = max(1, math.ceil(num_views * 2 / 3)) if num_views > 1 else 1
    n2 = num_views - n1
    az0 = float(rng.uniform(0.0, 360.0))
    az = [az0 + 360.0 * i / n1 for i in range(n1)]
    el = [float(rng.uniform(*spec.elevation_deg))] * n1
    dist = [float(rng.uniform(*spec.distance))] * n1
    if n2:
        az += [az0 + 360.0 * (i + 0.5) / n2 for i in range(n2)]
        el += [float(rng.uniform(*spec.elevation_deg))] * n2
        dist += [float(rng.uniform(*spec.distance))] * n2
    return spherical_c2w(torch.tensor(az), torch.tensor(el), torch.tensor(dist))


def random_cameras(rng: np.random.Generator, num_views: int, spec: DomainSpec) -> torch.Tensor:
    """OpenGL c2w [V,4,4] at independent random azimuths, elevations and distances (Zero-1-to-3)."""
    az = torch.tensor(rng.uniform(0.0, 360.0, num_views), dtype=torch.float32)
    el = torch.tensor(rng.uniform(*spec.elevation_deg, num_views), dtype=torch.float32)
    dist = torch.tensor(rng.uniform(*spec.distance, num_views), dtype=torch.float32)
    return spherical_c2w(az, el, dist)


# ----------------------------------------------------------------------------- one item per format


def make_gobjaverse_object(
    object_dir: str | os.PathLike,
    obj: SceneObject,
    c2w: torch.Tensor,
    image_size: int,
    fov_deg: float,
    lighting: Lighting,
) -> None:
    """Render `obj` from the cameras c2w [V,4,4] and write it in the GObjaverse layout."""
    fov = math.radians(fov_deg)
    rgba = render_rgba(obj, c2w, fov_to_focal(fov, image_size), image_size, lighting=lighting)
    writers.write_gobjaverse_object(object_dir, [to_uint8(v).numpy() for v in rgba], c2w, fov, obj.scale)


def make_zero123_object(
    object_dir: str | os.PathLike,
    obj: SceneObject,
    c2w: torch.Tensor,
    image_size: int,
    fov_deg: float,
    lighting: Lighting,
) -> None:
    """Render `obj` from the cameras c2w [V,4,4] and write it in the Zero-1-to-3 layout."""
    focal = fov_to_focal(math.radians(fov_deg), image_size)
    rgba = render_rgba(obj, c2w, focal, image_size, lighting=lighting)
    writers.write_zero123_object(object_dir, [to_uint8(v).numpy() for v in rgba], c2w)


def background_image(rng: np.random.Generator, height: int, width: int, kind: str) -> np.ndarray:
    """A float [H,W,3] background: smooth colour gradient plus noise ("noise"), gradient only, or
    white."""
    if kind == "white":
        return np.ones((height, width, 3))
    c0, c1 = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    image = c0 * (1 - ramp) + c1 * ramp + np.zeros((height, width, 3))
    if kind == "noise":
        image = image + rng.normal(0.0, 0.06, (height, width, 3))
    elif kind != "gradient":
        raise ValueError(f"unknown background {kind!r}")
    return np.clip(image, 0.0, 1.0)


def _photo(rng, obj, spec, height, width, c2w, focal, lighting) -> tuple[np.ndarray, np.ndarray]:
    """Render and composite on a background: (rgb uint8 [H,W,3], alpha uint8 [H,W])."""
    rgba = render_rgba(obj, c2w, focal, height, width, lighting=lighting)[0].numpy()
    alpha = rgba[..., 3:]
    rgb = rgba[..., :3] * alpha + background_image(rng, height, width, spec.background) * (1 - alpha)
    return (rgb * 255 + 0.5).astype(np.uint8), (alpha[..., 0] * 255 + 0.5).astype(np.uint8)


def wild_photo(
    obj: SceneObject, rng: np.random.Generator, spec: DomainSpec, image_size: int, c2w: torch.Tensor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A photo-like render of `obj` (rgb uint8 [S,S,3] on the domain's background, alpha uint8 [S,S])
    from `c2w` [1,4,4], or from a random camera of the domain drawn from `rng`."""
    c2w = random_cameras(rng, 1, spec) if c2w is None else c2w
    focal = fov_to_focal(math.radians(spec.fov_deg), image_size)
    return _photo(rng, obj, spec, image_size, image_size, c2w, focal, random_lighting(rng, spec))


def crop_around_object(rgb: np.ndarray, alpha: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """RGBA [h,w,4] crop of a photo: a square around the opaque pixels' box with a small margin,
    clipped to the photo."""
    height, width = alpha.shape
    box = mask_bbox(torch.from_numpy(alpha > 225))
    if box is None:
        raise RuntimeError("synthetic object left the image")
    x0, y0, x1, y1 = square_box_around(box, 1.0 + 2.0 * margin)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, width), min(y1, height)
    return np.concatenate([rgb, alpha[..., None]], axis=-1)[y0:y1, x0:x1]


def make_wild_crop(
    path: str | os.PathLike,
    obj: SceneObject,
    rng: np.random.Generator,
    spec: DomainSpec,
    image_size: int,
    margin: float = 0.05,
) -> None:
    """One in-the-wild RGBA crop: a photo-like render (background in RGB), alpha = soft mask,
    cropped to a square around the object's box with a small margin."""
    writers.write_wild_crop(path, crop_around_object(*wild_photo(obj, rng, spec, image_size), margin))


def make_mvimgnet_sequence(
    images_root: str | os.PathLike,
    masks_root: str | os.PathLike,
    sequence: str,
    obj: SceneObject,
    rng: np.random.Generator,
    spec: DomainSpec,
    num_frames: int,
    height: int,
    width: int,
) -> None:
    """Frames `NNN.jpg` of a slow orbit (the object off-centre, on a background) with their masks,
    written in MVImgNet's training layout (JPEG quality 95, PIL's default chroma subsampling)."""
    az0 = float(rng.uniform(0.0, 360.0))
    el = float(rng.uniform(*spec.elevation_deg))
    dist = float(rng.uniform(*spec.distance))
    target = torch.tensor(rng.uniform(-0.15, 0.15, 3), dtype=torch.float32)
    lighting = random_lighting(rng, spec)
    focal = fov_to_focal(math.radians(spec.fov_deg), height)
    frames = []
    for f in range(num_frames):
        position = spherical_c2w(az0 + 8.0 * f, el, dist)[0, :3, 3]
        c2w = look_at_c2w(position[None], target[None])
        rgb, alpha = _photo(rng, obj, spec, height, width, c2w, focal, lighting)
        frames.append({"name": f"{f:03d}.jpg", "rgb": rgb, "mask": alpha})
    writers.write_mvimgnet_sequence(images_root, masks_root, sequence, frames, jpeg_quality=95, jpeg_subsampling=-1)


# ----------------------------------------------------------------------------- whole sets


@dataclass
class SetSizes:
    """How much `make_dataset` writes (0 skips a format)."""

    gobjaverse_objects: int = 4
    zero123_objects: int = 4
    views: int = 8  # views per multi-view object
    image_size: int = 64  # multi-view renders (square)
    wild_images: int = 8
    wild_size: int = 96  # render size before the crop
    mvimgnet_sequences: int = 4
    mvimgnet_frames: int = 3
    mvimgnet_height: int = 96
    mvimgnet_width: int = 72
    test_fraction: float = 0.25


def _split(names: list[str], test_fraction: float) -> dict[str, list[str]]:
    n_test = min(len(names) - 1, max(1, int(round(test_fraction * len(names))))) if len(names) > 1 else 0
    return {"train": names[: len(names) - n_test], "test": names[len(names) - n_test :]}


def make_dataset(
    out_dir: str | os.PathLike,
    sizes: SetSizes | None = None,
    seed: int = 0,
    spec: DomainSpec = DEFAULT_DOMAIN,
    mv_spec: DomainSpec | None = None,
) -> dict:
    """Write a small dataset in every format under `out_dir`; returns (and writes as info.json)
    the roots, split files and timings. `mv_spec` (default `spec`) drives the multi-view sets.

    Layout: gobjaverse/<family>/<id>/campos_512_v4/NNNNN/..., gobjaverse/split.json;
    zero123/<id>/NNN.{png,npy}, zero123/split.json; wild/images/<id>.png, wild/split.json.gz,
    wild/manifest.jsonl; mvimgnet/{images,masks}/<cat>/<inst>/..., mvimgnet/split.json.gz.
    """
    sizes = sizes or SetSizes()
    mv_spec = mv_spec or spec
    out = Path(out_dir)
    info: dict = {"seed": seed, "sizes": sizes.__dict__, "domain": spec.to_dict(), "mv_domain": mv_spec.to_dict()}
    timings: dict[str, float] = {}

    def rng_for(kind: int, index: int) -> np.random.Generator:
        return np.random.default_rng([seed, kind, index])

    def multiview_set(
        key: str,
        kind: int,
        count: int,
        name_of: Callable[[SceneObject, int], str],
        cameras: Callable[[np.random.Generator, int, DomainSpec], torch.Tensor],
        make: Callable[..., None],
    ) -> None:
        """`count` objects rendered from `cameras` and written by `make`, with their split file."""
        start = time.perf_counter()
        root, names = out / key, []
        for i in range(count):
            rng = rng_for(kind, i)
            obj = random_object(rng, mv_spec)
            name = name_of(obj, i)
            views = cameras(rng, sizes.views, mv_spec)
            make(root / name, obj, views, sizes.image_size, mv_spec.fov_deg, random_lighting(rng, mv_spec))
            names.append(name)
        split = write_split(root / "split.json", _split(names, sizes.test_fraction))
        timings[f"{key}_s_per_object"] = (time.perf_counter() - start) / count
        info[key] = {"root": str(root), "split": str(split)}

    if sizes.gobjaverse_objects:
        multiview_set(
            "gobjaverse",
            0,
            sizes.gobjaverse_objects,
            lambda obj, i: f"{obj.family}/{i:06d}/{GOBJAVERSE_SUBDIR}",
            gobjaverse_cameras,
            make_gobjaverse_object,
        )
    if sizes.zero123_objects:
        multiview_set(
            "zero123",
            1,
            sizes.zero123_objects,
            lambda obj, i: f"{obj.family}_{i:06d}",
            random_cameras,
            make_zero123_object,
        )

    if sizes.wild_images:
        start = time.perf_counter()
        root, names = out / "wild", []
        for i in range(sizes.wild_images):
            rng = rng_for(2, i)
            obj = random_object(rng, spec)
            name = f"images/{obj.family}_{i:06d}.png"
            make_wild_crop(root / name, obj, rng, spec, sizes.wild_size)
            names.append(name)
        parts = _split(names, sizes.test_fraction)
        split = write_split(root / "split.json.gz", parts)
        manifest = "".join(
            json.dumps({"path": n, "kept": True, "split": s}) + "\n" for s, ns in parts.items() for n in ns
        )
        atomic_write_text(root / "manifest.jsonl", manifest)
        timings["wild_s_per_image"] = (time.perf_counter() - start) / sizes.wild_images
        info["wild"] = {"root": str(root), "split": str(split), "manifest": str(root / "manifest.jsonl")}

    if sizes.mvimgnet_sequences:
        start = time.perf_counter()
        root, names = out / "mvimgnet", []
        for i in range(sizes.mvimgnet_sequences):
            rng = rng_for(3, i)
            obj = random_object(rng, spec)
            name = f"{i % 3}/{int(rng.integers(0, 2**32)):08x}"
            make_mvimgnet_sequence(
                root / "images",
                root / "masks",
                name,
                obj,
                rng,
                spec,
                sizes.mvimgnet_frames,
                sizes.mvimgnet_height,
                sizes.mvimgnet_width,
            )
            names.append(name)
        split = write_split(root / "split.json.gz", _split(names, sizes.test_fraction))
        timings["mvimgnet_s_per_sequence"] = (time.perf_counter() - start) / sizes.mvimgnet_sequences
        info["mvimgnet"] = {
            "images_root": str(root / "images"),
            "masks_root": str(root / "masks"),
            "split": str(split),
        }

    info["timings"] = timings
    atomic_write_text(out / "info.json", json.dumps(info, indent=1))
    return info
