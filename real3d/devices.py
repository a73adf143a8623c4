"""The one device rule of every entry point: `auto` takes a usable CUDA device, else the CPU; an explicit
device that is not there is an error naming torch's CUDA build and the driver (never a silent CPU run)."""

from __future__ import annotations

import ctypes
import logging
import re
from pathlib import Path

import torch

from real3d.errors import Real3DError

log = logging.getLogger(__name__)

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_SYNTAX = re.compile(r"auto|cpu|cuda(:\d+)?")
NVIDIA_PROC_VERSION = Path("/proc/driver/nvidia/version")


def check_device_name(name: str) -> str:
    """`name` when it is one of DEVICE_CHOICES (spelling only; `resolve_device` checks it is there)."""
    if not isinstance(name, str) or not _SYNTAX.fullmatch(name):
        raise Real3DError(f"unknown device {name!r}: use {DEVICE_CHOICES}")
    return name


def driver_version() -> str | None:
    """The NVIDIA driver in words (kernel module version, or the CUDA version its library supports), if readable."""
    try:
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", NVIDIA_PROC_VERSION.read_text())
        if match:
            return f"NVIDIA driver {match[1]}"
    except OSError:
        pass
    try:
        version = ctypes.c_int()
        if ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version)) == 0:
            return f"a driver for CUDA {version.value // 1000}.{version.value % 1000 // 10}"
    except (OSError, AttributeError):
        pass
    return None


def cuda_report() -> str:
    """torch's CUDA build and the driver, for messages about a device that is not usable."""
    build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
    return f"torch {torch.__version__} {build}; driver: {driver_version() or 'none found'}"


def cuda_problem(index: int) -> str | None:
    """Why `cuda:<index>` cannot run this torch build, or None when a small kernel runs on it."""
    if not torch.cuda.is_available():
        return "no usable CUDA device"
    count = torch.cuda.device_count()
    if index >= count:
        return f"there {'is' if count == 1 else 'are'} {count} CUDA device(s) (cuda:0 to cuda:{count - 1})"
    try:
        torch.ones(1, device=f"cuda:{index}").add_(1)
        torch.cuda.synchronize(index)
    except RuntimeError as exc:  # e.g. "no kernel image is available" for a GPU this build does not cover
        return f"cuda:{index} cannot run this torch build ({str(exc).splitlines()[0]})"
    return None


def resolve_device(requested: str | torch.device = "auto") -> torch.device:
    """The device to run on: `auto` -> cuda:0 when usable, else the CPU; `cpu`; `cuda`/`cuda:N` only when
    usable (else a Real3DError naming torch's CUDA build and the driver)."""
    name = check_device_name(str(requested))
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        problem = cuda_problem(0)
        device = torch.device("cpu" if problem else "cuda:0")
        log.info("device auto: %s", f"cpu ({problem})" if problem else device)
        return device
    index = int(name.partition(":")[2] or 0)
    problem = cuda_problem(index)
    if problem is not None:
        raise Real3DError(f"device {name} is not usable: {problem} ({cuda_report()}); use device cpu or auto")
    return torch.device(f"cuda:{index}")


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that a clock read after it is true."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
