"""Web demo (gradio): image -> preprocessed input, interactive 3D view, 360° video and OBJ/GLB downloads."""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import PIL.Image
import torch

from real3d import argtypes
from real3d.cli import run_cli
from real3d.devices import resolve_device
from real3d.errors import Real3DError
from real3d.inference import limits
from real3d.inference.components import parse_keep_components
from real3d.inference.export import export_mesh, for_gltf_viewer, zip_files
from real3d.inference.limits import LimitError, Range
from real3d.inference.pipeline import (
    ImageTo3D,
    Timings,
    add_model_arguments,
    check_limits,
    demo_settings,
    load_demo_model,
)
from real3d.inference.simplify import MIN_TARGET_FACES
from real3d.models.loading import DEFAULT_DIR, RELEASED_DIR, RELEASED_WEIGHTS

log = logging.getLogger("real3d.app")
PROG = "app"
BAKE_FACE_BUDGET = 20_000  # the face budget the page proposes when baking is ticked: a texture in seconds
PAGE_MAX_FACES = 500_000  # the face budget slider's end (a 256³ mesh has 100-170k faces)
FLOATER_CHOICES = [
    ("keep all (as the original)", "all"),
    ("drop pieces under 5% of the surface", "0.05"),
    ("largest piece only", "largest"),
]

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
STAGE_LABELS = {
    "preprocess": "preprocess: background removal, crop and padding",
    "image_to_triplane": "image to triplane",
    "render": "360° render",
    "extract_mesh": "marching cubes",
    "keep_components": "removing floaters",
    "simplify": "simplifying to the face budget",
    "bake_texture": "texture baking",
    "export_mesh": "mesh export",
}
SETTING_LABELS = {  # the page's names of the demo settings, for its messages
    "input_pixels": "Input image",
    "foreground_ratio": "Foreground ratio",
    "mc_resolution": "Marching cubes resolution",
    "mc_threshold": "Marching cubes threshold",
    "render_num_views": "Video views",
    "render_size": "Render size",
    "texture_resolution": "Texture resolution",
    "chunk_size": "Chunk size",
}
_SERVER_PATH = re.compile(r"(?<![\w.~-])(/[^\s'\"(),;]+)")
MAX_SHOWN_VALUE = 40  # characters of a client's bad value quoted back in a message


def _slider_top(r: Range, low: float, step: float, cap: float) -> float:
    """The largest slider stop (low + k·step) within both the limit and the page's own cap."""
    return low + (min(r.high, cap) - low) // step * step


@dataclass(frozen=True)
class PageRanges:
    """The page's settings (slider bounds), enforced on the server too, whatever a client sends."""

    foreground_ratio: Range = Range(0.3, 1.0)
    mc_resolution: Range = Range(32, _slider_top(limits.MC_RESOLUTION, 32, 16, 512))
    mc_threshold: Range = Range(0.5, 50.0)
    views: Range = Range(0, 120)
    texture_resolution: Range = Range(256, _slider_top(limits.TEXTURE_RESOLUTION, 256, 256, 4096))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    add_model_arguments(parser)
    parser.add_argument(
        "--host", type=argtypes.non_empty, default="127.0.0.1",
        help="Address to serve on (0.0.0.0: every interface).",
    )  # fmt: skip
    parser.add_argument("--port", type=argtypes.integer(1, 65535), default=7860, help="Port to serve on, [1, 65535].")
    parser.add_argument(
        "--queue-size", type=argtypes.integer(1, 1000), default=16, help="Requests that may wait, [1, 1000]."
    )
    parser.add_argument(
        "--max-file-size", type=argtypes.file_size(1024, 1024**3), default="50mb",
        help="Largest upload accepted, e.g. 50mb (1kb to 1gb).",
    )  # fmt: skip
    return parser.parse_args(argv)


def face_budget(value: object) -> int | None:
    """The page's face budget: None for 0 (the full mesh), else an integer in [4, PAGE_MAX_FACES]."""
    try:
        faces = float(value)
    except (TypeError, ValueError):
        faces = float("nan")
    if not 0 <= faces <= PAGE_MAX_FACES:
        raise Real3DError(f"the face budget must be 0 (full mesh) or at most {PAGE_MAX_FACES}, got {value!r}")
    return int(faces) or None


