"""Self-rendered multi-view sets in each dataset format (the geometry test of SPEC §8).

View 0 is an ordinary photo-like image with a mask; the other views are rendered by the model
itself, from the scene code it predicts for that image after the loader's own preprocessing, at
known canonical cameras. The cameras are written in each format's own convention after an
arbitrary similarity transform of the world. Evaluating the same model on the set must then
reproduce the target views almost exactly — unless a camera convention is wrong somewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from real3d.data.co3d import CO3DMultiView
from real3d.data.multiview_eval import INPUT_FOV_RAD
from real3d.data.mvimgnet import MVImgNetMultiView
from real3d.data.omniobject3d import OmniObject3DMultiView
from real3d.data.writers import write_co3d_sequence, write_mvimgnet_sequence, write_omniobject3d_object
from real3d.evaluation.multiview import reconstruct, render_views
from real3d.geometry import fov_to_focal, spherical_c2w

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SIZE = 32  # crop side = dataset image size = render size: no resampling anywhere
RAW = 48  # raw image side for the cropped formats (the crop is [8, 40)²)
REACH = 10  # input mask box: centre ± 10 px, so the crop half-size is round(10 · 1.6) = 16
OMNI_FOV_X = 0.8
NUM_OMNI_VIEWS = 5  # the protocol's 11, shortened for speed; r_5, r_6 exist and must be ignored

# Target cameras in the canonical frame (input at azimuth 0, elevation 0, distance 3).
TARGETS = [(40.0, 15.0, 3.0), (-60.0, 25.0, 3.3), (120.0, -10.0, 2.7), (200.0, 35.0, 3.0)]


@dataclass
class WorldTransform:
    """x_world = scale · R · x_canonical + t."""

    rotation: torch.Tensor
    translation: torch.Tensor
    scale: float

    @classmethod
    def random(cls, seed: int, translate: bool = True, scale: float = 1.0) -> WorldTransform:
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
        if torch.det(q) < 0:
            q[:, 0] *= -1
        t = torch.randn(3, generator=g, dtype=torch.float64) * 4.0 if translate else torch.zeros(3, dtype=torch.float64)
        return cls(q, t, scale)

    def camera(self, c2w_canonical: torch.Tensor) -> torch.Tensor:
        c2w = c2w_canonical.to(torch.float64).clone()
        c2w[..., :3, :3] = self.rotation @ c2w[..., :3, :3]
        c2w[..., :3, 3] = self.scale * c2w[..., :3, 3] @ self.rotation.T + self.translation
        return c2w

    def point(self, x_canonical: torch.Tensor) -> torch.Tensor:
        return self.scale * x_canonical.to(torch.float64) @ self.rotation.T + self.translation


def canonical_cameras(perturb_deg: float = 0.0) -> torch.Tensor:
    """[5,4,4]: the input camera and TARGETS, the targets rotated by `perturb_deg` about +z."""
    az = torch.tensor([0.0] + [a + perturb_deg for a, _, _ in TARGETS])
    el = torch.tensor([0.0] + [e for _, e, _ in TARGETS])
    dist = torch.tensor([3.0] + [d for _, _, d in TARGETS])
    return spherical_c2w(az, el, dist).to(torch.float64)


def input_photo(size: int, reach: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A photo-like RGB [3,size,size] (the parity input on a noisy backdrop) and its ellipse mask
    [1,size,size] whose box reaches exactly `reach` pixels from the image centre."""
    with PIL.Image.open(FIXTURES / "parity" / "tiny" / "input.png") as image:
        photo = torch.from_numpy(np.array(image.convert("RGB").resize((size, size)))).permute(2, 0, 1).float() / 255
    g = torch.Generator().manual_seed(3)
    backdrop = 0.3 + 0.4 * torch.rand(3, size, size, generator=g)
    j, i = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    c = size / 2
    # Pixel columns c-reach .. c+reach-1 are inside, so the box is [c-reach, c+reach) in x.
    mask = ((((i - c) / reach) ** 2 + ((j - c) / (reach * 0.8)) ** 2) <= 1.0)[None].float()
    return photo * mask + backdrop * (1 - mask), mask


