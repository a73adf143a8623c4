"""Per-source canonical camera distance (SPEC §4, the original's): synthetic renders at 2.4 with
their own fov, real single views at 3.0, so objects have one size in the frame across sources and
the synthetic objects stay inside the renderer's box."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from real3d.data.gobjaverse import GObjaverseDataset
from real3d.data.synthetic.generate import make_gobjaverse_object
from real3d.data.synthetic.render import Lighting
from real3d.data.synthetic.shapes import Material, Part, SceneObject
from real3d.data.wild import WildSingleViewDataset
from real3d.data.zero123 import Zero123Dataset
from real3d.geometry import spherical_c2w
from tests.training.runs import compose_train

RENDERER_RADIUS = 0.87  # the model's box is [-0.87, 0.87]^3
GOBJAVERSE_NEAREST_DISTANCE = 1.645  # the GObjaverse orbit closest to the object
GOBJAVERSE_EXTENT = 0.5  # objects are normalised into [-0.5, 0.5]^3


def _recipe_datamodule(info: dict):
    cfg = compose_train(
        [
            "experiment=real3d_sv",
            "paths.output_dir=unused",
            f"data.gobjaverse_root={info['gobjaverse']['root']}",
            f"data.gobjaverse_split={info['gobjaverse']['split']}",
            f"data.zero123_root={info['zero123']['root']}",
            f"data.zero123_split={info['zero123']['split']}",
            f"data.wild_root={info['wild']['root']}",
            f"data.wild_split={info['wild']['split']}",
            "data.mvimgnet_images_root=null",
            "data.mvimgnet_masks_root=null",
            "data.val_mvimgnet_root=null",
            "data.cond_image_size=48",
            "data.render_size=16",
            "data.num_workers=0",
        ]
    )
    dm = instantiate(cfg.data)
    dm.setup("fit")
    return dm


def _half_width_multiview(sample: dict) -> float:
    """Half width of the input view's frame at the object (the origin): distance · tan(fov / 2)."""
    distance = float(sample["c2w_input"][:3, 3].norm())
    size = sample["rgb"].shape[-1]
    return distance * (0.5 * size) / float(sample["cameras"].focal[0])


def test_synthetic_and_real_samples_frame_objects_alike(synthetic_set):
    dm = _recipe_datamodule(synthetic_set)
    parts = {type(d): d for d in dm.mv_train.datasets} | {type(dm.sv_train): dm.sv_train}
    gobj, zero, wild = parts[GObjaverseDataset], parts[Zero123Dataset], parts[WildSingleViewDataset]
    assert (gobj.camera_distance, zero.camera_distance, wild.camera_distance) == (2.4, 2.4, 3.0)
    real = wild[0]
    real_half = float(real["c2w_input"][:3, 3].norm()) * math.tan(0.5 * real["fov_rad"])
    for dataset in (gobj, zero):
        synthetic_half = _half_width_multiview(dataset[0])  # the renders' fov is 49.1°
        assert synthetic_half == pytest.approx(real_half, rel=0.03)
    # the generated novel / cycle views take the single-view sample's distance
    assert torch.allclose(real["c2w_input"], spherical_c2w(0.0, 0.0, 3.0)[0])


@pytest.mark.parametrize("distance,inside", [(2.4, True), (3.0, False)])
def test_a_gobjaverse_object_of_maximal_extent_stays_in_the_renderer_box(tmp_path, distance, inside):
    """An object reaching 0.5 from the centre in every direction, seen from the nearest GObjaverse
    orbit (1.645), stays inside the box after canonicalisation to 2.4, not to 3.0 (our old value)."""
    obj = SceneObject("probe", [Part("sphere", {"r": 0.1})], [Material()])
    world = spherical_c2w(
        torch.tensor([30.0, 100.0, 200.0, 290.0, 45.0]), torch.full((5,), 20.0), GOBJAVERSE_NEAREST_DISTANCE
    )
    make_gobjaverse_object(tmp_path / "obj", obj, world, 16, 49.1, Lighting())
    ds = GObjaverseDataset(
        tmp_path, None, split="test", cond_image_size=16, render_size=16, num_target_views=5, camera_distance=distance
    )
    ds.items = ["obj"]
    sample = ds[0]
    # world -> canonical similarity: canonical = c2w_input · inv(scaled world input camera)
    scale = distance / float(world[0, :3, 3].norm())
    scaled = world[0].double().clone()
    scaled[:3, 3] *= scale
    to_canonical = sample["c2w_input"].double() @ torch.linalg.inv(scaled)
    directions = torch.from_numpy(np.random.default_rng(0).normal(size=(2000, 3)))
    points = GOBJAVERSE_EXTENT * directions / directions.norm(dim=1, keepdim=True)
    canonical = (to_canonical[:3, :3] @ (points * scale).T).T + to_canonical[:3, 3]
    reach = float(canonical.abs().max())
    assert (reach <= RENDERER_RADIUS) == inside, reach
