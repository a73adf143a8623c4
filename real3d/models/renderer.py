"""Triplane NeRF volume renderer: field queries on the planes, ray sampling and compositing.

Two ways to render the same image:

- the faithful path (the reference's computation): every sample of every ray is evaluated;
- the fast path (default for rendering without gradient), per scene: a probe (the density on a coarse
  grid) estimates how many samples lie in empty space. Where skipping pays, the density is evaluated
  on an occupancy grid (instant-ngp / nerfacc style: a cell's max over its corners, dilated by a
  cell), samples in empty cells are skipped and a ray stops once its transmittance is below
  `transmittance_eps`; otherwise every sample is evaluated as on the faithful path, in ray chunks
  (less memory). Skipping is measured, not proven: the tests and the benchmark hold every pixel within
  1e-3 of the faithful render.

Interval bounds on the field (`field_bounds`: bilinear interpolation keeps each plane feature between
the texel values around it, and interval arithmetic carries those ranges through the MLP) prove boxes
empty or full without sampling; the coarse-to-fine meshes use them where they decide. Rendering with
gradient (training) always takes the faithful path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from real3d.models.decoder import NeRFMLP


class _TruncExp(torch.autograd.Function):
    """exp with a gradient clamped at exp(15), which keeps early training stable."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15))


DENSITY_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "exp": torch.exp,
    "trunc_exp": _TruncExp.apply,
}

SILU_ARGMIN = -1.2784645  # SiLU decreases below this point and increases above it
FP32_UNIT_ROUNDOFF = 2.0**-24


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


# ---------------------------------------------------------------------------------------- bounds


def lattice_coordinate(points_norm: torch.Tensor, plane_size: int) -> torch.Tensor:
    """Position of normalised coordinates in [-1,1] on the zero-padded texel lattice.

    `grid_sample(align_corners=False, padding_mode="zeros")` puts texel i at i + 1 on this lattice and
    zeros at 0 and plane_size + 1; between two lattice lines the plane is linear in each axis.
    """
    return (points_norm + 1.0) * (plane_size / 2.0) + 0.5


