"""End-to-end camera conventions of the multi-view loaders (SPEC §8, issue #4 item 4).

Each format gets a set whose target views the model rendered itself at known cameras, written in
the format's convention under an arbitrary similarity transform of the world. Evaluating the
model on it must reproduce those views (PSNR > 40 dB); the same views with the cameras rotated by
2° about the object must score far lower, which shows the test can fail.
"""

from __future__ import annotations

import pytest
import torch

from real3d.evaluation import evaluate_multiview
from real3d.geometry import spherical_c2w
from tests.evaluation.self_rendered import BUILDERS, SIZE, WorldTransform

PASS_DB = 40.0
PERTURBED_MAX_DB = 30.0


def test_model_renders_depend_on_the_camera(opaque_model):
    """Precondition: the model is opaque and coloured, unlike a random-init model (near white)."""
    from real3d.evaluation.multiview import render_views

    codes = torch.randn(1, 3, 8, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.3
    c2w = spherical_c2w(torch.tensor([30.0, 32.0]), 20.0, 3.0)
    rgb, opacity = render_views(opaque_model, codes, c2w, torch.full((2,), 45.0), SIZE)
    assert opacity.mean() > 0.5
    assert rgb.std() > 0.2
    assert (rgb[0] - rgb[1]).abs().mean() > 0.02


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_self_rendered_views_are_reproduced(fmt, opaque_model, tmp_path):
    similarity = fmt != "omniobject3d"  # OmniObject3D's world centre is the origin: no translation
    transform = WorldTransform.random(seed=7, translate=similarity, scale=2.7 if similarity else 0.6)
    exact, perturbed = BUILDERS[fmt](tmp_path, opaque_model, transform, perturb_deg=2.0)

    result = evaluate_multiview(opaque_model, exact, render_size=SIZE)
    assert result["skipped"] == [] and result["num_objects"] == 1
    novel_psnr = result["objects"][0]["psnr"][1:]
    assert min(novel_psnr) > PASS_DB, novel_psnr
    assert result["novel_views"]["psnr"] > PASS_DB

    worse = evaluate_multiview(opaque_model, perturbed, render_size=SIZE)
    assert worse["skipped"] == []
    assert worse["novel_views"]["psnr"] < PERTURBED_MAX_DB, worse["novel_views"]
