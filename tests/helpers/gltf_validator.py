"""The Khronos glTF-Validator (npm `gltf-validator`, installed into tools/gltf_validator/ by .ci/run), run by node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

VALIDATOR_DIR = Path(__file__).resolve().parents[2] / "tools" / "gltf_validator"
INSTALL = "npm ci --prefix tools/gltf_validator"


def missing_validator() -> str | None:
    """Why the validator cannot run here (to skip with), or None when it can."""
    if shutil.which("node") is None:
        return f"node is not installed: the Khronos glTF-Validator needs it (then `{INSTALL}`)"
    if not (VALIDATOR_DIR / "node_modules" / "gltf-validator").is_dir():
        return f"the Khronos glTF-Validator is not installed: `{INSTALL}`"
    return None


def validate(paths: list[Path]) -> dict[Path, dict]:
    """The validator's `issues` report (numErrors, numWarnings, numInfos, numHints, messages) per file."""
    done = subprocess.run(
        ["node", str(VALIDATOR_DIR / "validate.js"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {Path(report["file"]): report["issues"] for report in json.loads(done.stdout)}
