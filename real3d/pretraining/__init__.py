"""Pretraining in miniature on the mini study's domain images (issue 17): the image encoder, the CLIP-like model."""

from __future__ import annotations

import torch

from real3d.errors import Real3DError


def _device(name: str) -> torch.device:
    """The device a `--device` value names: "auto" (CUDA when present, else the CPU), "cpu", "cuda[:N]".

    An explicit device that is not there is an error, never the CPU in its place. (A local stand-in for
    the project's shared device helper.)
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda") or (device.type == "cpu" and device.index):
        raise Real3DError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise Real3DError(
                f"device {name}: CUDA is not available (torch {torch.__version__}, built for CUDA "
                f"{torch.version.cuda or 'none'}: no GPU, or a driver too old for that CUDA)"
            )
        if (device.index or 0) >= count:
            raise Real3DError(f"device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return device
