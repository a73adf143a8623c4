"""Volume rendering of a triplane field: ray-box intersection, sampling and compositing.

Two ways to render the same image:

- the faithful path (the reference's computation): every sample of every ray is evaluated;
- the fast path (`RenderSettings.fast`, used for rendering without gradient), per scene: a probe (the
  density on a coarse occupancy grid, `real3d.models.occupancy`) estimates how many samples lie in
  empty space. Where skipping pays, samples in empty cells are skipped and a ray stops once its
  transmittance is below `transmittance_eps`; otherwise every sample is evaluated as on the faithful
  path, in ray chunks (less memory). Skipping is measured, not proven: the tests and the benchmark
  hold every pixel within 1e-3 of the faithful render.

Rendering with gradient (training) always takes the faithful path. Every caller passes one
`RenderSettings`; a render records what it evaluated in the `stats` dict it is given.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from real3d.models.field import TriplaneField
from real3d.models.occupancy import PROBE_RAYS, OccupancyGrid, cell_texels

SEGMENT_SAMPLES = 8  # samples per ray evaluated between two transmittance checks
RAY_BATCH = 65536  # rays marched together by the fast path (bounds its memory)
PLAIN_CHUNK_RAYS = 32768  # rays per chunk when nothing is skipped (bounds the memory)

Stats = dict[str, float | str]


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """How to render: samples per ray, memory bounds and the fast path's choices.

    `chunk_size` points are queried at once, and without gradient at most that many ray samples are
    composited at once (0: all; bounds memory, not results); with
    `gradient_checkpointing` a chunk's activations are recomputed in the backward pass; `fast` takes
    the fast path without gradient; `skip_empty` "auto" skips empty space where a probe says it pays,
    "always" / "never" force the choice; a sample is skipped where the occupancy grid's density is
    ≤ `occupancy_eps` (the skipped samples of a ray add up to at most that opacity), with at least
    `occupancy_resolution` cells per axis; a ray stops below `transmittance_eps`.
    """

    num_samples_per_ray: int = 128
    chunk_size: int = 0
    gradient_checkpointing: bool = False
    fast: bool = True
    skip_empty: str = "auto"
    occupancy_eps: float = 5e-4
    occupancy_resolution: int = 64
    transmittance_eps: float = 1e-4

    def __post_init__(self) -> None:
        if self.chunk_size < 0:
            raise ValueError("chunk_size must be >= 0")
        if self.num_samples_per_ray < 1:
            raise ValueError("num_samples_per_ray must be >= 1")
        if self.skip_empty not in ("auto", "always", "never"):
            raise ValueError(f"skip_empty must be 'auto', 'always' or 'never', got {self.skip_empty!r}")

    def replace(self, **changes: object) -> RenderSettings:
        """These settings with `changes` (None values keep the current setting)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def rays_intersect_bbox(
    rays_o: torch.Tensor, rays_d: torch.Tensor, radius: float, valid_thresh: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entry/exit distances [N,1] of rays [N,3] through the cube of half-size radius·(1-1e-3)."""
    rays_d_safe = torch.where(rays_d.abs() < 1e-6, torch.full_like(rays_d, 1e-6), rays_d)
    bound = (1.0 - 1.0e-3) * radius
    inter_hi = (bound - rays_o) / rays_d_safe
    inter_lo = (-bound - rays_o) / rays_d_safe
    t_near = torch.minimum(inter_hi, inter_lo).amax(dim=-1).clamp_min(0.0)
    t_far = torch.maximum(inter_hi, inter_lo).amin(dim=-1)
    rays_valid = t_far - t_near > valid_thresh
    t_near = torch.where(rays_valid, t_near, torch.zeros_like(t_near))
    t_far = torch.where(rays_valid, t_far, torch.zeros_like(t_far))
    return t_near[:, None], t_far[:, None], rays_valid


def sample_t(num_samples: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin edges [S+1] and midpoints [S] of the samples along a ray, normalised (as the reference)."""
    t_vals = torch.linspace(0, 1, num_samples + 1, device=like.device, dtype=like.dtype)
    return t_vals, (t_vals[:-1] + t_vals[1:]) / 2.0


def composite_faithful(
    field: TriplaneField, rays_o: torch.Tensor, rays_d: torch.Tensor, settings: RenderSettings, fused: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference computation: all samples of all rays [N,3] that cross the box.

    Without gradient, the rays are composited `chunk_size // num_samples_per_ray` at a time (at least
    one; `chunk_size` 0: all at once), so that rays × samples, not only the MLP's points, stay within
    `chunk_size`: the same result (each ray is composited on its own). `fused` evaluates the MLP with
    the fused kernels of `TriplaneField.query(fused=True)`.
    """
    if settings.chunk_size > 0 and not torch.is_grad_enabled():
        rays_per_chunk = max(1, settings.chunk_size // settings.num_samples_per_ray)
        if rays_o.shape[0] > rays_per_chunk:
            parts = [
                _composite_rays(field, o, d, settings, fused)
                for o, d in zip(rays_o.split(rays_per_chunk), rays_d.split(rays_per_chunk), strict=True)
            ]
            return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return _composite_rays(field, rays_o, rays_d, settings, fused)


def _composite_rays(
    field: TriplaneField, rays_o: torch.Tensor, rays_d: torch.Tensor, settings: RenderSettings, fused: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """`composite_faithful` of rays [N,3] in one piece."""
    n_rays = rays_o.shape[0]
    t_near, t_far, rays_valid = rays_intersect_bbox(rays_o, rays_d, field.radius)
    t_near, t_far = t_near[rays_valid], t_far[rays_valid]
    rays_o, rays_d = rays_o[rays_valid], rays_d[rays_valid]

    t_vals, t_mid = sample_t(settings.num_samples_per_ray, rays_o)
    z_vals = t_near * (1 - t_mid[None]) + t_far * t_mid[None]  # [R, S]
    xyz = rays_o[:, None, :] + z_vals[..., None] * rays_d[:, None, :]  # [R, S, 3]
    out = field.query(xyz, fused=fused, chunk_size=settings.chunk_size, checkpointing=settings.gradient_checkpointing)

    deltas = t_vals[1:] - t_vals[:-1]  # normalised bin widths, as in the reference
    alpha = 1 - torch.exp(-deltas * out["density_act"][..., 0])  # [R, S]
    transmittance = torch.cumprod(1 - alpha[:, :-1] + 1e-10, dim=-1)
    transmittance = torch.cat([torch.ones_like(alpha[:, :1]), transmittance], dim=-1)
    weights = alpha * transmittance
    rgb_valid = (weights[..., None] * out["color"]).sum(dim=-2)  # [R, 3]
    opacity_valid = weights.sum(dim=-1, keepdim=True)  # [R, 1]

    rgb = torch.zeros(n_rays, 3, dtype=rgb_valid.dtype, device=rgb_valid.device)
    opacity = torch.zeros(n_rays, 1, dtype=opacity_valid.dtype, device=opacity_valid.device)
    rgb = rgb.index_put((rays_valid,), rgb_valid)
    opacity = opacity.index_put((rays_valid,), opacity_valid)
    return rgb + (1 - opacity), opacity


def composite_marching(
    field: TriplaneField,
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    bbox: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    occupancy: OccupancyGrid,
    settings: RenderSettings,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Front-to-back marching in segments: skip samples in empty cells, stop rays once opaque."""
    device = rays_o.device
    n_rays = rays_o.shape[0]
    rgb = torch.zeros(n_rays, 3, device=device)
    opacity = torch.zeros(n_rays, 1, device=device)
    t_near, t_far, rays_valid = bbox
    t_vals, t_mid = sample_t(settings.num_samples_per_ray, rays_o)
    deltas = t_vals[1:] - t_vals[:-1]
    evaluated = 0
    for index in rays_valid.nonzero()[:, 0].split(RAY_BATCH):  # index: the rays still marching
        origin, direction, near, far = rays_o[index], rays_d[index], t_near[index], t_far[index]
        transmittance = torch.ones(index.shape[0], device=device)
        for start in range(0, settings.num_samples_per_ray, SEGMENT_SAMPLES):
            seg = slice(start, start + SEGMENT_SAMPLES)
            z_vals = near * (1 - t_mid[seg]) + far * t_mid[seg]  # [R, s]
            xyz = origin[:, None, :] + z_vals[..., None] * direction[:, None, :]  # [R, s, 3]
            occupied = occupancy.occupied(xyz)  # [R, s]
            n_occupied = int(occupied.sum())
            if n_occupied == 0:
                continue  # the factor (1 + 1e-10) of an empty sample is exactly 1 in fp32
            evaluated += n_occupied
            out = field.query(xyz[occupied], fused=True, chunk_size=settings.chunk_size)
            alpha = torch.zeros(xyz.shape[:2], device=device)
            color = torch.zeros(*xyz.shape[:2], 3, device=device)
            alpha[occupied] = 1 - torch.exp(-deltas[seg].expand_as(alpha)[occupied] * out["density_act"][..., 0])
            color[occupied] = out["color"]
            factors = 1 - alpha + 1e-10
            inside = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), factors[:, :-1]], dim=-1), dim=-1)
            weights = alpha * inside * transmittance[:, None]  # [R, s]
            rgb.index_add_(0, index, (weights[..., None] * color).sum(dim=1))
            opacity.index_add_(0, index, weights.sum(dim=1, keepdim=True))
            transmittance = transmittance * inside[:, -1] * factors[:, -1]
            keep = transmittance > settings.transmittance_eps
            if not bool(keep.all()):
                index, origin, direction, near, far, transmittance = (
                    t[keep] for t in (index, origin, direction, near, far, transmittance)
                )
                if index.numel() == 0:
                    break
    return rgb + (1 - opacity), opacity, evaluated


