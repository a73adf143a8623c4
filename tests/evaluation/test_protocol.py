"""`protocol` and `precision` of the evaluations: the original's ground-truth resize (no
antialiasing), its fp16 autocast on CUDA, and eval_sv's raw-RGB reference, each with its switch."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F

from real3d.data import image_ops
from real3d.errors import Real3DError
from real3d.evaluation.multiview import evaluate_object
from real3d.evaluation.precision import autocast, resolve_precision
from real3d.evaluation.singleview import WildItem, evaluate_singleview, load_wild_item
from real3d.geometry import spherical_c2w


def sample(n: int = 2, side: int = 48) -> dict:
    """An evaluation item with a high-frequency ground truth (the resize filters differ most)."""
    g = torch.Generator().manual_seed(0)
    return {
        "name": "obj",
        "image_input": torch.rand(3, 64, 64, generator=g),
        "rgb": torch.rand(n, 3, side, side, generator=g),
        "c2w": spherical_c2w(torch.tensor([0.0, 50.0][:n]), 10.0, 3.0),
        "focal_norm": torch.full((n,), 1.5),
    }


def test_ground_truth_resize_follows_the_protocol(tiny_model):
    """Original: the 512-px ground truth goes to the render size bilinear WITHOUT antialiasing (its
    get_eval_target); corrected: antialiased."""
    item = sample()
    _, _, target = evaluate_object(tiny_model, item, render_size=16, precision="fp32")
    torch.testing.assert_close(target, F.interpolate(item["rgb"], (16, 16), mode="bilinear", align_corners=False))
    _, _, target = evaluate_object(tiny_model, item, render_size=16, protocol="corrected", precision="fp32")
    torch.testing.assert_close(target, F.interpolate(item["rgb"], (16, 16), mode="bilinear", antialias=True))


def test_precision_selection():
    """auto: fp16 on CUDA under the original protocol (as the original), fp32 on the CPU or when corrected."""
    assert resolve_precision("auto", "cuda", "original") == "fp16"
    assert resolve_precision("auto", "cuda:1", "corrected") == "fp32"
    assert resolve_precision("auto", "cpu", "original") == "fp32"
    assert resolve_precision("fp16", "cpu") == "fp16" and resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(Real3DError, match="precision"):
        resolve_precision("half", "cpu")
    with autocast("cpu", "fp16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.float16
    with autocast("cpu", "fp32"):
        assert not torch.is_autocast_enabled("cpu")


def test_model_runs_under_the_resolved_autocast(tiny_model, monkeypatch):
    """The reconstruction and rendering run inside fp16 autocast when fp16 is asked for."""
    seen = []
    original = tiny_model.image_to_scene_codes

    def spy(images):
        seen.append(torch.is_autocast_enabled("cpu"))
        return original(images)

    monkeypatch.setattr(tiny_model, "image_to_scene_codes", spy)
    record16, pred16, _ = evaluate_object(tiny_model, sample(), render_size=8, precision="fp16")
    record32, pred32, _ = evaluate_object(tiny_model, sample(), render_size=8, precision="auto")  # CPU: fp32
    assert seen == [True, False] and pred16.dtype == torch.float32
    assert record16["all_views"]["psnr"] == pytest.approx(record32["all_views"]["psnr"], abs=0.5)


def write_crop(path, size: int = 24) -> np.ndarray:
    """An RGBA crop whose RGB under alpha 0 is red (not white)."""
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere
    rgba[6:18, 6:18, :3] = 90
    rgba[6:18, 6:18, 3] = 255
    PIL.Image.fromarray(rgba).save(path)
    return rgba


def test_wild_reference_is_the_raw_rgb_under_the_original(tmp_path, tiny_model):
    """Original: the self-consistency target and CLIP reference are the padded RAW RGB (red where
    alpha is 0, white only in the padding); corrected: composited on white."""
    write_crop(tmp_path / "a.png")
    item = WildItem("a.png", tmp_path / "a.png")
    original, mask = load_wild_item(item, image_size=40)
    corrected, _ = load_wild_item(item, image_size=40, protocol="corrected")
    corner = (slice(None), 8, 8)  # inside the crop (padding is 8 px at 1.7 × 24 → 40), alpha 0
    assert mask[0, 8, 8] == 0 and original[corner].tolist() == [1.0, 0.0, 0.0]
    assert corrected[corner].tolist() == [1.0, 1.0, 1.0]
    assert original[:, 0, 0].tolist() == [1.0, 1.0, 1.0]  # the padding is white in both

    references = []
    evaluate_singleview(
        tiny_model,
        [item],
        clip_encoder=None,
        lpips_model=None,
        image_size=40,
        n_views=2,
        render_size=8,
        consistency=False,
        num_samples_per_ray=4,
        precision="fp32",
        on_object=lambda i, record, reference, orbit, cycles: references.append(reference),
    )
    torch.testing.assert_close(references[0], original)
    assert image_ops.composite(original, mask, image_ops.WHITE)[corner].tolist() == [1.0, 1.0, 1.0]
