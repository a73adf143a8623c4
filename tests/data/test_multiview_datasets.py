"""GObjaverse and Zero-1-to-3 loaders on generated data: sample contract, canonical cameras,
agreement of the two formats, and images that agree with their cameras."""

from __future__ import annotations

import math

import numpy as np
import PIL.Image
import pytest
import torch

from real3d.data.base import choose_views
from real3d.data.gobjaverse import GObjaverseDataset
from real3d.data.synthetic.generate import (
    DEFAULT_DOMAIN,
    gobjaverse_cameras,
    make_gobjaverse_object,
    make_zero123_object,
)
from real3d.data.synthetic.render import Lighting
from real3d.data.synthetic.shapes import Material, Part, SceneObject, random_object
from real3d.data.zero123 import Zero123Dataset
from real3d.geometry import rays_from_c2w, spherical_c2w

S, H = 48, 16


def _datasets(info, **kw):
    return [
        GObjaverseDataset(info["gobjaverse"]["root"], info["gobjaverse"]["split"], **kw),
        Zero123Dataset(info["zero123"]["root"], info["zero123"]["split"], **kw),
    ]


def _flat(sample: dict) -> dict:
    """A sample with its target cameras spelled out: c2w, focal (px at h) and rays."""
    cameras = sample.pop("cameras")
    rays_o, rays_d = cameras.rays()
    return {**sample, "c2w": cameras.c2w, "focal": cameras.focal, "rays_o": rays_o, "rays_d": rays_d}


@pytest.mark.parametrize("train", [True, False])
def test_sample_contract(synthetic_set, train):
    n = 4 if train else 5
    for ds in _datasets(
        synthetic_set, split="train", train=train, cond_image_size=S, render_size=H, num_target_views=n
    ):
        sample = _flat(ds[1])
        assert sample["index"] == 1
        expected = {
            "image_input": (3, S, S),
            "rgb": (n, 3, H, H),
            "mask": (n, 1, H, H),
            "c2w": (n, 4, 4),
            "c2w_input": (4, 4),
            "focal": (n,),
            "rays_o": (n, H, H, 3),
            "rays_d": (n, H, H, 3),
        }
        assert {k: tuple(v.shape) for k, v in sample.items() if k != "index"} == expected
        for key in expected:
            assert sample[key].dtype == torch.float32, key
        assert sample["rgb"].min() >= 0 and sample["rgb"].max() <= 1
        assert set(sample["mask"].unique().tolist()) <= {0.0, 1.0}
        # white outside the mask on targets, grey 0.5 around the object in the input
        assert torch.all(sample["rgb"][:, :, 0, 0] == 1.0)
        assert sample["rgb"][sample["mask"].expand_as(sample["rgb"]) == 0].mean() > 0.95
        assert torch.allclose(sample["image_input"][:, 0, 0], torch.full((3,), 0.5))
        # focal from the fov (49.1 degrees) at the render size
        assert torch.allclose(sample["focal"], torch.full((n,), 0.5 * H / math.tan(math.radians(49.1) / 2)), rtol=1e-5)


def test_canonical_cameras(synthetic_set):
    for ds in _datasets(synthetic_set, split="train", cond_image_size=S, render_size=H):
        for index in range(len(ds)):
            sample = _flat(ds[index])
            assert ds.camera_distance == 2.4  # the synthetic sources' distance (SPEC §4)
            assert torch.allclose(sample["c2w_input"], spherical_c2w(0.0, 0.0, 2.4)[0], atol=1e-5)
            # the reference recipe: the input view is target 0
            assert torch.allclose(sample["c2w"][0], sample["c2w_input"], atol=1e-5)
            # every target looks at the object, which stays at the origin
            c2w = sample["c2w"].double()
            centre, forward = c2w[:, :3, 3], -c2w[:, :3, 2]
            closest = centre - (centre * forward).sum(-1, keepdim=True) * forward
            assert closest.norm(dim=-1).max() < 1e-4
            # a pixel ray through the image centre passes within a pixel's width of the origin
            c = H // 2
            o, d = (
                sample["rays_o"][:, c - 1 : c + 1, c - 1 : c + 1].mean((1, 2)),
                sample["rays_d"][:, c - 1 : c + 1, c - 1 : c + 1].mean((1, 2)),
            )
            d = d / d.norm(dim=-1, keepdim=True)
            miss = (o - (o * d).sum(-1, keepdim=True) * d).norm(dim=-1)
            assert miss.max() < 1e-3
            ro, rd = rays_from_c2w(sample["c2w"], sample["focal"], H, H)
            assert torch.allclose(ro, sample["rays_o"]) and torch.allclose(rd, sample["rays_d"])


