"""Released-weight compatibility: key layouts, strict loading, save/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from real3d.errors import Real3DError
from real3d.models import LRM
from real3d.models.checkpoint import legacy_key, to_legacy_layout, to_model_layout


def read_official_keys(path: Path) -> dict[str, tuple[int, ...]]:
    keys = {}
    for line in path.read_text().splitlines():
        name, shape = line.split("\t")
        keys[name] = tuple(int(s) for s in shape.strip("[]").split(",") if s.strip())
    return keys


def test_full_model_matches_official_key_list(tiny_model_dir: Path) -> None:
    official = read_official_keys(tiny_model_dir.parent / "official_state_dict_keys.txt")
    with torch.device("meta"):
        model = LRM.from_config(Path("checkpoints/config.yaml"))
    ours = {k: tuple(v.shape) for k, v in to_legacy_layout(model.state_dict()).items()}
    assert ours == official
    assert sum(v.numel() for v in model.state_dict().values()) == 419_275_628


@pytest.mark.parametrize(
    ("current", "legacy"),
    [
        ("image_tokenizer.model.layers.3.attention.q_proj.weight",
         "image_tokenizer.model.encoder.layer.3.attention.attention.query.weight"),
        ("image_tokenizer.model.layers.0.attention.o_proj.bias",
         "image_tokenizer.model.encoder.layer.0.attention.output.dense.bias"),
        ("image_tokenizer.model.layers.11.mlp.fc1.weight",
         "image_tokenizer.model.encoder.layer.11.intermediate.dense.weight"),
        ("image_tokenizer.model.layers.2.mlp.fc2.bias",
         "image_tokenizer.model.encoder.layer.2.output.dense.bias"),
        ("image_tokenizer.model.layers.5.layernorm_after.weight",
         "image_tokenizer.model.encoder.layer.5.layernorm_after.weight"),
        ("backbone.transformer_blocks.0.attn1.to_q.weight", "backbone.transformer_blocks.0.attn1.to_q.weight"),
    ],
)  # fmt: skip
def test_legacy_key_names(current: str, legacy: str) -> None:
    assert legacy_key(current) == legacy
    assert legacy_key(legacy) == legacy


def test_layout_conversion_round_trips(tiny_model: LRM) -> None:
    state = tiny_model.state_dict()
    legacy = to_legacy_layout(state)
    back = to_model_layout(legacy, state.keys())
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_save_pretrained_round_trip(tiny_model: LRM, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path / "out")
    saved = torch.load(tmp_path / "out" / "model.ckpt", weights_only=True)
    assert any(".encoder.layer.0.attention.attention.query." in k for k in saved)
    (tmp_path / "out" / "dino-tiny").symlink_to(Path("tests/fixtures/parity/tiny/dino-tiny").resolve())
    reloaded = LRM.from_pretrained(tmp_path / "out")
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[k], v)


def test_module_prefix_and_state_dict_wrapper_load(tiny_model: LRM, tiny_model_copy: Path) -> None:
    state = {"module." + k: v for k, v in to_legacy_layout(tiny_model.state_dict()).items()}
    torch.save({"epoch": 3, "state_dict": state}, tiny_model_copy / "wrapped.ckpt")
    model = LRM.from_pretrained(tiny_model_copy, weight_name="wrapped.ckpt")
    assert torch.equal(model.tokenizer.embeddings, tiny_model.tokenizer.embeddings)


def test_missing_weights_say_where(tmp_path: Path, tiny_model_copy: Path) -> None:
    with pytest.raises(Real3DError, match="weights not found"):
        LRM.from_pretrained(tiny_model_copy, weight_name="absent.ckpt")
    with pytest.raises(Real3DError, match="model folder not found"):
        LRM.from_pretrained(tmp_path / "nowhere")


def test_mismatched_checkpoint_names_keys(tiny_model_copy: Path) -> None:
    state = torch.load(tiny_model_copy / "model.ckpt", weights_only=True)
    state.pop("decoder.layers.0.bias")
    state["tokenizer.embeddings"] = torch.zeros(3, 32, 5, 5)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tiny_model_copy / "bad.ckpt")
    with pytest.raises(Real3DError) as info:
        LRM.from_pretrained(tiny_model_copy, weight_name="bad.ckpt")
    message = str(info.value)
    assert "decoder.layers.0.bias" in message
    assert "extra.weight" in message
    assert "tokenizer.embeddings" in message


def test_corrupt_checkpoint_is_a_user_error(tiny_model_copy: Path) -> None:
    (tiny_model_copy / "model.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(Real3DError, match="cannot read checkpoint"):
        LRM.from_pretrained(tiny_model_copy)


def test_unknown_class_path_is_rejected(tiny_model_copy: Path) -> None:
    cfg = (tiny_model_copy / "config.yaml").read_text()
    (tiny_model_copy / "config.yaml").write_text(cfg.replace("tsr.models.network_utils.NeRFMLP", "os.system"))
    with pytest.raises(Real3DError, match="unknown class"):
        LRM.from_pretrained(tiny_model_copy)


def test_hub_vit_name_resolves_offline() -> None:
    from real3d.models.config import resolve_vit_config

    cfg = resolve_vit_config("facebook/dino-vitb16", None)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.patch_size) == (768, 12, 16)
    with pytest.raises(Real3DError, match="not found"):
        resolve_vit_config("someone/unknown-vit", None)
