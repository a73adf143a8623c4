"""The cycle re-render: novel view without gradient, grey composite, resize, feed back, render
the input view through I·N⁻¹·I; the same result for K views at once as for one at a time."""

from __future__ import annotations

import pytest
import torch

from real3d.data.image_ops import resize_image
from real3d.data.samples import SingleViewBatch
from real3d.geometry import Cameras, cycle_camera, spherical_c2w
from real3d.rendering import cycle_cameras, cycle_render, grey_composite, to_model_input
from real3d.training import Real3DModule
from tests.training.synthetic import singleview_sample

FOV = 0.69


def _cameras(batch: int, views: int, novel_size: int, input_size: int) -> tuple[Cameras, Cameras]:
    """Input cameras [B] at azimuth 0 and novel cameras [B,K] at azimuths 30°, 60°, ... per element."""
    inputs = Cameras(spherical_c2w(0.0, 0.0, 3.0).expand(batch, 4, 4), FOV, input_size, input_size)
    azimuth = torch.arange(1, batch * views + 1, dtype=torch.float32) * 30.0
    novel = Cameras(spherical_c2w(azimuth, 10.0, 3.0).reshape(batch, views, 4, 4), FOV, novel_size, novel_size)
    return inputs, novel


def test_grey_composite_keeps_opaque_pixels_only():
    rgb = torch.tensor([0.1, 0.9, 0.3]).reshape(3, 1, 1).expand(3, 1, 3).clone()
    opacity = torch.tensor([0.2, 0.5, 0.8]).reshape(1, 1, 3)
    out = grey_composite(rgb, opacity)
    assert torch.allclose(out[:, 0, :2], torch.full((3, 2), 0.5))  # 0.2 and 0.5 are not > 0.5
    assert torch.allclose(out[:, 0, 2], rgb[:, 0, 2])


def test_cycle_cameras_are_input_times_inverse_novel_times_input():
    inputs, novel = _cameras(2, 3, 12, 8)
    cameras = cycle_cameras(inputs, novel)
    assert cameras.batch_shape == (2, 3) and (cameras.height, cameras.width) == (8, 8)
    expected = inputs.c2w[:, None] @ torch.linalg.inv(novel.c2w) @ inputs.c2w[:, None]
    assert torch.allclose(cameras.c2w, expected) and torch.equal(cameras.fov_rad, inputs.fov_rad[:, None].expand(2, 3))
    itself = cycle_cameras(inputs, Cameras(inputs.c2w[:, None], FOV, 8, 8))  # the input seen from the input
    assert torch.allclose(itself.c2w[:, 0], inputs.c2w, atol=1e-5)


def test_cycle_render_steps(sphere_model):
    """Inputs [2,3,24,24], model input 16², novel views [2,3] at 12², cycle render at 8²."""
    inputs, novel = _cameras(2, 3, 12, 8)
    images = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    out = cycle_render(sphere_model, images, inputs, novel, opacity_threshold=0.5, background=0.5)
    first, cycle = sphere_model.calls
    # 1) the novel views, rendered without gradient from the model input at their own size
    assert not first["grad"] and first["rays_o"].shape == (2, 3, 12, 12, 3)
    assert torch.allclose(first["rays_o"][:, :, 0, 0], novel.c2w[..., :3, 3])
    assert torch.equal(first["images"], to_model_input(sphere_model, images, antialias=False))
    # 2) composited on grey where opaque, resized to the input size, without gradient
    rgb, opacity = out.novel["images_rgb"], out.novel["images_weight"]
    expected = resize_image(grey_composite(rgb, opacity).flatten(0, 1), 24, antialias=False).reshape(2, 3, 3, 24, 24)
    assert torch.equal(out.feedback, expected) and not out.feedback.requires_grad
    assert 0 < float(opacity.mean()) < 1 and torch.all(out.feedback[0, 0, :, 0, 0] == 0.5)  # the corner is empty
    # 3) each new input (in [B,K] order) reconstructed and rendered through I·N⁻¹·I at the input
    #    cameras' size, under the caller's gradient mode
    assert cycle["grad"] and cycle["rays_o"].shape == (6, 1, 8, 8, 3)
    assert torch.equal(cycle["images"], to_model_input(sphere_model, out.feedback.flatten(0, 1), antialias=False))
    origins = cycle_camera(inputs.c2w[:, None], novel.c2w)[..., :3, 3].reshape(6, 3)
    assert torch.allclose(cycle["rays_o"][:, 0, 0, 0], origins, atol=1e-5)
    assert out.render["images_rgb"].shape == (2, 3, 3, 8, 8) and out.render["images_rgb"].requires_grad


