"""Procedural objects as signed distance functions: primitives (sphere, box, cylinder, torus,
cone), composite families (mug, table, snowman, dumbbell, lamp), and their materials
(solid, stripes, checker, gradient), all in torch so the ray caster runs on CPU.

Coordinates: an object is built in its own units, then normalised (centred, scaled to fit a
[-0.5, 0.5]^3 box, as Objaverse renders are) and turned about the world z axis (z up).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

PRIMITIVES = ("sphere", "box", "cylinder", "torus", "cone")
COMPOSITES = ("mug", "table", "snowman", "dumbbell", "lamp")
ALL_SHAPES = PRIMITIVES + COMPOSITES
TEXTURES = ("solid", "stripes", "checker", "gradient")


# ----------------------------------------------------------------------------- rotations


def rot_x(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


# ----------------------------------------------------------------------------- primitive SDFs
# p: [M,3] points in the primitive's local frame; each returns [M] signed distances.


def sdf_sphere(p: torch.Tensor, r: float) -> torch.Tensor:
    return p.norm(dim=-1) - r


def sdf_box(p: torch.Tensor, half: tuple[float, float, float], round_r: float = 0.0) -> torch.Tensor:
    q = p.abs() - torch.as_tensor(half, dtype=p.dtype)
    outside = q.clamp(min=0.0).norm(dim=-1)
    inside = q.max(dim=-1).values.clamp(max=0.0)
    return outside + inside - round_r


def sdf_cylinder(p: torch.Tensor, r: float, h: float) -> torch.Tensor:
    """Capped cylinder along z: radius r, half height h."""
    d = torch.stack([p[:, :2].norm(dim=-1) - r, p[:, 2].abs() - h], dim=-1)
    return d.max(dim=-1).values.clamp(max=0.0) + d.clamp(min=0.0).norm(dim=-1)


def sdf_torus(p: torch.Tensor, major: float, minor: float) -> torch.Tensor:
    """Torus in the xy plane around the z axis."""
    q = torch.stack([p[:, :2].norm(dim=-1) - major, p[:, 2]], dim=-1)
    return q.norm(dim=-1) - minor


def sdf_cone(p: torch.Tensor, r1: float, r2: float, h: float) -> torch.Tensor:
    """Capped cone along z: radius r1 at z=-h, r2 at z=+h (exact distance)."""
    qx, qy = p[:, :2].norm(dim=-1), p[:, 2]
    k1 = torch.tensor([r2, h], dtype=p.dtype)
    k2 = torch.tensor([r2 - r1, 2.0 * h], dtype=p.dtype)
    q = torch.stack([qx, qy], dim=-1)
    cap_r = torch.where(qy < 0.0, torch.full_like(qy, r1), torch.full_like(qy, r2))
    ca = torch.stack([qx - torch.minimum(qx, cap_r), qy.abs() - h], dim=-1)
    t = (((k1 - q) * k2).sum(-1) / (k2 * k2).sum()).clamp(0.0, 1.0)
    cb = q - k1 + k2 * t[:, None]
    sign = torch.where((cb[:, 0] < 0.0) & (ca[:, 1] < 0.0), -1.0, 1.0)
    return sign * torch.minimum((ca * ca).sum(-1), (cb * cb).sum(-1)).sqrt()


def _local_extent(kind: str, params: dict) -> np.ndarray:
    """Half extents of a primitive's local axis-aligned box."""
    if kind == "sphere":
        return np.full(3, params["r"])
    if kind == "box":
        return np.asarray(params["half"]) + params.get("round_r", 0.0)
    if kind == "cylinder":
        return np.array([params["r"], params["r"], params["h"]])
    if kind == "torus":
        outer = params["major"] + params["minor"]
        return np.array([outer, outer, params["minor"]])
    if kind == "cone":
        r = max(params["r1"], params["r2"])
        return np.array([r, r, params["h"]])
    raise ValueError(f"unknown primitive {kind!r}")


