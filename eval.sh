#!/usr/bin/env bash
# The four published evaluations in sequence on one GPU (no launcher), with 360° videos.
# Dataset roots: pass them through the environment, e.g.
#   CO3D_ROOT=/data/co3d MVIMGNET_ROOT=/data/mvimgnet WILD_ROOT=/data/wild \
#   OMNI_ROOT=/data/omniobject3d/blender_renders ./eval.sh [extra Hydra overrides for every run]
# Paths are the caller's: relative roots and the results (outputs/eval/<dataset>/metrics.json, .csv,
# side_by_side/, videos/) are under the folder you run it from; the project's checkpoints/ and split
# files are found from any folder. The first evaluation that fails stops the sequence (its exit code).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python3 )}
CO3D_ROOT=${CO3D_ROOT:-data/co3d}
MVIMGNET_ROOT=${MVIMGNET_ROOT:-data/mvimgnet}
OMNI_ROOT=${OMNI_ROOT:-data/omniobject3d/blender_renders}
WILD_ROOT=${WILD_ROOT:-data/wild}

"$PY" "$HERE/scripts/eval_mv.py" --config-name eval_mv_co3d dataset.root="$CO3D_ROOT" visuals.vis360=true "$@"
"$PY" "$HERE/scripts/eval_mv.py" --config-name eval_mv_mvimgnet dataset.root="$MVIMGNET_ROOT/image" \
    dataset.mask_root="$MVIMGNET_ROOT/mask" visuals.vis360=true "$@"
"$PY" "$HERE/scripts/eval_mv.py" --config-name eval_mv_omniobject3d dataset.root="$OMNI_ROOT" visuals.vis360=true "$@"
"$PY" "$HERE/scripts/eval_sv.py" dataset.root="$WILD_ROOT" visuals.vis360=true "$@"
