"""Image -> mesh (+ 360° render) for the demo, one image at a time, with per-stage timings."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from omegaconf import DictConfig

from real3d.errors import Real3DError
from real3d.inference.background import BackgroundRemover, has_transparency
from real3d.inference.export import export_mesh, save_image, save_video
from real3d.inference.preprocess import load_image, prepare_input
from real3d.models import LRM
from real3d.models.lrm import Precision

log = logging.getLogger(__name__)


@dataclass
class DemoSettings:
    """What the demo produces for each image (the CLI flags of TripoSR/Real3D's run.py)."""

    foreground_ratio: float = 0.65
    mc_resolution: int = 256
    mc_threshold: float = 25.0
    model_save_format: str = "obj"
    render: bool = False
    render_num_views: int = 30
    render_size: int = 256
    render_elevation_deg: float = 0.0
    render_distance: float = 1.9
    render_fovy_deg: float = 40.0


def demo_settings(model_cfg: DictConfig, **flags: object) -> DemoSettings:
    """Settings from the flags given, else the checkpoint config's `demo:` section, else TripoSR's."""
    from_checkpoint = dict(model_cfg.get("demo") or {})
    known = {f.name for f in fields(DemoSettings)}
    unknown = set(from_checkpoint) - known
    if unknown:
        raise Real3DError(f"unknown demo settings in the model config: {sorted(unknown)}")
    return DemoSettings(**{**from_checkpoint, **flags})


@dataclass
class Timings:
    """Seconds per stage for one image."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.stages[name] = time.perf_counter() - start

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.stages.items())


RELEASED_DIR = Path("checkpoints")
DEFAULT_DIR = Path("checkpoints/default")
RELEASED_WEIGHTS = ("model.ckpt", "model_both_trained_v1.ckpt", "model_both.ckpt")


def resolve_model_folder(folder: str | Path | None, weight_name: str | None) -> tuple[Path, str]:
    """The checkpoint folder and weights to use: the given ones, else released weights, else the default."""
    if folder is not None:
        return Path(folder), weight_name or "model.ckpt"
    for name in (weight_name,) if weight_name else RELEASED_WEIGHTS:
        if (RELEASED_DIR / name).is_file():
            log.info("using the released weights %s", RELEASED_DIR / name)
            return RELEASED_DIR, name
    if (DEFAULT_DIR / "model.ckpt").is_file():
        log.info("no released weights in %s/: using the small default model in %s/", RELEASED_DIR, DEFAULT_DIR)
        return DEFAULT_DIR, "model.ckpt"
    raise Real3DError(
        f"no model weights found: download TripoSR's model.ckpt or Real3D's model_both_trained_v1.ckpt into "
        f"{RELEASED_DIR}/ (see checkpoints/README.md), or pass --pretrained-model-name-or-path"
    )


class ImageTo3D:
    """Runs the demo stages for one image and writes `input.png`, the mesh and renders."""

    def __init__(
        self,
        model: LRM,
        settings: DemoSettings,
        remove_bg: bool = True,
        rembg_model: str | None = None,
        precision: Precision = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.precision = precision
        self.remove_bg = remove_bg
        self.rembg_model = rembg_model
        self._remover: BackgroundRemover | None = None

    def remover(self) -> BackgroundRemover | None:
        """The rembg session, created on first need (RGBA inputs never need it)."""
        if self.remove_bg and self._remover is None:
            self._remover = BackgroundRemover(self.rembg_model)
        return self._remover

    def __call__(self, image_path: str | Path, out_dir: str | Path) -> Timings:
        s = self.settings
        out_dir = Path(out_dir)
        timings = Timings()
        with timings.stage("preprocess"):
            image = load_image(image_path)
            remover = None if has_transparency(image) else self.remover()
            image = prepare_input(image, remover, s.foreground_ratio)
            save_image(image, out_dir / "input.png")
        with timings.stage("image_to_triplane"):
            scene_codes = self.model.get_latent_from_img([image], self.model.device, precision=self.precision)
        if s.render:
            with timings.stage("render"):
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
                save_video(views, out_dir / "render.mp4", fps=30)
        with timings.stage("extract_mesh"):
            mesh = self.model.extract_mesh(scene_codes, s.mc_resolution, s.mc_threshold, precision=self.precision)[0]
        with timings.stage("export_mesh"):
            export_mesh(mesh, out_dir / f"mesh.{s.model_save_format}")
        return timings


def pick_device(requested: str) -> torch.device:
    """The requested device, falling back to CPU (with a warning) when CUDA is not available."""
    if requested.startswith("cuda") and not torch.cuda.is_available():
        log.warning("CUDA is not available, using CPU")
        return torch.device("cpu")
    return torch.device(requested)
