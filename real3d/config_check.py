"""Check a Hydra/OmegaConf config's user-set values at start-up: one line naming the key, before any work.

Each entry point lists the keys it reads with their type and range (`Rule`); `check_config` reads each one
(resolving interpolations, so a bad value behind `${...}` is caught at the key the user set) and raises a
`Real3DError` that names the first key that is wrong and what it must be.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from real3d.errors import Real3DError

_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


@dataclass(frozen=True)
class Rule:
    """One key's contract: `kind` int | float | bool | str, optional bounds (inclusive), choices, null allowed."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False

    def describe(self) -> str:
        """What a valid value is, in words (`an integer in [1, 4096]`)."""
        if self.choices is not None:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        else:
            text = _KINDS[self.kind]
            if self.low is not None and self.high is not None:
                text += f" in [{_number(self.low)}, {_number(self.high)}]"
            elif self.low is not None:
                text += f" >= {_number(self.low)}"
            elif self.high is not None:
                text += f" <= {_number(self.high)}"
        return text + (" (or null)" if self.nullable else "")

    def accepts(self, value: Any) -> bool:
        """Whether `value` (as OmegaConf returns it) satisfies the rule."""
        if value is None:
            return self.nullable
        if self.choices is not None:
            return value in self.choices
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def check_config(cfg: DictConfig, rules: Iterable[Rule]) -> None:
    """Raise a one-line `Real3DError` for the first key of `rules` whose value breaks its rule (absent keys pass)."""
    for rule in rules:
        try:
            value = OmegaConf.select(cfg, rule.key, default=_ABSENT, throw_on_resolution_failure=True)
        except (OmegaConfBaseException, ValueError, TypeError, ArithmeticError) as exc:
            raise Real3DError(f"{rule.key}: cannot be read ({_first_line(exc)}); it must be {rule.describe()}") from exc
        if value is _ABSENT:
            _check_sections(cfg, rule.key)
            continue
        if isinstance(value, DictConfig) or OmegaConf.is_list(value) or not rule.accepts(value):
            raise Real3DError(f"{rule.key}={_show(value)}: must be {rule.describe()}")


_ABSENT = object()


def _number(bound: float) -> str:
    """A bound as written: whole numbers in full (4294967295, not 4.29497e+09)."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _check_sections(cfg: DictConfig, key: str) -> None:
    """An absent key passes, unless a section above it was replaced by a value (`visuals=3`)."""
    parts = key.split(".")
    for depth in range(1, len(parts)):
        section = ".".join(parts[:depth])
        value = OmegaConf.select(cfg, section, default=_ABSENT, throw_on_resolution_failure=False)
        if value is _ABSENT:
            return
        if not isinstance(value, DictConfig):
            raise Real3DError(f"{section}={_show(value)}: must be a section (with {parts[depth]}: ...), not a value")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _show(value: Any) -> str:
    if isinstance(value, DictConfig) or OmegaConf.is_list(value):
        value = OmegaConf.to_container(value, resolve=False)  # shown as written: [1, 2], {'a': 1}
    return repr(value)[:60]
