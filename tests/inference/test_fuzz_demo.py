"""Fuzzing the demo's entry points: run.py's flags and images, the web page's event handlers. Whatever comes
in: a result, or one error line (exit 2, or 1 for a batch with failed images) / a page error; never a
traceback, never a server path on the page. Budgets: tests/helpers/fuzz.py (10x under -m slow)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from real3d.inference import limits
from real3d.inference.limits import Range
from real3d.inference.pipeline import ImageTo3D, demo_settings
from real3d.models import LRM
from scripts.app import DemoApp, PageRanges
from scripts.run import main, parse_args
from tests.helpers.cli import ROOT
from tests.helpers.fuzz import fuzz_settings

gr = pytest.importorskip("gradio")

TINY = ROOT / "tests" / "fixtures" / "parity" / "tiny"

# Each typed flag of run.py and what a value it accepts must satisfy.
FLAG_RULES = {
    "--mc-resolution": lambda v: isinstance(v, int) and limits.MC_RESOLUTION.low <= v <= limits.MC_RESOLUTION.high,
    "--mc-threshold": lambda v: math.isfinite(v) and v > 0,
    "--chunk-size": lambda v: isinstance(v, int) and 0 <= v <= limits.MAX_QUERY_POINTS,
    "--render-size": lambda v: v % 2 == 0 and limits.RENDER_SIZE.low <= v <= limits.RENDER_SIZE.high,
    "--render-num-views": lambda v: 1 <= v <= 1000,
    "--texture-resolution": lambda v: limits.TEXTURE_RESOLUTION.low <= v <= limits.TEXTURE_RESOLUTION.high,
    "--foreground-ratio": lambda v: 0 < v <= 1,
    "--device": lambda v: v in ("auto", "cpu", "cuda") or v.startswith("cuda:"),
    "--output-dir": lambda v: bool(v.strip()),
    "--weight-name": lambda v: bool(v.strip()),
}
VALUES = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.integers(-2, 2 * int(limits.RENDER_SIZE.high)).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "0x10", "", " ", "cuda:7", "mps", "12abc", "1_000", "٣٢"]),
    st.text(max_size=12),
)


def one_error_line(stderr: str, prog: str = "run") -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"{prog}: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@fuzz_settings(60)
@given(flag=st.sampled_from(sorted(FLAG_RULES)), value=VALUES, joined=st.booleans())
@example(flag="--mc-resolution", value="-5", joined=False)
@example(flag="--render-size", value="17", joined=True)
def test_run_flags_parse_or_are_one_line(flag: str, value: str, joined: bool, capsys: pytest.CaptureFixture) -> None:
    argv = ["photo.png", f"{flag}={value}"] if joined else ["photo.png", flag, value]
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 2
        one_error_line(capsys.readouterr().err)
        return
    parsed = getattr(args, flag[2:].replace("-", "_"))
    assert FLAG_RULES[flag](parsed), (flag, value, parsed)


def image_bytes() -> st.SearchStrategy[bytes]:
    """Random bytes, real images of any mode and size (some with a mask), and truncated real images."""

    @st.composite
    def encoded(draw: st.DrawFn) -> bytes:
        mode = draw(st.sampled_from(["RGBA", "RGB", "L", "LA", "P", "I;16", "1", "CMYK"]))
        fmt = draw(st.sampled_from(["PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF"]))
        w, h = draw(st.integers(1, 48)), draw(st.integers(1, 48))
        seed = draw(st.integers(0, 2**32 - 1))
        pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
        image = PIL.Image.fromarray(pixels, "RGBA")
        image = image if mode == "RGBA" else image.convert(mode)
        buffer = io.BytesIO()
        try:
            image.save(buffer, format=fmt)
        except (OSError, ValueError, KeyError):  # a mode this format cannot hold: keep PNG's RGBA
            buffer = io.BytesIO()
            image.convert("RGBA").save(buffer, format="PNG")
        data = buffer.getvalue()
        return data[: draw(st.integers(1, len(data)))] if draw(st.booleans()) else data

    return st.one_of(encoded(), st.binary(max_size=512))


@pytest.fixture(scope="module")
def u2net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.tiny_onnx import write_tiny_u2net

    return write_tiny_u2net(tmp_path_factory.mktemp("u2net") / "u2net.onnx")


@fuzz_settings(6)
@given(
    images=st.lists(image_bytes(), min_size=1, max_size=2),
    ratio=st.floats(0.01, 1.0),
    resolution=st.integers(8, 20),
    render=st.booleans(),
)
def test_run_on_random_images_succeeds_or_says_why_per_image(
    images: list[bytes], ratio: float, resolution: int, render: bool, u2net: Path,
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("fuzz")
    paths = []
    for i, data in enumerate(images):
        paths.append(folder / f"image{i}.png")
        paths[-1].write_bytes(data)
    argv = [*map(str, paths), "--pretrained-model-name-or-path", str(TINY), "--rembg-model", str(u2net),
            "--mc-resolution", str(resolution), "--mc-threshold", "1.5", "--foreground-ratio", repr(ratio),
            "--output-dir", str(folder / "out")]  # fmt: skip
    if render:
        argv += ["--render", "--render-num-views", "2", "--render-size", "16"]
    code = main(argv)
    stderr = capsys.readouterr().err
    event(f"exit {code}")
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("run: error: ")]
    assert (code, bool(errors)) in ((0, False), (1, True))
    assert code == 0 or f"{len(errors)} of {len(images)} image(s) failed" in stderr
    finished = {p.name for p in (folder / "out").iterdir()}
    assert len(errors) + len(finished) == len(images)  # each image: a whole folder or one line
    assert not [name for name in finished if name.startswith(".")]


SMALL = PageRanges(mc_resolution=Range(8, 16), views=Range(0, 2), texture_resolution=Range(8, 32))
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, u2net: Path) -> DemoApp:
    model = LRM.from_pretrained(TINY).eval()
    settings = demo_settings(model.cfg, render=True, render_size=16, mc_threshold=1.5)
    root = tmp_path_factory.mktemp("app")
    (root / "work").mkdir()
    (root / "cache").mkdir()
    demo = ImageTo3D(model, settings, rembg_model=str(u2net))
    return DemoApp(demo, root / "work", SMALL, inputs_from=(root / "cache",))


def no_server_path(message: str, app: DemoApp) -> None:
    root = str(app.work_dir.parent)
    assert root not in message and "/cache/" not in message, message


def broken_sets(names: list[str]) -> st.SearchStrategy[frozenset[str]]:
    """Which arguments a client breaks: none half the time (a real run), else one to all of them."""
    return st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(names), min_size=1))


@fuzz_settings(30)
@given(
    broken=broken_sets(["image", "remove_bg", "ratio"]),
    content=image_bytes(),
    where=st.sampled_from(["outside", "missing", "text", "none"]),
    orig_name=st.one_of(st.none(), st.text(max_size=20), ANYTHING),
    remove_bg=ANYTHING,
    ratio=st.one_of(st.floats(0.3, 1.0), ANYTHING),
)
def test_the_preprocess_event_answers_any_client_with_a_result_or_a_page_error(
    fuzz_app: DemoApp, broken: frozenset[str], content: bytes, where: str, orig_name: object, remove_bg: object,
    ratio: object,
) -> None:  # fmt: skip
    root = fuzz_app.work_dir.parent
    where = where if "image" in broken else "cache"
    path = {"cache": root / "cache" / "up.png", "outside": root / "up.png", "missing": root / "cache" / "no.png"}
    payload: object = {"path": str(path.get(where, "")), "orig_name": orig_name}
    payload = {"text": str(content), "none": None}.get(where, payload)
    if where in ("cache", "outside"):
        path[where].write_bytes(content)
    args = (payload, remove_bg if "remove_bg" in broken else True, ratio if "ratio" in broken else 0.65)
    try:
        shown, prepared = fuzz_app.preprocess(*args)
    except gr.Error as exc:
        event(f"page error: {exc.message.split(':')[0][:30]}")
        no_server_path(exc.message, fuzz_app)
        return
    event("prepared")
    assert where == "cache" and isinstance(prepared, PIL.Image.Image) and prepared.mode == "RGB"


@pytest.fixture(scope="module")
def prepared(fuzz_app: DemoApp) -> PIL.Image.Image:
    array = np.zeros((40, 40, 4), np.uint8)
    array[10:30, 12:28] = [30, 160, 60, 255]
    return fuzz_app.demo.prepare(PIL.Image.fromarray(array))


RECONSTRUCT_ARGS = ["image", "resolution", "threshold", "views", "bake", "texture", "faces", "floaters"]


@fuzz_settings(20)
@given(
    broken=broken_sets(RECONSTRUCT_ARGS),
    junk=st.fixed_dictionaries({name: ANYTHING for name in RECONSTRUCT_ARGS}),
    resolution=st.integers(8, 16),
    threshold=st.floats(0.5, 50.0),
    views=st.integers(0, 2),
    bake=st.booleans(),
    texture=st.integers(8, 32),
    faces=st.sampled_from([0, 4, 200]),
    floaters=st.sampled_from(["all", "0.05", "largest"]),
)
def test_the_reconstruct_event_answers_any_client_with_a_result_or_a_page_error(
    fuzz_app: DemoApp, prepared: PIL.Image.Image, broken: frozenset[str], junk: dict, resolution: int,
    threshold: float, views: int, bake: bool, texture: int, faces: int, floaters: str,
) -> None:  # fmt: skip
    values = [prepared, resolution, threshold, views, bake, texture, faces, floaters]
    valid = dict(zip(RECONSTRUCT_ARGS, values, strict=True))
    args = [junk[name] if name in broken else valid[name] for name in RECONSTRUCT_ARGS]
    try:
        view, video, obj, glb, summary = fuzz_app.reconstruct(*args)
    except gr.Error as exc:
        event(f"page error: {exc.message.split(' must')[0].split(':')[0][:30]}")
        no_server_path(exc.message, fuzz_app)
        return
    event("reconstructed")
    assert Path(view).is_file() and Path(obj).is_file() and Path(glb).is_file()
    assert (video is None) == (args[3] == 0)
    assert "faces" in summary
