#!/usr/bin/env bash
# Real3D self-training, the published recipe (config/experiment/real3d_sv.yaml): one node, 8 GPUs,
# DDP with a ZeRO-sharded AdamW, bf16. Lightning starts the 8 processes itself.
#
# Needs: checkpoints/config.yaml + checkpoints/model_both.ckpt (the step-0 model, see train.sh),
# checkpoints/pretrained/{vgg16-397923af.pth,open_clip_vit_b16.bin}, and the data under data/
# (or set data.*_root=...). The best checkpoint is picked on the MVImgNet evaluation subset (its
# sequences' sparse/0 models are needed; data.val_mvimgnet_root=null validates on the multi-view
# test split). The data are processed as the original does; `protocol=corrected` fixes its quirks
# (docs/differences.md). Extra arguments are Hydra overrides, e.g.
#   R=outputs/real3d_sv/runs/<run>; bash train_sv.sh ckpt_path=$R/checkpoints/last.ckpt hydra.run.dir=$R  # resume
#   bash train_sv.sh trainer.devices=4 module.training.accumulation_steps=20       # 4 GPUs, same effective batch
#
# Multi-node: run the same command on every node under a launcher that sets the rendezvous
# (Lightning reads it), with trainer.num_nodes=<N>:
#   torchrun --nnodes=<N> --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=<host>:29500 \
#       scripts/train.py experiment=real3d_sv trainer.num_nodes=<N>
#   # or SLURM: srun --nodes=<N> --ntasks-per-node=8 --gpus-per-node=8 \
#   #     python scripts/train.py experiment=real3d_sv trainer.num_nodes=<N>
# Keep the effective batch of the paper (80 = GPUs x 10 accumulation) by scaling
# module.training.accumulation_steps with the number of GPUs if you like.
# Runs from any folder: relative paths (ckpt_path, hydra.run.dir, data roots) are the caller's; the project's
# own files (config/, checkpoints/, data/, outputs/) are found from this script's folder.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python3 )}
exec "$PYTHON" "$HERE/scripts/train.py" experiment=real3d_sv "$@"
