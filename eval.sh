#!/usr/bin/env bash
# The four published evaluations in sequence on one GPU (no launcher), with 360° videos.
# Dataset roots: pass Hydra overrides through the environment, e.g.
#   CO3D_ROOT=/data/co3d MVIMGNET_ROOT=/data/mvimgnet WILD_ROOT=/data/wild \
#   OMNI_ROOT=/data/omniobject3d/blender_renders bash eval.sh [extra overrides for every run]
# Results: outputs/eval/<dataset>/metrics.json (and .csv, side_by_side/, videos/).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
CO3D_ROOT=${CO3D_ROOT:-data/co3d}
MVIMGNET_ROOT=${MVIMGNET_ROOT:-data/mvimgnet}
OMNI_ROOT=${OMNI_ROOT:-data/omniobject3d/blender_renders}
WILD_ROOT=${WILD_ROOT:-data/wild}

"$PY" scripts/eval_mv.py --config-name eval_mv_co3d dataset.root="$CO3D_ROOT" visuals.vis360=true "$@"
"$PY" scripts/eval_mv.py --config-name eval_mv_mvimgnet dataset.root="$MVIMGNET_ROOT/image" \
    dataset.mask_root="$MVIMGNET_ROOT/mask" visuals.vis360=true "$@"
"$PY" scripts/eval_mv.py --config-name eval_mv_omniobject3d dataset.root="$OMNI_ROOT" visuals.vis360=true "$@"
"$PY" scripts/eval_sv.py dataset.root="$WILD_ROOT" visuals.vis360=true "$@"
