#!/usr/bin/env bash
# Web demo on http://127.0.0.1:7860 (gradio, works offline). Any flag of scripts/app.py can be given, e.g.:
# ./app.sh --device cpu --port 8080 --pretrained-model-name-or-path checkpoints --weight-name model.ckpt
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export GRADIO_ANALYTICS_ENABLED=False
exec "$PYTHON" scripts/app.py "$@"
