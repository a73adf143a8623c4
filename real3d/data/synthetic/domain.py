"""What a synthetic data domain varies: shape families, materials, lighting, cameras and
backgrounds. Two domains differ only by their `DomainSpec` (e.g. a "synthetic-asset" family for
multi-view supervision and a "real-like" family for single images)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from real3d.data.synthetic.shapes import ALL_SHAPES, TEXTURES

Range = tuple[float, float]


@dataclass(frozen=True)
class DomainSpec:
    """Parameters of one synthetic domain; every range is (low, high), sampled uniformly."""

    name: str = "default"
    shapes: tuple[str, ...] = ALL_SHAPES  # shape families (see shapes.BUILDERS)
    textures: tuple[str, ...] = TEXTURES  # solid / stripes / checker / gradient
    saturation: Range = (0.35, 0.9)
    value: Range = (0.35, 0.95)
    texture_frequency: Range = (1.0, 3.0)  # pattern cycles per object unit
    fill: Range = (0.75, 1.0)  # fraction of the [-0.5, 0.5]^3 box the object spans
    tilt_deg: float = 0.0  # random tilt of the object's up axis (beyond a random yaw)
    ambient: Range = (0.25, 0.45)
    diffuse: Range = (0.55, 0.8)
    light_elevation_deg: Range = (20.0, 70.0)
    elevation_deg: Range = (-10.0, 40.0)  # camera elevations (degrees)
    distance: Range = (1.5, 2.2)  # camera distances (object in [-0.5, 0.5]^3)
    fov_deg: float = 49.1  # renders' field of view
    background: str = "noise"  # single-view photos: "noise", "gradient" or "white"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DomainSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown DomainSpec fields: {sorted(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**converted)


DEFAULT_DOMAIN = DomainSpec()
