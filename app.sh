#!/usr/bin/env bash
# Web demo on http://127.0.0.1:7860 (gradio, works offline). Any flag of scripts/app.py can be given, e.g.:
# ./app.sh --device cpu --port 8080 --pretrained-model-name-or-path checkpoints --weight-name model.ckpt
# Paths are the caller's: run it from any folder; a relative model path is relative to where you stand.
set -euo pipefail
HERE="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
PYTHON=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python3 )}
export GRADIO_ANALYTICS_ENABLED=False
exec "$PYTHON" "$HERE/scripts/app.py" "$@"
