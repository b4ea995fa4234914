#!/bin/bash
# Issue 16's second-card check, from the repository root on the GPU machine (no .NET needed there): the quick grid of
# each shipped H200 profile measured on whatever card this lease lands on, returned as one archive for
# `joules profile check` to predict with the shipped profile.
#
#   calibration/device/second-card.sh BUDGET_S          # JOBS="llama-3.1-8b:1" limits it to the 8B profile
#
# How it was run (device tool, carry [".devrun"], after publishing into .devrun/joules with the command in
# calibration/engine/README.md):   bash calibration/device/second-card.sh 420
# Issue 16's re-measured 8B profile (2026-12-02):  JOBS="llama-3.1-8b:1" bash .devrun/second-card.sh 270
# Both tensor-core profiles (2026-12-03):          OUT=$OUT/sc bash .devrun/second-card.sh 380
set -u
J=.devrun/joules/joules
OUT=${OUT:-/tmp/second-card-out}
mkdir -p "$OUT" "$OUT/work"
budget=${1:?budget seconds}
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  "$J" gpu info
  for job in ${JOBS:-llama-3.1-8b:1 llama-3.1-70b:8}; do
    model=${job%%:*}; tp=${job##*:}
    t=$(left); if [ "$t" -lt 40 ]; then echo "== skipped (budget): $model tp $tp"; continue; fi
    echo "== $(date -u +%FT%TZ) joules calibrate --model $model --tp $tp --quick (budget $t s)"
    timeout -s INT -k 20 "$t" "$J" calibrate --model "$model" --tp "$tp" --quick -o "$OUT/work/$model-tp$tp"
    echo "== exit $?"
  done
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
} 2>&1 | tee "$OUT/device-log.txt"
tar -C "$OUT/work" -czf "$OUT/second-card.tgz" .
rm -rf "$OUT/work"
