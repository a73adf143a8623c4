"""Single-view evaluation: orbit CLIP/LPIPS/FID and self-consistency, outputs and skipped images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from hydra import compose, initialize_config_dir

from real3d.data.image_ops import resize_image
from real3d.evaluation.singleview import consistency_cameras, consistency_poses, cycle_renders, list_wild_items
from real3d.geometry import INPUT_FOV_RAD, Cameras, cycle_camera, spherical_c2w
from real3d.rendering import grey_composite, render_orbit
from tests.conftest import CLIP_TINY

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "config" / "eval")


def write_rgba(path: Path, seed: int, size: int = 40) -> None:
    rng = np.random.default_rng(seed)
    rgba = np.zeros((size, size + 6, 4), np.uint8)
    rgba[..., :3] = rng.integers(0, 255, (size, size + 6, 3))
    rgba[8:32, 10:34, 3] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(rgba).save(path)


def test_consistency_poses_follow_the_protocol():
    azimuth, elevation = consistency_poses()
    assert len(azimuth) == 13 and azimuth[0] == 0 and elevation[0] == 0
    pairs = {(float(a), float(e)) for a, e in zip(azimuth, elevation, strict=True)}
    assert pairs == {(0.0, 0.0)} | {(a, e) for a in (30.0, -30.0, 60.0, -60.0) for e in (0.0, 30.0, 60.0)}
    poses = spherical_c2w(azimuth, elevation, 3.0)
    # The cycle camera of the input pose is the input pose itself.
    torch.testing.assert_close(cycle_camera(poses[0], poses[0]), poses[0], atol=1e-5, rtol=0)


def test_cycle_renders_reconstruct_each_novel_view_alone(opaque_model):
    """Cycle render i: pose i's render composited on grey where opacity > 0.5, resized (antialiased)
    to the model input, reconstructed alone and rendered through I·N⁻¹·I with the input lens."""
    model_input = torch.rand(1, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        codes = opaque_model.image_to_scene_codes(model_input)
        cycles = cycle_renders(opaque_model, model_input, codes, 16)
        cameras = consistency_cameras(16)
        assert torch.allclose(cameras.c2w, spherical_c2w(*consistency_poses(), 3.0))
        assert torch.allclose(cameras.fov_rad, torch.full((13,), INPUT_FOV_RAD, dtype=torch.float64))
        rgb, opacity = render_orbit(opaque_model, codes, cameras)
        assert cycles.shape == (12, 3, 16, 16) and bool((opacity > 0.5).any()) and bool((opacity <= 0.5).any())
        for i in (1, 6, 12):
            new_input = resize_image(grey_composite(rgb[0, i], opacity[0, i]), 64)
            camera = Cameras(cycle_camera(cameras.c2w[0], cameras.c2w[i])[None], INPUT_FOV_RAD, 16, 16)
            alone = opaque_model.render_scene_codes(
                opaque_model.image_to_scene_codes(new_input[None, None]), *camera[None].rays()
            )
            torch.testing.assert_close(cycles[i - 1], alone["images_rgb"][0, 0].clamp(0, 1), atol=1e-5, rtol=0)


def test_list_wild_items_from_split_and_folder(tmp_path):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"test": [f"a/{i}.png" for i in range(25)]}))
    items = list_wild_items(root=tmp_path, split_file=split, every_nth=10)
    assert [i.name for i in items] == ["a/0.png", "a/10.png", "a/20.png"]
    write_rgba(tmp_path / "photos" / "x.png", 0)
    items = list_wild_items(folder=tmp_path / "photos", mask_dir=tmp_path / "masks")
    assert items[0].mask_path == tmp_path / "masks" / "x.png"


class TinyFeatures(torch.nn.Module):
    """Stands in for Inception (whose 2048-d FID is slow on a CPU; it is tested on its own)."""

    network = "tiny stand-in"

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3 * 4 * 4, 8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.nn.functional.adaptive_avg_pool2d(images, 4).flatten(1))


def test_eval_sv_end_to_end(tmp_path, tiny_model_dir, monkeypatch):
    import real3d.pretrained

    monkeypatch.setattr(real3d.pretrained, "build_inception", lambda *args, **kwargs: TinyFeatures())
    photos = tmp_path / "photos"
    for i in range(2):
        write_rgba(photos / f"obj{i}.png", i)
    PIL.Image.new("RGB", (20, 20), (9, 9, 9)).save(photos / "no_alpha.png")  # no mask: skipped
    (photos / "broken.png").write_bytes(b"not an image")  # unreadable: skipped
    out = tmp_path / "out"
    overrides = [
        f"model.path={tiny_model_dir}",
        "device=cpu",
        f"dataset.folder={photos}",
        "dataset.image_size=32",
        "orbit.n_views=4",
        "orbit.render_size=16",
        "consistency.render_size=16",
        "model.render.num_samples_per_ray=8",
        "pretrained.allow_random=true",
        f"pretrained.clip_config={CLIP_TINY}",
        "fid.min_images=2",
        "progress=false",
        "visuals.vis360=true",
        f"output_dir={out}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="eval_sv", overrides=overrides)
    from real3d.evaluation.runner import run_singleview

    torch.manual_seed(0)
    result = run_singleview(cfg)
    assert result["num_objects"] == 2
    assert sorted(s["name"] for s in result["skipped"]) == ["broken.png", "no_alpha.png"]
    assert all(s["reason"] for s in result["skipped"])
    orbit = result["orbit"]
    assert len(orbit["clip_per_view"]) == 4 and len(orbit["lpips_per_view"]) == 4
    assert -1.0 <= orbit["clip"] <= 1.0 and orbit["lpips"] >= 0.0
    assert np.isfinite(result["fid"])
    assert set(result["consistency"]) == {"psnr", "ssim", "lpips", "clip"}
    assert len(result["objects"][0]["consistency"]["psnr"]) == 12

    saved = json.loads((out / "metrics.json").read_text())
    assert saved["checkpoint"].endswith("model.ckpt") and saved["config"]["orbit"]["n_views"] == 4
    assert (saved["protocol"], saved["precision"], saved["fid_network"]) == ("original", "fp32", "tiny stand-in")
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    assert len(list((out / "side_by_side").glob("*.png"))) == 4  # orbit + consistency, 2 images
    assert len(list((out / "videos").glob("*.mp4"))) == 2


def test_eval_sv_needs_images(tmp_path):
    from real3d.errors import Real3DError

    with pytest.raises(Real3DError):
        list_wild_items(folder=tmp_path / "missing")
