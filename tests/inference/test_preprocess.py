"""Demo input handling: image modes, framing of the object, grey compositing, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from real3d.errors import Real3DError
from real3d.inference.background import BackgroundRemover, has_transparency
from real3d.inference.preprocess import composite_on_grey, load_image, prepare_input, resize_foreground


def rgba_square(size: int = 100, box: tuple[int, int, int, int] = (20, 30, 60, 50)) -> PIL.Image.Image:
    array = np.zeros((size, size, 4), np.uint8)
    y0, x0, y1, x1 = box
    array[y0:y1, x0:x1] = [200, 40, 40, 255]
    return PIL.Image.fromarray(array)


def test_resize_foreground_frames_object_at_ratio() -> None:
    out = resize_foreground(rgba_square(), 0.5)  # object 40x20 -> square 40 -> side 80
    alpha = np.asarray(out)[..., 3]
    assert out.size == (80, 80)
    ys, xs = np.nonzero(alpha)
    assert ys.max() - ys.min() + 1 == 40
    assert abs((ys.min() + ys.max()) / 2 - 39.5) <= 0.5
    assert abs((xs.min() + xs.max()) / 2 - 39.5) <= 0.5


def test_empty_mask_is_a_clear_error() -> None:
    with pytest.raises(Real3DError, match="no foreground"):
        resize_foreground(PIL.Image.new("RGBA", (10, 10)), 0.85)


def test_composite_on_grey() -> None:
    out = np.asarray(composite_on_grey(rgba_square()))
    assert out.shape == (100, 100, 3)
    assert tuple(out[0, 0]) == (127, 127, 127)
    assert tuple(out[25, 40]) == (200, 40, 40)


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("L", lambda: PIL.Image.fromarray(np.full((20, 30), 90, np.uint8))),
        ("P", lambda: PIL.Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).convert("P")),
        ("I;16", lambda: PIL.Image.fromarray(np.full((20, 30), 40000, np.uint16))),
        ("LA", lambda: PIL.Image.fromarray(np.full((20, 30, 2), 90, np.uint8), "LA")),
        ("CMYK", lambda: PIL.Image.new("CMYK", (30, 20))),
    ],
)
def test_load_image_converts_modes_to_8bit(tmp_path: Path, mode: str, make) -> None:  # noqa: ANN001
    path = tmp_path / f"img_{mode.replace(';', '')}.{'jpg' if mode == 'CMYK' else 'png'}"
    make().save(path)
    image = load_image(path)
    assert image.mode in ("RGB", "RGBA")
    assert image.size == (30, 20)
    if mode == "I;16":
        assert np.asarray(image)[0, 0, 0] == int(40000 / 65535 * 255)


def test_load_image_downscales_very_large(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    PIL.Image.new("RGB", (5000, 100)).save(path)
    assert max(load_image(path).size) == 4096


def test_bad_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(Real3DError, match="file not found"):
        load_image(tmp_path / "absent.png")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(Real3DError, match="not a readable image"):
        load_image(corrupt)


def test_prepare_input_keeps_given_alpha_and_uses_rembg_otherwise(tiny_u2net: Path) -> None:
    rgba = rgba_square()
    assert has_transparency(rgba)
    assert prepare_input(rgba, None, 0.85).mode == "RGB"
    rgb = np.full((100, 100, 3), 240, np.uint8)
    rgb[40:60, 30:70] = 20
    remover = BackgroundRemover(tiny_u2net)
    out = np.asarray(prepare_input(PIL.Image.fromarray(rgb), remover, 0.5))
    # The dark object is framed: 40 px wide -> ~80 px square (a few px of soft mask edge), grey around it.
    assert out.shape[0] == out.shape[1] and 78 <= out.shape[0] <= 96
    assert abs(int(out[2, 2, 0]) - 127) <= 3
    with pytest.raises(Real3DError, match="background removal is off"):
        prepare_input(PIL.Image.fromarray(rgb), None, 0.85)


def test_missing_rembg_model_says_where(tmp_path: Path) -> None:
    with pytest.raises(Real3DError, match="--no-remove-bg"):
        BackgroundRemover(tmp_path / "u2net.onnx")
