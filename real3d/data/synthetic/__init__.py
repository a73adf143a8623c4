"""Synthetic data: procedural textured objects, a CPU ray caster, and generators of small datasets
in the real on-disk formats, so every loader and the training loop run without downloads."""

from real3d.data.synthetic.domain import DEFAULT_DOMAIN, DomainSpec
from real3d.data.synthetic.generate import SetSizes, make_dataset
from real3d.data.synthetic.render import Lighting, render_rgba
from real3d.data.synthetic.shapes import ALL_SHAPES, COMPOSITES, PRIMITIVES, TEXTURES, SceneObject, random_object

__all__ = [
    "ALL_SHAPES",
    "COMPOSITES",
    "DEFAULT_DOMAIN",
    "DomainSpec",
    "Lighting",
    "PRIMITIVES",
    "SceneObject",
    "SetSizes",
    "TEXTURES",
    "make_dataset",
    "random_object",
    "render_rgba",
]
