"""Image -> mesh (+ 360° render, + baked texture): the one demo pipeline of `run.py` and the web app."""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import PIL.Image
import torch
import trimesh
from omegaconf import DictConfig

from real3d import argtypes
from real3d.devices import synchronize
from real3d.errors import Real3DError
from real3d.geometry import DEMO_ORBIT_DISTANCE, DEMO_ORBIT_FOVY_DEG
from real3d.inference import limits
from real3d.inference.background import BackgroundRemover, has_transparency
from real3d.inference.components import KeepComponents, keep_components, parse_keep_components
from real3d.inference.export import MESH_FORMATS, UP_AXES, export_mesh, save_image, save_video
from real3d.inference.preprocess import load_image, prepare_input
from real3d.inference.simplify import MIN_TARGET_FACES, apply_face_budget
from real3d.models import LRM, ModelSource, load, locate
from real3d.models.lrm import Precision
from real3d.models.renderer import RenderSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo produces for each image (the CLI flags of TripoSR/Real3D's run.py)."""

    remove_bg: bool = True
    foreground_ratio: float = 0.65
    mc_resolution: int = 256
    mc_threshold: float = 25.0
    mesh_formats: tuple[str, ...] = ("obj",)
    render: bool = False
    render_num_views: int = 30
    render_size: int = 256
    render_elevation_deg: float = 0.0
    render_distance: float = DEMO_ORBIT_DISTANCE
    render_fovy_deg: float = DEMO_ORBIT_FOVY_DEG
    bake_texture: bool = False
    texture_resolution: int = 2048
    target_faces: int | None = None  # face budget (None: the full marching-cubes mesh, as TripoSR)
    keep_components: KeepComponents = "all"  # floaters: "all" (as TripoSR), "largest" or an area fraction
    up_axis: str = "y"  # mesh files: "y" (+Y up, front +Z, glTF's convention) or "z" (the model's axes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep_components", parse_keep_components(self.keep_components))
        faces = self.target_faces
        if faces is not None and (type(faces) is not int or faces < MIN_TARGET_FACES):
            raise Real3DError(f"the face budget must be an integer >= {MIN_TARGET_FACES}, got {self.target_faces!r}")
        if self.up_axis not in UP_AXES:
            raise Real3DError(f"up axis must be one of {UP_AXES}, got {self.up_axis!r}")
        bad = [f for f in self.mesh_formats if f not in MESH_FORMATS]
        if bad or not self.mesh_formats:
            raise Real3DError(f"mesh formats must be among {MESH_FORMATS}, got {list(self.mesh_formats)}")
        for name, kind, valid, what in _SETTING_RULES:
            value = getattr(self, name)
            if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool) or not valid(value):
                raise Real3DError(f"demo setting {name} must be {what}, got {value!r}")

    def stages(self) -> list[str]:
        """The stage names a run with these settings goes through, in order."""
        optional = {
            "render": self.render,
            "keep_components": self.keep_components != "all",
            "simplify": self.target_faces is not None,
            "bake_texture": self.bake_texture,
        }
        names = [
            "preprocess",
            "image_to_triplane",
            "render",
            "extract_mesh",
            "keep_components",
            "simplify",
            "bake_texture",
            "export_mesh",
        ]
        return [name for name in names if optional.get(name, True)]


def _within(r: limits.Range, even: bool = False) -> Callable[[float], bool]:
    return lambda v: math.isfinite(v) and r.low <= v <= r.high and (not even or v % 2 == 0)