def test_given_novel_views_or_scene_codes_are_used(sphere_model):
    inputs, novel = _cameras(1, 2, 12, 8)
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    rendered = sphere_model(images[:, None], novel)  # with gradient, as training's single-view pass
    sphere_model.calls.clear()
    out = cycle_render(sphere_model, images, inputs, novel, novel=rendered)
    assert len(sphere_model.calls) == 1 and out.novel is rendered  # only the cycle render
    assert not out.feedback.requires_grad  # the stop-gradient holds for given renders too
    assert torch.equal(out.feedback, cycle_render(sphere_model, images, inputs, novel).feedback)
    sphere_model.calls.clear()
    codes = sphere_model.image_to_scene_codes(images[:, None])
    from_codes = cycle_render(sphere_model, images, inputs, novel, scene_codes=codes)
    assert "images" not in sphere_model.calls[0]  # rendered from the codes, no reconstruction
    assert torch.equal(from_codes.render["images_rgb"], out.render["images_rgb"])


def test_views_at_once_equal_views_one_at_a_time(opaque_model):
    """A real (tiny) LRM: K views in one call give each view's cycle render alone, in [B,K] order."""
    inputs, novel = _cameras(2, 2, 16, 12)
    images = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        together = cycle_render(opaque_model, images, inputs, novel, antialias=True)
        for b in range(2):
            for k in range(2):
                alone = cycle_render(
                    opaque_model, images[b : b + 1], inputs[b : b + 1], novel[b : b + 1, k : k + 1], antialias=True
                )
                torch.testing.assert_close(alone.feedback[0, 0], together.feedback[b, k])
                for key, value in alone.render.items():
                    torch.testing.assert_close(value[0, 0], together.render[key][b, k], atol=1e-5, rtol=0)
    opacity = together.novel["images_weight"]
    assert bool((opacity > 0.5).any()) and bool((opacity <= 0.5).any())  # both sides of the composite


@pytest.mark.parametrize("rerender", [True, False])
@pytest.mark.parametrize("protocol", ["original", "corrected"])
def test_training_cycle_pass_is_the_cycle_render(opaque_model, rerender, protocol):
    """Training's cycle pass = cycle_render of the input view (view 0) and the last novel view: the
    re-render at the input size or the single-view pass's render (upsampled), the protocol's filter."""
    module = Real3DModule(
        opaque_model,
        loss_weights={"perceptual": 0.0, "perceptual_cy": 0.0, "clip_novel": 0.0},
        single_view={"render_size": 12, "rerender": rerender},
        protocol=protocol,
    )
    batch = SingleViewBatch.collate([singleview_sample(i, input_size=48) for i in range(2)])  # model input: 64²
    cams = module.sample_cameras(batch)
    targets = module.singleview_targets(batch)
    with torch.no_grad():
        _, sv_render = module.single_view_pass(batch, cams, targets, with_grad=True)
        _, render, new_input = module.cycle_pass(batch, cams, targets, sv_render)
        fov = batch.fov_rad.float()
        novel_size = 48 if rerender else 12
        out = cycle_render(
            opaque_model,
            batch.image_input,
            Cameras(cams["c2w"][:, 0], fov, 12, 12),
            Cameras(cams["c2w"][:, -1:], fov[:, None], novel_size, novel_size),
            novel=None if rerender else {key: value[:, -1:] for key, value in sv_render.items()},
            antialias=protocol == "corrected",
        )
    torch.testing.assert_close(out.feedback[:, 0], new_input, atol=0, rtol=0)
    for key, value in render.items():
        torch.testing.assert_close(out.render[key], value, atol=0, rtol=0)


@pytest.mark.parametrize("stop_gradient", [True, False])
def test_stop_gradient_decides_whether_the_cycle_reaches_the_input(opaque_model, stop_gradient):
    """The original's stop-gradient: the input images feed only the first reconstruction, so the cycle
    loss reaches them only end-to-end (`stop_gradient=False`), through the novel view it fed back."""
    inputs, novel = _cameras(1, 1, 12, 12)
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)).requires_grad_()
    out = cycle_render(opaque_model, images, inputs, novel, stop_gradient=stop_gradient)
    assert out.feedback.requires_grad is not stop_gradient
    out.render["images_rgb"].sum().backward()
    if stop_gradient:
        assert images.grad is None
    else:
        assert float(images.grad.abs().sum()) > 0
    opaque_model.zero_grad(set_to_none=True)