def _target_mask(opacity: torch.Tensor) -> torch.Tensor:
    return (opacity > 1e-3).float()


def _embed(view: torch.Tensor, raw: int) -> torch.Tensor:
    """Place a centred SIZE² view in a raw² canvas (the rest is white: outside the crop)."""
    canvas = torch.ones(view.shape[0], raw, raw)
    o = (raw - view.shape[-1]) // 2
    canvas[:, o : o + view.shape[-1], o : o + view.shape[-1]] = view
    return canvas


def render_targets(model, image_input: torch.Tensor, c2w: torch.Tensor, focal_px: torch.Tensor, size: int):
    """The model's renders of its own reconstruction from `image_input` (loader-preprocessed)."""
    codes = reconstruct(model, image_input)
    return render_views(model, codes, c2w.float(), focal_px.float(), size)


# ----------------------------------------------------------------------------- CO3D


def build_co3d(root: Path, model, transform: WorldTransform, perturb_deg: float) -> tuple[CO3DMultiView, CO3DMultiView]:
    category, sequence = "teddybear", "34_1479_4753"
    names = [f"frame{n:06d}.jpg" for n in (12, 3, 40, 77, 101)]
    focal_ratio = torch.tensor([1.0, 1.1, 0.9, 1.0, 1.2], dtype=torch.float64)
    photo, photo_mask = input_photo(RAW, reach=REACH)
    base_focal = fov_to_focal(INPUT_FOV_RAD, SIZE)  # input focal in pixels of the crop
    focal_px = base_focal * focal_ratio
    c2w_canon = canonical_cameras()
    points = transform.point(torch.tensor([[0.1, 0, 0], [-0.1, 0, 0], [0, 0.2, 0.1], [0, -0.2, -0.1]]))
    root.mkdir(parents=True, exist_ok=True)
    split = root / "split.json"
    split.write_text(json.dumps({"test": [[f"{category}/{sequence}", *names]]}))

    def write(folder, views, masks, cameras):
        frames = [
            {"name": n, "rgb": v, "mask": m, "c2w": c, "focal_px": float(f)}
            for n, v, m, c, f in zip(names, views, masks, cameras, focal_px, strict=True)
        ]
        write_co3d_sequence(folder, category, sequence, frames, points.numpy())
        return CO3DMultiView(folder, split, image_size=SIZE, cond_image_size=model.cfg.cond_image_size)

    # Placeholder targets first: only view 0 matters for the loader's input preprocessing.
    dataset = write(root / "input", [photo] * 5, [photo_mask] * 5, transform.camera(c2w_canon))
    rgb, opacity = render_targets(model, dataset.load(0)["image_input"], c2w_canon[1:], focal_px[1:], SIZE)
    views = [photo] + [_embed(v, RAW) for v in rgb.cpu()]
    masks = [photo_mask] + [_embed_mask(o, RAW) for o in opacity.cpu()]
    return (
        write(root / "exact", views, masks, transform.camera(c2w_canon)),
        write(root / "perturbed", views, masks, transform.camera(canonical_cameras(perturb_deg))),
    )


def _embed_mask(opacity: torch.Tensor, raw: int) -> torch.Tensor:
    canvas = torch.zeros(1, raw, raw)
    o = (raw - opacity.shape[-1]) // 2
    canvas[:, o : o + opacity.shape[-1], o : o + opacity.shape[-1]] = _target_mask(opacity)
    return canvas


# ----------------------------------------------------------------------------- MVImgNet


