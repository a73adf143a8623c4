#!/usr/bin/env bash
# The mini study of issue #6 (docs/mini_study.md), from scratch on CPU:
#   1. generate domain S (multi-view) and domain R (single-view) data plus S / R multi-view test splits;
#   2. train (a) mini_mv, (b) mini_cycle, (c) mini_clip, each with every seed;
#   3. evaluate every model on the S and R test splits with scripts/eval_mv.py;
#   4. write the table and figure (docs/mini_study.md, docs/mini_study.png).
#
# Usage: scripts/reproduce_mini.sh [--iterations N] [--seeds "0 1"] [--variants "mini_mv mini_cycle mini_clip"]
#                                  [--jobs J] [--out DIR] [--export-default]
# --jobs: trainings run in parallel (one CPU thread each). --export-default copies the best model
# (highest R-test novel-view PSNR) to checkpoints/default/. Runs go under DIR (outputs/mini_study).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo python3 )}
ITERATIONS=300
SEEDS="0 1"
VARIANTS="mini_mv mini_cycle mini_clip"
JOBS=2
OUT=outputs/mini_study
EXPORT_DEFAULT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) ITERATIONS=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --export-default) EXPORT_DEFAULT=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$OUT" in /*) ;; *) OUT=$ROOT/$OUT ;; esac
export PROJECT_ROOT=$ROOT OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHON OUT ITERATIONS
START=$(date +%s)
mkdir -p "$OUT/runs" "$OUT/logs"

echo "[1/4] data -> $OUT/data"
"$PYTHON" scripts/mini_study_report.py data "$OUT/data"

train_one() {  # variant seed
  local run="$OUT/runs/$1_seed$2"
  rm -rf "$run"
  "$PYTHON" scripts/train.py experiment="$1" seed="$2" module.training.total_iterations="$ITERATIONS" \
    mini_data_dir="$OUT/data" hydra.run.dir="$run" > "$OUT/logs/train_$1_seed$2.log" 2>&1 \
    || { echo "training $1 seed $2 failed: see $OUT/logs/train_$1_seed$2.log" >&2; return 1; }
  echo "  trained $1 seed $2 ($(( $(date +%s) - START )) s since start)"
}
eval_one() {  # variant seed domain
  local run="$OUT/runs/$1_seed$2"
  "$PYTHON" scripts/eval_mv.py --config-name eval_mv_omniobject3d dataset_name="$3_test" \
    dataset.root="$OUT/data/$3_test" dataset.split_file="$OUT/data/$3_test/split.json" dataset.every_nth=1 \
    dataset.num_views=6 dataset.image_size=64 checkpoint.dir="$run/export" device=cpu render_size=24 \
    num_samples_per_ray=null chunk_size=0 num_workers=0 lpips_allow_random=true progress=false \
    visuals.num_side_by_side=3 output_dir="$run/eval_$3" > "$OUT/logs/eval_$1_seed$2_$3.log" 2>&1 \
    || { echo "evaluating $1 seed $2 on $3 failed: see $OUT/logs/eval_$1_seed$2_$3.log" >&2; return 1; }
}
export -f train_one eval_one
export START

echo "[2/4] training: variants [$VARIANTS], seeds [$SEEDS], $ITERATIONS iterations, $JOBS parallel"
for v in $VARIANTS; do for seed in $SEEDS; do echo "$v $seed"; done; done \
  | xargs -P "$JOBS" -L 1 bash -c 'train_one "$0" "$1"'

echo "[3/4] evaluation on the S and R test splits"
for seed in $SEEDS; do for v in $VARIANTS; do for d in S R; do echo "$v $seed $d"; done; done; done \
  | xargs -P "$JOBS" -L 1 bash -c 'eval_one "$0" "$1" "$2"'

WALL=$(( $(date +%s) - START ))
echo "[4/4] report (study wall time ${WALL} s)"
ARGS=(report "$OUT" --doc docs/mini_study.md --figure docs/mini_study.png --wall-time "$WALL"
      --iterations "$ITERATIONS")
[ "$EXPORT_DEFAULT" = 1 ] && ARGS+=(--export-default checkpoints/default)
"$PYTHON" scripts/mini_study_report.py "${ARGS[@]}"
