"""Pretraining's shared parts: the loop, the saved encoder the LRM loads, the k-NN measure, the script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from real3d.errors import Real3DError
from real3d.models import LRM
from real3d.models.config import PACKAGED_CONFIGS
from real3d.models.loading import load_image_encoder
from real3d.pretraining.contrastive import Contrastive
from real3d.pretraining.encoder import (
    PretrainSettings,
    knn_accuracy,
    pretrain,
    read_vit_config,
    save_encoder,
)
from scripts.pretrain_encoder import main as pretrain_main

SMALL_MODEL_CONFIG = PACKAGED_CONFIGS / "small" / "config.yaml"


@pytest.fixture(scope="module")
def trained(mini_data: Path) -> tuple[Contrastive, list[dict]]:
    """A few steps of the default method on the tiny data with the small model's ViT, k-NN on the way."""
    settings = PretrainSettings(steps=4, batch_size=4, seed=0)
    return pretrain(mini_data, read_vit_config(), settings, progress=False, eval_every=2)


def test_pretraining_runs_the_steps_and_evaluates_on_the_way(trained: tuple[Contrastive, list[dict]]) -> None:
    _, history = trained
    assert [h["step"] for h in history] == [0, 1, 2, 3]
    assert [h["step"] for h in history if "knn" in h] == [1, 3]
    assert set(history[1]["knn"]) == {"S", "R"} and 0.0 <= history[1]["knn"]["R"]["cls"] <= 1.0


def test_unknown_method_is_a_user_error(mini_data: Path) -> None:
    with pytest.raises(Real3DError, match="method must be one of"):
        pretrain(mini_data, read_vit_config(), PretrainSettings(method="simclr"), progress=False)


def test_saved_encoder_loads_into_the_lrm_tokenizer_with_identical_outputs(
    trained: tuple[Contrastive, list[dict]], tmp_path: Path
) -> None:
    vit = trained[0].encoder()
    folder = save_encoder(vit, tmp_path / "encoder", {"steps": 4})
    config = OmegaConf.load(SMALL_MODEL_CONFIG)
    config.image_tokenizer.pretrained_model_name_or_path = str(folder)  # the folder is a ViT config folder too
    net = LRM.from_config(config).eval()
    load_image_encoder(net, folder)
    images = torch.rand(2, 1, 3, 64, 64)
    with torch.no_grad():
        tokens = net.image_tokenizer(images)  # [B,1,C,T]
        pixels = (images[:, 0] - net.image_tokenizer.image_mean[0]) / net.image_tokenizer.image_std[0]
        expected = vit(pixels).last_hidden_state.transpose(1, 2)
    assert torch.equal(tokens[:, 0], expected)
    assert (folder / "pretraining.json").is_file()


def test_encoder_of_another_size_is_refused(
    trained: tuple[Contrastive, list[dict]], tiny_model: LRM, tmp_path: Path
) -> None:
    folder = save_encoder(trained[0].encoder(), tmp_path / "encoder")
    with pytest.raises(Real3DError, match="does not fit"):
        load_image_encoder(tiny_model, folder)


def test_knn_accuracy_votes_among_the_most_cosine_similar() -> None:
    reference = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    labels = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[5.0, 0.2], [0.2, 1.0], [1.0, 0.9]])  # the last is nearer class 0 (by angle)
    assert knn_accuracy(reference, labels, query, torch.tensor([0, 1, 1]), k=2) == pytest.approx(2 / 3)
    assert knn_accuracy(reference, labels, 10.0 * query, torch.tensor([0, 1, 0]), k=1) == 1.0  # scale-free


def test_script_writes_the_encoder_and_the_knn_comparison(
    mini_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "encoder"
    args = f"--data-dir {mini_data} --output-dir {out} --steps 2 --batch-size 4 --no-progress"
    code = pretrain_main(args.split())
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "pretraining.json"}
    printed = capsys.readouterr().out
    assert "| pretrained |" in printed and "| random |" in printed
    provenance = json.loads((out / "pretraining.json").read_text())
    assert set(provenance["colour_sensitivity"]) == set(provenance["chroma_decodability"]) == {"pretrained", "random"}


def test_script_passes_the_colour_options_to_the_objective(
    mini_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "encoder"
    args = f"--data-dir {mini_data} --output-dir {out} --steps 1 --batch-size 4 --no-progress"
    assert pretrain_main([*args.split(), "--p-permute", "0", "--p-grey", "0.1", "--pixel-weight", "1.5"]) == 0
    settings = json.loads((out / "pretraining.json").read_text())["method_settings"]
    assert (settings["p_permute"], settings["p_grey"], settings["pixel_weight"]) == (0.0, 0.1, 1.5)


def test_script_reports_a_missing_data_folder_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert pretrain_main(["--data-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path / "o")]) == 2
    assert "pretrain_encoder: error: data folder not found" in capsys.readouterr().err


def test_colour_sensitivity_is_a_share_of_the_difference_between_images(mini_data: Path) -> None:
    """A random ViT sees a hue rotation (its tokens change by a sizeable share of the between-image
    difference); a ViT whose patch embedding sums the channels equally (after the tokenizer's
    per-channel normalisation) is blind to it (0)."""
    from transformers import ViTModel

    from real3d.models.image_tokenizer import IMAGENET_STD
    from real3d.pretraining.encoder import colour_sensitivity

    torch.manual_seed(0)
    vit = ViTModel(read_vit_config()).eval()
    seeing = colour_sensitivity(vit, mini_data)
    assert set(seeing) == {"S", "R"} and all(0.05 < v < 2.0 for v in seeing.values())
    with torch.no_grad():
        weight = vit.embeddings.patch_embeddings.projection.weight  # [C,3,p,p]
        std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        weight.copy_(weight.mean(dim=1, keepdim=True) * std)  # token = w * sum of the raw channels + const
    blind = colour_sensitivity(vit, mini_data)
    assert all(v < 1e-5 for v in blind.values())


def test_chroma_decodability_is_high_for_a_random_vit_and_zero_for_a_colour_blind_one(mini_data: Path) -> None:
    """A random ViT's patch tokens carry each patch's chroma (a linear fit reads it back, R^2 near 1); a
    ViT whose patch embedding sums the channels equally carries none (R^2 near 0 on test images)."""
    from transformers import ViTModel

    from real3d.models.image_tokenizer import IMAGENET_STD
    from real3d.pretraining.encoder import chroma_decodability

    torch.manual_seed(0)
    vit = ViTModel(read_vit_config()).eval()
    seeing = chroma_decodability(vit, mini_data)
    assert set(seeing) == {"S", "R"} and all(v > 0.5 for v in seeing.values())
    with torch.no_grad():
        weight = vit.embeddings.patch_embeddings.projection.weight  # [C,3,p,p]
        std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        weight.copy_(weight.mean(dim=1, keepdim=True) * std)
    blind = chroma_decodability(vit, mini_data)
    assert all(v < 0.2 for v in blind.values())
