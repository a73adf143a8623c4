"""One guard for every entry script: a user's mistake becomes one line `<prog>: error: <message>` and exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from real3d.errors import Real3DError

USER_ERROR = 2  # exit code of a user's mistake, as argparse uses for a bad command line
INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT), as a shell reports it
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines breaks


def error_line(prog: str, message: object) -> str:
    """The one error line every entry script prints (argparse's own format); line breaks inside the
    message (a path or value the user typed may hold one) are shown escaped."""
    text = "".join(ch.encode("unicode_escape").decode() if ch in _LINE_BREAKS else ch for ch in str(message))
    return f"{prog}: error: {text}"


def report_error(prog: str, message: object) -> None:
    """Print one error line on stderr."""
    print(error_line(prog, message), file=sys.stderr)


def find_user_error(exc: BaseException, user_errors: tuple[type[BaseException], ...] = ()) -> BaseException | None:
    """The user's mistake behind `exc` (a Real3DError or one of `user_errors`), following `raise ... from`
    chains such as Hydra's instantiate wrapping; None for anything else (a bug keeps its traceback)."""
    kinds = (Real3DError, *user_errors)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, kinds):
            return cause
        cause = cause.__cause__
    return None


def run_cli(
    main: Callable[..., object],
    prog: str,
    *args: Any,
    user_errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Call `main(*args)` and return its exit code (an int it returns, else 0: a result such as a metrics dict
    is not a code); a user's mistake raised inside is printed as one line and gives USER_ERROR, Ctrl-C one line
    and INTERRUPTED. Hydra entry points call it inside their `@hydra.main` body, so Hydra's own config errors
    keep their handling."""
    try:
        code = main(*args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:
        cause = find_user_error(exc, user_errors)
        if cause is None:
            raise
        report_error(prog, cause)
        return USER_ERROR
    return code if isinstance(code, int) else 0
