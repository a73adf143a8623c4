#!/usr/bin/env bash
# The prepared GPU check (issue 27): one command, about 10 minutes on one H100, prints a table.
#
#   tools/gpu_check.sh                      # every row where CUDA is present; the CPU side where not
#   tools/gpu_check.sh --cpu-only           # the CPU side only (the CUDA rows marked skipped)
#   tools/gpu_check.sh --wheels .whl        # first install the wheels of tools/gpu_wheels.sh (the GPU
#                                           # machine's image lacks hydra, omegaconf, trimesh, ...)
#   tools/gpu_check.sh --out DIR            # logs and the table's .md/.json (default outputs/gpu_check)
#   tools/gpu_check.sh --budget 540         # seconds for all steps (default 540 with CUDA, 1800 without)
#
# Python: $PYTHON, else the checkout's .venv, else python3. Exit status 1 when a row fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels)
            SITE="$(mktemp -d)"
            "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$2"/*.whl
            export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
            shift 2
            ;;
        *)
            ARGS+=("$1")
            shift
            ;;
    esac
done
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PROJECT_ROOT="$ROOT" PYTHONUNBUFFERED=1
exec "$PY" "$ROOT/tools/gpu_check.py" ${ARGS[@]+"${ARGS[@]}"}
