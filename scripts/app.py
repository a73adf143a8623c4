"""Web demo (gradio): image -> preprocessed input, interactive 3D view, 360° video and OBJ/GLB downloads."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import PIL.Image
import torch

from real3d.cli import run_cli
from real3d.errors import Real3DError
from real3d.inference.components import parse_keep_components
from real3d.inference.export import export_mesh, for_gltf_viewer, zip_files
from real3d.inference.pipeline import (
    ImageTo3D,
    Timings,
    add_model_arguments,
    demo_settings,
    load_demo_model,
    pick_device,
)
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    add_model_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (0.0.0.0: every interface).")
    parser.add_argument("--port", type=int, default=7860, help="Port to serve on.")
    parser.add_argument("--queue-size", type=int, default=16, help="Requests that may wait in the queue.")
    parser.add_argument("--max-file-size", default="50mb", help="Largest upload accepted, e.g. 50mb.")
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


class DemoApp:
    """The request handlers: one loaded pipeline, settings from the page, results in a work folder."""

    def __init__(self, demo: ImageTo3D, work_dir: Path) -> None:
        self.demo = demo
        self.work_dir = work_dir

    def preprocess(
        self,
        image: dict | None,
        remove_bg: bool,
        foreground_ratio: float,
        progress: Callable[..., object] | None = None,
    ) -> tuple[PIL.Image.Image, PIL.Image.Image]:
        """The framed model input (to show, to keep) from gradio's raw upload payload; bad input -> gr.Error."""
        import gradio as gr

        if not image or not image.get("path"):
            raise gr.Error("No image: upload one or pick an example.")
        path, shown_name = Path(image["path"]), image.get("orig_name") or Path(image["path"]).name
        if progress is not None:
            progress(0.0, desc=STAGE_LABELS["preprocess"])
        try:
            settings = replace(self.demo.settings, remove_bg=bool(remove_bg), foreground_ratio=float(foreground_ratio))
            prepared = self.demo.prepare(path, settings)
            return prepared, prepared
        except Real3DError as exc:
            raise gr.Error(str(exc).replace(str(path), shown_name), title="Cannot use this image") from exc

    def reconstruct(
        self,
        prepared: PIL.Image.Image | None,
        mc_resolution: float,
        mc_threshold: float,
        render_num_views: float,
        bake_texture: bool,
        texture_resolution: float,
        target_faces: float = 0,
        keep_components: str = "all",
        progress: Callable[..., object] | None = None,
    ) -> tuple[str, str | None, str, str, str]:
        """(GLB for the viewer, video or None, OBJ download, GLB download, mesh summary) for a preprocessed input."""
        import gradio as gr

        if prepared is None:
            raise gr.Error("No preprocessed input: upload an image first.")
        try:
            settings = replace(
                self.demo.settings,
                mc_resolution=int(mc_resolution),
                mc_threshold=float(mc_threshold),
                mesh_formats=("obj", "glb"),
                render=int(render_num_views) > 0,
                render_num_views=max(int(render_num_views), 1),
                bake_texture=bool(bake_texture),
                texture_resolution=int(texture_resolution),
                target_faces=face_budget(target_faces),
                keep_components=parse_keep_components(keep_components),
            )
            stages = settings.stages()[1:]  # after preprocessing

            def on_stage(name: str) -> None:
                if progress is not None:
                    progress(stages.index(name) / len(stages), desc=STAGE_LABELS[name])

            result = self.demo.reconstruct(prepared, self._request_dir(), settings, Timings(on_stage=on_stage))
        except Real3DError as exc:
            raise gr.Error(str(exc), title="Cannot reconstruct this input") from exc
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

    def _request_dir(self) -> Path:
        """A fresh folder for one request; earlier ones go (gradio has copied their files to its cache)."""
        for old in self.work_dir.iterdir():
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.work_dir))


def build_demo(app: DemoApp, model_text: str):  # noqa: ANN201 - gradio's Blocks
    """The page: input and settings on the left, the 3D view, video and downloads on the right."""
    import gradio as gr

    s = app.demo.settings
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
                        label="Foreground ratio", minimum=0.3, maximum=1.0, value=s.foreground_ratio, step=0.05
                    )
                    mc_resolution = gr.Slider(
                        label="Marching cubes resolution",
                        minimum=32,
                        maximum=512,
                        value=s.mc_resolution,
                        step=16,
                        elem_id="mc-resolution",
                    )
                    mc_threshold = gr.Slider(
                        label="Marching cubes threshold", minimum=0.5, maximum=50.0, value=s.mc_threshold, step=0.5
                    )
                    views = gr.Slider(
                        label="Video views (0: no video)",
                        minimum=0,
                        maximum=120,
                        value=s.render_num_views,
                        step=1,
                        elem_id="video-views",
                    )
                    bake = gr.Checkbox(label="Bake texture", value=s.bake_texture, elem_id="bake-texture")
                    texture_resolution = gr.Slider(
                        label="Texture resolution", minimum=256, maximum=4096, value=s.texture_resolution, step=256
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
    torch.set_grad_enabled(False)
    return run_cli(_serve, PROG, args)


def _serve(args: argparse.Namespace) -> int:
    """Load the model, then serve the demo page until stopped."""
    device = pick_device(args.device)
    model, weights = load_demo_model(args.pretrained_model_name_or_path, args.weight_name, device, args.chunk_size)
    settings = demo_settings(model.cfg, render=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C: gradio closes, work dir goes
    with tempfile.TemporaryDirectory(prefix="real3d-app-") as work_dir:
        app = DemoApp(ImageTo3D(model, settings, rembg_model=args.rembg_model), Path(work_dir))
        page = build_demo(app, model_line(weights, device))
        page.queue(max_size=args.queue_size, default_concurrency_limit=1)
        page.launch(
            server_name=args.host,
            server_port=args.port,
            show_error=True,
            ssr_mode=False,
            max_file_size=args.max_file_size,
            allowed_paths=[str(EXAMPLES_DIR)],
            footer_links=["settings"],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
