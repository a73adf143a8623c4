"""The training config's rules (real3d.training.rules), checked in-process as scripts/train.py checks them
before it builds anything: every shipped experiment passes; each mistake is one line naming its key; and a
fuzz gives every recipe key values of every type, in and out of range, as command-line overrides."""

from __future__ import annotations

import math
import re

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from real3d.errors import Real3DError
from real3d.hydra_cli import precheck
from real3d.training.rules import TRAIN_RULES, check_train_config, register_resolvers
from tests.helpers.fuzz import fuzz_settings
from tests.training.runs import ROOT, compose_train

CONFIG = ROOT / "config"
EXPERIMENTS = sorted(
    p.relative_to(CONFIG / "experiment").with_suffix("").as_posix() for p in (CONFIG / "experiment").rglob("*.yaml")
)


def _check(*overrides: str):
    register_resolvers()
    return precheck(CONFIG, "train", ["experiment=tiny_cpu", *overrides], check_train_config)


def test_every_shipped_experiment_passes() -> None:
    for experiment in EXPERIMENTS:
        check_train_config(compose_train([f"experiment={experiment}", "paths.output_dir=/tmp/unused"]))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # the cases of issue 26 (accumulation_steps=0 was a ZeroDivisionError, -5 was accepted)
        (
            "module.training.total_iterations=abc",
            "module.training.total_iterations='abc': must be an integer in [1, 1000000000]",
        ),
        ("module.optimizer.lr=fast", "module.optimizer.lr='fast': must be a number in [0, 10]"),
        (
            "module.training.accumulation_steps=0",
            "module.training.accumulation_steps=0: must be an integer in [1, 10000]",
        ),
        (
            "module.training.total_iterations=-5",
            "module.training.total_iterations=-5: must be an integer in [1, 1000000000]",
        ),
        (
            "module.training.total_iterations=1",
            "module.training.total_iterations=1 is less than module.training.accumulation_steps=2: no optimizer step",
        ),
        ("seed=-1", "seed=-1: must be an integer in [0, 4294967295]"),
        ("protocol=orig", "protocol='orig': must be one of original, corrected"),
        (
            "module.optimizer.betas=[0.9,1.0]",
            "module.optimizer.betas=[0.9, 1.0]: must be a list of two numbers in [0, 1)",
        ),
        ("module.optimizer.betas=0.9", "module.optimizer.betas=0.9: must be a list of two numbers in [0, 1)"),
        (
            "module.single_view.curriculum_azimuth_deg=[90,15]",
            "module.single_view.curriculum_azimuth_deg=[90, 15]: must be a list of two numbers in [0, 360], the first",
        ),
        ("data.sv_pad_range=null", "data.sv_pad_range=None: must be a list of two numbers in [1, 10]"),
        ("data.camera_distance.wild=-1", "data.camera_distance.wild=-1: must be a number in [0.1, 100]"),
        ("data.batch_size_mv=0", "data.batch_size_mv=0: must be an integer in [1, 4096]"),
        ("data.num_workers=1.5", "data.num_workers=1.5: must be an integer in [0, 256]"),
        ("losses.weights.rgb=-1", "losses.weights.rgb=-1: must be a number in [0, 1000000]"),
        ("module.single_view.render_size=0", "module.single_view.render_size=0: must be an integer in [8, 2048]"),
        ("trainer.devices=0", "trainer.devices=0: must be a device count in [1, 4096], -1 (all) or auto"),
        ("trainer.precision=fp8", "trainer.precision='fp8': must be one of 64-true"),
        ("trainer.max_steps=0", "trainer.max_steps=0: must be an integer in [1, 1000000000]"),
        ("trainer.val_check_interval=1.5", "trainer.val_check_interval=1.5: must be a number of batches"),
        ("trainer.limit_val_batches=-1", "trainer.limit_val_batches=-1: must be a number of batches"),
        ("export.source=middle", "export.source='middle': must be one of last, best"),
        ("ckpt_path=[1]", "ckpt_path=[1]"),
        ("seed=${oops}", "seed: cannot be read (Interpolation key 'oops' not found)"),
        # Hydra's own errors, one line each
        (
            "module.training.bogus=1",
            "Could not override 'module.training.bogus'. To append to your config use +module.training.bogus=1 (Key",
        ),
        ("module.training.total_iterations=[1,2", "no viable alternative at input '[1,2'"),
        (
            "model=nope",
            "In 'train': Could not find 'model/nope' Available options in 'model': medium, medium128, small,",
        ),
        ("data=null", "Config group override must be a string or a list"),
    ],
)
def test_a_mistake_is_one_line_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(Real3DError) as info:
        _check(override)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_lightning_settings_of_several_types_pass_in_each() -> None:
    for override in (
        "trainer.devices=auto",
        "trainer.devices=-1",
        "trainer.devices=[0,1]",
        "trainer.val_check_interval=0.5",
        "trainer.limit_val_batches=0",
        "trainer.precision=bf16-mixed",
        "data.camera_distance=2.5",
    ):
        _check(override)


