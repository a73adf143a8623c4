#!/usr/bin/env bash
# Single image -> 3D mesh (+ 360° video). With no arguments, reconstructs the bundled example.
# Any flag of scripts/run.py can be given, e.g.: ./run.sh photo.png --render --model-save-format glb
# Paths are the caller's: run it from any folder; inputs and --output-dir are relative to where you stand.
set -euo pipefail
HERE="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
PYTHON=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python3 )}
if [ $# -eq 0 ]; then
  set -- "$HERE/assets/examples/mug.png" --render --render-num-views 12 --mc-resolution 96
fi
exec "$PYTHON" "$HERE/scripts/run.py" "$@"
