#!/usr/bin/env bash
# The mini study of issue #6 (docs/mini_study.md), from scratch on CPU:
#   1. generate domain S (multi-view) and domain R (single-view) data plus S / R multi-view test splits;
#   2. train (a) mini_mv, (b) mini_cycle, (c) mini_clip, each with every seed;
#   3. evaluate every model on the S and R test splits with scripts/eval_mv.py;
#   4. write the table and figure (docs/mini_study.md, docs/mini_study.png).
#
# Usage: scripts/reproduce_mini.sh [--iterations N] [--seeds "0 1"] [--variants "mini_mv mini_cycle mini_clip"]
#                                  [--jobs J] [--out DIR] [--export-default]
#                                  [--pretrain P [--lr LR] [--vit-lr LR] [--doc DOC] [--figure PNG]] [--r-images N]
#                                  [--pretrain-encoders STEPS] [--train-base N] [--base-model DIR]
#                                  [--ablation [--rows "a_mv d_full"]] [--image-size 64|128] [--keep-data]
# --keep-data: reuse $OUT/data when it is there (same flags as the run that wrote it).
# --jobs: trainings run in parallel (one CPU thread each). --export-default copies the best model
# (highest R-test novel-view PSNR) to checkpoints/default/. Runs go under DIR (outputs/mini_study).
# --pretrain P: first train mini_mv (seed 0) for P iterations, then start every variant from it,
# as Real3D starts from TripoSR (--lr: the variants' learning rate; --vit-lr: the image encoder's, in
# every run including the start, 0 = keep the random ViT frozen; the table then goes to the
# "pretrained" block of DOC, the figure to PNG). Ablation variants: mini_cycle_light, mini_recon.
# --r-images N: single-view R training images (default 96).
# --pretrain-encoders STEPS: also pretrain the miniature image encoder and CLIP (issue 17; STEPS each,
# the committed ones took 4000: ~35 min each on one thread) on the generated data, into $OUT/encoders;
# the base model and the ablation then use them instead of checkpoints/mini/.
# Issue 17's ablation in miniature (docs/mini_study.md, "The ablation"):
# --train-base N: train the base model (scripts/train_default.sh, N iterations, 2 threads) on the
#   generated data into $OUT/base; it becomes the ablation's start. Without it the start is --base-model
#   (default checkpoints/mini/base, the committed base model of the ablation table).
# --ablation: rows (a)-(g) (config/experiment/ablation/, --rows) x seeds (default "0 1 2"), ITERATIONS
#   (default 70) each, evaluated on the R test split (64x64 renders); table and figure by tools/ablation_report.py.
#   Row (g) trains on R photos with faulty ones mixed in, row (g') on the same after scripts/curate.py
#   (--config-name curate_mini, scored by the start model).
# --image-size: the base model's input size, at which the data is rendered and the variants are fed
#   (default: the --base-model's cond_image_size; 64 with --train-base, which then trains that size).
# From nothing: scripts/reproduce_mini.sh --pretrain-encoders 4000 --train-base 4000 --ablation
# The variants alone (the committed encoders and base model): scripts/reproduce_mini.sh --ablation
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}
ITERATIONS=300
SEEDS="0 1"
VARIANTS="mini_mv mini_cycle mini_clip"
JOBS=2
OUT=outputs/mini_study
EXPORT_DEFAULT=0
PRETRAIN=0
LR=""
VIT_LR=""
DOC=docs/mini_study.md
FIGURE=""
DATA_ARGS=()
ENCODER_STEPS=0
TRAIN_BASE=0
BASE_MODEL=checkpoints/mini/base
ABLATION=0
KEEP_DATA=0
IMAGE_SIZE=""
ROWS="a_mv b_input_view c_clip d_full e_no_curriculum f_end_to_end g_uncurated g_curated"
SEEDS_GIVEN=0
ITERATIONS_GIVEN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) ITERATIONS=$2; ITERATIONS_GIVEN=1; shift 2 ;;
    --seeds) SEEDS=$2; SEEDS_GIVEN=1; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --export-default) EXPORT_DEFAULT=1; shift ;;
    --pretrain) PRETRAIN=$2; shift 2 ;;
    --lr) LR=$2; shift 2 ;;
    --vit-lr) VIT_LR=$2; shift 2 ;;
    --doc) DOC=$2; shift 2 ;;
    --figure) FIGURE=$2; shift 2 ;;
    --r-images) DATA_ARGS+=(--r-images "$2"); shift 2 ;;
    --pretrain-encoders) ENCODER_STEPS=$2; shift 2 ;;
    --train-base) TRAIN_BASE=$2; shift 2 ;;
    --base-model) BASE_MODEL=$2; shift 2 ;;
    --ablation) ABLATION=1; shift ;;
    --keep-data) KEEP_DATA=1; shift ;;
    --image-size) IMAGE_SIZE=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$OUT" in /*) ;; *) OUT=$ROOT/$OUT ;; esac
