"""scripts/export.py: a typed weight name, a whole output folder (staged, replacing an earlier export, never
a user's folder), a bad checkpoint in one line; fuzzed over its flags and the checkpoint's bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from real3d.cli import error_line
from real3d.models import LRM
from scripts.export import main as export_main
from tests.conftest import TINY_MODEL_DIR
from tests.helpers.fuzz import fuzz_settings


def training_checkpoint(path: Path, model_config: dict | None = None) -> Path:
    """A training checkpoint of the tiny model as Real3DModule saves one (state dict under `net.`, `real3d`)."""
    net = LRM.from_pretrained(TINY_MODEL_DIR)
    real3d = {
        "iteration": 3,
        "model_config": model_config or OmegaConf.to_container(net.cfg, resolve=True),
        "vit_config": net.image_tokenizer.model.config.to_dict(),
    }
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, "real3d": real3d}, path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return training_checkpoint(tmp_path_factory.mktemp("ckpt") / "last.ckpt")


def errors(capsys: pytest.CaptureFixture) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("export: error: ")]


def test_export_writes_a_loadable_folder_and_replaces_an_earlier_export(checkpoint, tmp_path, capsys) -> None:
    out = tmp_path / "exported"
    assert export_main([str(checkpoint), str(out)]) == 0
    assert export_main([str(checkpoint), str(out), "--weight-name", "other.ckpt"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "dino-tiny", "other.ckpt"]  # no model.ckpt mixed in
    LRM.from_pretrained(out, weight_name="other.ckpt")
    assert [p.name for p in tmp_path.iterdir()] == ["exported"]  # no staging folder left


def test_a_users_folder_or_a_file_is_refused_before_any_work(checkpoint, tmp_path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert export_main([str(checkpoint), str(mine)]) == 2
    assert errors(capsys) == [
        f"export: error: output_dir={mine}: holds notes.txt, which this script did not write; give a new or empty "
        "folder (an earlier result of the same script is replaced)"
    ]
    assert (mine / "notes.txt").read_text() == "mine"
    (tmp_path / "a_file").write_text("x")
    assert export_main([str(checkpoint), str(tmp_path / "a_file")]) == 2
    assert errors(capsys) == [f"export: error: output_dir={tmp_path / 'a_file'}: is a file, not a folder"]


def test_a_bad_checkpoint_is_one_line(tmp_path, capsys) -> None:
    truncated = tmp_path / "truncated.ckpt"
    training_checkpoint(truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    assert export_main([str(truncated), str(tmp_path / "a")]) == 2
    assert errors(capsys)[0].startswith(f"export: error: cannot read checkpoint {truncated}")
    no_config = tmp_path / "no_config.ckpt"
    torch.save({"state_dict": {}, "real3d": {"iteration": 1}}, no_config)
    assert export_main([str(no_config), str(tmp_path / "b")]) == 2
    assert errors(capsys) == [
        f"export: error: {no_config} is not a usable Real3D training checkpoint (KeyError: 'model_config')"
    ]
    wrong = tmp_path / "wrong.ckpt"
    training_checkpoint(wrong, model_config={"cond_image_size": "big"})
    assert export_main([str(wrong), str(tmp_path / "c")]) == 2
    assert errors(capsys)[0].startswith(f"export: error: {wrong} is not a usable Real3D training checkpoint")
    assert not any(p.name.startswith(("a", "b", "c", ".")) for p in tmp_path.iterdir())


@pytest.mark.parametrize("name", ["", "../model.ckpt", "sub/model.ckpt", ".hidden.ckpt", "model.safetensors", "m"])
def test_weight_name_is_a_plain_torch_file_name(checkpoint, tmp_path, capsys, name: str) -> None:
    with pytest.raises(SystemExit) as info:
        export_main([str(checkpoint), str(tmp_path / "out"), "--weight-name", name])
    assert info.value.code == 2
    assert "must be a plain file name ending in .ckpt, .pth, .pt, .bin" in errors(capsys)[0]


@fuzz_settings(25)
@given(
    content=st.one_of(st.binary(max_size=300), st.just(b"PK\x03\x04" + bytes(60))),
    name=st.one_of(st.text(max_size=12), st.sampled_from(["model.ckpt", "w.pth", "config.yaml"])),
)
def test_fuzz_export_flags_and_checkpoint_bytes(tmp_path_factory, capsys, content: bytes, name: str) -> None:
    """Random bytes as the checkpoint, any weight name: exit 2 with one line (never a traceback)."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "x.ckpt").write_bytes(content)
    try:
        code = export_main([str(folder / "x.ckpt"), str(folder / "out"), f"--weight-name={name}"])
    except SystemExit as exc:  # argparse: a bad flag value
        code = exc.code
    assert code == 2
    lines = errors(capsys)
    assert len(lines) == 1 and len(error_line("export", lines[0]).splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["x.ckpt"]
