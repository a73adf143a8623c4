"""The two domains of the mini study (issue #6) and the writer of its datasets.

Domain S ("synthetic assets"): primitives with plain or striped materials, soft frontal light,
low camera elevations; used as the supervised multi-view set (GObjaverse layout).
Domain R ("real-like"): composite objects (mugs, tables, snowmen, lamps, dumbbells) with checker /
gradient materials, harder light, higher elevations and photo backgrounds; used only as single
RGBA crops for self-training (in-the-wild layout). Both get a held-out multi-view test split in
the OmniObject3D Blender layout, read by `scripts/eval_mv.py`.

Cameras: fov 39.6° (the canonical `INPUT_FOV_RAD`) and distances 1.9-2.3, so that after training's
canonicalisation (input camera moved to distance 3.0, world scaled by 3/d) every object stays
inside the renderer's box [-0.87, 0.87]^3, and an S input view is framed like an R crop padded by
r ~ U[1.45, 1.95] (see `framing_stats`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from real3d.data.image_ops import mask_bbox
from real3d.data.splits import write_split
from real3d.data.synthetic.domain import DomainSpec
from real3d.data.synthetic.generate import (
    GOBJAVERSE_SUBDIR,
    gobjaverse_cameras,
    make_gobjaverse_object,
    make_wild_crop,
    random_cameras,
    random_lighting,
)
from real3d.data.synthetic.render import render_rgba
from real3d.data.synthetic.shapes import COMPOSITES, PRIMITIVES, random_object
from real3d.data.synthetic.uncurated import write_uncurated_photos
from real3d.data.writers import write_omniobject3d_object
from real3d.geometry import INPUT_FOV_RAD, fov_to_focal, spherical_c2w
from real3d.io import atomic_path, atomic_write_text

BOX_RADIUS = 0.87

DOMAIN_S = DomainSpec(
    name="S",
    shapes=PRIMITIVES,
    textures=("solid", "stripes"),
    saturation=(0.3, 0.7),
    value=(0.55, 0.95),
    texture_frequency=(1.0, 2.0),
    fill=(0.7, 0.8),
    tilt_deg=0.0,
    ambient=(0.35, 0.5),
    diffuse=(0.45, 0.6),
    light_elevation_deg=(40.0, 80.0),
    elevation_deg=(-5.0, 20.0),
    distance=(1.9, 2.3),
    fov_deg=math.degrees(INPUT_FOV_RAD),  # 39.6°
    background="white",
)

DOMAIN_R = DomainSpec(
    name="R",
    shapes=COMPOSITES,
    textures=("checker", "gradient", "solid"),
    saturation=(0.5, 1.0),
    value=(0.3, 0.9),
    texture_frequency=(2.0, 4.0),
    fill=(0.7, 0.8),
    tilt_deg=15.0,
    ambient=(0.15, 0.3),
    diffuse=(0.7, 0.9),
    light_elevation_deg=(10.0, 45.0),
    elevation_deg=(15.0, 40.0),
    distance=(1.9, 2.3),
    fov_deg=math.degrees(INPUT_FOV_RAD),  # 39.6°
    background="noise",
)

DOMAINS = {"S": DOMAIN_S, "R": DOMAIN_R}

# The base model's multi-view set (issue 17), the miniature of Objaverse: domain S's look (plain and
# striped materials, soft light, white background) on all ten families, seen from the elevations of
# both domains. R keeps what separates real photos from it: checker / gradient materials, hard light,
# photo backgrounds and tilted objects.
DOMAIN_B = replace(DOMAIN_S, name="B", shapes=PRIMITIVES + COMPOSITES, elevation_deg=(-5.0, 40.0))


@dataclass
class MiniSizes:
    """How much the mini study generates."""

    s_train_objects: int = 48
    s_val_objects: int = 2  # training-time validation (best-checkpoint PSNR)
    s_views: int = 8
    r_train_images: int = 96
    test_objects: int = 10  # per domain, families in turn
    test_views: int = 6  # r_0 = input, r_1.. = novel views
    image_size: int = 64  # multi-view renders
    wild_size: int = 96  # single-view render before the crop
    base_objects: int = 0  # multi-view objects of domain B (B_train/gobjaverse), the base model's set
    uncurated_bad: int = 0  # faulty R photos mixed with the R training photos (R_uncurated/), row (g)


def test_cameras(rng: np.random.Generator, num_views: int, spec: DomainSpec) -> torch.Tensor:
    """Test views c2w [V,4,4]: the input (view 0) then novel views evenly around the object at the
    domain's elevations, one distance per object (as OmniObject3D's fixed-radius renders)."""
    az0 = float(rng.uniform(0.0, 360.0))
    dist = float(rng.uniform(*spec.distance))
    az = [az0 + 360.0 * i / num_views for i in range(num_views)]
    el = [float(rng.uniform(*spec.elevation_deg)) for _ in range(num_views)]
    return spherical_c2w(torch.tensor(az), torch.tensor(el), torch.full((num_views,), dist))


def write_test_split(root: Path, spec: DomainSpec, count: int, views: int, size: int, seed: int) -> Path:
    """`count` objects of `spec` in the OmniObject3D layout plus `split.json` (all in "test")."""
    names = []
    for i in range(count):
        rng = np.random.default_rng([seed, 10 + ord(spec.name[0]), i])
        obj = random_object(rng, spec, family=spec.shapes[i % len(spec.shapes)])  # balanced families
        c2w = test_cameras(rng, views, spec)
        fov = math.radians(spec.fov_deg)
        rgba = render_rgba(obj, c2w, fov_to_focal(fov, size), size, lighting=random_lighting(rng, spec))
        name = f"{obj.family}_{i:03d}"  # OmniObject3D naming: <category>_NNN
        write_omniobject3d_object(root, name, [v.permute(2, 0, 1) for v in rgba], c2w, fov)
        names.append(name)
    return write_split(root / "split.json", {"train": [], "test": names})


def _write_multiview_set(
    root: Path, spec: DomainSpec, n_train: int, n_val: int, sizes: MiniSizes, stream: list[int]
) -> Path:
    """`n_train + n_val` objects of `spec` in the GObjaverse layout under `root` plus `split.json`;
    object i draws from the rng stream `stream + [i]`."""
    names = []
    for i in range(n_train + n_val):
        rng = np.random.default_rng([*stream, i])
        obj = random_object(rng, spec)
        name = f"{obj.family}/{i:06d}/{GOBJAVERSE_SUBDIR}"
        cams = gobjaverse_cameras(rng, sizes.s_views, spec)
        make_gobjaverse_object(root / name, obj, cams, sizes.image_size, spec.fov_deg, random_lighting(rng, spec))
        names.append(name)
    return write_split(root / "split.json", {"train": names[:n_train], "test": names[n_train:]})


def write_mini_study_data(out_dir: str | os.PathLike, sizes: MiniSizes | None = None, seed: int = 0) -> dict:
    """Write S (multi-view train), R (single-view train) and the S / R multi-view test splits.

    Layout: S_train/gobjaverse/<family>/<id>/campos_512_v4/..., S_train/gobjaverse/split.json;
    R_train/wild/images/<id>.png, R_train/wild/split.json.gz; S_test/ and R_test/ in the
    OmniObject3D layout with split.json; with `sizes.base_objects`, B_train/gobjaverse/ laid out as
    S_train; with `sizes.uncurated_bad`, R_uncurated/ (real3d.data.synthetic.uncurated). Returns (and writes
    as info.json) the paths.
    """
    sizes = sizes or MiniSizes()
    out = Path(out_dir)
    s_split = _write_multiview_set(
        out / "S_train/gobjaverse", DOMAIN_S, sizes.s_train_objects, sizes.s_val_objects, sizes, [seed, 0]
    )
    wild = []
    for i in range(sizes.r_train_images):
        rng = np.random.default_rng([seed, 2, i])
        obj = random_object(rng, DOMAIN_R)
        name = f"images/{obj.family}_{i:06d}.png"
        make_wild_crop(out / "R_train/wild" / name, obj, rng, DOMAIN_R, sizes.wild_size)
        wild.append(name)
    r_split = write_split(out / "R_train/wild/split.json.gz", {"train": wild, "test": []})

    info = {
        "seed": seed,
        "sizes": sizes.__dict__,
        "domains": {k: v.to_dict() for k, v in DOMAINS.items()},
        "S_train": {"root": str(out / "S_train/gobjaverse"), "split": str(s_split)},
        "R_train": {"root": str(out / "R_train/wild"), "split": str(r_split)},
    }
    if sizes.uncurated_bad:
        info["R_uncurated"] = write_uncurated_photos(
            out / "R_uncurated", DOMAIN_R, sizes.r_train_images, sizes.uncurated_bad, sizes.wild_size, seed
        )
    if sizes.base_objects:
        root = out / "B_train/gobjaverse"
        split = _write_multiview_set(root, DOMAIN_B, sizes.base_objects, sizes.s_val_objects, sizes, [seed, 4])
        info["B_train"] = {"root": str(root), "split": str(split)}
        info["domains"]["B"] = DOMAIN_B.to_dict()
    for key, spec in DOMAINS.items():
        root = out / f"{key}_test"
        split = write_test_split(root, spec, sizes.test_objects, sizes.test_views, sizes.image_size, seed)
        info[f"{key}_test"] = {"root": str(root), "split": str(split)}
    atomic_write_text(out / "info.json", json.dumps(info, indent=1))
    return info


def write_examples(
    out_dir: str | os.PathLike, families: tuple[str, ...] = ("mug", "snowman", "lamp"), size: int = 160, seed: int = 7
) -> list[Path]:
    """Demo inputs of domain R: straight-alpha RGBA PNGs (transparent background), object centred."""
    paths = []
    for i, family in enumerate(families):
        rng = np.random.default_rng([seed, 3, i])
        obj = random_object(rng, DOMAIN_R, family=family)
        c2w = random_cameras(rng, 1, DOMAIN_R)
        focal = fov_to_focal(math.radians(DOMAIN_R.fov_deg), size)
        rgba = render_rgba(obj, c2w, focal, size, lighting=random_lighting(rng, DOMAIN_R))[0]
        image = (rgba.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
        image[..., :3] *= (image[..., 3:] > 0).to(torch.uint8)  # no colour under transparent pixels
        path = Path(out_dir) / f"{family}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            PIL.Image.fromarray(image.numpy()).save(tmp, format="PNG", optimize=True)
        paths.append(path)
    return paths


def framing_stats(spec: DomainSpec, count: int = 16, size: int = 64, seed: int = 0) -> dict[str, float]:
    """Framing of `spec`'s views after canonicalisation to distance 3.0: the largest object radius
    (must stay below the box's 0.87) and the mean mask-box side over the image side."""
    radii, fractions = [], []
    for i in range(count):
        rng = np.random.default_rng([seed, 99, i])
        obj = random_object(rng, spec)
        c2w = random_cameras(rng, 1, spec)
        distance = float(c2w[0, :3, 3].norm())
        radii.append(obj.bounding_radius() * 3.0 / distance)
        alpha = render_rgba(obj, c2w, fov_to_focal(math.radians(spec.fov_deg), size), size, supersample=1)[0, ..., 3]
        box = mask_bbox(alpha > 0.5)
        if box is not None:
            x0, y0, x1, y1 = box
            fractions.append(max(x1 - x0, y1 - y0) / size)
    return {"max_radius": float(max(radii)), "mean_box_fraction": float(np.mean(fractions))}
