"""The training data against the original Real3D loaders' outputs (tests/fixtures/parity/data).

The tiny datasets are regenerated (numpy + PIL only), the datasets are built the way training
builds them (`experiment=real3d_sv`, sizes shrunk to the vectors' S = 128, r = 32), every random
choice is pinned to the reference's, and every quantity must agree: geometry (cameras, focal
lengths, rays) within 1e-4, images within 2/255 (the reference is float16 from the same 8-bit
pixels: more means another filter, background or crop), masks identically.
"""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

import real3d.data.base as base
from real3d.data.gobjaverse import GObjaverseDataset
from real3d.data.mvimgnet_sv import MVImgNetSingleViewDataset
from real3d.data.samples import SingleViewBatch
from real3d.data.wild import WildSingleViewDataset
from real3d.data.zero123 import Zero123Dataset
from real3d.geometry import Cameras, fov_to_focal
from real3d.models import load
from real3d.training import Real3DModule
from tests.conftest import FIXTURES, TINY_MODEL_DIR
from tests.training.runs import compose_train

PARITY = FIXTURES / "parity" / "data"
TOL = {"geom": 1e-4, "img": 2.0 / 255, "mask": 0.0}


def _generator_module():
    spec = importlib.util.spec_from_file_location("parity_gen_data", PARITY / "gen_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> dict:
    with np.load(PARITY / "ref.npz") as ref:
        return {k: ref[k] for k in ref.files}


@pytest.fixture(scope="module")
def parity_setup(tmp_path_factory, reference):
    """(cases, config, datamodule) on the regenerated tiny datasets."""
    out = tmp_path_factory.mktemp("parity_data")
    cases = _generator_module().main(str(out))
    ref_cases = json.loads(str(reference["meta_cases"]))
    assert cases["names"] == ref_cases["names"]
    # JPEG decoding is the one machine-dependent part of the data: the MVImgNet frames must decode
    # to the pixels the reference was computed from
    assert cases["digest"][1] == json.loads(str(reference["meta_digest"]))[1]
    size, r = ref_cases["sizes"]["img_size"], ref_cases["sizes"]["render_size"]
    cfg = compose_train(
        [
            "experiment=real3d_sv",
            "paths.output_dir=unused",
            f"data.gobjaverse_root={out}/gobjaverse",
            f"data.gobjaverse_split={out}/gobjaverse/split.json",
            f"data.zero123_root={out}/zero123",
            f"data.zero123_split={out}/zero123/split.json",
            f"data.wild_root={out}/wild",
            f"data.wild_split={out}/wild/split.json",
            f"data.mvimgnet_images_root={out}/mvimgnet/images",
            f"data.mvimgnet_masks_root={out}/mvimgnet/masks",
            f"data.mvimgnet_split={out}/mvimgnet/split.json",
            f"data.cond_image_size={size}",
            f"data.render_size={r}",
            "data.num_workers=0",
            "data.val_mvimgnet_root=null",  # no COLMAP models in these data; validation is not compared here
            f"module.single_view.render_size={r}",
        ]
    )
    dm = instantiate(cfg.data)
    dm.setup("fit")
    return ref_cases, cfg, dm


class Comparison:
    """Worst difference per quantity over the cases; `failures()` lists those over tolerance."""

    def __init__(self, reference: dict) -> None:
        self.reference = reference
        self.worst: dict[str, tuple[str, float]] = {}

    def __call__(self, quantity: str, kind: str, ours, key: str) -> None:
        ref = np.asarray(self.reference[key], dtype=np.float32)
        ours = torch.as_tensor(ours).detach().float().numpy()
        if ref.shape == (1,) and ours.ndim == 1:
            ref = np.broadcast_to(ref, ours.shape)
        assert ours.shape == ref.shape, f"{key}: shape {ours.shape}, reference {ref.shape}"
        diff = float((ours != ref).mean()) if kind == "mask" else float(np.abs(ours - ref).max())
        if diff >= self.worst.get(quantity, (kind, -1.0))[1]:
            self.worst[quantity] = (kind, diff)

    def failures(self) -> list[str]:
        return [f"{q}: {d:.4g} (tol {TOL[k]:.3g})" for q, (k, d) in self.worst.items() if d > TOL[k]]


def _find(concat, cls):
    parts = getattr(concat, "datasets", [concat])
    found = [d for d in parts if isinstance(d, cls)]
    assert found, f"the recipe builds no {cls.__name__}"
    return found[0]


@pytest.mark.parametrize("fmt,cls", [("gobjaverse", GObjaverseDataset), ("zero123", Zero123Dataset)])
def test_multiview_samples_match_the_original(parity_setup, reference, monkeypatch, fmt, cls):
    cases, _, dm = parity_setup
    ds = _find(dm.mv_train, cls)
    assert ds.items == cases["names"][fmt]
    compare = Comparison(reference)
    for ci, (obj, inp, others) in enumerate(cases[fmt]):

        def pinned(*args, inp=inp, others=others, **kwargs):
            return inp, [inp, *others]

        monkeypatch.setattr(base, "choose_views", pinned)
        sample = ds.load(obj)
        p = f"{fmt}/{ci}/"
        compare("input", "img", sample["image_input"], p + "input")
        compare("rgb", "img", sample["rgb"], p + "rgb")
        compare("mask", "mask", sample["mask"], p + "mask")
        cameras = sample["cameras"]
        rays_o, rays_d = cameras.rays()
        for quantity, value in (("c2w", cameras.c2w), ("focal", cameras.focal), ("rays_o", rays_o), ("rays_d", rays_d)):
            compare(quantity, "geom", value, p + quantity)
    assert len(compare.worst) == 7 and not compare.failures(), compare.failures()


def _module(cfg) -> Real3DModule:
    """The training module with the recipe's settings (a tiny network: only its cameras and
    targets are used, so the frozen loss networks are stand-ins)."""
    torch.manual_seed(0)
    net = load(config=TINY_MODEL_DIR / "config.yaml")
    return Real3DModule(
        net,
        loss_weights=cfg.losses.weights,
        training=cfg.module.training,
        single_view=cfg.module.single_view,
        lpips_net=nn.Identity(),
        clip_encoder=nn.Identity(),
        protocol=cfg.module.protocol,
    )


@pytest.mark.parametrize("fmt,cls", [("wild", WildSingleViewDataset), ("mvimgnet", MVImgNetSingleViewDataset)])
def test_singleview_samples_and_targets_match_the_original(parity_setup, reference, monkeypatch, fmt, cls):
    cases, cfg, dm = parity_setup
    ds = _find(dm.sv_train, cls)
    assert ds.items == cases["names"][fmt]
    module = _module(cfg)
    r = module.sv_cfg.render_size
    compare = Comparison(reference)
    for ci, (item, pick) in enumerate(cases[fmt]):
        if fmt == "wild":  # the original's pad factor 1.45 + 0.5 u, u pinned
            low, high = ds.pad_range
            monkeypatch.setattr(ds, "pad_factor", lambda u=pick, low=low, high=high: low + u * (high - low))
        else:
            assert pick == 0 and ds.frame == "first"
        sample = ds.load(item)
        targets = module.singleview_targets(SingleViewBatch.collate([{**sample, "index": item}]))
        p = f"{fmt}/{ci}/"
        compare("input", "img", sample["image_input"], p + "input")
        compare("rgb_S", "img", sample["rgb"], p + "rgb_full")
        compare("mask_S", "mask", sample["mask"], p + "mask_full")
        compare("rgb", "img", targets["rgb"][0, 0], p + "rgb")
        compare("mask", "mask", targets["mask"][0, 0], p + "mask")
        compare("c2w_input", "geom", sample["c2w_input"], p + "c2w_input")
        focal = fov_to_focal(torch.tensor(float(sample["fov_rad"])), r)
        compare("focal", "geom", focal, p + "focal")
    assert len(compare.worst) == 7 and not compare.failures(), compare.failures()


def _rays(c2w: torch.Tensor, fov_rad: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rays the module renders for cameras c2w [B,V,4,4] with a fov [B] per sample (`LossPasses.render`)."""
    return Cameras(c2w, fov_rad.to(torch.float32)[:, None], size, size).rays()


def test_singleview_cameras_match_the_original(parity_setup, reference, monkeypatch):
    cases, cfg, dm = parity_setup
    wild = _find(dm.sv_train, WildSingleViewDataset)
    monkeypatch.setattr(wild, "pad_factor", lambda: 1.7)
    batch = SingleViewBatch.collate([wild[0]])
    module = _module(cfg)
    total = module.training_cfg.total_iterations
    compare = Comparison(reference)
    for ci, (seed, progress) in enumerate(cases["sv_cameras"]):
        module.iteration = round(progress * total)
        assert math.isclose(module.progress, progress)
        generator = torch.Generator().manual_seed(int(seed))
        monkeypatch.setattr(module, "_generator", lambda g=generator: g)
        cams = module.sample_cameras(batch)
        fov, size = batch.fov_rad, module.sv_cfg.render_size
        rays_o, rays_d = _rays(cams["c2w"], fov, size)
        cycle_o, cycle_d = _rays(cams["c2w_cycle"], fov, size)
        hres_o, hres_d = _rays(cams["c2w"][:, -1:], fov, batch.image_input.shape[-1])
        p = f"sv_cameras/{ci}/"
        compare("c2w", "geom", cams["c2w"][0], p + "c2w")
        compare("c2w_cycle", "geom", cams["c2w_cycle"][0], p + "c2w_cycle")
        compare("rays_o", "geom", rays_o[0], p + "rays_o")
        compare("rays_d", "geom", rays_d[0], p + "rays_d")
        compare("rays_o_cycle", "geom", cycle_o[0], p + "rays_o_cycle")
        compare("rays_d_cycle", "geom", cycle_d[0], p + "rays_d_cycle")
        compare("rays_o_hres", "geom", hres_o[0], p + "rays_o_hres")
        compare("rays_d_hres", "geom", hres_d[0], p + "rays_d_hres")
    assert not compare.failures(), compare.failures()
