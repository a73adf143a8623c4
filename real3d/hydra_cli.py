"""Hydra entry points with the project's error contract: Hydra's own errors (an unknown key, an override
it cannot parse, a config or group option that does not exist) become one line `<prog>: error: ...` and
exit code 2, as every other user mistake.

`run_hydra(main, prog, config_dir, config_name)` composes the config from the command line the way
`@hydra.main` will, reports a failure in one line, and only then calls the decorated `main`. Hydra's
own modes (--help, --cfg, --multirun, ...) go to Hydra unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from real3d.cli import USER_ERROR, report_error

_HYDRA_MODES = ("help", "hydra_help", "cfg", "info", "shell_completion", "multirun", "config_path", "config_dir")


def hydra_error(config_dir: str | Path, config_name: str, argv: Sequence[str]) -> str | None:
    """Why Hydra would refuse the command line `argv` (one line), or None when it composes (or when it
    selects one of Hydra's own modes, which Hydra handles)."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    parser = get_args_parser()
    messages: list[str] = []
    parser.error = lambda message: (messages.append(message), _stop())  # type: ignore[method-assign]
    try:
        args = parser.parse_args(list(argv))
    except _ParseStop:
        return messages[0]
    if any(getattr(args, mode, None) for mode in _HYDRA_MODES):
        return None
    name = args.config_name or config_name
    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).absolute()), version_base="1.3"):
            compose(config_name=name, overrides=list(args.overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        return one_line(exc, config_dir)
    return None


def one_line(exc: BaseException, config_dir: str | Path | None = None) -> str:
    """Hydra's message in one line: its sentences and the cause's first line, the options it lists
    joined, without the search-path listing and the documentation link."""
    lines: list[str] = []
    options: list[str] = []
    for raw in str(exc).splitlines():
        line = raw.strip()
        if line.startswith("Config search path"):
            break
        if not line or line.startswith("See https://"):
            continue
        if raw.startswith("\t"):
            options.append(line)
            continue
        lines.append(line)
    text = " ".join(lines)
    if options:
        text += " " + ", ".join(options)
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        text += f" ({str(cause).strip().splitlines()[0]})"
    if "Cannot find primary config" in text and config_dir is not None:
        names = sorted(p.stem for p in Path(config_dir).glob("*.yaml"))
        text = text.rstrip(".") + f"; available: {', '.join(names)}"
    return text


def run_hydra(main: Callable[[], object], prog: str, config_dir: str | Path, config_name: str) -> None:
    """Check the command line as Hydra will compose it, then call the `@hydra.main` function `main`."""
    error = hydra_error(config_dir, config_name, sys.argv[1:])
    if error is not None:
        report_error(prog, error)
        sys.exit(USER_ERROR)
    main()


class _ParseStop(Exception):
    """argparse's error, stopped before it prints the usage and exits."""


def _stop() -> None:
    raise _ParseStop
