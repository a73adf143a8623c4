"""The web demo's handlers on the tiny model: bad uploads, stages, downloads, the viewer copy, the queue."""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import trimesh

from real3d.inference.export import FILE_AXES, GLTF_VIEWER_AXES
from real3d.inference.pipeline import ImageTo3D, demo_settings
from real3d.models import LRM
from real3d.models.loading import DEFAULT_DIR
from scripts.app import STAGE_LABELS, DemoApp, PageRanges, build_demo, model_line

gr = pytest.importorskip("gradio")


@pytest.fixture
def app(tiny_model: LRM, tmp_path: Path, page_ranges: PageRanges) -> DemoApp:
    settings = demo_settings(tiny_model.cfg, render=True, render_size=16, mc_threshold=1.5)
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    return DemoApp(ImageTo3D(tiny_model, settings), work_dir, page_ranges, inputs_from=(tmp_path / "gradio-cache",))


def upload(tmp_path: Path, image: PIL.Image.Image | bytes, name: str = "photo.png") -> dict:
    """gradio's raw payload for an uploaded file: a cache path and the user's file name."""
    path = tmp_path / "gradio-cache" / "3f9c2e" / "upload.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, bytes):
        path.write_bytes(image)
    else:
        image.save(path)
    return {"path": str(path), "orig_name": name}


def object_rgba() -> PIL.Image.Image:
    array = np.zeros((64, 80, 4), np.uint8)
    array[16:48, 24:56] = [30, 160, 60, 255]
    return PIL.Image.fromarray(array)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size (no pixel data): what a decompression bomb looks like up front."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is text, not a picture", "photo.png: not a readable image"),
        (PIL.Image.new("RGBA", (20, 20)), "no foreground found"),
        (png_header_only(20000, 20000), "photo.png: image too large"),
    ],
    ids=["not-an-image", "no-foreground", "too-large"],
)
def test_bad_uploads_are_one_clear_message_naming_the_users_file(
    app: DemoApp, tmp_path: Path, content: PIL.Image.Image | bytes, message: str
) -> None:
    payload = upload(tmp_path, content)
    with pytest.raises(gr.Error) as caught:
        app.preprocess(payload, True, 0.65)
    assert message in caught.value.message
    assert "gradio-cache" not in caught.value.message  # the server's temporary path is not shown


def test_missing_upload_is_a_message(app: DemoApp) -> None:
    with pytest.raises(gr.Error, match="No image"):
        app.preprocess(None, True, 0.65)
    with pytest.raises(gr.Error, match="No preprocessed input"):
        app.reconstruct(None, 32, 1.5, 3, False, 64)


def test_reconstruct_reports_stages_and_serves_meshes_and_video(app: DemoApp, tmp_path: Path) -> None:
    shown, prepared = app.preprocess(upload(tmp_path, object_rgba()), True, 0.65)
    assert shown is prepared and prepared.size == (49, 49)  # 32 px object / 0.65, on grey
    seen = []
    view, video, obj, glb, summary = app.reconstruct(
        prepared, 24, 1.5, 3, False, 64, progress=lambda fraction, desc: seen.append((fraction, desc))
    )
    stages = ["image_to_triplane", "render", "extract_mesh", "export_mesh"]
    assert seen == [(i / 4, STAGE_LABELS[name]) for i, name in enumerate(stages)]
    assert Path(video).suffix == ".mp4" and Path(video).stat().st_size > 0
    assert Path(obj).suffix == ".obj" and Path(glb).suffix == ".glb"
    download = trimesh.load(glb, force="mesh", process=False)
    shown_mesh = trimesh.load(view, force="mesh", process=False)
    assert len(trimesh.load(obj, force="mesh").vertices) == len(download.vertices) > 0
    # The download is +Y up, front +Z (glTF's axes); the viewer's copy is the model turned as TripoSR's app turns it.
    model_axes = trimesh.transform_points(download.vertices, np.linalg.inv(FILE_AXES["y"]))
    np.testing.assert_allclose(shown_mesh.vertices, trimesh.transform_points(model_axes, GLTF_VIEWER_AXES), atol=1e-5)
    assert f"{len(download.faces):,} faces" in summary and "OBJ" in summary and "GLB" in summary


def test_no_video_when_views_is_zero_and_a_new_request_replaces_the_last(app: DemoApp, tmp_path: Path) -> None:
    _, prepared = app.preprocess(upload(tmp_path, object_rgba()), True, 0.65)
    first = app.reconstruct(prepared, 16, 1.5, 0, False, 64)
    assert first[1] is None
    second = app.reconstruct(prepared, 16, 1.5, 0, False, 64)
    assert not Path(first[0]).exists() and Path(second[0]).exists()
    assert len(list(app.work_dir.iterdir())) == 1


def test_no_surface_is_a_message(app: DemoApp, tmp_path: Path) -> None:
    _, prepared = app.preprocess(upload(tmp_path, object_rgba()), True, 0.65)
    with pytest.raises(gr.Error, match="no surface at marching-cubes threshold 1e\\+06"):
        app.reconstruct(prepared, 16, 1e6, 0, False, 64)


def test_baked_texture_downloads(app: DemoApp, tmp_path: Path) -> None:
    pytest.importorskip("xatlas")
    _, prepared = app.preprocess(upload(tmp_path, object_rgba()), True, 0.65)
    seen = []
    view, _, obj_zip, glb, _ = app.reconstruct(
        prepared, 16, 1.5, 0, True, 64, progress=lambda f, desc: seen.append(desc)
    )
    assert STAGE_LABELS["bake_texture"] in seen
    with zipfile.ZipFile(obj_zip) as archive:
        assert sorted(Path(n).suffix for n in archive.namelist()) == [".mtl", ".obj", ".png"]
    for path in (view, glb):
        mesh = trimesh.load(path, force="mesh")
        assert isinstance(mesh.visual, trimesh.visual.TextureVisuals)


def test_page_queues_both_steps_one_at_a_time_and_names_the_model(app: DemoApp) -> None:
    line = model_line(DEFAULT_DIR / "model.ckpt", app.demo.model.device)
    assert "default model" in line and "checkpoints/default/model.ckpt" in line
    assert "Real3D's released weights" in model_line(Path("checkpoints/model_both_trained_v1.ckpt"), "cpu")
    assert "TripoSR's released weights" in model_line(Path("checkpoints/model.ckpt"), "cpu")
    assert "given on the command line" in model_line(Path("/elsewhere/model.ckpt"), "cpu")
    page = build_demo(app, line)
    steps = [fn for fn in page.fns.values() if fn.name in ("preprocess", "reconstruct")]
    assert sorted(fn.name for fn in steps) == ["preprocess", "reconstruct"]
    assert all(fn.concurrency_id == "pipeline" and fn.concurrency_limit == 1 for fn in steps)
