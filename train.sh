#!/usr/bin/env bash
# Step 0 (optional): fine-tune TripoSR on the multi-view Objaverse renders (canonical camera
# distance 2.4, as the original) with the multi-view losses only (config/experiment/mv_finetune.yaml);
# 8 GPUs, DDP, bf16. `protocol=corrected` fixes the original's data quirks (docs/differences.md).
#
# Needs: checkpoints/config.yaml + checkpoints/model.ckpt (released TripoSR weights),
# checkpoints/pretrained/vgg16-397923af.pth and the multi-view data under data/. The run exports
# its final model to <run>/export/ (config.yaml + model.ckpt); to start train_sv.sh from it:
#   cp outputs/mv_finetune/runs/<run>/export/model.ckpt checkpoints/model_both.ckpt
# Extra arguments are Hydra overrides (e.g. ckpt_path=... to resume, trainer.devices=1).
# Runs from any folder: relative paths (ckpt_path, hydra.run.dir, data roots) are the caller's; the project's
# own files (config/, checkpoints/, data/, outputs/) are found from this script's folder.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python3 )}
exec "$PYTHON" "$HERE/scripts/train.py" experiment=mv_finetune "$@"
