#!/usr/bin/env bash
# On the GPU machine, after the wheel parts (.gpu1..) and the model parts (.gpum1, .gpum2) were
# copied into /tmp/ortgpu by earlier calls: set up (setup.sh), then run bench/gpu/diagnose.py
# for each suite in SUITES (default: capture). Results go to $OUT/diag_SUITE.json.
set -euo pipefail
source bench/gpu/setup.sh
for suite in ${SUITES:-capture}; do  # ORT_FPA_INTB_GEMM is one setting per process
  PYTHONUNBUFFERED=1 python3 bench/gpu/diagnose.py --bundle /tmp/bundle --suite "$suite" \
    --json "$out/diag_$suite.json" 2>&1 | tee "$out/diag_$suite.log" || true
done