# Each DemoSettings number: (field, type, check, what it must be); the limits bound what a size allocates.
_SETTING_RULES = (
    ("remove_bg", bool, bool.__instancecheck__, "true or false"),
    ("foreground_ratio", (int, float), lambda v: 0 < v <= 1, "a number in (0, 1]"),
    ("mc_resolution", int, _within(limits.MC_RESOLUTION), f"an integer in {limits.MC_RESOLUTION}"),
    ("mc_threshold", (int, float), lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
    ("render", bool, bool.__instancecheck__, "true or false"),
    ("render_num_views", int, _within(limits.RENDER_NUM_VIEWS), f"an integer in {limits.RENDER_NUM_VIEWS}"),
    ("render_size", int, _within(limits.RENDER_SIZE, even=True), f"an even integer in {limits.RENDER_SIZE}"),
    ("render_elevation_deg", (int, float), lambda v: -90 <= v <= 90, "a number in [-90, 90]"),
    ("render_distance", (int, float), lambda v: 0 < v < 1e3, "a number in (0, 1000)"),
    ("render_fovy_deg", (int, float), lambda v: 0 < v < 180, "a number in (0, 180)"),
    ("bake_texture", bool, bool.__instancecheck__, "true or false"),
    ("texture_resolution", int, _within(limits.TEXTURE_RESOLUTION), f"an integer in {limits.TEXTURE_RESOLUTION}"),
)


def check_limits(s: DemoSettings, render: RenderSettings) -> None:
    """Refuse settings whose sizes together exceed the demo's memory budget (`limits`), before any work."""
    faithful_view = s.render_size**2 * render.num_samples_per_ray if s.render and not render.fast else 0
    if s.render:
        limits.check_render(s.render_size, s.render_num_views, render.num_samples_per_ray, faithful=not render.fast)
    limits.check_chunk(render.chunk_size, s.mc_resolution, faithful_view)


def demo_settings(model_cfg: DictConfig, **flags: object) -> DemoSettings:
    """Settings from the flags given, else the checkpoint config's `demo:` section, else TripoSR's."""
    from_checkpoint = dict(model_cfg.get("demo") or {})
    known = {f.name for f in fields(DemoSettings)}
    unknown = set(from_checkpoint) - known
    if unknown:
        raise Real3DError(f"unknown demo settings in the model config: {sorted(unknown)}")
    return DemoSettings(**{**from_checkpoint, **flags})


StageCallback = Callable[[str], None]


@dataclass
class Timings:
    """Seconds per stage for one image; `on_stage` hears each stage's name as it starts. On CUDA the clock is
    read after the device's queued work is done (`device`), so a stage's time is its own."""

    stages: dict[str, float] = field(default_factory=dict)
    on_stage: StageCallback | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        synchronize(self.device)
        start = time.perf_counter()
        yield
        synchronize(self.device)
        self.stages[name] = time.perf_counter() - start

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.stages.items())