def page_mesh_options(target_faces: object, keep_components: object) -> dict[str, object]:
    """The page's face budget and floater choice as DemoSettings fields, else a gr.Error naming the setting."""
    try:
        faces = face_budget(target_faces)
    except Real3DError:
        raise _invalid("Face budget", f"0 (the full mesh) or an integer in [{MIN_TARGET_FACES}, {PAGE_MAX_FACES}]",
                       target_faces) from None  # fmt: skip
    if faces is not None and faces < MIN_TARGET_FACES:
        raise _invalid("Face budget", f"0 (the full mesh) or an integer >= {MIN_TARGET_FACES}", target_faces)
    try:
        floaters = parse_keep_components(keep_components)
    except Real3DError:
        raise _invalid("Floaters", "all, largest or a fraction in (0, 1)", keep_components) from None
    return {"target_faces": faces, "keep_components": floaters}


def mesh_summary(mesh_faces: int, downloads: dict[str, Path]) -> str:
    """The line beside the downloads: face count and each file's size."""

    def size(path: Path) -> str:
        n = path.stat().st_size
        return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(n / 1e3, 1):.0f} kB"

    return f"**Mesh:** {mesh_faces:,} faces · " + " · ".join(f"{name} {size(p)}" for name, p in downloads.items())


def model_line(weights: Path, device: torch.device | str) -> str:
    """The sentence the page shows about the model that runs."""
    if weights.parent.resolve() == DEFAULT_DIR.resolve():
        what = "the small default model trained in this project (no released weights found in checkpoints/)"
    elif weights.parent.resolve() == RELEASED_DIR.resolve() and weights.name in RELEASED_WEIGHTS:
        what = "TripoSR's released weights" if weights.name == "model.ckpt" else "Real3D's released weights"
    else:
        what = "weights given on the command line"
    return f"**Model:** `{weights}` — {what}, on `{device}`."


def page_message(message: str, names: dict[str, str] | None = None) -> str:
    """A message for the page, naming no server path: known paths become the user's names (an upload's file
    name), any other absolute path its last part."""
    for path, name in (names or {}).items():
        message = message.replace(path, name)
    return _SERVER_PATH.sub(lambda m: Path(m[1]).name or "/", message)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."


def _invalid(label: str, what: str, value: object):  # noqa: ANN202 - gradio's Error
    import gradio as gr

    return gr.Error(f"{label} must be {what}, got {_shown(value)}.", title="Invalid setting")


def page_number(value: object, label: str, r: Range, integer: bool = False) -> float:
    """A setting's number as the page may send it (a finite number in its slider's range), else a gr.Error."""
    what = f"{'an integer' if integer else 'a number'} in [{r.low:g}, {r.high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(label, what, value)
    if not r.low <= value <= r.high or (integer and value != int(value)):
        raise _invalid(label, what, value)
    return int(value) if integer else float(value)


def page_flag(value: object, label: str) -> bool:
    """A checkbox's value (true or false), else a gr.Error."""
    if not isinstance(value, bool):
        raise _invalid(label, "true or false", value)
    return value


