"""The triplane NeRF field of one scene: the decoder MLP on bilinear plane features.

`TriplaneField` binds the model's decoder to one scene code, so the renderer, the occupancy grid and
the mesh extraction query a field instead of passing the decoder around. It also gives guaranteed
density ranges over boxes (`bounds`, from `real3d.models.interval`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from real3d.models.decoder import NeRFMLP
from real3d.models.interval import FP32_UNIT_ROUNDOFF, lattice_coordinate, mlp_bounds, plane_bounds


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

FAST_CHUNK_SIZE = 65536  # points per MLP call on the fused path when no chunk size is set
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


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """How plane features become density and colour (the model config's `renderer` section)."""

    radius: float
    feature_reduction: str = "concat"
    density_activation: str = "exp"
    density_bias: float = -1.0

    def __post_init__(self) -> None:
        if self.feature_reduction not in ("concat", "mean"):
            raise ValueError(f"feature_reduction must be 'concat' or 'mean', got {self.feature_reduction!r}")
        if self.density_activation not in DENSITY_ACTIVATIONS:
            raise ValueError(f"density_activation must be one of {sorted(DENSITY_ACTIVATIONS)}")

    def activate_density(self, density: torch.Tensor) -> torch.Tensor:
        return DENSITY_ACTIVATIONS[self.density_activation](density + self.density_bias)


class TriplaneField:
    """Density and colour of one scene in the box [-radius, radius]³: `decoder` on triplane [3,C,H,W]."""

    def __init__(self, decoder: nn.Module, triplane: torch.Tensor, spec: FieldSpec) -> None:
        self.decoder = decoder
        self.triplane = triplane
        self.spec = spec

    @property
    def radius(self) -> float:
        return self.spec.radius

    @property
    def plane_size(self) -> int | None:
        """Texels per plane side, None for non-square planes (no occupancy grid or bounds then)."""
        height, width = self.triplane.shape[-2:]
        return width if height == width else None

    def _sample_planes(self, triplane: torch.Tensor, points_norm: torch.Tensor) -> torch.Tensor:
        """Bilinear features [N, 3·C] (or [N, C] for 'mean') at points [N,3] in [-1,1]."""
        coords = torch.stack(
            (points_norm[..., [0, 1]], points_norm[..., [0, 2]], points_norm[..., [1, 2]]), dim=0
        )  # [3, N, 2]
        out = F.grid_sample(triplane, coords[:, None], align_corners=False, mode="bilinear")  # [3, C, 1, N]
        if self.spec.feature_reduction == "concat":
            return rearrange(out, "Np Cp () N -> N (Np Cp)")
        return out.mean(dim=0)[:, 0].transpose(0, 1)

    def query(
        self, positions: torch.Tensor, *, fused: bool = False, chunk_size: int = 0, checkpointing: bool = False
    ) -> dict[str, torch.Tensor]:
        """Field at world points [...,3]: density, features, density_act [...,1], color [...,3].

        `fused` evaluates the MLP with fused linear+activation kernels where available (same numbers up
        to fp32 rounding) and in cache-sized chunks; `chunk_size` points are evaluated at a time (0: all);
        with `checkpointing`, a chunk's activations are recomputed in the backward pass (then
        `chunk_size` bounds the memory of training renders).
        """
        input_shape = positions.shape[:-1]
        points_norm = positions.reshape(-1, 3) / self.radius
        triplane = self.triplane.to(points_norm.dtype)  # a bf16 scene code is sampled in fp32
        mlp = _fused_mlp(self.decoder, triplane) if fused else None

        def query_chunk(points: torch.Tensor) -> dict[str, torch.Tensor]:
            features = self._sample_planes(triplane, points)
            if mlp is None:
                return self.decoder(features)
            out = mlp(features)
            return {"density": out[:, 0:1], "features": out[:, 1:4]}

        if checkpointing and torch.is_grad_enabled():
            plain_query = query_chunk

            def query_chunk(points: torch.Tensor) -> dict[str, torch.Tensor]:
                return checkpoint(plain_query, points, use_reentrant=False)

        chunk_size = chunk_size if chunk_size > 0 or not fused else FAST_CHUNK_SIZE
        if chunk_size > 0 and points_norm.shape[0] > chunk_size:
            parts = [query_chunk(c) for c in points_norm.split(chunk_size)]
            net_out = {k: torch.cat([p[k] for p in parts], dim=0) for k in parts[0]}
        else:
            net_out = query_chunk(points_norm)
        net_out = {k: v.float() for k, v in net_out.items()}  # compositing in fp32 under autocast
        net_out["density_act"] = self.spec.activate_density(net_out["density"])
        net_out["color"] = torch.sigmoid(net_out["features"])
        return {k: v.reshape(*input_shape, v.shape[-1]) for k, v in net_out.items()}

    @torch.no_grad()
    def bounds(
        self,
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
        layers = getattr(self.decoder, "layers", None)
        if not isinstance(layers, nn.Sequential) or not isinstance(layers[0], nn.Linear):
            return None
        triplane = self.triplane
        (wx, wy, wz) = windows
        grid_shape = (wx[0].numel(), wy[0].numel(), wz[0].numel())
        dense = cells is None
        if dense:
            axes = [torch.arange(n, device=triplane.device) for n in grid_shape]
            cells = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
        with torch.autocast(triplane.device.type, enabled=False):
            triplane = triplane.float()
            first: nn.Linear = layers[0]
            if self.spec.feature_reduction == "concat":
                weights = first.weight.split(triplane.shape[1], dim=1)
            else:
                weights = [first.weight / 3.0] * 3
            # The first layer is linear in each plane's features: bound it per plane (tables over the
            # plane's windows), then add the three planes' terms per box.
            tables = []
            for plane, (win_h, win_w), weight in zip(
                triplane, ((wy, wx), (wz, wx), (wz, wy)), weights, strict=True
            ):  # plane 0 samples (x, y) as (W, H), plane 1 (x, z), plane 2 (y, z)
                lo, hi = plane_bounds(plane, win_h, win_w)  # [nh, nw, C]
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
                density_lo.append(self.spec.activate_density(out[0][:, 0]))
                density_hi.append(self.spec.activate_density(out[1][:, 0]))
        density_lo, density_hi = torch.cat(density_lo), torch.cat(density_hi)
        if dense:
            return density_lo.reshape(grid_shape), density_hi.reshape(grid_shape)
        return density_lo, density_hi

    def box_bounds(
        self, extents: tuple[tuple[torch.Tensor, torch.Tensor], ...], cells: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """`bounds` over world-space boxes: `extents` gives per axis the sides' (lo [n], hi [n])."""
        plane_size = self.plane_size
        if plane_size is None:
            return None
        windows = []
        for lo, hi in extents:  # widened a little: grid_sample's own rounding of the coordinate
            start = lattice_coordinate(lo / self.radius, plane_size) - 1e-3
            end = lattice_coordinate(hi / self.radius, plane_size) + 1e-3
            windows.append((start.floor().long().clamp(0, plane_size + 1), end.ceil().long().clamp(0, plane_size + 1)))
        return self.bounds(tuple(windows), cells)