def test_training_views_are_random_and_eval_views_fixed(synthetic_set):
    train = GObjaverseDataset(
        synthetic_set["gobjaverse"]["root"],
        synthetic_set["gobjaverse"]["split"],
        cond_image_size=S,
        render_size=H,
        input_view_candidates=3,
    )
    torch.manual_seed(0)
    canonical = spherical_c2w(0.0, 0.0, train.camera_distance)[0]
    assert all(torch.allclose(train[0]["c2w_input"], canonical, atol=1e-6) for _ in range(3))
    targets = {tuple(train[0]["cameras"].c2w[1].flatten().round(decimals=4).tolist()) for _ in range(6)}
    assert len(targets) > 1
    val = GObjaverseDataset(
        synthetic_set["gobjaverse"]["root"],
        synthetic_set["gobjaverse"]["split"],
        split="test",
        cond_image_size=S,
        render_size=H,
        num_target_views=5,
    )
    assert not val.train
    a, b = _flat(val[0]), _flat(val[0])
    assert all(torch.equal(a[k], b[k]) for k in a if k != "index")
    # targets of one sample are distinct views when the object has enough
    assert len({tuple(c.flatten().round(decimals=4).tolist()) for c in a["c2w"]}) == 5


def test_discovery_without_split_file(synthetic_set):
    train = GObjaverseDataset(synthetic_set["gobjaverse"]["root"], None, cond_image_size=S, render_size=H)
    test = GObjaverseDataset(synthetic_set["gobjaverse"]["root"], None, split="test", cond_image_size=S, render_size=H)
    assert len(train) + len(test) == 3 and set(train.items).isdisjoint(test.items)
    z = Zero123Dataset(synthetic_set["zero123"]["root"], None, split="test", cond_image_size=S, render_size=H)
    assert len(z) == 1 and z[0] is not None


def test_gobjaverse_and_zero123_formats_agree(tmp_path):
    """The same scene written in both formats loads to the same canonical cameras and images."""
    rng = np.random.default_rng(5)
    obj = random_object(rng, DEFAULT_DOMAIN, "mug")
    cams = gobjaverse_cameras(rng, 6, DEFAULT_DOMAIN)
    light = Lighting()
    make_gobjaverse_object(tmp_path / "g" / "obj", obj, cams, 32, 49.1, light)
    make_zero123_object(tmp_path / "z" / "obj", obj, cams, 32, 49.1, light)
    kw = dict(split="test", cond_image_size=32, render_size=32, num_target_views=5)
    g = GObjaverseDataset(tmp_path / "g", None, **kw)
    z = Zero123Dataset(tmp_path / "z", None, **kw)
    g.items = z.items = ["obj"]
    a, b = _flat(g[0]), _flat(z[0])
    for key in ("c2w", "c2w_input", "focal", "rays_o", "rays_d"):
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    for key in ("rgb", "mask", "image_input"):
        assert torch.equal(a[key], b[key]), key


def test_target_images_agree_with_their_cameras(tmp_path):
    """An off-centre probe sphere projects, through each loaded canonical camera, onto the
    centroid of its mask in that loaded target image (catches flipped axes or swapped files)."""
    point = np.array([0.3, 0.1, 0.2])
    obj = SceneObject("probe", [Part("sphere", {"r": 0.05}, translation=point)], [Material()])
    rng = np.random.default_rng(2)
    world = gobjaverse_cameras(rng, 6, DEFAULT_DOMAIN)
    make_gobjaverse_object(tmp_path / "obj", obj, world, 64, 49.1, Lighting())
    ds = GObjaverseDataset(tmp_path, None, split="test", cond_image_size=64, render_size=64, num_target_views=5)
    ds.items = ["obj"]
    sample = _flat(ds[0])
    # world -> canonical similarity from the input view: canonical = c2w_input · inv(scaled world c2w)
    scale = ds.camera_distance / float(world[0, :3, 3].norm())
    scaled = world[0].double().clone()
    scaled[:3, 3] *= scale
    to_canonical = sample["c2w_input"].double() @ torch.linalg.inv(scaled)
    p = to_canonical @ torch.tensor([*(point * scale), 1.0], dtype=torch.float64)
    rows, cols = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    for k in range(1, 5):  # views other than the input one: independent checks
        cam = torch.linalg.inv(sample["c2w"][k].double()) @ p
        f = float(sample["focal"][k])
        u, v = 32 + f * cam[0] / -cam[2], 32 - f * cam[1] / -cam[2]
        m = sample["mask"][k, 0].double()
        assert m.sum() > 3
        cu, cv = (m * cols).sum() / m.sum(), (m * rows).sum() / m.sum()
        assert abs(cu - u) < 0.75 and abs(cv - v) < 0.75, (k, float(cu), float(u), float(cv), float(v))


def test_choose_views():
    torch.manual_seed(0)
    for _ in range(20):
        inp, targets = choose_views(40, 4, train=True, input_candidates=25)
        assert inp < 25 and targets[0] == inp and len(set(targets)) == 4
    inp, targets = choose_views(3, 4, train=True, targets_include_input=False)
    assert len(targets) == 4 and inp not in targets  # too few views: drawn with replacement
    assert choose_views(40, 5, train=False) == (0, [0, 1, 10, 20, 30])
    assert choose_views(2, 3, train=False) == (0, [0, 1, 1])


