"""`real3d.models.load`: one loader for released folders, training checkpoints and random inits, with
one config vocabulary in every entry point's config."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from real3d.errors import Real3DError
from real3d.models import LRM, load, loading, locate
from real3d.models.checkpoint import NET_PREFIX
from real3d.pretrained import resolve_pretrained_file

ROOT = Path(__file__).resolve().parents[2]


def _same_weights(a: LRM, b: LRM) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_a_released_folder_loads_strictly_with_its_render_defaults(tiny_model_dir: Path, tiny_model: LRM) -> None:
    model = load(tiny_model_dir, render={"num_samples_per_ray": 7, "chunk_size": None}, device="cpu")
    assert _same_weights(model, tiny_model) and not model.training
    settings = model.render_settings
    assert settings.num_samples_per_ray == 7  # given
    assert settings.chunk_size == tiny_model.render_settings.chunk_size  # None: the config's
    with pytest.raises(Real3DError, match="unknown render settings"):
        load(tiny_model_dir, render={"samples": 7})


def test_weight_name_null_takes_the_released_names_in_order(tiny_model_copy: Path) -> None:
    (tiny_model_copy / "model.ckpt").rename(tiny_model_copy / "model_both_trained_v1.ckpt")
    assert locate(tiny_model_copy).weights == tiny_model_copy / "model_both_trained_v1.ckpt"
    (tiny_model_copy / "other.ckpt").write_bytes(b"")
    assert locate(tiny_model_copy, "other.ckpt").weights == tiny_model_copy / "other.ckpt"
    with pytest.raises(Real3DError, match="model folder not found"):
        locate(tiny_model_copy / "nowhere")


def test_a_named_model_that_is_not_there_is_an_error_listing_what_is(
    tiny_model_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Typo in the weight name: an error naming the weights files there, never another model.
    with pytest.raises(Real3DError) as caught:
        locate(tiny_model_copy, "model_both_trained_v1.ckt")
    assert "weights not found" in str(caught.value) and "model.ckpt" in str(caught.value)
    # No weights at all in a named folder.
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Real3DError, match="weights files there: none"):
        locate(empty)
    # A weight name with no folder is looked up in the project's checkpoints/ only (not the default model).
    monkeypatch.setattr(loading, "RELEASED_DIR", tiny_model_copy)
    assert locate(None, "model.ckpt").weights == tiny_model_copy / "model.ckpt"
    with pytest.raises(Real3DError, match=r"weights not found: .*model_both_trained_v1\.ckt"):
        locate(None, "model_both_trained_v1.ckt")
    with pytest.raises(Real3DError, match="not a path"):
        locate(tiny_model_copy, "../tiny/model.ckpt")
    with pytest.raises(Real3DError, match="folder only"):
        locate(tiny_model_copy / "model.ckpt", "model.ckpt")


def test_the_project_checkpoints_are_found_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert loading.project_root() == ROOT
    assert loading.RELEASED_DIR == ROOT / "checkpoints" and loading.DEFAULT_DIR == ROOT / "checkpoints" / "default"
    assert locate().weights.parent in (ROOT / "checkpoints", ROOT / "checkpoints" / "default")


def test_a_config_gives_a_random_init(tiny_model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING):
        model = load(config=tiny_model_dir / "config.yaml")
    assert "randomly initialised" in caplog.text
    assert locate(config=tiny_model_dir / "config.yaml").kind == "random"
    assert model.training  # no device given: left as built, for training


def test_a_training_checkpoint_loads_its_model(tiny_model: LRM, tmp_path: Path) -> None:
    config = OmegaConf.to_container(tiny_model.cfg, resolve=True)
    vit = tiny_model.image_tokenizer.model.config.to_dict()
    checkpoint = {
        "state_dict": {NET_PREFIX + k: v for k, v in tiny_model.state_dict().items()},
        "real3d": {"iteration": 3, "model_config": config, "vit_config": vit},
    }
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    assert locate(path).kind == "training"
    model = load(path, device="cpu")
    assert _same_weights(model, tiny_model)
    # the config keeps its own ViT entry (the export writes the ViT config beside it)
    assert (
        model.cfg.image_tokenizer.pretrained_model_name_or_path
        == config["image_tokenizer"]["pretrained_model_name_or_path"]
    )
    torch.save({"state_dict": {}}, path)
    with pytest.raises(Real3DError, match="not a Real3D training checkpoint"):
        load(path)


def test_every_entry_point_config_uses_the_loaders_vocabulary() -> None:
    keys = set(inspect.signature(load).parameters) - {"device"}
    blocks = {
        "config/model/triposr.yaml": OmegaConf.load(ROOT / "config/model/triposr.yaml"),
        "config/eval/eval_mv_base.yaml": OmegaConf.load(ROOT / "config/eval/eval_mv_base.yaml").model,
        "config/eval/eval_sv.yaml": OmegaConf.load(ROOT / "config/eval/eval_sv.yaml").model,
        "config/curate.yaml": OmegaConf.load(ROOT / "config/curate.yaml").model_score.model,
    }
    for name, block in blocks.items():
        assert set(block) - {"_target_", "defaults"} == keys, name
        assert set(block.render) == {"num_samples_per_ray", "chunk_size"}, name


def test_pretrained_files_are_looked_up_under_one_root(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "second.pth").write_bytes(b"")
    assert resolve_pretrained_file(None, ("first.pth", "second.pth"), "X", root=tmp_path) == tmp_path / "second.pth"
    with caplog.at_level(logging.WARNING):
        assert resolve_pretrained_file(None, ("absent.pth",), "X", allow_random=True, root=tmp_path) is None
    assert "RANDOM weights" in caplog.text
    with pytest.raises(Real3DError, match=f"put 'absent.pth' in '{tmp_path}/'"):
        resolve_pretrained_file(None, ("absent.pth",), "X", root=tmp_path)
    pretrained = OmegaConf.load(ROOT / "config/pretrained/default.yaml")
    assert set(pretrained) == {"root", "lpips_vgg", "clip", "clip_config", "inception", "allow_random"}


def test_a_random_init_starts_from_a_pretrained_image_encoder(tiny_model_dir: Path) -> None:
    from transformers import ViTModel

    encoder = ROOT / "checkpoints/mini/encoder"
    model = load(config=ROOT / "real3d/models/configs/small/config.yaml", image_encoder=encoder)
    weights = ViTModel.from_pretrained(str(encoder), local_files_only=True).state_dict()
    own = model.image_tokenizer.model.state_dict()
    assert weights.keys() == own.keys() and all(torch.equal(weights[k], own[k]) for k in own)
    with pytest.raises(Real3DError, match="does not fit"):
        load(config=ROOT / "real3d/models/configs/tiny/config.yaml", image_encoder=encoder)
    with pytest.raises(Real3DError, match="random init"):
        load(tiny_model_dir, image_encoder=encoder)
