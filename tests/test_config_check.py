"""real3d.config_check: each user-set key read with its type and range; the first bad one named in one line."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from real3d.config_check import Rule, check_config
from real3d.errors import Real3DError

RULES = [
    Rule("training.total_iterations", "int", low=1),
    Rule("training.accumulation_steps", "int", low=1, high=1000),
    Rule("optimizer.lr", "float", low=0.0, high=1.0),
    Rule("protocol", "str", choices=("original", "corrected")),
    Rule("training.ray_patch_size", "int", low=16, nullable=True),
    Rule("flags.fast", "bool"),
]


def _config(**overrides: object):
    cfg = OmegaConf.create(
        {
            "training": {
                "total_iterations": 100,
                "accumulation_steps": 10,
                "ray_patch_size": None,
                "steps": "${div:a}",
            },
            "optimizer": {"lr": 4e-4},
            "protocol": "original",
            "flags": {"fast": True},
        }
    )
    for key, value in overrides.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, force_add=True)
    return cfg


def test_a_valid_config_passes_and_absent_keys_are_not_required() -> None:
    check_config(_config(), RULES)
    check_config(OmegaConf.create({}), RULES)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("training__total_iterations", "abc", "training.total_iterations='abc': must be an integer >= 1"),
        ("training__total_iterations", -5, "training.total_iterations=-5: must be an integer >= 1"),
        ("training__accumulation_steps", 0, "must be an integer in [1, 1000]"),
        ("training__accumulation_steps", 2.5, "must be an integer in [1, 1000]"),
        ("training__accumulation_steps", True, "must be an integer in [1, 1000]"),
        ("optimizer__lr", "fast", "optimizer.lr='fast': must be a number in [0, 1]"),
        ("optimizer__lr", float("nan"), "optimizer.lr=nan: must be a number in [0, 1]"),
        ("protocol", "orig", "protocol='orig': must be one of original, corrected"),
        ("training__ray_patch_size", 8, "must be an integer >= 16 (or null)"),
        ("flags__fast", "yes", "flags.fast='yes': must be true or false"),
        ("optimizer__lr", {"a": 1}, "optimizer.lr="),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(Real3DError) as info:
        check_config(_config(**{key: value}), RULES)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_interpolation_that_cannot_resolve_is_named_at_its_key() -> None:
    with pytest.raises(Real3DError, match=r"^training\.steps: cannot be read .*it must be an integer"):
        check_config(_config(), [Rule("training.steps", "int")])


def test_bounds_and_lists_are_shown_as_written() -> None:
    assert Rule("seed", "int", 0, 2**32 - 1).describe() == "an integer in [0, 4294967295]"
    assert Rule("lr", "float", 0, 1e-3).describe() == "a number in [0, 0.001]"
    with pytest.raises(Real3DError, match=r"^optimizer\.lr=\[1, 2\]: must be a number in \[0, 1\]$"):
        check_config(_config(optimizer__lr=[1, 2]), RULES)


def test_a_section_replaced_by_a_value_is_named() -> None:
    cfg = _config(training=7)
    with pytest.raises(Real3DError, match=r"^training=7: must be a section \(with total_iterations: \.\.\.\)"):
        check_config(cfg, RULES)
