"""bf16 inference with weights cast once: autocast's results, ≥ 40 dB against fp32, a copy that follows the weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from real3d.models.lrm import LRM, cpu_has_bf16

pytestmark = pytest.mark.skipif(not cpu_has_bf16(), reason="precision='bf16' needs a CPU with bf16 instructions")


@pytest.fixture(scope="module")
def parity_model(tiny_model_dir: Path) -> LRM:
    return LRM.from_pretrained(tiny_model_dir).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(1, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def test_bf16_image_to_triplane_to_render_within_40_db(parity_model: LRM, images: torch.Tensor) -> None:
    with torch.inference_mode():
        fp32_codes = parity_model.image_to_scene_codes(images, precision="fp32")
        fp32 = torch.stack(parity_model.render_360(fp32_codes, 2, 0, 1.9, 40, 16, 16, "pt")[0])
        codes = parity_model.image_to_scene_codes(images, precision="bf16")  # weights cast once
        bf16 = torch.stack(parity_model.render_360(codes, 2, 0, 1.9, 40, 16, 16, "pt", precision="bf16")[0])
    assert codes.dtype == torch.float32
    assert _psnr(fp32, bf16) >= 40.0


def test_weights_cast_once_give_the_autocast_result(parity_model: LRM, images: torch.Tensor) -> None:
    with torch.inference_mode():
        cast_once = parity_model.image_to_scene_codes(images, precision="bf16")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            per_call = parity_model.image_to_scene_codes(images).float()  # precision=None: autocast's own casts
    assert torch.equal(cast_once, per_call)  # autocast computes these layers in bf16 anyway
    cached = parity_model.bf16_inference_modules()
    assert cached["backbone"].proj_in.weight.dtype == torch.bfloat16
    assert cached["backbone"].norm.weight is parity_model.backbone.norm.weight  # norms shared, in fp32
    assert cached not in list(parity_model.modules())  # not a submodule: no state-dict entries, no `.to()`


def test_the_bf16_copy_follows_changed_weights(tiny_model_dir: Path, images: torch.Tensor) -> None:
    model = LRM.from_pretrained(tiny_model_dir).eval()
    first = model.bf16_inference_modules()
    assert model.bf16_inference_modules() is first
    with torch.no_grad():
        model.backbone.proj_out.bias.add_(1.0)
    second = model.bf16_inference_modules()
    assert second is not first
    expected = model.backbone.proj_out.bias.to(torch.bfloat16)
    assert torch.equal(second["backbone"].proj_out.bias, expected)


def test_bf16_with_gradient_trains_the_model_itself(parity_model: LRM, images: torch.Tensor) -> None:
    codes = parity_model.image_to_scene_codes(images, precision="bf16")
    codes.sum().backward()
    assert parity_model.backbone.proj_in.weight.grad is not None
    parity_model.zero_grad(set_to_none=True)
