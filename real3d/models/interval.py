"""Interval arithmetic on the triplane field: guaranteed feature and MLP output ranges over boxes.

Bilinear interpolation keeps each plane feature between the texel values around a point, and the
rules below carry those ranges through the MLP (widened by fp32 rounding), so a box can be proven
empty or full without sampling it. The widening assumes the field is evaluated in IEEE fp32: with
TF32 or bf16 inside fp32 matmuls (`torch.set_float32_matmul_precision("high"|"medium")`) or under
autocast the evaluation's error is far larger, so the bounds hold only where `fp32_matmul_is_ieee`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SILU_ARGMIN = -1.2784645  # SiLU decreases below this point and increases above it
FP32_UNIT_ROUNDOFF = 2.0**-24


def fp32_matmul_is_ieee(device: torch.device) -> bool:
    """Whether fp32 matmuls on `device` round as IEEE fp32 (no TF32 on CUDA, no bf16 in oneDNN on the CPU).

    Reads the backend's own setting (`torch.backends.cuda.matmul.fp32_precision`, `torch.backends.
    mkldnn.matmul.fp32_precision`, which `torch.set_float32_matmul_precision` also sets), else the
    global one: "highest" only; a setting that cannot be read counts as not IEEE.
    """
    backend = torch.backends.cuda if device.type == "cuda" else torch.backends.mkldnn
    for holder in (getattr(backend, "matmul", None), backend):
        value = getattr(holder, "fp32_precision", None)
        if value not in (None, "none"):
            return value == "ieee"
    try:
        return torch.get_float32_matmul_precision() == "highest"
    except RuntimeError:  # torch refuses to answer once the legacy and the per-backend settings were mixed
        return False


def lattice_coordinate(points_norm: torch.Tensor, plane_size: int) -> torch.Tensor:
    """Position of normalised coordinates in [-1,1] on the zero-padded texel lattice.

    `grid_sample(align_corners=False, padding_mode="zeros")` puts texel i at i + 1 on this lattice and
    zeros at 0 and plane_size + 1; between two lattice lines the plane is linear in each axis.
    """
    return (points_norm + 1.0) * (plane_size / 2.0) + 0.5


def window_reduce(x: torch.Tensor, dim: int, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of x over the inclusive index windows [lo[n], hi[n]] along `dim` (n windows)."""
    width = int((hi - lo).max().item()) + 1
    index = torch.minimum(lo[:, None] + torch.arange(width, device=lo.device), hi[:, None])  # [n, width]
    gathered = x.index_select(dim, index.reshape(-1)).unflatten(dim, index.shape)
    return gathered.amin(dim + 1), gathered.amax(dim + 1)


def plane_bounds(
    plane: torch.Tensor, windows_h: tuple[torch.Tensor, torch.Tensor], windows_w: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature range [nh, nw, C] of one plane [C,H,W] over lattice windows along H and W."""
    lattice = F.pad(plane, (1, 1, 1, 1))  # zeros outside, as grid_sample's padding
    lo_w, hi_w = window_reduce(lattice, 2, *windows_w)  # [C, H+2, nw]
    lo = window_reduce(lo_w, 1, *windows_h)[0]
    hi = window_reduce(hi_w, 1, *windows_h)[1]
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
