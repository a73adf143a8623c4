"""Hydra entry points whose mistakes are one line: `<prog>: error: ...`, exit 2, no traceback, no Hydra banner.

`run_hydra` runs a `@hydra.main` task with Hydra's own behaviour (overrides, `--multirun`, `--cfg job`,
`hydra.run.dir`, ...), and turns what Hydra reports as a multi-line error (an override of a key that does
not exist, an override that does not parse, a config group option that does not exist) into one line:

1. a plain run's overrides are composed first with Hydra's compose API and checked by the entry point's
   `check` (its config rules), so a mistake stops the run before Hydra makes its run folder;
2. Hydra is then run with `HYDRA_FULL_ERROR=1`, so that its remaining errors (those of a sweep, or of the
   run folder) come back as exceptions instead of being printed; those raised before the task started are
   one line. An exception raised by the task itself is a bug and keeps its traceback.

Set `HYDRA_FULL_ERROR=1` yourself to see Hydra's own messages and traces.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from real3d.cli import INTERRUPTED, USER_ERROR, report_error
from real3d.errors import Real3DError

FULL_ERROR = "HYDRA_FULL_ERROR"
_DROPPED = ("See https://hydra.cc", "Set the environment variable HYDRA_FULL_ERROR")


def hydra_error_line(exc: BaseException) -> str:
    """One line from a Hydra or OmegaConf composition error: indented lines after a line ending in ":" (a
    group's options) are listed inline; the config search path, links and OmegaConf's key details dropped."""
    pieces: list[str] = []
    listing = False
    for raw in str(exc).splitlines():
        line = raw.strip()
        if line.startswith("Config search path"):
            break
        if not line or line.startswith(_DROPPED):
            continue
        indented = raw[:1] in ("\t", " ")
        if indented and pieces and (listing or pieces[-1].endswith(":")):
            pieces[-1] += (", " if listing else " ") + line
            listing = True
            continue
        listing = False
        if indented:  # OmegaConf's `full_key: ...` / `object_type=...` details
            continue
        pieces.append(line)
    text = " ".join(pieces)
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException):
        first = str(cause).strip().splitlines()[:1]
        if first and first[0] not in text:
            text += f" ({first[0]})"
    return text or type(exc).__name__


def _parse_args(prog: str):  # noqa: ANN202 - argparse.Namespace of Hydra's own parser
    """Hydra's command line, parsed by Hydra's own parser (hydra-core 1.3); a bad flag is one line."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.prog = prog

    def error(message: str) -> None:
        report_error(prog, message)
        sys.exit(USER_ERROR)

    parser.error = error  # type: ignore[method-assign]
    return parser.parse_args()


def _is_plain_run(args) -> bool:  # noqa: ANN001
    """A single run from the entry point's own config folder (what the compose API can reproduce)."""
    return not (
        args.multirun
        or args.cfg
        or args.info
        or args.help
        or args.hydra_help
        or args.shell_completion
        or args.config_path
        or args.config_dir
    )


def precheck(
    config_dir: str | os.PathLike, config_name: str, overrides: list[str], check: Callable[[DictConfig], None] | None
) -> DictConfig:
    """The config composed as the run will compose it, checked by `check`; a Hydra, OmegaConf or rule error is
    a Real3DError."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        line = hydra_error_line(exc)
        if "Cannot find primary config" in line:
            names = sorted(p.stem for p in Path(config_dir).glob("*.yaml"))
            line = line.rstrip(".") + f"; available: {', '.join(names)}"
        raise Real3DError(line) from exc
    if check is not None:
        check(cfg)
    return cfg


def hydra_error(
    config_dir: str | os.PathLike,
    config_name: str,
    argv: list[str],
    check: Callable[[DictConfig], None] | None = None,
) -> str | None:
    """Why the command line `argv` would stop before the task (one line), or None when it composes and passes
    `check` -- or selects one of Hydra's own modes (--help, --cfg, -m, ...), which Hydra handles."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    messages: list[str] = []

    def error(message: str) -> None:
        messages.append(message)
        raise Real3DError(message)

    parser.error = error  # type: ignore[method-assign]
    try:
        args = parser.parse_args(list(argv))
        if not _is_plain_run(args):
            return None
        precheck(config_dir, args.config_name or config_name, args.overrides, check)
    except Real3DError as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _hydra_raises() -> Iterator[bool]:
    """Have Hydra raise its errors instead of printing them; yields whether the user asked for that."""
    user_set = os.environ.get(FULL_ERROR) == "1"
    previous = os.environ.get(FULL_ERROR)
    os.environ[FULL_ERROR] = "1"
    try:
        yield user_set
    finally:
        if previous is None:
            os.environ.pop(FULL_ERROR, None)
        else:
            os.environ[FULL_ERROR] = previous


def run_hydra(
    job: Callable[[DictConfig], int],
    prog: str,
    config_dir: str | os.PathLike,
    config_name: str,
    check: Callable[[DictConfig], None] | None = None,
) -> int:
    """Run `job` (a config -> exit code function, e.g. `run_cli(...)`) as a Hydra app; returns the exit code:
    the largest code of its jobs (0 when Hydra only printed something), USER_ERROR for a mistake Hydra found,
    INTERRUPTED after Ctrl-C."""
    import hydra
    from hydra.errors import HydraException

    config_dir = Path(config_dir)
    codes: list[int] = []
    from_job: list[BaseException] = []

    @functools.wraps(job)  # Hydra names the job (and its log file) after the entry script of `job`
    def task(cfg: DictConfig) -> None:
        try:
            code = job(cfg)
        except BaseException as exc:
            from_job.append(exc)
            raise
        codes.append(code)
        if code == INTERRUPTED:  # Ctrl-C stops a sweep too (the job already said so)
            from_job.append(KeyboardInterrupt())
            raise from_job[-1]

    try:
        args = _parse_args(prog)
        if args.experimental_rerun is not None:
            raise Real3DError("--experimental-rerun loads a pickle, which can run code: it is not supported")
        if _is_plain_run(args) and os.environ.get(FULL_ERROR) != "1":
            precheck(config_dir, args.config_name or config_name, args.overrides, check)
        main = hydra.main(version_base="1.3", config_path=str(config_dir), config_name=config_name)(task)
        with _hydra_raises() as user_wants_traces:
            try:
                main()
            except (HydraException, OmegaConfBaseException, OSError, ValueError) as exc:
                if user_wants_traces or any(exc is seen for seen in from_job):
                    raise
                raise Real3DError(hydra_error_line(exc)) from exc
    except Real3DError as exc:
        report_error(prog, exc)
        return USER_ERROR
    except KeyboardInterrupt as exc:
        if not any(exc is seen for seen in from_job):
            print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    return max(codes, default=0)
