"""The tiny architecture packaged for tests and smoke runs (real3d/models/configs/tiny, used by
config/model/tiny.yaml) is the parity fixture's."""

from __future__ import annotations

import json

import yaml

from real3d.models.config import PACKAGED_CONFIGS
from tests.conftest import TINY_MODEL_DIR


def test_tiny_config_is_the_parity_fixtures_architecture():
    packaged = PACKAGED_CONFIGS / "tiny"
    assert yaml.safe_load((packaged / "config.yaml").read_text()) == yaml.safe_load(
        (TINY_MODEL_DIR / "config.yaml").read_text()
    )
    vit = json.loads((packaged / "dino-tiny" / "config.json").read_text())
    assert vit == json.loads((TINY_MODEL_DIR / "dino-tiny" / "config.json").read_text())
