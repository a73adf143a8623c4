"""The miniature CLIP: replayed captions, its tokenizer, training, and loading through `build_clip`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from real3d.pretrained import build_clip
from real3d.pretraining.captions import Caption, caption_images
from real3d.pretraining.clip import (
    UNK_ID,
    WEIGHTS_FILE,
    CaptionTokenizer,
    encode_images,
    eval_images,
    load_captioned_set,
    load_clip,
)
from real3d.pretraining.images import list_domain_images
from scripts.pretrain_clip import main as pretrain_main


@pytest.fixture(scope="module")
def trained(mini_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP trained for a few steps by the script (32² images, one ViT layer)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("clip")
    args = ["--output-dir", str(out), "--steps", "40", "--batch-size", "8", "--lr", "3e-3", "--width", "32"]
    code = pretrain_main(["--data-dir", str(mini_data), *args, "--layers", "1", "--image-size", "32", "--no-progress"])
    assert code == 0
    return out


def test_captions_replay_every_image(mini_data: Path) -> None:
    for split in ("train", "test"):
        items = list_domain_images(mini_data, split)
        captions, skipped = caption_images(mini_data, items, split)
        assert skipped == 0
        assert [c.family for c in captions] == [item.family for item in items]
        assert all(c.text().startswith(("a photo of a ", "a photo of an ")) for c in captions)


def test_caption_text_dropout_and_mirror() -> None:
    mug = Caption("mug", "red", "checker", "white", part_colour="blue", side="left")
    assert mug.text() == "a photo of a red and white checkered mug with a blue handle, handle on the left"
    assert mug.flipped().text().endswith("handle on the right")
    assert mug.text(colour=False, pattern=False, part=False, direction=False) == "a photo of a mug"


def test_tokenizer_knows_every_caption_word(mini_data: Path) -> None:
    items = list_domain_images(mini_data, "train")
    captions, _ = caption_images(mini_data, items, "train")
    tokenizer = CaptionTokenizer.for_captions(context_length=32)
    tokens = tokenizer([c.text() for c in captions] + [c.flipped().text() for c in captions])
    assert not bool((tokens == UNK_ID).any())
    assert bool((tokens.argmax(dim=1) == (tokens > 0).sum(dim=1) - 1).all())  # end-of-text: largest id, last


def test_training_lowers_the_loss(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["last_loss"] < metrics["first_loss"]
    assert {"trained_R_own_families", "random_R_own_families", "trained_S_all_families"} <= set(metrics["zero_shot"])
    assert {"trained_R_same", "trained_R_other", "random_R_match"} <= set(metrics["view_similarity"])


def test_eval_only_compares_with_the_same_random_start(trained: Path, mini_data: Path) -> None:
    before = json.loads((trained / "metrics.json").read_text())
    assert pretrain_main(["--data-dir", str(mini_data), "--output-dir", str(trained), "--eval-only"]) == 0
    after = json.loads((trained / "metrics.json").read_text())
    evaluation = after["evaluations"][str(mini_data)]
    assert evaluation["zero_shot"] == pytest.approx(before["zero_shot"])
    assert evaluation["view_similarity"] == pytest.approx(before["view_similarity"])


def test_saved_model_loads_through_build_clip(trained: Path, mini_data: Path) -> None:
    model, _, config = load_clip(trained)
    images = eval_images(load_captioned_set(mini_data, "test", domains=("R",)), 32)
    encoder = build_clip(trained / WEIGHTS_FILE, trained / "config.json")
    assert encoder.image_size == config["vision_cfg"]["image_size"]
    torch.testing.assert_close(encoder(images), encode_images(model, images), atol=1e-5, rtol=1e-5)


def test_missing_data_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--data-dir", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "out"), "--no-progress"]
    assert pretrain_main(args) == 2
    assert capsys.readouterr().err.count("\n") == 1
