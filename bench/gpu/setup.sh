# Sourced by device_run.sh and diagnose_run.sh on the GPU machine, in the repo root, after the
# parts were copied by the earlier calls (bench/gpu/README.md): installs onnxruntime-gpu and
# gguf into /tmp/site, checks the starter GGUF's sha256 and converts it into /tmp/bundle (the
# install and the conversion once per machine). Sets repo, out and PYTHONPATH.
repo=$(pwd)
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/ortgpu
cp -n .gpu[0-9]*/* .gpum1/* .gpum2/* .gpul/* /tmp/ortgpu/ 2>/dev/null || true
(
  cd /tmp/ortgpu
  cat model.[0-9] >model.gguf
  echo "$(cat MODEL_SHA256)  model.gguf" | sha256sum -c -
  if [ ! -d /tmp/site/onnxruntime ]; then
    wheel=$(cat WHEEL_NAME)
    cat part.* >"$wheel"
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheel" \
      gguf-*.whl
  fi
)
export PYTHONPATH=/tmp/site:$repo
[ -d /tmp/bundle ] || python3 -c "
from pathlib import Path
from desktop.convert.gguf_to_onnx import convert_gguf
convert_gguf(Path('/tmp/ortgpu/model.gguf'), Path('/tmp/bundle'))"
