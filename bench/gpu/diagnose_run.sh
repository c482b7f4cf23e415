#!/usr/bin/env bash
# On the GPU machine, after the wheel parts (.gpu1..) and the model parts (.gpum1, .gpum2) were
# copied into /tmp/ortgpu by earlier calls: install onnxruntime-gpu, convert the starter GGUF
# and run bench/gpu/diagnose.py. Results go to $OUT/diag.json.
set -euo pipefail
repo=$(pwd)
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/ortgpu
cp -n .gpu[0-9]*/* .gpum1/* .gpum2/* /tmp/ortgpu/ 2>/dev/null || true
cd /tmp/ortgpu
wheel=$(cat WHEEL_NAME)
[ -f "$wheel" ] || cat part.* >"$wheel"
cat model.[0-9] >model.gguf
echo "$(cat MODEL_SHA256)  model.gguf" | sha256sum -c -
[ -d /tmp/site/onnxruntime ] ||
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheel" gguf-*.whl
export PYTHONPATH=/tmp/site:$repo
cd "$repo"
[ -d /tmp/bundle ] || python3 -c "
from pathlib import Path
from desktop.convert.gguf_to_onnx import convert_gguf
convert_gguf(Path('/tmp/ortgpu/model.gguf'), Path('/tmp/bundle'))"
for suite in ${SUITES:-capture}; do  # ORT_FPA_INTB_GEMM is one setting per process
  PYTHONUNBUFFERED=1 python3 bench/gpu/diagnose.py --bundle /tmp/bundle --suite "$suite" \
    --json "$out/diag_$suite.json" 2>&1 | tee "$out/diag_$suite.log" || true
done
