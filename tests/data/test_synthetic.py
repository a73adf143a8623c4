"""The synthetic generator: shapes, camera convention of the ray caster, shading, and the
dataset writer / CLI."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from real3d.data.synthetic import ALL_SHAPES, DEFAULT_DOMAIN, DomainSpec, Lighting, render_rgba
from real3d.data.synthetic.render import single_thread
from real3d.data.synthetic.shapes import Material, Part, SceneObject, random_object
from real3d.geometry import fov_to_focal, spherical_c2w


def test_every_family_renders_inside_the_unit_box():
    rng = np.random.default_rng(0)
    grid = torch.stack(torch.meshgrid(*[torch.linspace(-0.8, 0.8, 25)] * 3, indexing="ij"), -1).reshape(-1, 3)
    c2w = spherical_c2w(torch.tensor([30.0]), torch.tensor([20.0]), 2.0)
    for family in ALL_SHAPES:
        obj = random_object(rng, DEFAULT_DOMAIN, family)
        with single_thread():
            inside = grid[obj.sdf(grid) < 0]
        assert inside.numel() > 0, family
        assert inside.abs().max() <= 0.5 + 0.05, family  # normalised like Objaverse: [-0.5, 0.5]^3
        rgba = render_rgba(obj, c2w, fov_to_focal(math.radians(49.1), 24), 24, supersample=1)
        assert rgba.shape == (1, 24, 24, 4) and rgba[..., 3].sum() > 5, family


def test_render_follows_the_project_camera_convention():
    """A small sphere at a known world point appears where the OpenGL pinhole projects it."""
    point = np.array([0.25, -0.2, 0.15])
    obj = SceneObject("probe", [Part("sphere", {"r": 0.06}, translation=point)], [Material()])
    size, focal = 64, 60.0
    c2w = spherical_c2w(torch.tensor([20.0, 140.0]), torch.tensor([10.0, -25.0]), 2.0)
    rgba = render_rgba(obj, c2w, focal, size, supersample=2)
    for k in range(2):
        cam = torch.linalg.inv(c2w[k].double()) @ torch.tensor([*point, 1.0], dtype=torch.float64)
        u = size / 2 + focal * cam[0] / -cam[2]  # x right
        v = size / 2 - focal * cam[1] / -cam[2]  # y up, rows go down
        alpha = rgba[k, ..., 3].double()
        rows, cols = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
        cu, cv = (alpha * cols).sum() / alpha.sum(), (alpha * rows).sum() / alpha.sum()
        assert abs(cu - u) < 0.5 and abs(cv - v) < 0.5


def test_lambertian_and_ambient_shading_and_textures():
    obj = SceneObject("ball", [Part("sphere", {"r": 0.4})], [Material("solid", (0.8, 0.4, 0.2))])
    c2w = spherical_c2w(torch.tensor([0.0]), torch.tensor([0.0]), 2.0)
    flat = render_rgba(obj, c2w, 50.0, 32, lighting=Lighting(ambient=0.5, diffuse=0.0), supersample=1)
    inside = flat[0][flat[0, ..., 3] == 1][:, :3]
    assert torch.allclose(inside, torch.tensor([0.4, 0.2, 0.1]), atol=1e-6)
    lit = render_rgba(obj, c2w, 50.0, 32, lighting=Lighting((1.0, 0.0, 0.0), 0.1, 0.9), supersample=1)
    centre, rim = lit[0, 16, 16, 0], lit[0, 16, 7, 0]  # facing the light vs grazing
    assert centre > rim + 0.1
    checker = Material("checker", (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), frequency=2.0)
    colours = checker.albedo(torch.rand(500, 3) * 2 - 1)
    assert {tuple(c) for c in colours.tolist()} == {(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)}
    for kind in ("stripes", "gradient"):
        assert Material(kind).albedo(torch.rand(10, 3)).shape == (10, 3)


def test_domain_spec_round_trip():
    spec = DomainSpec(name="R", shapes=("mug", "lamp"), elevation_deg=(-30.0, 60.0), background="gradient")
    assert DomainSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="unknown"):
        DomainSpec.from_dict({"colour": 1})
    rng = np.random.default_rng(3)
    assert {random_object(rng, spec).family for _ in range(12)} <= {"mug", "lamp"}


def test_generated_set_layout(synthetic_set):
    gob = Path(synthetic_set["gobjaverse"]["root"])
    split = json.loads(Path(synthetic_set["gobjaverse"]["split"]).read_text())
    assert len(split["train"]) == 2 and len(split["test"]) == 1
    view = gob / split["train"][0] / "00003"
    meta = json.loads((view / "00003.json").read_text())
    assert set(meta) >= {"x", "y", "z", "origin", "x_fov", "y_fov"}
    axes = np.array([meta["x"], meta["y"], meta["z"]])
    assert np.allclose(axes @ axes.T, np.eye(3), atol=1e-6)
    # OpenCV z (forward) points from the camera towards the object at the origin
    assert np.dot(meta["z"], -np.array(meta["origin"])) > 0.99 * np.linalg.norm(meta["origin"])
    z123 = Path(synthetic_set["zero123"]["root"])
    obj = sorted(p for p in z123.iterdir() if p.is_dir())[0]
    assert np.load(obj / "000.npy").shape == (3, 4)
    wild = json.loads(gzip.decompress(Path(synthetic_set["wild"]["split"]).read_bytes()))
    assert len(wild["train"]) == 3 and (Path(synthetic_set["wild"]["root"]) / wild["test"][0]).is_file()
    seq = json.loads(gzip.decompress(Path(synthetic_set["mvimgnet"]["split"]).read_bytes()))["train"][0]
    assert (Path(synthetic_set["mvimgnet"]["images_root"]) / seq / "images" / "000.jpg").is_file()
    assert (Path(synthetic_set["mvimgnet"]["masks_root"]) / seq / "000.jpg.png").is_file()
    assert set(synthetic_set["timings"]) == {
        "gobjaverse_s_per_object",
        "zero123_s_per_object",
        "wild_s_per_image",
        "mvimgnet_s_per_sequence",
    }


def test_cli_writes_a_tiny_set_and_rejects_a_bad_domain(tmp_path, capsys):
    from scripts.make_synthetic_data import main

    argv = [str(tmp_path / "out"), "--objects", "1", "--views", "3", "--size", "24", "--wild-images", "1"]
    argv += ["--mvimgnet-sequences", "1", "--mvimgnet-frames", "1", "--test-fraction", "0"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "out" / "info.json").is_file()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nope": 1}))
    assert main([str(tmp_path / "o2"), "--domain", str(bad)]) == 2
