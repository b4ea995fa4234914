#!/bin/bash
# Issue 16: prefill attention through cuDNN (Joules' P/Invoke of the backend API) beside Joules' own kernel and
# beside PyTorch's SDPA backends, in one device call on one card; whole prefill iterations against the roofline.
# From the repository root on the GPU machine (the published joules in .devrun/joules, scripts in .devrun):
#
#   OUT=$OUT bash .devrun/cudnn-reference.sh
set -u
OUT=${OUT:-/tmp/cudnn-reference-out}
mkdir -p "$OUT"
J=.devrun/joules/joules
D=$(dirname "$0")
start=$(date +%s)
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  "$J" gpu info
  for a in joules cudnn; do
    echo "== joules engine bench --suite attention --prefill-attention $a"
    timeout 90 "$J" engine bench --suite attention --prefill-attention "$a" --json "$OUT/attention-$a.json" | tail -11
  done
  echo "== joules engine bench --suite issue5 --prefill-attention cudnn"
  timeout 120 "$J" engine bench --suite issue5 --prefill-attention cudnn --json "$OUT/issue5-cudnn.json" | tail -10
  for bn in 1:8192 8:2048 1:32768; do
    echo "== joules engine bench --phase prefill --batch ${bn%%:*} --new-tokens ${bn##*:} --context 0 --prefill-attention cudnn --roofline"
    timeout 90 "$J" engine bench --phase prefill --batch "${bn%%:*}" --new-tokens "${bn##*:}" --context 0 --prefill-attention cudnn --roofline --iterations 10 | tail -1
  done
  echo "== torch_reference.py --sections attention"
  PYTHONUNBUFFERED=1 timeout 150 python3 "$D/torch_reference.py" --out "$OUT/torch-reference.json" --sections attention --budget-s 120; echo "== exit $?"
  for a in joules cudnn; do
    python3 "$D/make_reference_table.py" "$OUT/issue5-cudnn.json" "$OUT/attention-$a.json" "$OUT/torch-reference.json" > "$OUT/reference-table-$a.md"
  done
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
  echo "== done in $(( $(date +%s) - start )) s"
} 2>&1 | tee "$OUT/cudnn-reference-log.txt"