_SDF: dict[str, Callable] = {
    "sphere": lambda p, k: sdf_sphere(p, k["r"]),
    "box": lambda p, k: sdf_box(p, k["half"], k.get("round_r", 0.0)),
    "cylinder": lambda p, k: sdf_cylinder(p, k["r"], k["h"]),
    "torus": lambda p, k: sdf_torus(p, k["major"], k["minor"]),
    "cone": lambda p, k: sdf_cone(p, k["r1"], k["r2"], k["h"]),
}


# ----------------------------------------------------------------------------- materials


@dataclass
class Material:
    """Albedo pattern in a part's local coordinates."""

    kind: str = "solid"
    color_a: tuple[float, float, float] = (0.8, 0.2, 0.2)
    color_b: tuple[float, float, float] = (0.9, 0.9, 0.9)
    frequency: float = 2.0
    axis: int = 2

    def albedo(self, x: torch.Tensor) -> torch.Tensor:
        """Colours [M,3] at local points x [M,3]."""
        a = torch.tensor(self.color_a, dtype=x.dtype).expand(x.shape[0], 3)
        b = torch.tensor(self.color_b, dtype=x.dtype).expand(x.shape[0], 3)
        if self.kind == "solid":
            return a.clone()
        if self.kind == "stripes":
            pick = torch.sin(2.0 * math.pi * self.frequency * x[:, self.axis]) >= 0.0
        elif self.kind == "checker":
            cells = torch.floor(self.frequency * x).sum(dim=-1)
            pick = torch.remainder(cells, 2.0) < 0.5
        elif self.kind == "gradient":
            t = (0.5 + 0.5 * x[:, self.axis] / 1.0).clamp(0.0, 1.0)[:, None]
            return a * (1.0 - t) + b * t
        else:
            raise ValueError(f"unknown texture {self.kind!r}")
        return torch.where(pick[:, None], a, b)


# ----------------------------------------------------------------------------- objects


@dataclass
class Part:
    """One primitive placed in object space: x_object = rotation @ x_local + translation."""

    kind: str
    params: dict
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    material: int = 0
    negative: bool = False  # carved out of the union of the positive parts

    def local(self, q: torch.Tensor) -> torch.Tensor:
        rot = torch.as_tensor(self.rotation, dtype=q.dtype)
        return (q - torch.as_tensor(self.translation, dtype=q.dtype)) @ rot

    def sdf(self, q: torch.Tensor) -> torch.Tensor:
        return _SDF[self.kind](self.local(q), self.params)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        ext = _local_extent(self.kind, self.params)
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * ext
        world = corners @ np.asarray(self.rotation).T + np.asarray(self.translation)
        return world.min(0), world.max(0)


