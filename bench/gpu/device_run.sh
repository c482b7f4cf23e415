#!/usr/bin/env bash
# On the GPU machine, in the repo root, after every part was copied into /tmp/ortgpu by the
# earlier calls (bench/gpu/README.md): set up (setup.sh), build llama.cpp's llama-bench with
# CUDA, check the capture against float32, run bench/bench_gpu.py. Results go to $OUT.
set -euo pipefail  # pipefail: the bench's exit code survives the tee
source bench/gpu/setup.sh
python3 -c "import onnxruntime as o; o.preload_dlls(); print(o.__version__, o.get_available_providers())"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/card.csv"

if [ -f /tmp/llama/started ]; then  # start_build.sh began the build in the first call
  while [ ! -f /tmp/llama/done ]; do sleep 2; done
  cp /tmp/llama/cmake.log /tmp/llama/build.log "$out/" 2>/dev/null || true
fi
llama=()
if [ ! -x /tmp/llama/build/bin/llama-bench ]; then
  mkdir -p /tmp/llama && tar -xJf /tmp/ortgpu/llama.cpp.tar.xz -C /tmp/llama
  { cmake -S /tmp/llama/llama.cpp -B /tmp/llama/build -G Ninja -DGGML_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log" 2>&1 &&
    cmake --build /tmp/llama/build --target llama-bench -j 16 >"$out/build.log" 2>&1; } ||
    echo "llama.cpp did not build (see build.log): Parley runs alone" >&2
fi
[ -x /tmp/llama/build/bin/llama-bench ] && llama=(--llama-bench /tmp/llama/build/bin/llama-bench)
# First, what the numbers rest on: the captured step and the chunked prompts against float32
# (top-1 and KL per variant; a capture that disagrees shows as low agreement here).
PYTHONUNBUFFERED=1 python3 bench/gpu/diagnose.py --bundle /tmp/bundle --suite capture \
  --json "$out/diag_capture.json" >"$out/diag_capture.log" 2>&1 || true
grep -v '^ \|^[{}]' "$out/diag_capture.log" | tail -5
PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --gguf /tmp/ortgpu/model.gguf --bundle /tmp/bundle \
  "${llama[@]}" --rounds "${ROUNDS:-3}" --json "$out/gpu.json" 2>&1 | tee "$out/bench.log"
