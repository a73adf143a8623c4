"""Running entry points as a user does, and reading what they say: one error line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_entry(
    command: list[str], cwd: Path, timeout: float = 300.0, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `command` (a script path or `python ...` list) from `cwd` with this checkout importable,
    as a user would from their own folder; `python` is this interpreter."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    argv = [sys.executable, *command[1:]] if command[0] == "python" else command
    return subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def user_error(stderr: str, prog: str) -> str:
    """The one `<prog>: error: ...` line of `stderr` (asserting there is exactly one and no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(f"{prog}: error: ")]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix(f"{prog}: error: ")