def _window_reduce(x: torch.Tensor, dim: int, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of x over the inclusive index windows [lo[n], hi[n]] along `dim` (n windows)."""
    width = int((hi - lo).max().item()) + 1
    index = torch.minimum(lo[:, None] + torch.arange(width, device=lo.device), hi[:, None])  # [n, width]
    gathered = x.index_select(dim, index.reshape(-1)).unflatten(dim, index.shape)
    return gathered.amin(dim + 1), gathered.amax(dim + 1)


def _plane_bounds(
    plane: torch.Tensor, windows_h: tuple[torch.Tensor, torch.Tensor], windows_w: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature range [nh, nw, C] of one plane [C,H,W] over lattice windows along H and W."""
    lattice = F.pad(plane, (1, 1, 1, 1))  # zeros outside, as grid_sample's padding
    lo_w, hi_w = _window_reduce(lattice, 2, *windows_w)  # [C, H+2, nw]
    lo = _window_reduce(lo_w, 1, *windows_h)[0]
    hi = _window_reduce(hi_w, 1, *windows_h)[1]
    return lo.permute(1, 2, 0), hi.permute(1, 2, 0)


def _silu_bounds(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact range of SiLU over [lo, hi] (SiLU is unimodal: minimum at SILU_ARGMIN)."""
    out_lo = F.silu(torch.maximum(torch.minimum(torch.full_like(lo, SILU_ARGMIN), hi), lo))
    out_hi = torch.maximum(F.silu(lo), F.silu(hi))
    return out_lo, out_hi


def _linear_bounds(lo: torch.Tensor, hi: torch.Tensor, layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    """Range of a Linear layer's output over the box [lo, hi], widened by fp32 rounding."""
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    weight_abs = layer.weight.abs()
    out_mid = F.linear(mid, layer.weight, layer.bias)
    out_rad = F.linear(rad, weight_abs)
    # Rounding of this bound and of the evaluated field: each at most n·u·Σ|w||x| ≤ n·u·max|x|·Σ|w|.
    magnitude = (mid.abs() + rad).amax(dim=-1, keepdim=True) * weight_abs.sum(dim=1)
    if layer.bias is not None:
        magnitude = magnitude + layer.bias.abs()
    out_rad = out_rad + (2 * layer.in_features * FP32_UNIT_ROUNDOFF) * magnitude
    return out_mid - out_rad, out_mid + out_rad


def mlp_bounds(
    layers: nn.Sequential, first_mid: torch.Tensor, first_rad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Output range of the MLP `layers[1:]` given the output range (centre, radius) of `layers[0]`.

    None when a layer has no bound rule (then nothing may be skipped).
    """
    lo, hi = first_mid - first_rad, first_mid + first_rad
    for layer in list(layers)[1:]:
        if isinstance(layer, nn.Linear):
            lo, hi = _linear_bounds(lo, hi, layer)
        elif isinstance(layer, nn.SiLU):
            lo, hi = _silu_bounds(lo, hi)
            slack = 4 * FP32_UNIT_ROUNDOFF * torch.maximum(lo.abs(), hi.abs())
            lo, hi = lo - slack, hi + slack
        elif isinstance(layer, nn.ReLU):
            lo, hi = F.relu(lo), F.relu(hi)
        elif isinstance(layer, (nn.Identity, nn.Dropout)):
            continue
        else:
            return None
    return lo, hi


# ------------------------------------------------------------------------------------ fused MLP

FAST_CHUNK_SIZE = 65536  # points per MLP call on the fast path when no chunk size is set
FUSED_ROWS_MULTIPLE = 1024
_ONEDNN_ACTIVATIONS = {nn.SiLU: "swish", nn.ReLU: "relu"}


def _fused_mlp(decoder: nn.Module, triplane: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The decoder's layers as oneDNN linear+activation kernels (fp32 CPU inference), else None."""
    layers = getattr(decoder, "layers", None)
    fused_op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if (
        not isinstance(decoder, NeRFMLP)
        or triplane.device.type != "cpu"
        or triplane.dtype != torch.float32
        or torch.is_autocast_enabled("cpu")
        or not torch.backends.mkldnn.is_available()
        or fused_op is None
    ):
        return None
    steps: list[tuple[nn.Linear, str | None]] = []
    modules = list(layers)
    for i, layer in enumerate(modules):
        if isinstance(layer, nn.Linear):
            following = modules[i + 1] if i + 1 < len(modules) else None
            steps.append((layer, _ONEDNN_ACTIVATIONS.get(type(following))))
        elif type(layer) not in _ONEDNN_ACTIVATIONS:
            return None

    def forward(x: torch.Tensor) -> torch.Tensor:
        # oneDNN compiles a kernel per input shape: round the row count up to a few cached shapes.
        n_rows = x.shape[0]
        x = F.pad(x, (0, 0, 0, -n_rows % FUSED_ROWS_MULTIPLE))
        for layer, activation in steps:
            if activation is None:
                x = F.linear(x, layer.weight, layer.bias)
            else:
                x = fused_op(x, layer.weight, layer.bias, activation, [], "")
        return x[:n_rows]

    return forward


# -------------------------------------------------------------------------------------- renderer


class TriplaneNeRFRenderer(nn.Module):
    """Renders rays through a triplane field in the box [-radius, radius]³ on a white background."""

    def __init__(
        self,
        radius: float,
        feature_reduction: str = "concat",
        density_activation: str = "exp",
        density_bias: float = -1.0,
        color_activation: str = "sigmoid",
        num_samples_per_ray: int = 128,
        fast: bool = True,
        transmittance_eps: float = 1e-4,
        skip_empty: str = "auto",
        occupancy_eps: float = 5e-4,
    ) -> None:
        super().__init__()
        if feature_reduction not in ("concat", "mean"):
            raise ValueError(f"feature_reduction must be 'concat' or 'mean', got {feature_reduction!r}")
        if skip_empty not in ("auto", "always", "never"):
            raise ValueError(f"skip_empty must be 'auto', 'always' or 'never', got {skip_empty!r}")
        if color_activation != "sigmoid":
            raise ValueError(f"color_activation must be 'sigmoid', got {color_activation!r}")
        self.radius = radius
        self.feature_reduction = feature_reduction
        self.density_activation = DENSITY_ACTIVATIONS[density_activation]
        self.density_bias = density_bias
        self.num_samples_per_ray = num_samples_per_ray
        self.chunk_size = 0
        # Recompute each chunk's MLP activations in the backward pass instead of keeping them.
        self.gradient_checkpointing = False
        # Fast path (rendering without gradient only); see the module docstring.
        self.fast = fast
        self.transmittance_eps = transmittance_eps
        # "auto": skip empty space where a probe says it pays; "always" / "never" force the choice.
        self.skip_empty = skip_empty
        self.occupancy_resolution = 64  # occupancy cells per axis, at least (cells of whole texels)
        # A sample is skipped where the occupancy grid's density is ≤ occupancy_eps: the skipped samples of a
        # ray add up to at most occupancy_eps of opacity (alpha ≈ density / num_samples per sample).
        self.occupancy_eps = occupancy_eps
        self.probe_rays = 4096  # rays on which the probe counts the share of occupied samples
        self.skip_overhead = 1.15  # marching cost per evaluated sample, relative to the plain path
        self.skip_max_cost = 0.9  # skip only when the estimated cost is below this share of the plain path
        self.segment_samples = 8  # samples per ray evaluated between two transmittance checks
        self.ray_batch = 65536  # rays marched together by the fast path (bounds its memory)
        self.plain_chunk_rays = 32768  # rays per chunk when nothing is skipped (bounds the memory)
        self.last_stats: dict[str, float | str] = {}

    def set_chunk_size(self, chunk_size: int) -> None:
        """Number of points queried at once (0 = all at once); bounds memory, not results."""
        if chunk_size < 0:
            raise ValueError("chunk_size must be >= 0")
        self.chunk_size = chunk_size

    def _sample_planes(self, triplane: torch.Tensor, points_norm: torch.Tensor) -> torch.Tensor:
        """Bilinear features [N, 3·C] (or [N, C] for 'mean') at points [N,3] in [-1,1]."""
        coords = torch.stack(
            (points_norm[..., [0, 1]], points_norm[..., [0, 2]], points_norm[..., [1, 2]]), dim=0
        )  # [3, N, 2]
        out = F.grid_sample(triplane, coords[:, None], align_corners=False, mode="bilinear")  # [3, C, 1, N]
        if self.feature_reduction == "concat":
            return rearrange(out, "Np Cp () N -> N (Np Cp)")
        return out.mean(dim=0)[:, 0].transpose(0, 1)

    def query_triplane(
        self, decoder: nn.Module, positions: torch.Tensor, triplane: torch.Tensor, fast: bool = False
    ) -> dict[str, torch.Tensor]:
        """Field at world points [...,3]: density, features, density_act [...,1], color [...,3].

        `fast` evaluates the MLP with fused linear+activation kernels where available (same numbers up
        to fp32 rounding) and in cache-sized chunks. With `gradient_checkpointing`, a chunk's activations
        are recomputed in the backward pass (then `chunk_size` bounds the memory of training renders).
        """
        input_shape = positions.shape[:-1]
        points_norm = positions.reshape(-1, 3) / self.radius
        triplane = triplane.to(points_norm.dtype)  # a bf16 scene code is sampled in fp32
        mlp = _fused_mlp(decoder, triplane) if fast else None

        def query_chunk(points: torch.Tensor) -> dict[str, torch.Tensor]:
            features = self._sample_planes(triplane, points)
            if mlp is None:
                return decoder(features)
            out = mlp(features)
            return {"density": out[:, 0:1], "features": out[:, 1:4]}

        if self.gradient_checkpointing and torch.is_grad_enabled():
            plain_query = query_chunk

            def query_chunk(points: torch.Tensor) -> dict[str, torch.Tensor]:
                return checkpoint(plain_query, points, use_reentrant=False)

        chunk_size = self.chunk_size if self.chunk_size > 0 or not fast else FAST_CHUNK_SIZE
        if chunk_size > 0 and points_norm.shape[0] > chunk_size:
            parts = [query_chunk(c) for c in points_norm.split(chunk_size)]
            net_out = {k: torch.cat([p[k] for p in parts], dim=0) for k in parts[0]}
        else:
            net_out = query_chunk(points_norm)
        net_out = {k: v.float() for k, v in net_out.items()}  # compositing in fp32 under autocast
        net_out["density_act"] = self.density_activation(net_out["density"] + self.density_bias)
        net_out["color"] = torch.sigmoid(net_out["features"])
        return {k: v.reshape(*input_shape, v.shape[-1]) for k, v in net_out.items()}

    # ------------------------------------------------------------------------------ field bounds

    @torch.no_grad()
    def field_bounds(
        self,
        decoder: nn.Module,
        triplane: torch.Tensor,
        windows: tuple[tuple[torch.Tensor, torch.Tensor], ...],
        cells: torch.Tensor | None = None,
        max_cells: int = 1 << 15,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Guaranteed range of the activated density over boxes of the field.

        `windows` gives, per axis (x, y, z), the inclusive texel-lattice index ranges [lo, hi] of the
        boxes' sides along that axis (see `lattice_coordinate`); a box is one side per axis: `cells`
        [N,3] picks them (result [N]), or all combinations are taken (result [nx, ny, nz]). The range
        holds for every point of a box, including the fp32 rounding of the field's own evaluation.
        None when the decoder has a layer without a bound rule (then nothing can be skipped).
        """
        layers = getattr(decoder, "layers", None)
        if not isinstance(layers, nn.Sequential) or not isinstance(layers[0], nn.Linear):
            return None
        (wx, wy, wz) = windows
        grid_shape = (wx[0].numel(), wy[0].numel(), wz[0].numel())
        dense = cells is None
        if dense:
            axes = [torch.arange(n, device=triplane.device) for n in grid_shape]
            cells = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
        with torch.autocast(triplane.device.type, enabled=False):
            triplane = triplane.float()
            first: nn.Linear = layers[0]
            if self.feature_reduction == "concat":
                weights = first.weight.split(triplane.shape[1], dim=1)
            else:
                weights = [first.weight / 3.0] * 3
            # The first layer is linear in each plane's features: bound it per plane (tables over the
            # plane's windows), then add the three planes' terms per box.
            tables = []
            for plane, (win_h, win_w), weight in zip(
                triplane, ((wy, wx), (wz, wx), (wz, wy)), weights, strict=True
            ):  # plane 0 samples (x, y) as (W, H), plane 1 (x, z), plane 2 (y, z)
                lo, hi = _plane_bounds(plane, win_h, win_w)  # [nh, nw, C]
                mid, rad = (lo + hi) / 2, (hi - lo) / 2
                magnitude = (mid.abs() + rad).amax(dim=-1, keepdim=True) * weight.abs().sum(dim=1)
                tables.append((F.linear(mid, weight), F.linear(rad, weight.abs()), magnitude))
            bias = first.bias if first.bias is not None else torch.zeros_like(tables[0][0][0, 0])
            rounding = 2 * first.in_features * FP32_UNIT_ROUNDOFF
            density_lo, density_hi = [], []
            for chunk in cells.split(max_cells):
                ix, iy, iz = chunk.unbind(dim=1)
                terms = [t0[iy, ix] + t1[iz, ix] + t2[iz, iy] for t0, t1, t2 in zip(*tables, strict=True)]
                mid = terms[0] + bias
                rad = terms[1] + rounding * (terms[2] + bias.abs())
                out = mlp_bounds(layers, mid, rad)
                if out is None:
                    return None
                density_lo.append(self.density_activation(out[0][:, 0] + self.density_bias))
                density_hi.append(self.density_activation(out[1][:, 0] + self.density_bias))
        density_lo, density_hi = torch.cat(density_lo), torch.cat(density_hi)
        if dense:
            return density_lo.reshape(grid_shape), density_hi.reshape(grid_shape)
        return density_lo, density_hi

    def box_bounds(
        self,
        decoder: nn.Module,
        triplane: torch.Tensor,
        extents: tuple[tuple[torch.Tensor, torch.Tensor], ...],
        cells: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """`field_bounds` over world-space boxes: `extents` gives per axis the sides' (lo [n], hi [n])."""
        plane_size = triplane.shape[-1]
        if triplane.shape[-2] != plane_size:
            return None
        windows = []
        for lo, hi in extents:  # widened a little: grid_sample's own rounding of the coordinate
            start = lattice_coordinate(lo / self.radius, plane_size) - 1e-3
            end = lattice_coordinate(hi / self.radius, plane_size) + 1e-3
            windows.append((start.floor().long().clamp(0, plane_size + 1), end.ceil().long().clamp(0, plane_size + 1)))
        return self.field_bounds(decoder, triplane, tuple(windows), cells)

    # ------------------------------------------------------------------------- occupancy by evaluation

    @torch.no_grad()
    def occupancy_grid(self, decoder: nn.Module, triplane: torch.Tensor, coarsen: int = 1) -> torch.Tensor | None:
        """Cells [G,G,G] of whole texels whose density may exceed `occupancy_eps` (None for non-square planes).

        The density is evaluated at the cells' corners, texel centres (where every plane feature takes
        its extremes over a cell, bilinear interpolation being monotone between them); a cell's value is
        the max over its 8 corners, and the grid is dilated by one cell. Measured, not proven: the tests
        and the benchmark compare the renders with the faithful ones. `coarsen` multiplies the cell size
        (the probe of `_skipping_pays`).
        """
        plane_size = triplane.shape[-1]
        if triplane.shape[-2] != plane_size:
            return None
        step = self._cell_texels(plane_size) * coarsen
        n_cells = int((plane_size + 0.5) // step) + 1  # positions lie in [0.5, plane_size + 0.5] on the lattice
        lattice = torch.arange(n_cells + 1, device=triplane.device, dtype=torch.float32) * step
        axis = ((lattice - 0.5) * (2.0 / plane_size) - 1.0).clamp(-1.0, 1.0) * self.radius
        points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)  # [G+1, G+1, G+1, 3]
        density = self.query_triplane(decoder, points, triplane, fast=True)["density_act"][..., 0]
        cell_max = F.max_pool3d(density[None, None].float(), kernel_size=2, stride=1)
        cell_max = F.max_pool3d(cell_max, kernel_size=3, stride=1, padding=1)[0, 0]  # dilated by a cell
        self.last_stats["occupancy_points"] = self.last_stats.get("occupancy_points", 0.0) + density.numel()
        return cell_max > self.occupancy_eps

    def _cell_texels(self, plane_size: int) -> int:
        """Occupancy cell edge, in texels."""
        return max(1, plane_size // self.occupancy_resolution)

    def _occupied(self, xyz: torch.Tensor, plane_size: int, occupancy: torch.Tensor, coarsen: int = 1) -> torch.Tensor:
        """Whether world points [...,3] lie in occupied cells of `occupancy` (from `occupancy_grid`)."""
        step = self._cell_texels(plane_size) * coarsen
        cell = (lattice_coordinate(xyz / self.radius, plane_size) / step).long().clamp_(0, occupancy.shape[0] - 1)
        return occupancy[cell[..., 0], cell[..., 1], cell[..., 2]]

    def _sample_t(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin edges [S+1] and midpoints [S] of the samples along a ray, normalised (as the reference)."""
        t_vals = torch.linspace(0, 1, self.num_samples_per_ray + 1, device=like.device, dtype=like.dtype)
        return t_vals, (t_vals[:-1] + t_vals[1:]) / 2.0

    def _skipping_pays(
        self, probe: torch.Tensor, plane_size: int, rays: tuple[torch.Tensor, ...], coarsen: int
    ) -> bool:
        """Whether skipping should beat evaluating every sample, judged on a coarse occupancy probe.

        The share of samples in the probe's occupied cells is counted on a subset of the rays; the
        skipping path pays for the finer grid's points and a marching overhead per evaluated sample.
        """
        rays_o, rays_d, t_near, t_far = rays
        stride = max(1, rays_o.shape[0] // self.probe_rays)
        t_mid = self._sample_t(rays_o)[1]
        z_vals = t_near[::stride] * (1 - t_mid) + t_far[::stride] * t_mid  # [r, S]
        xyz = rays_o[::stride, None, :] + z_vals[..., None] * rays_d[::stride, None, :]
        share = float(self._occupied(xyz, plane_size, probe, coarsen).float().mean())
        n_total = rays_o.shape[0] * self.num_samples_per_ray
        grid_points = (coarsen * probe.shape[0]) ** 3 if coarsen > 1 else 0  # the finer grid still to evaluate
        self.last_stats["probe_occupied_share"] = share
        return grid_points + share * n_total * self.skip_overhead < self.skip_max_cost * n_total

    # ---------------------------------------------------------------------------------- rendering

    def render_rays(
        self,
        decoder: nn.Module,
        triplane: torch.Tensor,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        fast: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Colour [...,3] (white background) and opacity [...,1] of rays [...,3] for one triplane [3,C,H,W].

        `fast` (default: the renderer's setting) takes the fast path; it is used only without gradient.
        """
        fast = self.fast if fast is None else fast
        rays_shape = rays_o.shape[:-1]
        rays_o = rays_o.reshape(-1, 3)
        rays_d = rays_d.reshape(-1, 3)
        if fast and not torch.is_grad_enabled():
            rgb, opacity = self._render_rays_fast(decoder, triplane, rays_o, rays_d)
        else:
            rgb, opacity = self._render_rays_faithful(decoder, triplane, rays_o, rays_d)
            n_samples = float(rays_intersect_bbox(rays_o, rays_d, self.radius)[2].sum()) * self.num_samples_per_ray
            self.last_stats = {"samples_total": n_samples, "samples_evaluated": n_samples}
        return rgb.reshape(*rays_shape, 3), opacity.reshape(*rays_shape, 1)

    def _render_rays_faithful(
        self,
        decoder: nn.Module,
        triplane: torch.Tensor,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        fused: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference computation: all samples of all rays that cross the box. Rays [N,3].

        `fused` evaluates the MLP with the fused kernels of `query_triplane(fast=True)`.
        """
        n_rays = rays_o.shape[0]
        t_near, t_far, rays_valid = rays_intersect_bbox(rays_o, rays_d, self.radius)
        t_near, t_far = t_near[rays_valid], t_far[rays_valid]
        rays_o, rays_d = rays_o[rays_valid], rays_d[rays_valid]

        t_vals, t_mid = self._sample_t(rays_o)
        z_vals = t_near * (1 - t_mid[None]) + t_far * t_mid[None]  # [R, S]
        xyz = rays_o[:, None, :] + z_vals[..., None] * rays_d[:, None, :]  # [R, S, 3]
        field = self.query_triplane(decoder, xyz, triplane, fast=fused)

        deltas = t_vals[1:] - t_vals[:-1]  # normalised bin widths, as in the reference
        alpha = 1 - torch.exp(-deltas * field["density_act"][..., 0])  # [R, S]
        transmittance = torch.cumprod(1 - alpha[:, :-1] + 1e-10, dim=-1)
        transmittance = torch.cat([torch.ones_like(alpha[:, :1]), transmittance], dim=-1)
        weights = alpha * transmittance
        rgb_valid = (weights[..., None] * field["color"]).sum(dim=-2)  # [R, 3]
        opacity_valid = weights.sum(dim=-1, keepdim=True)  # [R, 1]

        rgb = torch.zeros(n_rays, 3, dtype=rgb_valid.dtype, device=rgb_valid.device)
        opacity = torch.zeros(n_rays, 1, dtype=opacity_valid.dtype, device=opacity_valid.device)
        rgb = rgb.index_put((rays_valid,), rgb_valid)
        opacity = opacity.index_put((rays_valid,), opacity_valid)
        return rgb + (1 - opacity), opacity

    def _render_rays_fast(
        self, decoder: nn.Module, triplane: torch.Tensor, rays_o: torch.Tensor, rays_d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Skip empty space where a probe says it pays, else the reference computation in ray chunks."""
        self.last_stats = {}
        t_near, t_far, rays_valid = rays_intersect_bbox(rays_o, rays_d, self.radius)
        n_total = float(rays_valid.sum()) * self.num_samples_per_ray
        plane_size = triplane.shape[-1]
        occupancy = None
        if self.skip_empty != "never" and n_total > 0 and self.occupancy_eps > 0:
            if self.skip_empty == "always":
                occupancy = self.occupancy_grid(decoder, triplane)
            else:
                # The probe is the occupancy grid itself where that costs little, else a coarser one; a
                # render with too few samples to pay for even the coarser one is not probed.
                cells = plane_size / self._cell_texels(plane_size)
                coarsen = 1 if (cells + 2) ** 3 * 16 < n_total else 2
                worth_probing = (cells / coarsen + 2) ** 3 * 16 < n_total
                probe = self.occupancy_grid(decoder, triplane, coarsen=coarsen) if worth_probing else None
                rays = tuple(t[rays_valid] for t in (rays_o, rays_d, t_near, t_far))
                if probe is not None and self._skipping_pays(probe, plane_size, rays, coarsen):
                    occupancy = probe if coarsen == 1 else self.occupancy_grid(decoder, triplane)
        if occupancy is None:
            parts = [
                self._render_rays_faithful(decoder, triplane, o, d)
                for o, d in zip(rays_o.split(self.plain_chunk_rays), rays_d.split(self.plain_chunk_rays), strict=True)
            ]
            rgb, opacity = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            evaluated = n_total
        else:
            rgb, opacity, evaluated = self._march(
                decoder, triplane, rays_o, rays_d, (t_near, t_far, rays_valid), occupancy
            )
            self.last_stats["occupied_cells"] = float(occupancy.float().mean())
        self.last_stats.update(
            samples_total=n_total, samples_evaluated=float(evaluated), skipping=float(occupancy is not None)
        )
        return rgb, opacity

    def _march(
        self,
        decoder: nn.Module,
        triplane: torch.Tensor,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        bbox: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        occupancy: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Front-to-back marching in segments: skip samples in empty cells, stop rays once opaque."""
        device = rays_o.device
        n_rays = rays_o.shape[0]
        rgb = torch.zeros(n_rays, 3, device=device)
        opacity = torch.zeros(n_rays, 1, device=device)
        t_near, t_far, rays_valid = bbox
        t_vals, t_mid = self._sample_t(rays_o)
        deltas = t_vals[1:] - t_vals[:-1]
        plane_size = triplane.shape[-1]
        evaluated = 0
        for index in rays_valid.nonzero()[:, 0].split(self.ray_batch):  # index: the rays still marching
            origin, direction, near, far = rays_o[index], rays_d[index], t_near[index], t_far[index]
            transmittance = torch.ones(index.shape[0], device=device)
            for start in range(0, self.num_samples_per_ray, self.segment_samples):
                seg = slice(start, start + self.segment_samples)
                z_vals = near * (1 - t_mid[seg]) + far * t_mid[seg]  # [R, s]
                xyz = origin[:, None, :] + z_vals[..., None] * direction[:, None, :]  # [R, s, 3]
                occupied = self._occupied(xyz, plane_size, occupancy)  # [R, s]
                n_occupied = int(occupied.sum())
                if n_occupied == 0:
                    continue  # the factor (1 + 1e-10) of an empty sample is exactly 1 in fp32
                evaluated += n_occupied
                field = self.query_triplane(decoder, xyz[occupied], triplane, fast=True)
                alpha = torch.zeros(xyz.shape[:2], device=device)
                color = torch.zeros(*xyz.shape[:2], 3, device=device)
                alpha[occupied] = 1 - torch.exp(-deltas[seg].expand_as(alpha)[occupied] * field["density_act"][..., 0])
                color[occupied] = field["color"]
                factors = 1 - alpha + 1e-10
                inside = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), factors[:, :-1]], dim=-1), dim=-1)
                weights = alpha * inside * transmittance[:, None]  # [R, s]
                rgb.index_add_(0, index, (weights[..., None] * color).sum(dim=1))
                opacity.index_add_(0, index, weights.sum(dim=1, keepdim=True))
                transmittance = transmittance * inside[:, -1] * factors[:, -1]
                keep = transmittance > self.transmittance_eps
                if not bool(keep.all()):
                    index, origin, direction, near, far, transmittance = (
                        t[keep] for t in (index, origin, direction, near, far, transmittance)
                    )
                    if index.numel() == 0:
                        break
        return rgb + (1 - opacity), opacity, evaluated

    def forward(
        self, decoder: nn.Module, triplane: torch.Tensor, rays_o: torch.Tensor, rays_d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render rays for one triplane [3,C,H,W] or a batch [B,3,C,H,W] with rays [B,...,3]."""
        if triplane.ndim == 4:
            return self.render_rays(decoder, triplane, rays_o, rays_d)
        outs = [self.render_rays(decoder, t, o, d) for t, o, d in zip(triplane, rays_o, rays_d, strict=True)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