# -- fuzz -----------------------------------------------------------------------------------------------------

OTHER_KEYS = (
    "module.optimizer.betas",
    "module.single_view.curriculum_azimuth_deg",
    "module.single_view.curriculum_elevation_deg",
    "data.sv_pad_range",
    "data.camera_distance",
    "trainer.devices",
    "trainer.val_check_interval",
    "trainer.limit_val_batches",
)
RULES = {rule.key: rule for rule in TRAIN_RULES}
FUZZ_KEYS = sorted(
    {*RULES, *OTHER_KEYS} - {"generate_data.seed"} - {k for k in RULES if k.startswith("generate_data.sizes")}
)
SCALARS = st.one_of(
    st.integers(-(2**40), 2**40),
    st.integers(-3, 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0, 2.0),
    st.text(max_size=12),
    st.sampled_from(["original", "corrected", "last", "best", "first", "max", "auto", "bf16-mixed", "32-true"]),
    st.none(),
    st.booleans(),
)
VALUES = st.one_of(SCALARS, st.lists(st.one_of(st.integers(-5, 400), st.floats(-1.0, 400.0)), max_size=3))


def override_text(value: object) -> str:
    """`value` written as a Hydra override value (strings quoted, so every text stays a string)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
        )
    if isinstance(value, list):
        return "[" + ",".join(override_text(v) for v in value) + "]"
    if isinstance(value, str):
        return quoted(value)
    return str(value)


def quoted(text: str) -> str:
    """`text` as a quoted Hydra string: quotes escaped, and backslashes only where they precede a quote or the end."""
    body = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    body = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, body)
    return f"'{body}'"


@pytest.fixture(scope="module")
def base_configs():
    return {
        name: compose_train([f"experiment={name}", "paths.output_dir=/tmp/unused"])
        for name in ("tiny_cpu", "real3d_sv")
    }


def _apply(cfg, override: str):
    """`cfg` with one `key=value` override applied as Hydra applies it to an existing key."""
    parsed = OverridesParser.create().parse_overrides([override])[0]
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    OmegaConf.set_struct(cfg, True)
    OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), merge=True)
    return cfg


@fuzz_settings(60)
@given(experiment=st.sampled_from(["tiny_cpu", "real3d_sv"]), key=st.sampled_from(FUZZ_KEYS), value=VALUES)
def test_fuzz_every_recipe_key_with_values_of_every_type(base_configs, experiment, key, value) -> None:
    try:
        cfg = _apply(base_configs[experiment], f"{key}={override_text(value)}")
    except Exception:  # noqa: BLE001 - what Hydra refuses to merge is its own one-line error (tested above)
        return
    try:
        check_train_config(cfg)
    except Real3DError as exc:
        assert "\n" not in str(exc) and key.split(".")[-1] in str(exc), (key, value, str(exc))
        return
    if key in RULES:
        assert RULES[key].accepts(OmegaConf.select(cfg, key)), (key, value)


@fuzz_settings(8)
@given(key=st.sampled_from([k for k in FUZZ_KEYS if k in RULES]), value=VALUES)
def test_fuzz_through_the_whole_composition(key, value) -> None:
    """A few examples composed by Hydra itself (parsing, groups, interpolation), as the script composes them."""
    override = f"{key}={override_text(value)}"
    try:
        cfg = _check(override)
    except Real3DError as exc:
        assert "\n" not in str(exc)
        return
    assert RULES[key].accepts(OmegaConf.select(cfg, key)), override


def test_the_fuzz_writes_values_hydra_reads_back() -> None:
    for value in (None, True, -3, 1.5e-7, float("nan"), "it's a \\ path\\", "\\'", [1, 2.5], "", "1,2"):
        parsed = OverridesParser.create().parse_overrides([f"a={override_text(value)}"])[0].value()
        assert parsed == value or (isinstance(value, float) and math.isnan(parsed)), (value, parsed)


def test_the_rules_name_keys_of_the_training_config(base_configs) -> None:
    """A rule on a key that the config does not have would check nothing: every rule's key exists somewhere."""
    tiny, sv = base_configs["tiny_cpu"], base_configs["real3d_sv"]
    optional = {"data.num_val_views", "data.max_retries", "data.val_every_nth"}  # datamodule arguments, settable with +
    missing = [
        rule.key
        for rule in TRAIN_RULES
        if rule.key not in optional
        and OmegaConf.select(tiny, rule.key, default="absent", throw_on_resolution_failure=False) == "absent"
        and OmegaConf.select(sv, rule.key, default="absent", throw_on_resolution_failure=False) == "absent"
    ]
    assert not missing
