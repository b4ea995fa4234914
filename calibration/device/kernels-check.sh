#!/bin/bash
# Issue 16's kernel round, checked and timed on the GPU in one call, from the repository root on the GPU machine
# (publish into .devrun/joules as in calibration/engine/README.md; copy this folder's scripts into .devrun/; device
# tool, carry [".devrun"]):   bash .devrun/kernels-check.sh
# engine selftest (every kernel vs float64 CPU references: the streaming GEMV in its three input modes, the staged
# work-list decode kernel, the whole tiny model on the fused path), the serving engine's token checks, then
# `engine bench` of the issue-5 shapes, spread contexts, small batches, attention alone and the 70B tp8 shard under
# cuBLASLt-only projections (the default) and the batch-1 GEMV path; last (TORCH=1), the PyTorch reference (SDPA
# backends, CUDA-graph / compiled decode step). The 2026-12-02 run (calibration/engine/issue16/call1-*) had the GEMV
# kernels for up to 8 tokens and a third variant, "work-list-async 8" (a cp.async-staged decode kernel, since removed:
# no faster), so its files are named work-list-gemv0, work-list-gemv8 and work-list-async-gemv8.
set -u
D=$(cd "$(dirname "$0")" && pwd)
J=$D/joules/joules
OUT=${OUT:-/tmp/kernels-check-out}
mkdir -p "$OUT"
step() { echo "== $(date -u +%FT%TZ) $*"; }
{
  step "$(hostname)"
  nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  step "joules engine selftest"; timeout 180 "$J" engine selftest; echo "== exit $?"
  step "joules engine serve-check"; timeout 120 "$J" engine serve-check; echo "== exit $?"
  for v in "work-list 0" "work-list 1"; do
    set -- $v; k=$1; g=$2; tag="$k-gemv$g"
    for suite in issue5 spread small-batch attention; do
      step "joules engine bench --suite $suite --decode-kernel $k --gemv-max-tokens $g"
      timeout 150 "$J" engine bench --suite $suite --decode-kernel $k --gemv-max-tokens $g --json "$OUT/$suite-$tag.json"; echo "== exit $?"
    done
    step "70B tp8 shard decode b=1, 8, 64 ctx=1024 ($tag)"
    for b in 1 8 64; do timeout 60 "$J" engine bench --model llama-3.1-70b --tp 8 --phase decode --batch $b --context 1024 --iterations 10 --decode-kernel $k --gemv-max-tokens $g | tail -1; done
  done
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
  if [ -n "${TORCH:-}" ]; then
    step "PyTorch reference"
    PYTHONUNBUFFERED=1 timeout ${TORCH_TIMEOUT_S:-260} python3 "$D/torch_reference.py" --out "$OUT/torch-reference.json" --budget-s ${TORCH_BUDGET_S:-200}; echo "== exit $?"
  fi
  step "done"
} 2>&1 | tee "$OUT/kernels-check-log.txt"
