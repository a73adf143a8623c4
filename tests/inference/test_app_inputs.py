"""The web demo checks every event's inputs on the server, whatever a client sends (the first event skips
gradio's own preprocessing): a bad value is a page error that names the setting and no server path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from real3d.inference.limits import Range
from real3d.inference.pipeline import ImageTo3D, demo_settings
from real3d.models import LRM
from scripts.app import EXAMPLES_DIR, DemoApp, PageRanges, page_message

gr = pytest.importorskip("gradio")

SMALL = PageRanges(mc_resolution=Range(8, 32), views=Range(0, 3), texture_resolution=Range(8, 64))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    folder = tmp_path / "gradio-cache"
    folder.mkdir()
    return folder


@pytest.fixture
def app(tiny_model: LRM, tmp_path: Path, cache: Path) -> DemoApp:
    settings = demo_settings(tiny_model.cfg, render=True, render_size=16, mc_threshold=1.5)
    (tmp_path / "work").mkdir()
    return DemoApp(ImageTo3D(tiny_model, settings), tmp_path / "work", SMALL, inputs_from=(cache,))


def uploaded(cache: Path, name: str = "photo.png", side: int = 32) -> dict:
    array = np.zeros((64, 80, 4), np.uint8)
    array[16 : 16 + side, 24 : 24 + side] = [30, 160, 60, 255]
    path = cache / "a1b2" / "upload.png"
    path.parent.mkdir(exist_ok=True)
    PIL.Image.fromarray(array).save(path)
    return {"path": str(path), "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def page_error(call) -> str:  # noqa: ANN001 - a handler call
    with pytest.raises(gr.Error) as caught:
        call()
    return caught.value.message


BAD_RATIOS = [math.nan, math.inf, -1.0, 0.0, 0.1, 1.5, 1e308, "0.5", None, True, [0.5], {"value": 0.5}]


@pytest.mark.parametrize("ratio", BAD_RATIOS, ids=repr)
def test_a_bad_foreground_ratio_from_a_client_is_a_page_error(app: DemoApp, cache: Path, ratio: object) -> None:
    message = page_error(lambda: app.preprocess(uploaded(cache), True, ratio))
    assert message.startswith("Foreground ratio must be a number in [0.3, 1], got ")


@pytest.mark.parametrize("flag", ["true", 1, None, [True]], ids=repr)
def test_a_bad_checkbox_value_is_a_page_error(app: DemoApp, cache: Path, flag: object) -> None:
    assert "Remove background must be true or false" in page_error(lambda: app.preprocess(uploaded(cache), flag, 0.5))
    _, prepared = app.preprocess(uploaded(cache), True, 0.65)
    assert "Bake texture must be true or false" in page_error(lambda: app.reconstruct(prepared, 16, 1.5, 0, flag, 64))


@pytest.mark.parametrize(
    "payload",
    [None, "", "/etc/passwd", 5, {}, {"path": None}, {"path": 7}, {"path": ["a"]}, {"path": "x\0y"}],
    ids=repr,
)
def test_no_image_in_the_payload_is_a_page_error(app: DemoApp, payload: object) -> None:
    assert page_error(lambda: app.preprocess(payload, True, 0.65)).startswith("No image")


def test_a_file_outside_the_upload_and_example_folders_is_never_read(app: DemoApp, cache: Path, tmp_path: Path) -> None:
    secret = tmp_path / "server_secret.png"
    PIL.Image.new("RGBA", (8, 8), (1, 2, 3, 100)).save(secret)
    (cache / "link.png").symlink_to(secret)
    for path in (secret, cache / ".." / "server_secret.png", cache / "link.png", Path("/etc/passwd")):
        message = page_error(lambda path=path: app.preprocess({"path": str(path), "orig_name": "x.png"}, True, 0.65))
        assert message.startswith("This file was not uploaded to the page")
        assert str(tmp_path) not in message and "/etc" not in message


def test_the_examples_are_inputs_too(tiny_model: LRM, tmp_path: Path) -> None:
    settings = demo_settings(tiny_model.cfg, render=False)
    app = DemoApp(ImageTo3D(tiny_model, settings), tmp_path)  # gradio's upload folder and the examples
    shown, _ = app.preprocess({"path": str(EXAMPLES_DIR / "mug.png"), "orig_name": "mug.png"}, False, 0.65)
    assert shown.mode == "RGB"


@pytest.mark.parametrize(
    ("index", "value", "says"),
    [
        (0, 0, "Marching cubes resolution must be an integer in [8, 32]"),
        (0, 33, "Marching cubes resolution must be an integer in [8, 32]"),
        (0, 16.5, "Marching cubes resolution must be an integer in [8, 32]"),
        (0, "16", "Marching cubes resolution must be an integer"),
        (0, math.nan, "Marching cubes resolution must be an integer"),
        (0, 10**12, "Marching cubes resolution must be an integer"),
        (1, 0.0, "Marching cubes threshold must be a number in [0.5, 50]"),
        (1, -math.inf, "Marching cubes threshold must be a number"),
        (1, None, "Marching cubes threshold must be a number"),
        (2, -1, "Video views must be an integer in [0, 3]"),
        (2, 4, "Video views must be an integer in [0, 3]"),
        (2, 2.5, "Video views must be an integer in [0, 3]"),
        (4, 7, "Texture resolution must be an integer in [8, 64]"),
        (4, 10**6, "Texture resolution must be an integer in [8, 64]"),
    ],
)
def test_a_bad_reconstruct_setting_is_a_page_error(
    app: DemoApp, cache: Path, index: int, value: object, says: str
) -> None:
    _, prepared = app.preprocess(uploaded(cache), True, 0.65)
    values = [16, 1.5, 0, False, 64]
    values[index] = value
    message = page_error(lambda: app.reconstruct(prepared, *values))
    assert message.startswith(says) and message.endswith(".")


@pytest.mark.parametrize("prepared", [None, "input.png", {"path": "/etc/passwd"}, np.zeros((4, 4, 3))], ids=repr)
def test_reconstruct_takes_only_the_servers_own_prepared_image(app: DemoApp, prepared: object) -> None:
    assert page_error(lambda: app.reconstruct(prepared, 16, 1.5, 0, False, 64)).startswith("No preprocessed input")


def test_a_limit_is_named_by_the_pages_label(tiny_model: LRM, tmp_path: Path, cache: Path) -> None:
    settings = demo_settings(tiny_model.cfg, render=False, mc_threshold=1.5)
    ranges = PageRanges(foreground_ratio=Range(0.0001, 1.0))
    app = DemoApp(ImageTo3D(tiny_model, settings), tmp_path, ranges, inputs_from=(cache,))
    message = page_error(lambda: app.preprocess(uploaded(cache), True, 0.0001))
    assert message.startswith("Foreground ratio: 0.0001 would frame this 32-px object in a 320000-px canvas")


def test_page_errors_name_no_server_path(tiny_model: LRM, tmp_path: Path, cache: Path) -> None:
    settings = demo_settings(tiny_model.cfg, render=False)
    missing_model = tmp_path / "private" / "models" / "u2net.onnx"
    app = DemoApp(ImageTo3D(tiny_model, settings, rembg_model=str(missing_model)), tmp_path, inputs_from=(cache,))
    upload = uploaded(cache, name="holiday.jpg")
    PIL.Image.new("RGB", (20, 20), (200, 10, 10)).save(upload["path"])  # no alpha: needs background removal
    message = page_error(lambda: app.preprocess(upload, True, 0.65))
    assert "background-removal model not found: u2net.onnx" in message
    assert "/" not in message.replace("--no-remove-bg", "")
    corrupt = uploaded(cache, name="holiday.jpg")
    Path(corrupt["path"]).write_bytes(b"not an image")
    message = page_error(lambda: app.preprocess(corrupt, True, 0.65))
    assert message.startswith("holiday.jpg: not a readable image") and str(cache) not in message


def test_page_message_keeps_the_users_words_and_drops_server_paths() -> None:
    assert page_message("cannot load /srv/app/models/u2net.onnx: bad") == "cannot load u2net.onnx: bad"
    assert page_message("ratio 1/0.65 and/or ~/.u2net/ (0, 1]") == "ratio 1/0.65 and/or ~/.u2net/ (0, 1]"
    assert page_message("/tmp/gradio/ab/upload.png: bad", {"/tmp/gradio/ab/upload.png": "me.png"}) == "me.png: bad"
