#!/usr/bin/env bash
# Single image -> 3D mesh (+ 360° video). With no arguments, reconstructs the bundled examples.
# Any flag of scripts/run.py can be given, e.g.: ./run.sh photo.png --render --model-save-format glb
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if [ $# -eq 0 ]; then
  set -- assets/examples/mug.png --render --render-num-views 12 --device cpu --mc-resolution 96
fi
exec "$PYTHON" scripts/run.py "$@"
