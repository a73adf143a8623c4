"""eval_mv / eval_sv runs: nothing evaluated is an error, output folders whole (staged, replaced, nothing
left by Ctrl-C), the readers skip random bytes, and the scripts answer in one line from any folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import PIL.Image
import pytest
from hypothesis import given
from hypothesis import strategies as st

from real3d.data.co3d import CO3DMultiView
from real3d.data.mvimgnet import MVImgNetMultiView
from real3d.data.omniobject3d import OmniObject3DMultiView
from real3d.errors import Real3DError
from real3d.evaluation import outputs
from real3d.evaluation.runner import run_multiview, run_singleview, skip_reasons
from real3d.evaluation.singleview import WildItem, evaluate_singleview
from tests.conftest import TINY_MODEL_DIR
from tests.data import test_mvimgnet, test_omniobject3d
from tests.data.test_co3d import NAMES
from tests.evaluation.configs import ROOT, co3d_set, compose_eval, mv_overrides, sv_overrides
from tests.evaluation.test_singleview_eval import write_rgba
from tests.helpers.cli import run_entry, user_error
from tests.helpers.fuzz import fuzz_settings


def leftovers(parent: Path) -> list[str]:
    """Hidden staging or old folders an evaluation left beside its output."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_every_object_skipped_is_an_error_naming_the_root_and_the_reasons(tmp_path: Path) -> None:
    root, split = co3d_set(tmp_path, good=0, missing=3)
    cfg = compose_eval("eval_mv_co3d", mv_overrides(root, split, tmp_path / "out"))
    with pytest.raises(Real3DError) as info:
        run_multiview(cfg)
    message = str(info.value)
    assert message.startswith(f"nothing evaluated: all 3 objects under dataset.root={root} were skipped: 3 x BadItem")
    assert "(e.g. chair/missing0)" in message and "\n" not in message
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_an_empty_split_is_an_error(tmp_path: Path) -> None:
    root, split = co3d_set(tmp_path, good=0)
    cfg = compose_eval("eval_mv_co3d", mv_overrides(root, split, tmp_path / "out"))
    with pytest.raises(Real3DError, match="nothing evaluated: no objects listed under dataset.root="):
        run_multiview(cfg)


def test_skip_reasons_count_one_cause_once_whatever_the_paths() -> None:
    skipped = [{"name": f"s{i}", "reason": f"BadItem: cannot read image /d/s{i}/f.jpg: bad"} for i in range(3)]
    skipped.append({"name": "t", "reason": "BadItem: the input view's mask is empty"})
    assert skip_reasons(skipped) == (
        "3 x BadItem: cannot read image <path>: bad (e.g. s0); 1 x BadItem: the input view's mask is empty (e.g. t)"
    )


def test_every_image_skipped_is_an_error_for_eval_sv(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"not an image")
    PIL.Image.new("RGB", (20, 20)).save(photos / "b.png")  # no alpha, no mask
    cfg = compose_eval("eval_sv", sv_overrides(photos, tmp_path / "out"))
    with pytest.raises(Real3DError) as info:
        run_singleview(cfg)
    assert str(info.value).startswith(f"nothing evaluated: all 2 images under dataset.folder={photos} were skipped: ")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_a_rerun_replaces_the_earlier_results_and_never_mixes(tmp_path: Path) -> None:
    root, split = co3d_set(tmp_path, good=1, missing=1)
    out = tmp_path / "out"
    first = [*mv_overrides(root, split, out), "visuals.vis360=true", "visuals.vis360_views=2", "visuals.vis360_size=16"]
    run_multiview(compose_eval("eval_mv_co3d", first))
    assert len(list((out / "videos").glob("*.mp4"))) == 1
    run_multiview(compose_eval("eval_mv_co3d", [*mv_overrides(root, split, out), "visuals.num_side_by_side=0"]))
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.json"]  # no video, no image of run 1
    assert json.loads((out / "metrics.json").read_text())["config"]["visuals"]["vis360"] is False
    assert leftovers(tmp_path) == []


def test_ctrl_c_keeps_the_earlier_results_and_leaves_nothing_partial(tmp_path: Path, monkeypatch) -> None:
    root, split = co3d_set(tmp_path, good=2)
    out = tmp_path / "out"
    run_multiview(compose_eval("eval_mv_co3d", mv_overrides(root, split, out)))
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    written = []

    def interrupted(image, path):
        written.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "save_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_multiview(compose_eval("eval_mv_co3d", [*mv_overrides(root, split, out), "render_size=32"]))
    assert written and not written[0].is_relative_to(out)  # the run wrote into its staging folder only
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert leftovers(tmp_path) == []