def build_mvimgnet(
    root: Path, model, transform: WorldTransform, perturb_deg: float
) -> tuple[MVImgNetMultiView, MVImgNetMultiView]:
    sequence = "7/1a00c3f5"
    names = ["015.jpg", "003.jpg", "021.jpg", "008.jpg", "027.jpg"]
    photo, photo_mask = input_photo(RAW, reach=REACH)
    focal_px = torch.full((5,), fov_to_focal(INPUT_FOV_RAD, SIZE), dtype=torch.float64)  # one camera
    c2w_canon = canonical_cameras()
    # Points near the object centre (inside every mask) and far above it (outside every image):
    # the centre estimate must keep the first and drop the second.
    near = torch.tensor([[0.05, 0, 0], [-0.05, 0, 0], [0, 0.05, 0.02], [0, -0.05, -0.02]])
    far = torch.tensor([[0.0, 0.0, 12.0], [0.5, 0.0, 14.0]])
    points = transform.point(torch.cat([near, far]))
    root.mkdir(parents=True, exist_ok=True)
    split = root / "split.json"
    split.write_text(json.dumps({"test": [[sequence, *names]]}))

    def write(folder, views, masks, cameras):
        frames = [
            {"name": n, "rgb": v, "mask": (m * 255).to(torch.uint8), "c2w": c}
            for n, v, m, c in zip(names, views, masks, cameras, strict=True)
        ]
        images, mask_root = folder / "image", folder / "mask"
        write_mvimgnet_sequence(images, mask_root, sequence, frames, float(focal_px[0]), points.numpy())
        return MVImgNetMultiView(images, mask_root, split, image_size=SIZE, cond_image_size=model.cfg.cond_image_size)

    dataset = write(root / "input", [photo] * 5, [photo_mask] * 5, transform.camera(c2w_canon))
    rgb, opacity = render_targets(model, dataset.load(0)["image_input"], c2w_canon[1:], focal_px[1:], SIZE)
    views = [photo] + [_embed(v, RAW) for v in rgb.cpu()]
    masks = [photo_mask] + [_embed_mask(o, RAW) for o in opacity.cpu()]
    return (
        write(root / "exact", views, masks, transform.camera(c2w_canon)),
        write(root / "perturbed", views, masks, transform.camera(canonical_cameras(perturb_deg))),
    )


# ----------------------------------------------------------------------------- OmniObject3D


def build_omniobject3d(
    root: Path, model, transform: WorldTransform, perturb_deg: float
) -> tuple[OmniObject3DMultiView, OmniObject3DMultiView]:
    """Renders r_0 .. r_6 on disk; the datasets use the first NUM_OMNI_VIEWS by index."""
    name = "anise_018"
    photo, photo_mask = input_photo(SIZE, reach=REACH)
    c2w_canon = canonical_cameras()
    extra = spherical_c2w(torch.tensor([75.0, 300.0]), 20.0, 3.0).to(torch.float64)  # r_5, r_6: unused
    c2w_canon = torch.cat([c2w_canon, extra])
    n = c2w_canon.shape[0]
    focal_px = torch.full((n,), fov_to_focal(OMNI_FOV_X, SIZE), dtype=torch.float64)
    root.mkdir(parents=True, exist_ok=True)
    split = root / "split.json"
    split.write_text(json.dumps({"test": [name]}))
    rgba_photo = torch.cat([photo, photo_mask])

    def write(folder, rgbas, cameras):
        write_omniobject3d_object(folder, name, rgbas, cameras, OMNI_FOV_X)
        kwargs = dict(every_nth=1, num_views=NUM_OMNI_VIEWS, image_size=SIZE)
        return OmniObject3DMultiView(folder, split, cond_image_size=model.cfg.cond_image_size, **kwargs)

    dataset = write(root / "input", [rgba_photo] * n, transform.camera(c2w_canon))
    rgb, opacity = render_targets(model, dataset.load(0)["image_input"], c2w_canon[1:5], focal_px[1:5], SIZE)
    renders = [torch.cat([v, _target_mask(o)]) for v, o in zip(rgb.cpu(), opacity.cpu(), strict=True)]
    rgbas = [rgba_photo, *renders, rgba_photo, rgba_photo]
    perturbed = torch.cat([canonical_cameras(perturb_deg), extra])
    return (
        write(root / "exact", rgbas, transform.camera(c2w_canon)),
        write(root / "perturbed", rgbas, transform.camera(perturbed)),
    )


BUILDERS = {"co3d": build_co3d, "mvimgnet": build_mvimgnet, "omniobject3d": build_omniobject3d}
