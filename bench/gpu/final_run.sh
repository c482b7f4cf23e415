#!/usr/bin/env bash
# On the GPU machine, after the parts were carried (bench/gpu/README.md): the prefill profile
# (with lazy and eager CUDA module loading), then bench_gpu.py's Parley rounds without
# llama.cpp (LLAMA=path adds it). Results in $OUT.
set -uo pipefail
out=${OUT:-/tmp/out}
SUITES=prefill bash bench/gpu/diagnose_run.sh >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$(pwd)
CUDA_MODULE_LOADING=EAGER python3 bench/gpu/diagnose.py --bundle /tmp/bundle --suite prefill \
  --json "$out/diag_prefill_eager.json" >/dev/null 2>"$out/diag_prefill_eager.log"
for f in "$out"/diag_prefill*.json; do
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[1].rsplit('/',1)[1], json.dumps(d.get('prefill_profile')), json.dumps(d['variants']))" "$f"
done
PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --gguf /tmp/ortgpu/model.gguf --bundle /tmp/bundle \
  ${LLAMA:+--llama-bench "$LLAMA"} --rounds "${ROUNDS:-3}" --json "$out/gpu.json" 2>&1 |
  tee "$out/bench.log" | grep -v '^\[' | tail -60
