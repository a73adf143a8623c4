"""Random-weight LPIPS and CLIP for the metric tests (whatever is installed locally)."""

from __future__ import annotations

import pytest

from real3d.pretrained import build_clip, build_lpips
from tests.conftest import CLIP_TINY


@pytest.fixture(scope="session")
def lpips_random():
    return build_lpips(weights_path="__absent__.pth", allow_random=True)


@pytest.fixture(scope="session")
def clip_random():
    return build_clip(config=CLIP_TINY, allow_random=True)
