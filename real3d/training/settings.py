"""The training module's plain settings: loss weights, accumulation and length, single-view cameras,
visualisation. Each is a dataclass given as a mapping (from the Hydra config) or built directly."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from omegaconf import OmegaConf

from real3d.errors import Real3DError

MV_TERMS = ("rgb", "mask", "perceptual")
SV_TERMS = ("rgb_sv", "mask_sv", "clip_novel")
CY_TERMS = ("rgb_cy", "perceptual_cy", "mask_cy")


@dataclasses.dataclass
class LossWeights:
    """Weights of the logged loss terms (`train/loss_<name>`); 0 switches a term off."""

    rgb: float = 2.0
    mask: float = 1.0
    perceptual: float = 1.0
    rgb_sv: float = 0.6
    mask_sv: float = 0.3
    clip_novel: float = 1.0
    rgb_cy: float = 20.0
    perceptual_cy: float = 10.0
    mask_cy: float = 10.0

    def active(self, names: tuple[str, ...]) -> dict[str, float]:
        return {name: getattr(self, name) for name in names if getattr(self, name)}


@dataclasses.dataclass
class TrainingConfig:
    """Accumulation, clipping, the length of training in iterations (batches) and ray patches."""

    accumulation_steps: int = 10
    gradient_clip_norm: float | None = 1.0
    total_iterations: int = 100_000
    seed: int = 42  # camera sampling and ray patches: generators seeded per (seed, iteration, rank)
    ray_patch_size: int | None = None  # supervise one random p×p window of rays per view; None: whole views

    def __post_init__(self) -> None:
        if self.ray_patch_size is not None and self.ray_patch_size < 1:
            raise Real3DError(f"training.ray_patch_size must be a positive size or null, got {self.ray_patch_size}")


@dataclasses.dataclass
class SingleViewConfig:
    """Cameras and resolutions of the single-view and cycle passes."""

    n_views: int = 4  # input view + novel views
    azimuth_range_deg: float = 120.0
    elevation_range_deg: float = 45.0
    render_size: int = 128
    curriculum: bool = True
    curriculum_azimuth_deg: tuple[float, float] = (15.0, 90.0)  # (start = min, end of max)
    curriculum_elevation_deg: tuple[float, float] = (15.0, 90.0)
    rerender: bool = True  # re-render the cycle input at input resolution (else upsample)
    rerender_size: int | None = None  # None: the input image's size
    opacity_threshold: float = 0.5
    background: float = 0.5
    stop_gradient: bool = True  # the cycle input carries no gradient (False: end-to-end, an ablation)


@dataclasses.dataclass
class ParameterGroups:
    """Learning rates of the AdamW groups (SPEC §6: triplane embeddings, image encoder, the rest);
    None: the optimizer's lr. Weight decay is off for biases, norms and other 1-D parameters."""

    lr_embeddings: float | None = None
    lr_image_encoder: float | None = None


@dataclasses.dataclass
class VisualizationConfig:
    every_n_iterations: int = 500  # 0: never
    dirname: str = "images"
    max_items: int = 2


Settings = TypeVar("Settings")


def as_settings(cls: type[Settings], value: Any) -> Settings:
    """`value` (None, an instance, a mapping or a DictConfig) as a `cls`; unknown keys are an error."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else dict(value)
    unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise Real3DError(f"unknown {cls.__name__} settings: {sorted(unknown)}")
    return cls(**value)