@dataclass
class SceneObject:
    """An object: parts with materials, and its placement in the world
    (x_world = scale * rotation @ x_object + offset)."""

    family: str
    parts: list[Part]
    materials: list[Material]
    scale: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def to_object(self, p: torch.Tensor) -> torch.Tensor:
        rot = torch.as_tensor(self.rotation, dtype=p.dtype)
        return ((p - torch.as_tensor(self.offset, dtype=p.dtype)) @ rot) / self.scale

    def part_distances(self, p: torch.Tensor) -> torch.Tensor:
        """Object-space distance to each part [M, n_parts] for world points p [M,3]."""
        q = self.to_object(p)
        return torch.stack([part.sdf(q) for part in self.parts], dim=-1)

    def sdf(self, p: torch.Tensor) -> torch.Tensor:
        """World-space signed distance (a lower bound where parts are carved) [M]."""
        d = self.part_distances(p)
        negative = torch.tensor([part.negative for part in self.parts])
        dist = d[:, ~negative].min(dim=-1).values
        if bool(negative.any()):
            dist = torch.maximum(dist, -d[:, negative].min(dim=-1).values)
        return dist * self.scale

    def albedo(self, p: torch.Tensor) -> torch.Tensor:
        """Albedo [M,3] of surface points p [M,3]: the material of the nearest positive part."""
        q = self.to_object(p)
        d = torch.stack([part.sdf(q) for part in self.parts], dim=-1)
        negative = torch.tensor([part.negative for part in self.parts])
        d[:, negative] = float("inf")
        nearest = d.argmin(dim=-1)
        out = torch.zeros(p.shape[0], 3, dtype=p.dtype)
        for i, part in enumerate(self.parts):
            sel = nearest == i
            if bool(sel.any()):
                out[sel] = self.materials[part.material].albedo(part.local(q[sel]))
        return out

    def object_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [part.bounds() for part in self.parts if not part.negative]
        return np.min([b[0] for b in boxes], 0), np.max([b[1] for b in boxes], 0)

    def bounding_radius(self) -> float:
        """Radius of a world sphere around `offset` that contains the object."""
        lo, hi = self.object_bounds()
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        return float(np.linalg.norm(corners, axis=1).max() * self.scale) * 1.01 + 1e-3

    def normalize(self, half_size: float = 0.5, centre: bool = True) -> SceneObject:
        """Centre the parts' box at the object origin and scale so the object fits
        [-half_size, half_size]^3 in the world (whatever its turn about z)."""
        lo, hi = self.object_bounds()
        if centre:
            mid = 0.5 * (lo + hi)
            for part in self.parts:
                part.translation = np.asarray(part.translation) - mid
            lo, hi = lo - mid, hi - mid
        radius_xy = float(np.sqrt(np.maximum(lo[:2] ** 2, hi[:2] ** 2).sum()))
        half_z = float(max(-lo[2], hi[2]))
        self.scale = half_size / max(radius_xy, half_z)
        return self


# ----------------------------------------------------------------------------- families
# Each builder returns (parts, number of material groups); part.material indexes a group.


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def build_sphere(rng):
    return [Part("sphere", {"r": 1.0})], 1


def build_box(rng):
    half = (_u(rng, 0.4, 1.0), _u(rng, 0.4, 1.0), _u(rng, 0.4, 1.0))
    return [Part("box", {"half": half, "round_r": _u(rng, 0.0, 0.08)})], 1


def build_cylinder(rng):
    return [Part("cylinder", {"r": _u(rng, 0.3, 0.8), "h": _u(rng, 0.4, 1.0)})], 1


def build_torus(rng):
    tilt = rot_x(_u(rng, 20.0, 70.0))
    return [Part("torus", {"major": 0.8, "minor": _u(rng, 0.15, 0.35)}, rotation=tilt)], 1


def build_cone(rng):
    return [Part("cone", {"r1": _u(rng, 0.5, 1.0), "r2": _u(rng, 0.0, 0.25), "h": _u(rng, 0.5, 1.0)})], 1


def build_mug(rng):
    r, h = _u(rng, 0.5, 0.7), _u(rng, 0.6, 0.9)
    wall = 0.08
    handle_r = _u(rng, 0.25, 0.35)
    return [
        Part("cylinder", {"r": r, "h": h}, material=0),
        Part("cylinder", {"r": r - wall, "h": h}, translation=np.array([0.0, 0.0, 2 * wall]), negative=True),
        Part(
            "torus",
            {"major": handle_r, "minor": 0.06},
            rotation=rot_x(90.0),
            translation=np.array([r + 0.5 * handle_r, 0.0, 0.0]),
            material=1,
        ),
    ], 2


