#!/bin/bash
# Issue 16, second call of the 8B default-grid re-measure (the first: calibrate.sh 545 selftest 8b-new), from the
# repository root on the GPU machine with the partial profile unpacked into calibration/h200/llama-3.1-8b/:
#   bash .devrun/profile-and-reference.sh
# resumes the calibration, then times where each issue-5 and small-batch iteration's time goes (--breakdown:
# projections alone, attention alone, the rest), attention alone on the SDPA comparison shapes, and last the PyTorch
# reference (SDPA backends; CUDA-graph / compiled / eager decode step) with what is left of its time budget.
set -u
D=$(cd "$(dirname "$0")" && pwd)
J=$D/joules/joules
OUT=${OUT:-/tmp/profile-and-reference-out}
mkdir -p "$OUT"
OUT=$OUT bash "$D/calibrate.sh" "${CAL_BUDGET_S:-330}" 8b > /dev/null 2>&1
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,uuid --format=csv,noheader)"
  for s in issue5 small-batch; do
    echo "== joules engine bench --suite $s --breakdown"; timeout 120 "$J" engine bench --suite $s --breakdown --json "$OUT/breakdown-$s.json"; echo "== exit $?"
  done
  echo "== joules engine bench --suite attention"; timeout 120 "$J" engine bench --suite attention --json "$OUT/attention.json"; echo "== exit $?"
  echo "== $(date -u +%FT%TZ) PyTorch reference"
  PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT_S:-200}" python3 "$D/torch_reference.py" --out "$OUT/torch-reference.json" --budget-s "${TORCH_BUDGET_S:-150}"; echo "== exit $?"
  echo "== $(date -u +%FT%TZ) done"
} > "$OUT/bench-log.txt" 2>&1