def test_other_target_views_with_replacement(synthetic_set):
    torch.manual_seed(0)
    draws = [choose_views(40, 4, train=True, input_candidates=25, replacement=True)[1] for _ in range(200)]
    assert all(t[0] not in t[1:] for t in draws)  # the input is never drawn again
    assert any(len(set(t[1:])) < 3 for t in draws)  # with replacement: repeats happen
    # GObjaverse: with replacement under the original protocol (its loader), without when corrected
    gobj, zero = synthetic_set["gobjaverse"], synthetic_set["zero123"]
    assert GObjaverseDataset(gobj["root"], gobj["split"]).targets_with_replacement
    assert not GObjaverseDataset(gobj["root"], gobj["split"], protocol="corrected").targets_with_replacement
    assert not Zero123Dataset(zero["root"], zero["split"]).targets_with_replacement  # the original: without


@pytest.mark.parametrize("protocol", ["original", "corrected"])
def test_multiview_images_follow_the_protocol(synthetic_set, monkeypatch, protocol):
    """original: every view composited on white in 8 bits, LANCZOS to S, the input grey outside the
    PIL-nearest mask, targets S -> h bilinear without antialiasing; corrected: antialiased, once."""
    import real3d.data.base as base
    from real3d.data import image_ops

    monkeypatch.setattr(base, "choose_views", lambda *a, **k: (1, [1, 2, 3, 4]))
    info = synthetic_set["zero123"]
    ds = Zero123Dataset(info["root"], info["split"], cond_image_size=S, render_size=H, protocol=protocol)
    sample = ds[0]
    folder = ds.object_dir(ds.items[0])
    views = [image_ops.read_rgba(folder / f"{v}.png") for v in ds.list_views(folder)]
    if protocol == "original":
        white = [torch.where(a > 0, rgb, torch.full_like(rgb, 255)) for rgb, a in views]
        big = [image_ops.resize_lanczos(w, S) for w in white]
        masks = [image_ops.resize_mask_pil((a > 0).float(), S) for _, a in views]
        expected_input = image_ops.composite(big[1], masks[1], 0.5)
        expected_rgb = image_ops.resize_image(torch.stack(big[1:5]), H, antialias=False)
    else:
        floats = [(image_ops.to_float(rgb), (a > 0).float()) for rgb, a in views]
        expected_input = image_ops.resize_image(image_ops.composite(*floats[1], 0.5), S)
        expected_rgb = torch.stack([image_ops.resize_image(image_ops.composite(r, m, 1.0), H) for r, m in floats[1:5]])
    assert torch.allclose(sample["image_input"], expected_input, atol=1e-6)
    assert torch.allclose(sample["rgb"], expected_rgb, atol=1e-6)


def _zero123_object(folder, num_views: int) -> None:
    folder.mkdir(parents=True)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1:3, 1:3] = 255
    for v in range(num_views):
        PIL.Image.fromarray(rgba).save(folder / f"{v:03d}.png")
        w2c = np.eye(4)[:3]
        w2c[2, 3] = 2.0  # a camera 2 away from the object, so that the object can be read
        np.save(folder / f"{v:03d}.npy", w2c)


def test_zero123_objects_in_the_gobjaverse_index_with_all_views(tmp_path, caplog):
    """The original's Zero-1-to-3 set: objects also in the GObjaverse index, with all 12 views."""
    import json
    import logging

    from real3d.data.datamodule import Real3DDataModule
    from real3d.errors import Real3DError

    zero123, gobjaverse = tmp_path / "zero123", tmp_path / "gobjaverse"
    uids = [f"{i:032x}" for i in range(12)]
    for uid in uids[:10]:
        _zero123_object(zero123 / uid, 12)
    _zero123_object(zero123 / uids[10], 11)  # in the index, a view missing
    _zero123_object(zero123 / "notindexed", 12)  # complete, not in the index
    gobjaverse.mkdir()
    index = {f"{i}/{10000 + i}": f"000-{i:03d}/{uid}.glb" for i, uid in enumerate(uids)}
    (gobjaverse / "gobjaverse_280k_index_to_objaverse.json").write_text(json.dumps(index))
    kw = dict(zero123_root=str(zero123), cond_image_size=4, render_size=4, num_workers=0)
    with caplog.at_level(logging.INFO, logger="real3d.data.zero123"):
        dm = Real3DDataModule(
            gobjaverse_root=None, zero123_index=str(gobjaverse / "gobjaverse_280k_index_to_objaverse.json"), **kw
        )
        dm.setup("fit")
    kept = sorted([*dm.mv_train.items, *dm.mv_val.items])
    assert kept == uids[:10] and len(dm.mv_val) == 1
    assert "10 of 12 objects kept" in caplog.text
    # default: the index in the GObjaverse root; "none": every complete object
    default = Real3DDataModule(gobjaverse_root="/g", **kw)._zero123_index()
    assert default == "/g/gobjaverse_280k_index_to_objaverse.json"
    with pytest.raises(Real3DError, match="GObjaverse index not found"):
        Real3DDataModule(zero123_index=str(tmp_path / "missing.json"), **kw).setup("fit")
    everything = Real3DDataModule(zero123_index="none", zero123_num_views=None, **kw)
    everything.setup("fit")
    assert len(everything.mv_train) + len(everything.mv_val) == 12
