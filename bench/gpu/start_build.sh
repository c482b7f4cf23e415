#!/usr/bin/env bash
# On the GPU machine, first call (carry .gpul and .gpum1): unpack llama.cpp's source and start
# building llama-bench with CUDA in a detached process session, so the ~3-minute build overlaps
# the calls that carry the remaining parts. device_run.sh waits for /tmp/llama/done.
set -euo pipefail
mkdir -p /tmp/ortgpu /tmp/llama
cp .gpul/* .gpum1/* /tmp/ortgpu/
tar -xJf /tmp/ortgpu/llama.cpp.tar.xz -C /tmp/llama
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
command -v nvcc cmake ninja
touch /tmp/llama/started
setsid nohup bash -c '
  cmake -S /tmp/llama/llama.cpp -B /tmp/llama/build -G Ninja -DGGML_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release \
    >/tmp/llama/cmake.log 2>&1 &&
  cmake --build /tmp/llama/build --target llama-bench -j 16 >/tmp/llama/build.log 2>&1
  echo $? >/tmp/llama/done' </dev/null >/dev/null 2>&1 &
sleep 20
tail -n 3 /tmp/llama/cmake.log /tmp/llama/build.log 2>/dev/null || true