def test_eval_mv_cli_on_an_empty_root_exits_2_in_one_line(tmp_path: Path) -> None:
    """The reported case, as a user runs it from their own folder with a relative root."""
    (tmp_path / "empty").mkdir()
    argv = ["dataset.root=empty", "device=cpu", "output_dir=out", f"model.path={TINY_MODEL_DIR}", "num_workers=0"]
    argv += ["pretrained.allow_random=true", "progress=false"]
    done = run_entry(["python", str(ROOT / "scripts" / "eval_mv.py"), *argv], cwd=tmp_path)
    assert done.returncode == 2
    message = user_error(done.stderr, "eval_mv")
    assert message.startswith("nothing evaluated: all 99 objects under dataset.root=empty were skipped: 99 x BadItem")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("eval_mv", ["render_size=0"], "render_size=0: must be an integer >= 16"),
        ("eval_mv", ["foo=1"], "Could not override 'foo'"),
        ("eval_sv", ["orbit.render_size=100000"], "orbit.render_size=100000: needs about"),
        ("eval_sv", ["dataset.root=nowhere"], "dataset.root=nowhere: folder not found"),
    ],
)
def test_eval_cli_mistakes_are_one_line(tmp_path: Path, script: str, argv: list[str], message: str) -> None:
    done = run_entry(["python", str(ROOT / "scripts" / f"{script}.py"), *argv, "device=cpu"], cwd=tmp_path)
    assert done.returncode == 2 and message in user_error(done.stderr, script)


# ----------------------------------------------------------------------- random bytes as images

BYTES = st.one_of(
    st.binary(max_size=256),
    st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b""]).map(lambda b: b + bytes(40)),
)


def _is_sample_or_skip(item: dict) -> None:
    assert "skipped" in item or item["rgb"].ndim == 4, item
    if "skipped" in item:
        assert isinstance(item["skipped"], str) and item["skipped"]


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One good object per multi-view format, and a wild RGBA photo."""
    folder = tmp_path_factory.mktemp("readers")
    co3d_root, co3d_split = co3d_set(folder / "co3d_set")
    test_mvimgnet.make_sequence(folder / "mvimgnet")
    mv_split = folder / "mv_split.json"
    mv_split.write_text(json.dumps({"test": [["12/abc", *test_mvimgnet.NAMES]]}))
    test_omniobject3d.make_object(folder / "omni")
    omni_split = folder / "omni_split.json"
    omni_split.write_text(json.dumps({"test": ["apple_007"]}))
    write_rgba(folder / "wild" / "photo.png", 0)
    return {
        "co3d": (CO3DMultiView(co3d_root, co3d_split, image_size=16, cond_image_size=16), co3d_root),
        "mvimgnet": (
            MVImgNetMultiView(folder / "mvimgnet" / "image", folder / "mvimgnet" / "mask", mv_split, image_size=16),
            folder / "mvimgnet",
        ),
        "omni": (OmniObject3DMultiView(folder / "omni", omni_split, every_nth=1, image_size=16), folder / "omni"),
        "wild": folder / "wild" / "photo.png",
    }


@fuzz_settings(30)
@given(data=st.data(), content=BYTES)
def test_fuzz_multiview_readers_skip_random_bytes(readers: dict, data, content: bytes) -> None:
    """Random bytes in place of one image or mask file of an object: the object is read or skipped with a
    reason, never an exception (the file is restored after)."""
    name = data.draw(st.sampled_from(["co3d", "mvimgnet", "omni"]))
    dataset, root = readers[name]
    files = sorted(p for p in root.rglob("*") if p.suffix in (".jpg", ".png"))
    target = data.draw(st.sampled_from(files))
    original = target.read_bytes()
    try:
        target.write_bytes(content)
        _is_sample_or_skip(dataset[0])
    finally:
        target.write_bytes(original)


@fuzz_settings(20)
@given(content=BYTES)
def test_fuzz_wild_reader_skips_random_bytes(readers: dict, tiny_model, content: bytes) -> None:
    path = readers["wild"].with_name("random.png")
    path.write_bytes(content)
    result = evaluate_singleview(tiny_model, [WildItem("random.png", path)], None, None, image_size=32, n_views=2,
                                 render_size=16, consistency=False)  # fmt: skip
    assert result["num_objects"] + result["num_skipped"] == 1
    assert all(s["reason"] for s in result["skipped"])


def test_wild_reader_skips_an_image_bomb(readers: dict, tiny_model, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    PIL.Image.new("L", (20000, 20000)).save(bomb)  # 400 MP: over PIL's limit, refused before decoding
    result = evaluate_singleview(tiny_model, [WildItem("bomb.png", bomb)], None, None, image_size=32, n_views=2,
                                 render_size=16, consistency=False)  # fmt: skip
    assert result["num_skipped"] == 1 and "DecompressionBomb" in result["skipped"][0]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_is_one_line_exit_130_and_leaves_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    root, split = co3d_set(tmp_path, good=1)
    split.write_text(json.dumps({"test": [["chair/good0", *NAMES]] * 500}))
    argv = [*mv_overrides(root, split, tmp_path / "out"), "render_size=64", "model.render.num_samples_per_ray=64"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "eval_mv.py"), *argv], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".out.") for p in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # inside the evaluation
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.splitlines()[-1] == "eval_mv: interrupted" and "Traceback" not in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
