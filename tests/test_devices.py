"""real3d.devices: `auto` takes a usable CUDA device, else the CPU; an explicit device that is not there is an
error naming torch's CUDA build and the driver (never a silent CPU run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from real3d import devices
from real3d.devices import check_device_name, resolve_device, synchronize
from real3d.errors import Real3DError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "driver_version", lambda: "NVIDIA driver 535.104.05")


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A machine with one usable GPU, as far as the probe can tell (no tensor is put on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    probed = []
    monkeypatch.setattr(torch, "ones", lambda *a, device, **k: probed.append(device) or torch.zeros(1))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    return probed


def test_auto_takes_the_cpu_without_cuda_and_cuda_with_it(no_cuda: None) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_takes_a_usable_gpu(one_gpu: list[str]) -> None:
    assert resolve_device("auto") == torch.device("cuda:0")
    assert resolve_device("cuda") == torch.device("cuda:0") and one_gpu == ["cuda:0", "cuda:0"]


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_an_explicit_cuda_without_cuda_is_an_error_naming_the_build_and_driver(no_cuda: None, name: str) -> None:
    with pytest.raises(Real3DError) as caught:
        resolve_device(name)
    message = str(caught.value)
    assert f"device {name} is not usable: no usable CUDA device" in message
    assert f"CUDA {torch.version.cuda}" in message and "NVIDIA driver 535.104.05" in message


def test_a_gpu_beyond_the_count_or_one_this_build_cannot_run_is_an_error(
    one_gpu: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Real3DError, match=r"cuda:7 is not usable: there is 1 CUDA device\(s\) \(cuda:0 to cuda:0\)"):
        resolve_device("cuda:7")

    def no_kernel(*args: object, **kwargs: object) -> torch.Tensor:
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\nmore")

    monkeypatch.setattr(torch, "ones", no_kernel)
    with pytest.raises(Real3DError, match="cannot run this torch build \\(CUDA error: no kernel image"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == torch.device("cpu")  # auto: what works


@pytest.mark.parametrize("name", ["mps", "meta", "bogus", "cuda:", "cuda:-1", "CPU", "", "cuda:0,1", "xpu"])
def test_other_devices_are_refused_by_name(name: str) -> None:
    with pytest.raises(Real3DError, match="unknown device .*use auto, cpu, cuda or cuda:N"):
        check_device_name(name)
    with pytest.raises(Real3DError, match="unknown device"):
        resolve_device(name)


def test_the_driver_is_read_from_the_kernel_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:39 UTC 2025\n")
    monkeypatch.setattr(devices, "NVIDIA_PROC_VERSION", proc)
    assert devices.driver_version() == "NVIDIA driver 580.65.06"
    monkeypatch.setattr(devices, "NVIDIA_PROC_VERSION", tmp_path / "absent")
    assert devices.driver_version() is None or "CUDA" in devices.driver_version()


def test_synchronize_waits_for_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    synchronize("cpu")
    assert calls == []
    synchronize(torch.device("cuda:1"))
    assert calls == [torch.device("cuda:1")]


def test_evaluation_and_curation_default_to_auto_and_share_the_rule(no_cuda: None, tiny_model_dir: Path) -> None:
    from real3d.curation import pipeline as curation
    from real3d.evaluation.runner import load_model

    for name in ("eval_mv_base", "eval_sv"):
        assert OmegaConf.load(ROOT / f"config/eval/{name}.yaml").device == "auto"
    assert OmegaConf.load(ROOT / "config/curate.yaml").model_score.device == "auto"
    assert curation.resolve_device is resolve_device
    model = {"path": str(tiny_model_dir), "weight_name": None, "config": None, "render": {"chunk_size": 64}}
    assert load_model(OmegaConf.create({"model": model, "device": "auto"}))[0].device == torch.device("cpu")
    with pytest.raises(Real3DError, match="device cuda:0 is not usable"):
        load_model(OmegaConf.create({"model": model, "device": "cuda:0"}))  # evaluation never falls back silently
