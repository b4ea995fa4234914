#!/bin/bash
# Work-list decode attention, checked and timed on the GPU (issue 12's device-time excess, issue 16's decode kernel),
# from the repository root on the GPU machine (no .NET needed there; publish into .devrun/joules as in
# calibration/engine/README.md, then device tool, carry [".devrun"]):   bash calibration/device/decode-check.sh
# engine selftest (every kernel vs float64 CPU references, the new one on spread contexts), the serving engine's
# token checks, and `engine bench` of decode batches with equal and spread contexts of the same sum under the
# work-list kernel and the previous single-pass one (split by the longest context). Output: $OUT/decode-check-log.txt
# and the JSON tables.
set -u
J=.devrun/joules/joules
OUT=${OUT:-/tmp/decode-check-out}
mkdir -p "$OUT"
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  echo "== joules engine selftest --no-tensor-parallel"; timeout 120 "$J" engine selftest --no-tensor-parallel; echo "== exit $?"
  echo "== joules engine serve-check"; timeout 120 "$J" engine serve-check; echo "== exit $?"
  for k in "work-list" "single-pass"; do
    tag=$(echo "$k" | tr -d ' -' )
    echo "== joules engine bench --suite spread --decode-kernel $k"
    timeout 120 "$J" engine bench --suite spread --decode-kernel $k --json "$OUT/spread-$tag.json"; echo "== exit $?"
    echo "== joules engine bench --suite issue5 --decode-kernel $k"
    timeout 120 "$J" engine bench --suite issue5 --decode-kernel $k --json "$OUT/issue5-$tag.json"; echo "== exit $?"
  done
  echo "== 70B tp8 shard decode b=1 and b=64 ctx=1024, both kernels"
  for k in "work-list" "single-pass"; do
    for b in 1 64; do timeout 60 "$J" engine bench --model llama-3.1-70b --tp 8 --phase decode --batch $b --context 1024 --iterations 10 --decode-kernel $k | tail -1; done
  done
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
  echo "== $(date -u +%FT%TZ) done"
} 2>&1 | tee "$OUT/decode-check-log.txt"
