"""Stage times are the stages' own: on CUDA the clock is read after the device's queued work is done."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch

from real3d.inference import pipeline
from real3d.inference.pipeline import ImageTo3D, Timings, demo_settings
from real3d.models import LRM


def test_a_stage_on_cuda_synchronizes_before_each_clock_read(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    clock = iter(range(100))
    monkeypatch.setattr(pipeline, "synchronize", lambda device: events.append(f"sync {device}"))
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(perf_counter=lambda: events.append("clock") or next(clock)))
    timings = Timings(device=torch.device("cuda:0"))
    with timings.stage("render"):
        events.append("queue the GPU work")
    assert events == ["sync cuda:0", "clock", "queue the GPU work", "sync cuda:0", "clock"]
    assert timings.stages == {"render": 1}


def test_the_pipeline_times_on_the_models_device(
    tiny_model: LRM, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(pipeline, "synchronize", lambda device: seen.append(str(device)))
    array = np.zeros((40, 40, 4), np.uint8)
    array[10:30, 12:28] = [30, 160, 60, 255]
    demo = ImageTo3D(tiny_model, demo_settings(tiny_model.cfg, mc_resolution=16, mc_threshold=1.5))
    result = demo(PIL.Image.fromarray(array), tmp_path)
    assert list(result.timings.stages) == ["preprocess", "image_to_triplane", "extract_mesh", "export_mesh"]
    assert seen == ["cpu"] * 8  # before and after each of the four stages
    app_timings = Timings()  # the web app passes its own (for the progress bar): the model's device is set
    demo.reconstruct(demo.prepare(PIL.Image.fromarray(array)), tmp_path, timings=app_timings)
    assert app_timings.device == tiny_model.device
