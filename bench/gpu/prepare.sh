#!/usr/bin/env bash
# Here (no GPU needed): lay out what the GPU machine needs, in git-ignored folders at the repo
# root, each under 50 MB so that one travels per `run` call (64 MiB limit per call):
#   .gpu1 .. .gpuN   onnxruntime-gpu wheel for Python 3.12, split (../shared/gpu/prepare-ort-gpu.sh)
#   .gpum1 .gpum2    the starter GGUF, split, plus the gguf wheel (the converter's reader)
#   .gpul            llama.cpp's source as vendored in the llama-cpp-python 0.3.36 sdist
# Usage: bench/gpu/prepare.sh [ORT_VERSION]      then follow bench/gpu/README.md
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
../shared/gpu/prepare-ort-gpu.sh "${1:-1.31.1}"

exclude() { grep -qx "/$1/" .git/info/exclude 2>/dev/null || echo "/$1/" >>.git/info/exclude; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gguf=.cache/starter/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$gguf" ]; then
  .venv/bin/python -c "from tests.starter import starter_gguf_path; print(starter_gguf_path())"
fi
rm -rf .gpum1 .gpum2 .gpul
mkdir -p .gpum1 .gpum2 .gpul
(cd "$tmp" && split -b 48M -d -a 1 "$root/$gguf" model.)
mv "$tmp/model.0" .gpum1/ && mv "$tmp/model.1" .gpum2/
sha256sum "$gguf" | cut -d' ' -f1 >.gpum1/MODEL_SHA256
python3 -m pip download -q --no-deps --only-binary=:all: -d .gpum1 "gguf==$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("gguf"))')"

python3 -m pip download -q --no-deps --no-binary=:all: -d "$tmp" llama-cpp-python==0.3.36
tar -xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp"
tar -cJf .gpul/llama.cpp.tar.xz -C "$tmp"/llama_cpp_python-0.3.36/vendor \
  --exclude=llama.cpp/models --exclude=llama.cpp/docs llama.cpp
for d in .gpum1 .gpum2 .gpul; do exclude "$d"; done
du -sh .gpu[0-9]* .gpum1 .gpum2 .gpul
