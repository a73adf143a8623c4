"""Fixtures for the evaluation tests: a tiny model whose renders depend strongly on the camera."""

from __future__ import annotations

import pytest
import torch

from real3d.models import LRM
from tests.conftest import TINY_MODEL_DIR

DECODER_GAIN = 8.0  # makes the tiny model's field opaque and its colours saturated


def opaque_tiny_model() -> LRM:
    """The tiny parity model with its decoder's output layer scaled: a random-init model renders
    near-uniform white (SPEC §8), which would pass a geometry test whatever the cameras."""
    model = LRM.from_pretrained(TINY_MODEL_DIR).eval()
    with torch.no_grad():
        model.decoder.layers[-1].weight.mul_(DECODER_GAIN)
        model.decoder.layers[-1].bias.mul_(DECODER_GAIN)
    return model


@pytest.fixture(scope="session")
def opaque_model() -> LRM:
    return opaque_tiny_model()
