"""CPU ray caster for `SceneObject`s: sphere tracing of the signed distance, Lambertian plus
ambient shading, supersampled edges; returns straight-alpha RGBA images. Rays come from
`real3d.geometry.Cameras.rays`, so the renders follow the project's camera convention
(OpenGL c2w, pixel centres) exactly."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from real3d.data.synthetic.shapes import SceneObject
from real3d.geometry import Cameras


@dataclass
class Lighting:
    """A directional light (unit vector towards the light, world frame) plus ambient light."""

    direction: tuple[float, float, float] = (0.3, -0.5, 0.8)
    ambient: float = 0.35
    diffuse: float = 0.7

    @classmethod
    def from_angles(cls, azimuth_deg: float, elevation_deg: float, ambient: float, diffuse: float):
        az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
        d = (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))
        return cls(d, ambient, diffuse)


def _trace(obj: SceneObject, origins: torch.Tensor, dirs: torch.Tensor, max_steps: int, eps: float):
    """Sphere-trace rays [M,3]; returns (hit [M] bool, t [M])."""
    centre = torch.as_tensor(obj.offset, dtype=origins.dtype)
    radius = obj.bounding_radius()
    oc = origins - centre
    b = (oc * dirs).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - radius * radius)
    t = (-b - disc.clamp(min=0.0).sqrt()).clamp(min=0.0)
    t_far = -b + disc.clamp(min=0.0).sqrt()
    hit = torch.zeros(origins.shape[0], dtype=torch.bool)
    active = torch.nonzero((disc > 0.0) & (t_far > 0.0)).flatten()
    for _ in range(max_steps):
        if active.numel() == 0:
            break
        p = origins[active] + t[active, None] * dirs[active]
        d = obj.sdf(p)
        done_hit = d < eps * (1.0 + t[active])
        hit[active[done_hit]] = True
        t[active] = t[active] + torch.where(done_hit, torch.zeros_like(d), 0.95 * d)
        keep = (~done_hit) & (t[active] < t_far[active])
        active = active[keep]
    return hit, t


def _normals(obj: SceneObject, p: torch.Tensor, h: float = 1e-3) -> torch.Tensor:
    offsets = torch.eye(3, dtype=p.dtype) * h
    grads = [obj.sdf(p + offsets[i]) - obj.sdf(p - offsets[i]) for i in range(3)]
    return F.normalize(torch.stack(grads, dim=-1), dim=-1)


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread: the ray caster's many small ops are several times faster
    that way than with threads (and dozens of times on a loaded machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@torch.no_grad()
def render_rgba(
    obj: SceneObject,
    c2w: torch.Tensor,
    focal: float | torch.Tensor,
    height: int,
    width: int | None = None,
    lighting: Lighting | None = None,
    supersample: int = 2,
    max_steps: int = 64,
) -> torch.Tensor:
    """Straight-alpha RGBA [N,H,W,4] in [0,1] of `obj` seen by cameras c2w [N,4,4] (OpenGL) with
    focal length(s) in pixels at `height` x `width`."""
    with single_thread():
        return _render_rgba(obj, c2w, focal, height, width, lighting, supersample, max_steps)


def _render_rgba(obj, c2w, focal, height, width, lighting, supersample, max_steps) -> torch.Tensor:
    width = height if width is None else width
    lighting = lighting or Lighting()
    ss = max(1, int(supersample))
    c2w = c2w.to(torch.float32).reshape(-1, 4, 4)
    n = c2w.shape[0]
    focal = torch.as_tensor(focal, dtype=torch.float32).reshape(-1).expand(n) * ss
    rays_o, rays_d = Cameras.from_focal(c2w, focal, height * ss, width * ss).rays()
    origins, dirs = rays_o.reshape(-1, 3), rays_d.reshape(-1, 3)
    hit, t = _trace(obj, origins, dirs, max_steps, eps=5e-4)

    color = torch.zeros(origins.shape[0], 3)
    if bool(hit.any()):
        p = origins[hit] + t[hit, None] * dirs[hit]
        normal = _normals(obj, p)
        light = F.normalize(torch.tensor(lighting.direction, dtype=torch.float32), dim=0)
        shade = lighting.ambient + lighting.diffuse * (normal @ light).clamp(min=0.0)
        color[hit] = (obj.albedo(p) * shade[:, None]).clamp(0.0, 1.0)

    alpha = hit.to(torch.float32).reshape(n, 1, height * ss, width * ss)
    premult = (color.reshape(n, height * ss, width * ss, 3).permute(0, 3, 1, 2)) * alpha
    if ss > 1:
        alpha = F.avg_pool2d(alpha, ss)
        premult = F.avg_pool2d(premult, ss)
    rgb = torch.where(alpha > 0, premult / alpha.clamp(min=1e-8), torch.zeros_like(premult))
    return torch.cat([rgb, alpha], dim=1).permute(0, 2, 3, 1).clamp(0.0, 1.0).contiguous()


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    return (image.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
