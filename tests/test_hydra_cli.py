"""real3d.hydra_cli: Hydra's multi-line errors as one line, and a plain run's config composed and checked first."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from real3d.errors import Real3DError
from real3d.hydra_cli import hydra_error, hydra_error_line, precheck


def test_a_missing_group_option_lists_the_options_inline() -> None:
    exc = MissingConfigException(
        "In 'train': Could not find 'model/nope'\n\nAvailable options in 'model':\n\tsmall\n\ttiny\n"
        "Config search path:\n\tprovider=hydra, path=pkg://hydra.conf",
        missing_cfg_file="model/nope",
    )
    assert hydra_error_line(exc) == "In 'train': Could not find 'model/nope' Available options in 'model': small, tiny"


def test_an_override_error_keeps_its_cause_and_drops_links_and_key_details() -> None:
    try:
        try:
            raise ConfigKeyError("Key 'bogus' is not in struct\n    full_key: a.bogus\n    object_type=dict")
        except ConfigKeyError as cause:
            raise ConfigCompositionException("Could not override 'a.bogus'.\nTo append use +a.bogus=1") from cause
    except ConfigCompositionException as exc:
        line = hydra_error_line(exc)
    assert line == "Could not override 'a.bogus'. To append use +a.bogus=1 (Key 'bogus' is not in struct)"
    parse = OverrideParseException(override="a=[1", message="no viable alternative at input '[1'\nSee https://hydra.cc")
    assert hydra_error_line(parse) == "no viable alternative at input '[1'"


def test_precheck_composes_as_the_run_does_and_applies_the_check(tmp_path) -> None:
    (tmp_path / "app.yaml").write_text("n: 3\n")
    cfg = precheck(tmp_path, "app", ["n=5"], None)
    assert OmegaConf.to_container(cfg) == {"n": 5}

    def positive(cfg) -> None:
        if cfg.n < 1:
            raise Real3DError(f"n={cfg.n}: must be >= 1")

    with pytest.raises(Real3DError, match=r"^n=0: must be >= 1$"):
        precheck(tmp_path, "app", ["n=0"], positive)
    with pytest.raises(Real3DError, match=r"^Could not override 'm'\. To append to your config use \+m=1"):
        precheck(tmp_path, "app", ["m=1"], positive)
    with pytest.raises(Real3DError, match="Cannot find primary config 'nope'"):
        precheck(tmp_path, "nope", [], None)


def test_hydra_error_says_why_a_command_line_stops_or_none(tmp_path) -> None:
    (tmp_path / "app.yaml").write_text("n: 3\nsection:\n  k: 1\n")
    (tmp_path / "other.yaml").write_text("n: 4\n")
    assert hydra_error(tmp_path, "app", ["n=5", "section.k=2"]) is None
    assert hydra_error(tmp_path, "app", ["--help"]) is None  # Hydra's own modes go to Hydra
    assert hydra_error(tmp_path, "app", ["-m", "n=1,2"]) is None
    assert hydra_error(tmp_path, "app", ["section.nope=1"]).startswith("Could not override 'section.nope'")
    assert hydra_error(tmp_path, "app", ["--bogus"]) == "unrecognized arguments: --bogus"
    assert hydra_error(tmp_path, "app", ["-cn", "x"]).endswith("available: app, other")