def input_folders() -> tuple[Path, ...]:
    """Where an input may come from: gradio's upload folder and the examples."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()), EXAMPLES_DIR


class DemoApp:
    """The request handlers: one loaded pipeline, settings from the page (checked here, whatever the client
    sends), inputs only from the upload and example folders, results in a work folder."""

    def __init__(
        self,
        demo: ImageTo3D,
        work_dir: Path,
        ranges: PageRanges | None = None,
        inputs_from: tuple[Path, ...] | None = None,
    ) -> None:
        self.demo = demo
        self.work_dir = work_dir
        self.ranges = ranges or PageRanges()
        self.inputs_from = tuple(p.resolve() for p in (inputs_from or input_folders()))

    def upload_path(self, image: object) -> tuple[Path, str]:
        """The uploaded (or example) file of gradio's raw payload and the name to show; else a gr.Error."""
        import gradio as gr

        if not isinstance(image, dict) or not image.get("path"):
            raise gr.Error("No image: upload one or pick an example.")
        path, name = image["path"], image.get("orig_name")
        if not isinstance(path, str) or "\0" in path:
            raise gr.Error("No image: upload one or pick an example.")
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(folder) for folder in self.inputs_from):
            raise gr.Error("This file was not uploaded to the page: upload it, or pick an example.")
        shown = name if isinstance(name, str) and name.strip() else resolved.name
        return resolved, page_message(Path(shown).name)

    def preprocess(
        self,
        image: object,
        remove_bg: object,
        foreground_ratio: object,
        progress: Callable[..., object] | None = None,
    ) -> tuple[PIL.Image.Image, PIL.Image.Image]:
        """The framed model input (to show, to keep) from gradio's raw upload payload (this event skips gradio's
        own preprocessing, so every value is checked here); a bad input or value is a gr.Error."""
        import gradio as gr

        path, shown_name = self.upload_path(image)
        settings = replace(
            self.demo.settings,
            remove_bg=page_flag(remove_bg, "Remove background"),
            foreground_ratio=page_number(foreground_ratio, "Foreground ratio", self.ranges.foreground_ratio),
        )
        if progress is not None:
            progress(0.0, desc=STAGE_LABELS["preprocess"])
        try:
            prepared = self.demo.prepare(path, settings)
            return prepared, prepared
        except Real3DError as exc:
            names = {str(path): shown_name, path.name: shown_name}
            raise gr.Error(page_message(self._text(exc), names), title="Cannot use this image") from exc

    def reconstruct(
        self,
        prepared: object,
        mc_resolution: object,
        mc_threshold: object,
        render_num_views: object,
        bake_texture: object,
        texture_resolution: object,
        target_faces: object = 0,
        keep_components: object = "all",
        progress: Callable[..., object] | None = None,
    ) -> tuple[str, str | None, str, str, str]:
        """(GLB for the viewer, video or None, OBJ download, GLB download, mesh summary) for a preprocessed input."""
        import gradio as gr

        if not isinstance(prepared, PIL.Image.Image):
            raise gr.Error("No preprocessed input: upload an image first.")
        r = self.ranges
        views = int(page_number(render_num_views, "Video views", r.views, integer=True))
        settings = replace(
            self.demo.settings,
            mc_resolution=int(page_number(mc_resolution, "Marching cubes resolution", r.mc_resolution, True)),
            mc_threshold=page_number(mc_threshold, "Marching cubes threshold", r.mc_threshold),
            mesh_formats=("obj", "glb"),
            render=views > 0,
            render_num_views=max(views, 1),
            bake_texture=page_flag(bake_texture, "Bake texture"),
            texture_resolution=int(page_number(texture_resolution, "Texture resolution", r.texture_resolution, True)),
            **page_mesh_options(target_faces, keep_components),
        )
        try:
            stages = settings.stages()[1:]  # after preprocessing

            def on_stage(name: str) -> None:
                if progress is not None:
                    progress(stages.index(name) / len(stages), desc=STAGE_LABELS[name])

            result = self.demo.reconstruct(prepared, self._request_dir(), settings, Timings(on_stage=on_stage))
        except Real3DError as exc:
            raise gr.Error(page_message(self._text(exc)), title="Cannot reconstruct this input") from exc
        log.info("reconstructed: %s", result.timings)
        out_dir = result.input_image.parent
        view = for_gltf_viewer(result.mesh)  # already turned for the viewer: written with its axes as they are
        if settings.bake_texture:
            from real3d.inference.texture import export_textured_mesh

            view_glb = export_textured_mesh(view, out_dir / "view", "glb", up_axis="z")
            view_path = next(p for p in view_glb if p.suffix == ".glb")
            obj_download = zip_files([p for p in result.files if p.suffix in (".obj", ".mtl", ".png")
                                      and p != result.input_image], out_dir / "mesh_obj.zip")  # fmt: skip
        else:
            view_path = export_mesh(view, out_dir / "view.glb", up_axis="z")
            obj_download = result.meshes["obj"]
        video = str(result.video) if result.video else None
        obj_name = "OBJ (zip)" if settings.bake_texture else "OBJ"
        summary = mesh_summary(len(result.mesh.faces), {obj_name: Path(obj_download), "GLB": result.meshes["glb"]})
        return str(view_path), video, str(obj_download), str(result.meshes["glb"]), summary

    @staticmethod
    def _text(exc: Real3DError) -> str:
        """The error in the page's words (a limit names the page's setting, not run.py's flag)."""
        if isinstance(exc, LimitError):
            return exc.on_page(SETTING_LABELS[exc.setting])
        return str(exc)

    def _request_dir(self) -> Path:
        """A fresh folder for one request; earlier ones go (gradio has copied their files to its cache)."""
        for old in self.work_dir.iterdir():
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.work_dir))