def build_table(rng):
    hx, hy = _u(rng, 0.7, 1.0), _u(rng, 0.4, 0.8)
    leg_h = _u(rng, 0.4, 0.7)
    top_t = 0.06
    parts = [Part("box", {"half": (hx, hy, top_t), "round_r": 0.01}, translation=np.array([0, 0, leg_h + top_t]))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(
                Part(
                    "cylinder",
                    {"r": 0.06, "h": leg_h},
                    translation=np.array([sx * (hx - 0.1), sy * (hy - 0.1), 0.0]),
                    material=1,
                )
            )
    return parts, 2


def build_snowman(rng):
    r0, r1, r2 = _u(rng, 0.55, 0.7), _u(rng, 0.4, 0.5), _u(rng, 0.25, 0.32)
    z0, z1 = 0.0, r0 + 0.7 * r1
    z2 = z1 + r1 + 0.7 * r2
    return [
        Part("sphere", {"r": r0}, translation=np.array([0, 0, z0])),
        Part("sphere", {"r": r1}, translation=np.array([0, 0, z1])),
        Part("sphere", {"r": r2}, translation=np.array([0, 0, z2])),
        # nose: a cone along +x (local +z turned onto +x)
        Part(
            "cone",
            {"r1": 0.07, "r2": 0.0, "h": 0.14},
            rotation=rot_y(90.0),
            translation=np.array([r2 + 0.1, 0, z2]),
            material=1,
        ),
        Part("cylinder", {"r": 0.8 * r2, "h": 0.12}, translation=np.array([0, 0, z2 + r2 + 0.05]), material=2),
    ], 3


def build_dumbbell(rng):
    r, half = _u(rng, 0.35, 0.5), _u(rng, 0.6, 0.9)
    return [
        Part("sphere", {"r": r}, translation=np.array([-half, 0, 0])),
        Part("sphere", {"r": r}, translation=np.array([half, 0, 0])),
        Part("cylinder", {"r": _u(rng, 0.08, 0.15), "h": half}, rotation=rot_y(90.0), material=1),
    ], 2


def build_lamp(rng):
    pole_h = _u(rng, 0.5, 0.8)
    return [
        Part("cylinder", {"r": _u(rng, 0.35, 0.5), "h": 0.05}, translation=np.array([0, 0, -pole_h]), material=0),
        Part("cylinder", {"r": 0.05, "h": pole_h}, material=0),
        Part(
            "cone",
            {"r1": _u(rng, 0.45, 0.6), "r2": _u(rng, 0.2, 0.3), "h": 0.3},
            translation=np.array([0, 0, pole_h]),
            material=1,
        ),
    ], 2


BUILDERS: dict[str, Callable] = {
    "sphere": build_sphere,
    "box": build_box,
    "cylinder": build_cylinder,
    "torus": build_torus,
    "cone": build_cone,
    "mug": build_mug,
    "table": build_table,
    "snowman": build_snowman,
    "dumbbell": build_dumbbell,
    "lamp": build_lamp,
}


def random_color(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]):
    h = float(rng.uniform(0.0, 1.0))
    return colorsys.hsv_to_rgb(h, _u(rng, *saturation), _u(rng, *value))


def random_material(rng: np.random.Generator, spec) -> Material:
    return Material(
        kind=str(rng.choice(list(spec.textures))),
        color_a=random_color(rng, spec.saturation, spec.value),
        color_b=random_color(rng, spec.saturation, spec.value),
        frequency=_u(rng, *spec.texture_frequency),
        axis=int(rng.integers(0, 3)),
    )


def random_object(rng: np.random.Generator, spec, family: str | None = None) -> SceneObject:
    """A random object of the domain `spec` (a `DomainSpec`), normalised to [-0.5, 0.5]^3 and
    turned by a random yaw (and tilt, if the domain allows)."""
    family = family or str(rng.choice(list(spec.shapes)))
    if family not in BUILDERS:
        raise ValueError(f"unknown shape family {family!r}; known: {', '.join(BUILDERS)}")
    parts, n_groups = BUILDERS[family](rng)
    materials = [random_material(rng, spec) for _ in range(n_groups)]
    obj = SceneObject(family, parts, materials)
    obj.normalize(0.5 * _u(rng, *spec.fill))
    tilt = _u(rng, -spec.tilt_deg, spec.tilt_deg) if spec.tilt_deg > 0 else 0.0
    obj.rotation = rot_z(_u(rng, 0.0, 360.0)) @ rot_x(tilt)
    return obj
