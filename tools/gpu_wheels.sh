#!/usr/bin/env bash
# Wheels of the packages that the GPU machine's image lacks, for tools/gpu_check.sh there.
#
# That image's python3 (3.12) holds torch, torchvision, pytorch-lightning, transformers, einops, numpy,
# pillow, scipy, scikit-image, imageio, safetensors, timm, onnxruntime, pytest and hypothesis; nothing
# can be fetched there. Run this here once (it downloads into .whl/, which git ignores); the check
# installs them there: tools/gpu_check.sh --wheels .whl (see docs/performance.md, "GPU check").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
DEST=.whl
EXCLUDE="$(git rev-parse --git-path info/exclude)"
grep -qx '/.whl/' "$EXCLUDE" 2>/dev/null || echo '/.whl/' >>"$EXCLUDE"
mkdir -p "$DEST"
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    PLATFORMS+=(--platform "$p")
done
# the versions this project is tested with (requirements.txt), and what they need beyond the image
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${PLATFORMS[@]}" \
    -d "$DEST" omegaconf==2.3.1 hydra-core==1.3.8 trimesh==5.2.0 PyMCubes==0.1.6 lpips==0.1.4 \
    open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.5
# antlr4-python3-runtime 4.9.3 (omegaconf's parser) is published as a source archive only: a pure-Python wheel
"$PY" -m pip wheel -q --no-deps -w "$DEST" antlr4-python3-runtime==4.9.3
ls -1 "$DEST"
du -sh "$DEST"