def _choose_occupancy(
    field: TriplaneField,
    rays: tuple[torch.Tensor, ...],
    n_total: float,
    settings: RenderSettings,
    stats: Stats,
) -> OccupancyGrid | None:
    """The occupancy grid to skip with, or None where skipping would not pay (`skip_empty`)."""
    plane_size = field.plane_size
    if settings.skip_empty == "never" or n_total == 0 or settings.occupancy_eps <= 0 or plane_size is None:
        return None

    def grid(coarsen: int = 1) -> OccupancyGrid | None:
        occupancy = OccupancyGrid.evaluate(field, settings.occupancy_resolution, settings.occupancy_eps, coarsen)
        stats["occupancy_points"] = stats.get("occupancy_points", 0.0) + occupancy.points_evaluated
        return occupancy

    if settings.skip_empty == "always":
        return grid()
    # The probe is the occupancy grid itself where that costs little, else a coarser one; a render
    # with too few samples to pay for even the coarser one is not probed.
    cells = plane_size / cell_texels(plane_size, settings.occupancy_resolution)
    coarsen = 1 if (cells + 2) ** 3 * 16 < n_total else 2
    if (cells / coarsen + 2) ** 3 * 16 >= n_total:
        return None
    probe = grid(coarsen)
    rays_o, rays_d, t_near, t_far = rays
    stride = max(1, rays_o.shape[0] // PROBE_RAYS)
    t_mid = sample_t(settings.num_samples_per_ray, rays_o)[1]
    z_vals = t_near[::stride] * (1 - t_mid) + t_far[::stride] * t_mid  # [r, S]
    samples = rays_o[::stride, None, :] + z_vals[..., None] * rays_d[::stride, None, :]
    pays, share = probe.skipping_pays(samples, rays_o.shape[0] * settings.num_samples_per_ray, coarsen)
    stats["probe_occupied_share"] = share
    if not pays:
        return None
    return probe if coarsen == 1 else grid()


def composite_fast(
    field: TriplaneField, rays_o: torch.Tensor, rays_d: torch.Tensor, settings: RenderSettings, stats: Stats
) -> tuple[torch.Tensor, torch.Tensor]:
    """Skip empty space where a probe says it pays, else the reference computation in ray chunks."""
    t_near, t_far, rays_valid = rays_intersect_bbox(rays_o, rays_d, field.radius)
    n_total = float(rays_valid.sum()) * settings.num_samples_per_ray
    rays = tuple(t[rays_valid] for t in (rays_o, rays_d, t_near, t_far))
    occupancy = _choose_occupancy(field, rays, n_total, settings, stats)
    if occupancy is None:
        parts = [
            composite_faithful(field, o, d, settings)
            for o, d in zip(rays_o.split(PLAIN_CHUNK_RAYS), rays_d.split(PLAIN_CHUNK_RAYS), strict=True)
        ]
        rgb, opacity = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        evaluated = n_total
    else:
        rgb, opacity, evaluated = composite_marching(
            field, rays_o, rays_d, (t_near, t_far, rays_valid), occupancy, settings
        )
        stats["occupied_cells"] = float(occupancy.cells.float().mean())
    stats.update(samples_total=n_total, samples_evaluated=float(evaluated), skipping=float(occupancy is not None))
    return rgb, opacity


_SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(RenderSettings))