def build_demo(app: DemoApp, model_text: str):  # noqa: ANN201 - gradio's Blocks
    """The page: input and settings on the left, the 3D view, video and downloads on the right."""
    import gradio as gr

    s, r = app.demo.settings, app.ranges
    with gr.Blocks(title="Real3D", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown("# Real3D — single image to 3D\nUpload an image of one object, or pick an example, then Generate.")
        gr.Markdown(model_text, elem_id="model-line")
        with gr.Row(variant="panel"):
            with gr.Column():
                with gr.Row():
                    input_image = gr.Image(
                        label="Input image",
                        image_mode="RGBA",
                        sources=["upload"],
                        type="filepath",
                        elem_id="input-image",
                    )
                    processed = gr.Image(
                        label="Preprocessed input", format="png", interactive=False, elem_id="processed-image"
                    )
                    prepared = gr.State()  # the exact model input (the shown copy is re-encoded)
                with gr.Group():
                    remove_bg = gr.Checkbox(label="Remove background", value=s.remove_bg, elem_id="remove-bg")
                    foreground_ratio = gr.Slider(
                        label="Foreground ratio",
                        minimum=r.foreground_ratio.low,
                        maximum=r.foreground_ratio.high,
                        value=s.foreground_ratio,
                        step=0.05,
                    )
                    mc_resolution = gr.Slider(
                        label="Marching cubes resolution",
                        minimum=r.mc_resolution.low,
                        maximum=r.mc_resolution.high,
                        value=s.mc_resolution,
                        step=16,
                        elem_id="mc-resolution",
                    )
                    mc_threshold = gr.Slider(
                        label="Marching cubes threshold",
                        minimum=r.mc_threshold.low,
                        maximum=r.mc_threshold.high,
                        value=s.mc_threshold,
                        step=0.5,
                    )
                    views = gr.Slider(
                        label="Video views (0: no video)",
                        minimum=r.views.low,
                        maximum=r.views.high,
                        value=s.render_num_views,
                        step=1,
                        elem_id="video-views",
                    )
                    bake = gr.Checkbox(label="Bake texture", value=s.bake_texture, elem_id="bake-texture")
                    texture_resolution = gr.Slider(
                        label="Texture resolution",
                        minimum=r.texture_resolution.low,
                        maximum=r.texture_resolution.high,
                        value=s.texture_resolution,
                        step=256,
                    )
                    target_faces = gr.Slider(
                        label="Face budget (0: the full mesh; 20,000 bakes a texture in seconds)",
                        minimum=0,
                        maximum=PAGE_MAX_FACES,
                        value=s.target_faces or 0,
                        step=1000,
                        elem_id="target-faces",
                    )
                    floaters = gr.Radio(
                        label="Floaters (small loose pieces around the object)",
                        choices=FLOATER_CHOICES,
                        value=next((v for _, v in FLOATER_CHOICES if v == str(s.keep_components)), "all"),
                        elem_id="keep-components",
                    )
                submit = gr.Button("Generate", variant="primary", elem_id="generate")
                gr.Examples(
                    examples=[str(p) for p in sorted(EXAMPLES_DIR.glob("*.png"))],
                    inputs=[input_image],
                    label="Examples",
                    elem_id="examples",
                )
            with gr.Column():
                viewer = gr.Model3D(label="3D model", interactive=False, elem_id="model-3d", height=400)
                video = gr.Video(
                    label="360° video", interactive=False, autoplay=True, loop=True, height=320, elem_id="video"
                )
                with gr.Row():
                    obj_button = gr.DownloadButton("Download OBJ", size="md", elem_id="download-obj")
                    glb_button = gr.DownloadButton("Download GLB", size="md", elem_id="download-glb")
                mesh_info = gr.Markdown(elem_id="mesh-info")

        def preprocess(*args: object, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
            return app.preprocess(*args, progress=progress)

        def reconstruct(*args: object, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
            return app.reconstruct(*args, progress=progress)

        def propose_budget(baking: bool, budget: float) -> float:
            return BAKE_FACE_BUDGET if baking and not budget else budget

        bake.change(propose_budget, inputs=[bake, target_faces], outputs=[target_faces], queue=False)
        # Two steps, so that the preprocessed input shows while the model runs (a generator yielding it first
        # leaves gradio 6.31's Model3D viewer empty); one queue for both.
        submit.click(
            preprocess,
            inputs=[input_image, remove_bg, foreground_ratio],
            outputs=[processed, prepared],
            preprocess=False,  # the pipeline decodes the upload itself and says what is wrong with it
            concurrency_limit=1,
            concurrency_id="pipeline",
        ).success(
            reconstruct,
            inputs=[prepared, mc_resolution, mc_threshold, views, bake, texture_resolution, target_faces, floaters],
            outputs=[viewer, video, obj_button, glb_button, mesh_info],
            concurrency_limit=1,
            concurrency_id="pipeline",
        )
    return page


def main(argv: list[str] | None = None) -> int:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    args = parse_args(argv)
    limits.release_freed_memory()
    return run_cli(_serve, PROG, args)


def check_port(host: str, port: int) -> None:
    """Refuse, before loading anything, an address this machine cannot serve on (a port in use, a bad host)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
            probe.bind(address)
    except socket.gaierror as exc:
        raise Real3DError(f"--host {host}: not an address of this machine ({exc.strerror})") from exc
    except OSError as exc:
        raise Real3DError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc} (is another server using it? "
            "choose another with --port)"
        ) from exc


def _serve(args: argparse.Namespace) -> int:
    """Load the model, then serve the demo page until stopped."""
    check_port(args.host, args.port)
    device = resolve_device(args.device)
    model, weights = load_demo_model(args.pretrained_model_name_or_path, args.weight_name, device, args.chunk_size)
    settings = demo_settings(model.cfg, render=True)
    ranges = PageRanges()
    largest = replace(
        settings,
        mc_resolution=int(ranges.mc_resolution.high),
        render_num_views=int(ranges.views.high),
        texture_resolution=int(ranges.texture_resolution.high),
    )
    check_limits(largest, model.render_settings)  # every request the page allows fits, else stop now
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C: gradio closes, work dir goes
    with tempfile.TemporaryDirectory(prefix="real3d-app-") as work_dir:
        app = DemoApp(ImageTo3D(model, settings, rembg_model=args.rembg_model), Path(work_dir), ranges)
        page = build_demo(app, model_line(weights, device))
        page.queue(max_size=args.queue_size, default_concurrency_limit=1)
        try:
            page.launch(
                server_name=args.host,
                server_port=args.port,
                show_error=False,  # unexpected errors show no text (it could name server paths); gr.Error does
                ssr_mode=False,
                max_file_size=args.max_file_size,
                allowed_paths=[str(EXAMPLES_DIR)],
                footer_links=["settings"],
            )
        except OSError as exc:  # the port was taken between the check and the launch
            raise Real3DError(f"cannot serve on {args.host}:{args.port}: {exc}") from exc
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)  # the reconstruction runs in inference mode too (in gradio's worker threads)
    sys.exit(main())