@dataclass
class DemoResult:
    """What one image produced: the files written and the final mesh (textured when baked)."""

    input_image: Path
    meshes: dict[str, Path]  # format -> main mesh file
    files: list[Path]  # every file written
    mesh: trimesh.Trimesh
    video: Path | None
    timings: Timings


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, device and chunking flags shared by run.py and the web app (TripoSR's names)."""
    parser.add_argument(
        "--device",
        type=argtypes.device,
        default="auto",
        help="auto (CUDA when usable, else the CPU), cpu, cuda or cuda:N; a device that is not there is an error.",
    )
    parser.add_argument(
        "--pretrained-model-name-or-path",
        type=argtypes.non_empty,
        default=None,
        help="Local folder with config.yaml and the weights, or a training checkpoint; default: released weights "
        "in the project's checkpoints/, else its small model in checkpoints/default/ (nothing is downloaded).",
    )
    parser.add_argument(
        "--weight-name",
        type=argtypes.non_empty,
        default=None,
        help="Weights file in that folder (default: model.ckpt, model_both_trained_v1.ckpt, model_both.ckpt, "
        "first found); a name that is not there is an error.",
    )
    parser.add_argument(
        "--chunk-size",
        type=argtypes.integer(*map(int, (limits.CHUNK_SIZE.low, limits.CHUNK_SIZE.high))),
        default=8192,
        help=f"Points per field query, {limits.CHUNK_SIZE} (0 = no chunking, for small grids and views only).",
    )
    parser.add_argument(
        "--rembg-model", type=argtypes.non_empty, default=None, help="Path to rembg's u2net.onnx (default ~/.u2net/)."
    )


def load_demo_model(
    folder: str | Path | ModelSource | None,
    weight_name: str | None,
    device: torch.device,
    chunk_size: int = 8192,
    faithful: bool = False,
) -> tuple[LRM, Path]:
    """The eval-mode model on `device` (`real3d.models.load`: the given folder or located source, else
    released weights, else the default model) and its weights file."""
    source = folder if isinstance(folder, ModelSource) else locate(folder, weight_name)
    model = load(source, render={"chunk_size": chunk_size, "fast": not faithful}, device=device)
    log.info("model loaded from %s on %s", source, device)
    return model, source.weights


class ImageTo3D:
    """Runs the demo stages for one image and writes `input.png`, the mesh(es) and renders."""

    def __init__(
        self,
        model: LRM,
        settings: DemoSettings,
        rembg_model: str | None = None,
        precision: Precision = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.precision = precision
        self.rembg_model = rembg_model
        self._remover: BackgroundRemover | None = None

    def remover(self) -> BackgroundRemover:
        """The rembg session, created on first need (RGBA inputs never need it)."""
        if self._remover is None:
            self._remover = BackgroundRemover(self.rembg_model)
        return self._remover

    def prepare(self, image: str | Path | PIL.Image.Image, settings: DemoSettings | None = None) -> PIL.Image.Image:
        """The model-ready input: decoded, background removed (unless alpha is given), framed, on grey."""
        s = settings or self.settings
        if not isinstance(image, PIL.Image.Image):
            image = load_image(image)
        remover = self.remover() if s.remove_bg and not has_transparency(image) else None
        return prepare_input(image, remover, s.foreground_ratio)

    def __call__(
        self,
        image: str | Path | PIL.Image.Image,
        out_dir: str | Path,
        settings: DemoSettings | None = None,
        on_stage: StageCallback | None = None,
    ) -> DemoResult:
        """All stages for one image file (or decoded image), results in `out_dir`."""
        timings = Timings(on_stage=on_stage, device=self.model.device)
        with timings.stage("preprocess"):
            prepared = self.prepare(image, settings)
        return self.reconstruct(prepared, out_dir, settings, timings)

    @torch.inference_mode()  # also in server worker threads, where grad mode is on by default
    def reconstruct(
        self,
        prepared: PIL.Image.Image,
        out_dir: str | Path,
        settings: DemoSettings | None = None,
        timings: Timings | None = None,
    ) -> DemoResult:
        """The stages after preprocessing, on an image from `prepare`."""
        s = settings or self.settings
        check_limits(s, self.model.render_settings)
        out_dir = Path(out_dir)
        timings = timings or Timings()
        timings.device = self.model.device
        input_path = save_image(prepared, out_dir / "input.png")
        with timings.stage("image_to_triplane"):
            scene_codes = self.model.get_latent_from_img([prepared], self.model.device, precision=self.precision)
        video = None
        if s.render:
            with timings.stage("render"):
                video = self._render(scene_codes, s, out_dir)
        with timings.stage("extract_mesh"):
            mesh = self.model.extract_mesh(scene_codes, s.mc_resolution, s.mc_threshold, precision=self.precision)[0]
        if len(mesh.faces) == 0:
            raise Real3DError(
                f"the reconstruction has no surface at marching-cubes threshold {s.mc_threshold:g} (try a lower one)"
            )
        if s.keep_components != "all":
            with timings.stage("keep_components"):
                mesh = keep_components(mesh, s.keep_components)
        if s.target_faces is not None:
            with timings.stage("simplify"):
                mesh = apply_face_budget(self.model, scene_codes[0], mesh, s.target_faces)
        if s.bake_texture:
            from real3d.inference.texture import bake_texture

            with timings.stage("bake_texture"):
                mesh = bake_texture(self.model, scene_codes[0], mesh, s.texture_resolution, progress=True)
        with timings.stage("export_mesh"):
            meshes, files = self._export(mesh, s, out_dir)
        return DemoResult(input_path, meshes, [input_path, *files], mesh, video, timings)

    def _render(self, scene_codes: torch.Tensor, s: DemoSettings, out_dir: Path) -> Path:
        views = self.model.render_360(
            scene_codes,
            s.render_num_views,
            elevation_deg=s.render_elevation_deg,
            camera_distance=s.render_distance,
            fovy_deg=s.render_fovy_deg,
            height=s.render_size,
            width=s.render_size,
            return_type="pil",
            precision=self.precision,
        )[0]
        for i, view in enumerate(views):
            save_image(view, out_dir / f"render_{i:03d}.png")
        return save_video(views, out_dir / "render.mp4", fps=30)

    @staticmethod
    def _export(mesh: trimesh.Trimesh, s: DemoSettings, out_dir: Path) -> tuple[dict[str, Path], list[Path]]:
        """Write the mesh in each format: vertex colours, or the baked texture beside it."""
        meshes: dict[str, Path] = {}
        files: list[Path] = []
        for fmt in s.mesh_formats:
            if s.bake_texture:
                from real3d.inference.texture import export_textured_mesh

                written = export_textured_mesh(mesh, out_dir / "mesh", fmt, s.up_axis)
            else:
                written = [export_mesh(mesh, out_dir / f"mesh.{fmt}", s.up_axis)]
            meshes[fmt] = next(p for p in written if p.suffix == f".{fmt}")
            files.extend(written)
        return meshes, files
