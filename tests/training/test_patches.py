"""Ray patches (`training.ray_patch_size`): random windows of the target views supervise the losses."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.errors import Real3DError
from real3d.geometry import Cameras
from real3d.losses.photometric import mse_loss
from real3d.models.loading import set_render_defaults
from real3d.training import Real3DModule
from real3d.training.passes import MV_PATCHES, SV_PATCHES
from real3d.training.settings import TrainingConfig
from tests.training.runs import cpu_trainer, optimizer_parts
from tests.training.synthetic import SphereDataModule, multiview_sample, singleview_sample

NO_CYCLE = {"rgb_cy": 0.0, "perceptual_cy": 0.0, "mask_cy": 0.0}


def _module(net, patch, size=16, lpips=None, clip=None, weights=None, **kwargs):
    weights = weights if weights is not None else {"perceptual": 0.0, "clip_novel": 0.0, **NO_CYCLE}
    return Real3DModule(
        net,
        **optimizer_parts(1e-3, 100, 1),
        loss_weights=weights,
        training={"accumulation_steps": 1, "total_iterations": 100, "seed": 0, "ray_patch_size": patch},
        single_view={"render_size": size},
        lpips_net=lpips,
        clip_encoder=clip,
        **kwargs,
    )


def _batches(size=16, objects=2):
    mv = MultiViewBatch.collate([multiview_sample(i, n_views=3, render_size=size) for i in range(objects)])
    sv = SingleViewBatch.collate([singleview_sample(i) for i in range(objects)])
    return mv, sv


def _losses(module, mv, sv):
    cams = module.sample_cameras(sv)
    mv_terms, _ = module.multiview_pass(mv)
    sv_terms, _ = module.single_view_pass(sv, cams, module.singleview_targets(sv), with_grad=True)
    return mv_terms | sv_terms


def test_a_patch_of_the_whole_view_gives_the_whole_image_losses(tiny_net, random_lpips, random_clip):
    weights = {"perceptual": 1.0, "clip_novel": 1.0, **NO_CYCLE}
    mv, sv = _batches(size=16)
    whole = _module(tiny_net, None, lpips=random_lpips, clip=random_clip, weights=weights)
    patched = _module(tiny_net, 16, lpips=random_lpips, clip=random_clip, weights=weights)
    with torch.no_grad():
        expected, got = _losses(whole, mv, sv), _losses(patched, mv, sv)
    assert set(got) == {"rgb", "mask", "perceptual", "rgb_sv", "mask_sv", "clip_novel"} == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_a_patch_render_is_the_window_of_the_whole_render_and_targets_are_the_same_window(tiny_net):
    set_render_defaults(tiny_net, {"fast": False})  # faithful compositing: every ray on its own
    mv, sv = _batches(size=16)
    module = _module(tiny_net, 6)
    module.iteration = 3
    with torch.no_grad():
        terms, render = module.multiview_pass(mv)
        whole = tiny_net(module._model_input(mv.image_input), mv.cameras)
    windows = module.ray_windows(mv.cameras, MV_PATCHES)
    assert render["images_rgb"].shape == (2, 3, 3, 6, 6) and windows.top.shape == (2, 3)
    for b in range(2):
        for n in range(3):
            y, x = int(windows.top[b, n]), int(windows.left[b, n])
            for key in ("images_rgb", "images_weight"):
                expected = whole[key][b, n, :, y : y + 6, x : x + 6]
                torch.testing.assert_close(render[key][b, n], expected, rtol=1e-5, atol=1e-6)
            for target in (mv.rgb, mv.mask):
                assert torch.equal(windows.crop_images(target)[b, n], target[b, n, :, y : y + 6, x : x + 6])
    torch.testing.assert_close(terms["rgb"], mse_loss(render["images_rgb"], windows.crop_images(mv.rgb)))
    torch.testing.assert_close(terms["mask"], mse_loss(render["images_weight"], windows.crop_images(mv.mask)))

    cams = module.sample_cameras(sv)
    targets = module.singleview_targets(sv)
    with torch.no_grad():
        window, window_targets, novel = module.render_input_window(sv, cams, targets)
        whole = module.render(sv.image_input, cams["c2w"], sv.fov_rad, 16)
    assert window["images_rgb"].shape == (2, 1, 3, 6, 6) and novel["images_rgb"].shape == (2, 3, 3, 16, 16)
    torch.testing.assert_close(novel["images_rgb"], whole["images_rgb"][:, 1:], rtol=1e-5, atol=1e-6)
    windows = module.ray_windows(Cameras(cams["c2w"][:, :1], sv.fov_rad[:, None], 16, 16), SV_PATCHES)
    for b in range(2):
        y, x = int(windows.top[b, 0]), int(windows.left[b, 0])
        for key in ("images_rgb", "images_weight"):
            expected = whole[key][b, 0, :, y : y + 6, x : x + 6]
            torch.testing.assert_close(window[key][b, 0], expected, rtol=1e-5, atol=1e-6)
        for key in ("rgb", "mask"):
            assert torch.equal(window_targets[key][b, 0], targets[key][b, 0, :, y : y + 6, x : x + 6])
    assert targets["rgb"].shape[-1] == 16  # the caller's targets (the cycle pass's) stay whole


def test_windows_are_reproducible_per_iteration_and_differ_across_iterations(tiny_net):
    module = _module(tiny_net, 8)
    cameras = multiview_sample(0, n_views=4, render_size=64)["cameras"][None].reshape(1, 4)
    module.iteration = 7
    first, again = module.ray_windows(cameras, MV_PATCHES), module.ray_windows(cameras, MV_PATCHES)
    assert torch.equal(first.top, again.top) and torch.equal(first.left, again.left)
    assert (first.height, first.width) == (8, 8) and int(first.top.max()) <= 56 and int(first.left.max()) <= 56
    other_stream = module.ray_windows(cameras, SV_PATCHES)
    assert not torch.equal(torch.stack([first.top, first.left]), torch.stack([other_stream.top, other_stream.left]))
    module.iteration = 8
    later = module.ray_windows(cameras, MV_PATCHES)
    assert not torch.equal(torch.stack([first.top, first.left]), torch.stack([later.top, later.left]))
    resumed = _module(tiny_net, 8)  # a resumed run restores the iteration and draws the same windows
    resumed.iteration = 7
    assert torch.equal(resumed.ray_windows(cameras, MV_PATCHES).top, first.top)


def test_gradients_flow_through_the_patches(tiny_net):
    mv, sv = _batches(size=16, objects=1)
    module = _module(tiny_net, 8)
    terms = _losses(module, mv, sv)
    assert set(terms) == {"rgb", "mask", "rgb_sv", "mask_sv"}
    sum(terms.values()).backward()
    grads = {name: p.grad for name, p in tiny_net.named_parameters()}
    for name in ("tokenizer.embeddings", "decoder.layers.0.weight"):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name


def test_training_runs_with_patches_and_every_loss(tiny_net, random_lpips, random_clip, tmp_path):
    module = _module(tiny_net, 16, size=32, lpips=random_lpips, clip=random_clip, weights={}, output_dir=str(tmp_path))
    module.vis_cfg.every_n_iterations = 1
    logged = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            logged.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    cpu_trainer(tmp_path, 1, callbacks=[Record()]).fit(
        module, datamodule=SphereDataModule(render_size=32, num_objects=1)
    )
    assert {"train/loss_rgb", "train/loss_perceptual", "train/loss_rgb_sv", "train/loss_rgb_cy"} <= set(logged[0])
    assert all(math.isfinite(v) for v in logged[0].values())
    assert (tmp_path / "images" / "train_0000000.png").is_file()


def test_patch_size_mistakes_are_clear(tiny_net, random_lpips):
    with pytest.raises(Real3DError, match="ray_patch_size"):
        TrainingConfig(ray_patch_size=0)
    with pytest.raises(Real3DError, match="below LPIPS"):  # when the module is built, not at the first step
        _module(tiny_net, 8, lpips=random_lpips, weights={"clip_novel": 0.0, **NO_CYCLE})
