"""Evaluation precision: the original evaluates under fp16 autocast on the GPU (model, LPIPS, CLIP).

`precision: auto` resolves to fp16 on CUDA under the original protocol and to fp32 otherwise (on
the CPU, or under `protocol: corrected`); `fp16` / `fp32` force one. The precision that ran is
reported in metrics.json.
"""

from __future__ import annotations

import contextlib

import torch

from real3d.errors import Real3DError

PRECISIONS = ("auto", "fp16", "fp32")


def resolve_precision(precision: str, device: torch.device | str, protocol: str = "original") -> str:
    """Resolved precision, fp16 or fp32: `precision` itself, or for "auto" fp16 on CUDA under the original protocol."""
    if precision not in PRECISIONS:
        raise Real3DError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    return "fp16" if torch.device(device).type == "cuda" and protocol == "original" else "fp32"


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """fp16 autocast on `device` for "fp16" (as the original's `autocast(dtype=torch.float16)`), else nothing."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "fp16":
        raise Real3DError(f"precision must be fp16 or fp32 once resolved, got {precision!r}")
    return torch.autocast(torch.device(device).type, dtype=torch.float16)
