#!/bin/bash
# Issue 5 device check, run from the repository root on the GPU machine (no .NET needed there):
#   GPU info, engine selftest (every kernel + a whole small model vs float64 CPU references),
#   our benchmark suite with the measured roofline, the PyTorch comparison, and the merged markdown table.
#   TORCH_REFERENCE=1 adds the attention suite and torch_reference.py (budget TORCH_BUDGET_S, default 300 s) and
#   $OUT/reference-table.md (make_reference_table.py).
# Expects a self-contained `joules` published into .devrun/joules and this folder's scripts copied into .devrun/
# (see calibration/engine/README.md). Results go to $OUT.
set -u
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/engine-check}
mkdir -p "$OUT"
J="$D/joules/joules"
LOG="$OUT/log.txt"
{
  echo "== $(date -u +%FT%TZ) $(uname -r)"; nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv
  echo "== joules gpu info"; "$J" gpu info
  echo "== joules engine selftest"; "$J" engine selftest; echo "selftest exit $?"
  echo "== joules engine bench --suite issue5"; "$J" engine bench --suite issue5 --json "$OUT/engine.json"; echo "bench exit $?"
  echo "== joules engine bench 70B tp=8 shard, decode b=64 ctx=1024"; "$J" engine bench --model llama-3.1-70b --tp 8 --phase decode --batch 64 --context 1024 --iterations 10
  echo "== joules engine bench decode b=64 ctx=1024 without CUDA graphs"; "$J" engine bench --phase decode --batch 64 --context 1024 --no-graph --iterations 10
  echo "== joules engine bench decode b=128 ctx=1024 with the two-pass decode kernel"; "$J" engine bench --phase decode --batch 128 --context 1024 --two-pass-decode --iterations 10
  echo "== joules engine bench 70B tp=4 shard, prefill 1x2048"; "$J" engine bench --model llama-3.1-70b --tp 4 --phase prefill --batch 1 --new-tokens 2048 --context 0 --iterations 5
  for v in "" --simple-prefill; do
    echo "== joules engine bench prefill 1x512 over 8192 cached tokens, and 1x8192 ${v:-(pipelined prefill attention)}"
    "$J" engine bench --phase prefill --batch 1 --new-tokens 512 --context 8192 --iterations 10 $v
    "$J" engine bench --phase prefill --batch 1 --new-tokens 8192 --context 0 --iterations 5 $v
  done
  if [ -z "${SKIP_TORCH:-}" ]; then echo "== PyTorch"; PYTHONUNBUFFERED=1 timeout 300 python3 "$D/torch_compare.py" --out "$OUT/torch.json"; echo "torch exit $?"; fi
  python3 "$D/make_table.py" "$OUT/engine.json" "$OUT/torch.json" > "$OUT/table.md"; cat "$OUT/table.md"
  if [ -n "${TORCH_REFERENCE:-}" ]; then
    # Optional: attention kernels alone against every torch SDPA backend, and whole decode steps against PyTorch's
    # fastest (StaticCache + CUDA graph, torch.compile reduce-overhead, eager); torch_reference.py stops at its budget.
    if [ ! -f "$OUT/attention.json" ]; then
      echo "== joules engine bench --suite attention"; "$J" engine bench --suite attention --json "$OUT/attention.json"; echo "attention bench exit $?"
    fi
    echo "== PyTorch reference (torch_reference.py)"
    PYTHONUNBUFFERED=1 timeout 420 python3 "$D/torch_reference.py" --out "$OUT/torch-reference.json" --budget-s ${TORCH_BUDGET_S:-300}; echo "torch reference exit $?"
    python3 "$D/make_reference_table.py" "$OUT/engine.json" "$OUT/attention.json" "$OUT/torch-reference.json" > "$OUT/reference-table.md"; cat "$OUT/reference-table.md"
  fi
} 2>&1 | tee "$LOG"