class TriplaneNeRFRenderer(nn.Module):
    """Renders rays through triplane fields on a white background; holds the default `RenderSettings`.

    It has no parameters. `set_chunk_size` is TripoSR's call for bounding memory: it changes the
    default settings' `chunk_size`.
    """

    def __init__(self, settings: RenderSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or RenderSettings()

    def __setattr__(self, name: str, value: object) -> None:
        if name in _SETTING_NAMES:  # a setting written as an attribute would be silently ignored
            raise AttributeError(
                f"renderer.{name} is a render setting: pass settings=RenderSettings({name}=...) to the render call, "
                "or replace the defaults with renderer.settings = renderer.settings.replace(...)"
            )
        super().__setattr__(name, value)

    def set_chunk_size(self, chunk_size: int) -> None:
        """Number of points queried at once by default (0 = all at once); bounds memory, not results."""
        self.settings = self.settings.replace(chunk_size=int(chunk_size))

    def render_rays(
        self,
        field: TriplaneField,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        settings: RenderSettings | None = None,
        stats: Stats | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Colour [...,3] (white background) and opacity [...,1] of rays [...,3] through one field.

        `settings` default to the renderer's; `stats` (cleared first) receives what was evaluated.
        """
        settings = settings or self.settings
        stats = {} if stats is None else stats
        stats.clear()
        rays_shape = rays_o.shape[:-1]
        rays_o = rays_o.reshape(-1, 3)
        rays_d = rays_d.reshape(-1, 3)
        if settings.fast and not torch.is_grad_enabled():
            rgb, opacity = composite_fast(field, rays_o, rays_d, settings, stats)
        else:
            rgb, opacity = composite_faithful(field, rays_o, rays_d, settings)
            n_valid = float(rays_intersect_bbox(rays_o, rays_d, field.radius)[2].sum())
            n_samples = n_valid * settings.num_samples_per_ray
            stats.update(samples_total=n_samples, samples_evaluated=n_samples)
        return rgb.reshape(*rays_shape, 3), opacity.reshape(*rays_shape, 1)

    def forward(
        self,
        fields: list[TriplaneField],
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        settings: RenderSettings | None = None,
        stats: Stats | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render a batch: one field per scene, rays [B,...,3] -> rgb [B,...,3], opacity [B,...,1]."""
        outs = [self.render_rays(f, o, d, settings, stats) for f, o, d in zip(fields, rays_o, rays_d, strict=True)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
