#!/usr/bin/env bash
# The default model of ./run.sh (issue 17), from nothing on CPU: the miniature's base LRM.
#   1. data: tools/mini_study_report.py data (domain B multi-view set + S / R test splits), unless present;
#   2. training: experiment=mini_default (scripts/train.py), the image encoder from checkpoints/mini/encoder;
#   3. evaluation on the S and R test splits, novel views rendered at 64x64 (scripts/eval_mv.py), and
#      where its PSNR is lost (tools/psnr_budget.py);
#   4. the demo on the bundled examples and a figure (tools/default_model_figure.py);
#   5. with --export: install it in checkpoints/default with its provenance (README.md).
#
# Usage: scripts/train_default.sh [--iterations N] [--threads T] [--seed S] [--out DIR]
#                                 [--base-objects N] [--mc-threshold X] [--encoder DIR]
#                                 [--image-size 64|128] [--export]
# --encoder: the pretrained image encoder to start from (default checkpoints/mini/encoder).
# --image-size: the model's input size (default 64: model=medium; 128: model=medium128, the data
#   rendered at 128x128 and the targets resized to 64x64). Existing data of another size is refused.
# Defaults: 4000 iterations, 2 threads (~75 min on the 2-core machine), outputs/default_model.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}
ITERATIONS=4000
THREADS=2
SEED=0
OUT=outputs/default_model
BASE_OBJECTS=1500
MC_THRESHOLD=5.0
EXPORT=0
IMAGE_SIZE=64
ENCODER_ARGS=()
ENCODER_FLAG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) ITERATIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --base-objects) BASE_OBJECTS=$2; shift 2 ;;
    --mc-threshold) MC_THRESHOLD=$2; shift 2 ;;
    --encoder) ENCODER_ARGS=(model.image_encoder="$2"); ENCODER_FLAG=" --encoder $2"; shift 2 ;;
    --image-size) IMAGE_SIZE=$2; shift 2 ;;
    --export) EXPORT=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$IMAGE_SIZE" in
  64) MODEL=medium ;;
  128) MODEL=medium128 ;;
  *) echo "--image-size must be 64 or 128, not $IMAGE_SIZE" >&2; exit 2 ;;
esac
case "$OUT" in /*) ;; *) OUT=$ROOT/$OUT ;; esac
export PROJECT_ROOT=$ROOT OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
START=$(date +%s)
DATA=$OUT/data
RUN=$OUT/run_seed$SEED
mkdir -p "$OUT/logs"

if [ -f "$DATA/B_train/gobjaverse/split.json" ] && [ -f "$DATA/info.json" ]; then
  DATA_SIZE=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['sizes']['image_size'])" "$DATA/info.json")
  [ "$DATA_SIZE" = "$IMAGE_SIZE" ] || { echo "$DATA holds ${DATA_SIZE}x${DATA_SIZE} renders, not ${IMAGE_SIZE}x${IMAGE_SIZE}: give another --out or remove it" >&2; exit 2; }
  echo "[1/5] data: using $DATA"
else
  echo "[1/5] data -> $DATA ($BASE_OBJECTS objects of domain B, 30 test objects per domain, ${IMAGE_SIZE}x${IMAGE_SIZE})"
  "$PYTHON" tools/mini_study_report.py data "$DATA" --base-objects "$BASE_OBJECTS" --test-objects 30 --image-size "$IMAGE_SIZE"
fi

echo "[2/5] training experiment=mini_default model=$MODEL, $ITERATIONS iterations, $THREADS threads -> $RUN (log: $OUT/logs/train.log)"
rm -rf "$RUN"
"$PYTHON" scripts/train.py experiment=mini_default seed="$SEED" module.training.total_iterations="$ITERATIONS" \
  mini_data_dir="$DATA" hydra.run.dir="$RUN" model="$MODEL" data.cond_image_size="$IMAGE_SIZE" "${ENCODER_ARGS[@]}" > "$OUT/logs/train.log" 2>&1 \
  || { echo "training failed: see $OUT/logs/train.log" >&2; exit 1; }
TRAIN_WALL=$(( $(date +%s) - START ))

echo "[3/5] evaluation on the S and R test splits (${IMAGE_SIZE}x${IMAGE_SIZE} input, 64x64 renders)"
for domain in S R; do
  "$PYTHON" scripts/eval_mv.py --config-name eval_mv_omniobject3d dataset_name="${domain}_test" \
    dataset.root="$DATA/${domain}_test" dataset.split_file="$DATA/${domain}_test/split.json" dataset.every_nth=1 \
    dataset.num_views=6 dataset.image_size="$IMAGE_SIZE" model.path="$RUN/export" device=cpu render_size=64 \
    model.render.num_samples_per_ray=null model.render.chunk_size=0 num_workers=0 pretrained.allow_random=true \
    progress=false visuals.num_side_by_side=4 output_dir="$RUN/eval_$domain" > "$OUT/logs/eval_$domain.log" 2>&1 \
    || { echo "evaluating on $domain failed: see $OUT/logs/eval_$domain.log" >&2; exit 1; }
  "$PYTHON" -c "import json,sys; m=json.load(open(sys.argv[1])); print('  ' + sys.argv[2] + ': ' + ', '.join(f'{g} PSNR {m[g][\"psnr\"]:.2f} SSIM {m[g][\"ssim\"]:.3f}' for g in ('all_views','novel_views')))" \
    "$RUN/eval_$domain/metrics.json" "${domain}_test"
done
echo "  where the novel-view PSNR is lost (tools/psnr_budget.py):"
"$PYTHON" tools/psnr_budget.py "$RUN/export" "$DATA" --out "$RUN/psnr_budget.json" 2> "$OUT/logs/budget.log" \
  | sed 's/^/  /' || { echo "the PSNR budget failed: see $OUT/logs/budget.log" >&2; exit 1; }

echo "[4/5] demo on the examples -> $RUN/demo, figure $RUN/demo.png"
"$PYTHON" tools/default_model_figure.py "$RUN/export" "$RUN/demo" --mc-threshold "$MC_THRESHOLD" \
  > "$OUT/logs/demo.log" 2>&1 || { echo "the demo failed: see $OUT/logs/demo.log" >&2; exit 1; }

WALL=$(( $(date +%s) - START ))
if [ "$EXPORT" = 1 ]; then
  echo "[5/5] export -> checkpoints/default"
  "$PYTHON" tools/mini_study_report.py export "$RUN" --target checkpoints/default --wall-time "$TRAIN_WALL" \
    --mc-threshold "$MC_THRESHOLD" \
    --command "scripts/train_default.sh --iterations $ITERATIONS --threads $THREADS --seed $SEED --base-objects $BASE_OBJECTS --mc-threshold $MC_THRESHOLD --image-size $IMAGE_SIZE$ENCODER_FLAG --export"
else
  echo "[5/5] not exported (give --export to install it in checkpoints/default)"
fi
echo "done in ${WALL} s"