case "$BASE_MODEL" in /*) ;; *) BASE_MODEL=$ROOT/$BASE_MODEL ;; esac
if [ "$ABLATION" = 1 ] || [ "$TRAIN_BASE" -gt 0 ]; then
  if [ -z "$IMAGE_SIZE" ] && [ "$TRAIN_BASE" -gt 0 ]; then
    IMAGE_SIZE=64
  elif [ -z "$IMAGE_SIZE" ]; then
    [ -f "$BASE_MODEL/config.yaml" ] || { echo "no base model at $BASE_MODEL (config.yaml missing)" >&2; exit 2; }
    IMAGE_SIZE=$("$PYTHON" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['cond_image_size'])" "$BASE_MODEL/config.yaml")
  fi
  DATA_ARGS+=(--base-objects 1500 --test-objects 30 --uncurated-bad 48 --image-size "$IMAGE_SIZE")
fi
if [ "$ABLATION" = 1 ]; then
  [ "$SEEDS_GIVEN" = 1 ] || SEEDS="0 1 2"
  [ "$ITERATIONS_GIVEN" = 1 ] || ITERATIONS=70
fi
export PROJECT_ROOT=$ROOT OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHON OUT ITERATIONS
START=$(date +%s)
mkdir -p "$OUT/runs" "$OUT/logs"

if [ "$KEEP_DATA" = 1 ] && [ -f "$OUT/data/info.json" ]; then
  DATA_SIZE=$("$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))['sizes']['image_size'])" "$OUT/data/info.json")
  [ -z "$IMAGE_SIZE" ] || [ "$DATA_SIZE" = "$IMAGE_SIZE" ] \
    || { echo "$OUT/data holds ${DATA_SIZE}x${DATA_SIZE} renders, the base model reads ${IMAGE_SIZE}x${IMAGE_SIZE}: drop --keep-data" >&2; exit 2; }
  echo "[1/4] data: keeping $OUT/data"
else
  echo "[1/4] data -> $OUT/data"
  "$PYTHON" tools/mini_study_report.py data "$OUT/data" "${DATA_ARGS[@]}"
fi

if [ "$ENCODER_STEPS" -gt 0 ]; then
  echo "[1a/4] pretraining the miniature encoder and CLIP ($ENCODER_STEPS steps each, in parallel) -> $OUT/encoders"
  "$PYTHON" scripts/pretrain_encoder.py --data-dir "$OUT/data" --output-dir "$OUT/encoders/encoder" \
    --steps "$ENCODER_STEPS" --threads 1 --no-progress > "$OUT/logs/pretrain_encoder.log" 2>&1 &
  ENCODER_PID=$!
  "$PYTHON" scripts/pretrain_clip.py --data-dir "$OUT/data" --output-dir "$OUT/encoders/clip" --steps "$ENCODER_STEPS" --threads 1 \
    --no-progress > "$OUT/logs/pretrain_clip.log" 2>&1 \
    || { echo "CLIP pretraining failed: see $OUT/logs/pretrain_clip.log" >&2; exit 1; }
  wait "$ENCODER_PID" || { echo "encoder pretraining failed: see $OUT/logs/pretrain_encoder.log" >&2; exit 1; }
  echo "  pretrained ($(( $(date +%s) - START )) s since start)"
fi
ENCODER_ARGS=()
CLIP_ARGS=()
if [ "$ENCODER_STEPS" -gt 0 ]; then
  ENCODER_ARGS=(--encoder "$OUT/encoders/encoder")
  CLIP_ARGS=(pretrained.clip="$OUT/encoders/clip/open_clip_model.safetensors" pretrained.clip_config="$OUT/encoders/clip/config.json")
fi

if [ "$TRAIN_BASE" -gt 0 ]; then
  echo "[1c/4] the base model ($TRAIN_BASE iterations, 2 threads) -> $OUT/base"
  mkdir -p "$OUT/base"
  ln -sfn "$OUT/data" "$OUT/base/data"
  scripts/train_default.sh --iterations "$TRAIN_BASE" --out "$OUT/base" --image-size "$IMAGE_SIZE" "${ENCODER_ARGS[@]}" \
    || { echo "the base model failed: see $OUT/base/logs" >&2; exit 1; }
  BASE_MODEL=$OUT/base/run_seed0/export
fi

if [ "$ABLATION" = 1 ]; then
  ABLATION_START=$(date +%s)
  export BASE_MODEL IMAGE_SIZE ABLATION_EXTRA="${CLIP_ARGS[*]}"
  ablate_one() {  # row seed
    local run="$OUT/runs/$1_seed$2"
    rm -rf "$run"
    # shellcheck disable=SC2086  # ABLATION_EXTRA holds separate Hydra overrides
    "$PYTHON" scripts/train.py experiment="ablation/$1" seed="$2" module.training.total_iterations="$ITERATIONS" \
      mini_data_dir="$OUT/data" base_model="$BASE_MODEL" data.cond_image_size="$IMAGE_SIZE" hydra.run.dir="$run" \
      module.single_view.rerender_size="$IMAGE_SIZE" $ABLATION_EXTRA \
      > "$OUT/logs/train_$1_seed$2.log" 2>&1 \
      || { echo "training $1 seed $2 failed: see $OUT/logs/train_$1_seed$2.log" >&2; return 1; }
    eval_r "$run/export" "$run/eval_R" "$OUT/logs/eval_$1_seed$2_R.log" || return 1
    echo "  $1 seed $2 ($(( $(date +%s) - ABLATION_START )) s since the variants started)"
  }
  eval_r() {  # model_dir output_dir log
    "$PYTHON" scripts/eval_mv.py --config-name eval_mv_omniobject3d dataset_name=R_test \
      dataset.root="$OUT/data/R_test" dataset.split_file="$OUT/data/R_test/split.json" dataset.every_nth=1 \
      dataset.num_views=6 dataset.image_size="$IMAGE_SIZE" model.path="$1" device=cpu render_size=64 \
      model.render.num_samples_per_ray=null model.render.chunk_size=0 num_workers=0 pretrained.allow_random=true \
      progress=false visuals.num_side_by_side=2 output_dir="$2" > "$3" 2>&1 \
      || { echo "evaluating $1 failed: see $3" >&2; return 1; }
  }
  export -f ablate_one eval_r
  export ABLATION_START
  echo "[1d/4] curating the uncurated R photos with the start model -> $OUT/data/R_uncurated/curated"
  rm -rf "$OUT/data/R_uncurated/curated"
  OMP_NUM_THREADS=$JOBS "$PYTHON" scripts/curate.py --config-name curate_mini input_dir="$OUT/data/R_uncurated/photos" \
    output_dir="$OUT/data/R_uncurated/curated" model_score.model.path="$BASE_MODEL" progress=false \
    > "$OUT/logs/curate.log" 2>&1 || { echo "curation failed: see $OUT/logs/curate.log" >&2; exit 1; }
  "$PYTHON" -c "import json, sys; s = json.load(open(sys.argv[1])); print(f'  kept {s[\"kept\"]} of {s[\"images\"]} photos')" \
    "$OUT/data/R_uncurated/curated/summary.json"
  echo "[2/4] ablation rows [$ROWS], seeds [$SEEDS], $ITERATIONS iterations from $BASE_MODEL, $JOBS parallel"
  eval_r "$BASE_MODEL" "$OUT/runs/base_seed0/eval_R" "$OUT/logs/eval_base_R.log"
  for seed in $SEEDS; do for row in $ROWS; do echo "$row $seed"; done; done \
    | xargs -P "$JOBS" -L 1 bash -c 'ablate_one "$0" "$1"'
  WALL=$(( $(date +%s) - ABLATION_START ))
  echo "[4/4] report (variants' wall time ${WALL} s, whole run $(( $(date +%s) - START )) s)"
  "$PYTHON" tools/ablation_report.py "$OUT" --doc "$DOC" --figure "${FIGURE:-docs/mini_study_ablation.png}" \
    --wall-time "$WALL" --iterations "$ITERATIONS"
  exit 0
fi

VIT_ARGS=()
[ -z "$VIT_LR" ] || VIT_ARGS=(module.param_groups.lr_image_encoder="$VIT_LR")
START_ARGS=()
if [ "$PRETRAIN" -gt 0 ]; then
  echo "[1b/4] pre-training mini_mv (seed 0) for $PRETRAIN iterations: the start of every variant"
  rm -rf "$OUT/runs/start_seed0"
  OMP_NUM_THREADS=$JOBS MKL_NUM_THREADS=$JOBS "$PYTHON" scripts/train.py experiment=mini_mv seed=0 \
    module.training.total_iterations="$PRETRAIN" mini_data_dir="$OUT/data" hydra.run.dir="$OUT/runs/start_seed0" \
    "${VIT_ARGS[@]}" > "$OUT/logs/train_start_seed0.log" 2>&1 \
    || { echo "pre-training failed: see $OUT/logs/train_start_seed0.log" >&2; exit 1; }
  START_ARGS=(model.path="$OUT/runs/start_seed0/export" model.weight_name=model.ckpt)
fi
if [ -n "$LR" ]; then
  START_ARGS+=(module.optimizer.lr="$LR" module.param_groups.lr_embeddings="$LR")
  [ -n "$VIT_LR" ] || START_ARGS+=(module.param_groups.lr_image_encoder="$LR")
fi
START_ARGS+=("${VIT_ARGS[@]}")
export TRAIN_EXTRA="${START_ARGS[*]}"

train_one() {  # variant seed
  local run="$OUT/runs/$1_seed$2"
  rm -rf "$run"
  # shellcheck disable=SC2086  # TRAIN_EXTRA holds separate Hydra overrides
  "$PYTHON" scripts/train.py experiment="$1" seed="$2" module.training.total_iterations="$ITERATIONS" \
    mini_data_dir="$OUT/data" hydra.run.dir="$run" $TRAIN_EXTRA > "$OUT/logs/train_$1_seed$2.log" 2>&1 \
    || { echo "training $1 seed $2 failed: see $OUT/logs/train_$1_seed$2.log" >&2; return 1; }
  echo "  trained $1 seed $2 ($(( $(date +%s) - START )) s since start)"
}
eval_one() {  # variant seed domain
  local run="$OUT/runs/$1_seed$2"
  "$PYTHON" scripts/eval_mv.py --config-name eval_mv_omniobject3d dataset_name="$3_test" \
    dataset.root="$OUT/data/$3_test" dataset.split_file="$OUT/data/$3_test/split.json" dataset.every_nth=1 \
    dataset.num_views=6 dataset.image_size=64 model.path="$run/export" device=cpu render_size=24 \
    model.render.num_samples_per_ray=null model.render.chunk_size=0 num_workers=0 pretrained.allow_random=true \
    progress=false \
    visuals.num_side_by_side=3 output_dir="$run/eval_$3" > "$OUT/logs/eval_$1_seed$2_$3.log" 2>&1 \
    || { echo "evaluating $1 seed $2 on $3 failed: see $OUT/logs/eval_$1_seed$2_$3.log" >&2; return 1; }
}
export -f train_one eval_one
export START

echo "[2/4] training: variants [$VARIANTS], seeds [$SEEDS], $ITERATIONS iterations, $JOBS parallel"
for v in $VARIANTS; do for seed in $SEEDS; do echo "$v $seed"; done; done \
  | xargs -P "$JOBS" -L 1 bash -c 'train_one "$0" "$1"'

echo "[3/4] evaluation on the S and R test splits"
{ [ "$PRETRAIN" -gt 0 ] && echo "start 0 S" && echo "start 0 R"
  for seed in $SEEDS; do for v in $VARIANTS; do for d in S R; do echo "$v $seed $d"; done; done; done; } \
  | xargs -P "$JOBS" -L 1 bash -c 'eval_one "$0" "$1" "$2"'

WALL=$(( $(date +%s) - START ))
echo "[4/4] report (study wall time ${WALL} s)"
ARGS=(report "$OUT" --doc "$DOC" --wall-time "$WALL" --iterations "$ITERATIONS")
if [ "$PRETRAIN" -gt 0 ]; then
  ARGS+=(--block pretrained --pretrain "$PRETRAIN" --figure "${FIGURE:-docs/mini_study_pretrained.png}")
else
  ARGS+=(--figure "${FIGURE:-docs/mini_study.png}")
fi
[ "$EXPORT_DEFAULT" = 1 ] && ARGS+=(--export-default checkpoints/default)
"$PYTHON" tools/mini_study_report.py "${ARGS[@]}"
