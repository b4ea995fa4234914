#!/bin/bash
# Issue 16: cuDNN's fused flash attention for fresh prompts (`--prefill-attention cudnn`, cuDNN's backend API by
# P/Invoke) checked against float64 references and timed beside Joules' own prefill kernel on one card, same binary,
# back to back. From the repository root on the GPU machine:
#
#   bash .devrun/cudnn-check.sh BUDGET_S
#
# CHUNKS_ONLY=1 leaves out the attention suite and the fresh prompts and times only chunks over a cached context (the
# paged cuDNN path) and mixed iterations shaped like the cuDNN-prefill profile's worst held-out points.
#
# cuDNN is the one PyTorch's wheel installed (nvidia-cudnn-cu13); Joules finds it in site-packages by itself.
set -u
OUT=${OUT:-/tmp/cudnn-check-out}
mkdir -p "$OUT"
budget=${1:?budget seconds}
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
J=.devrun/joules/joules
bench() {  # bench ARGS...: one engine bench with each prefill attention
  for a in joules cudnn; do
    t=$(left); [ "$t" -lt 20 ] && { echo "== skipped (budget): $*"; return; }
    echo "== joules engine bench $* --prefill-attention $a"
    timeout "$t" "$J" engine bench "$@" --prefill-attention "$a" --iterations 20 | tail -3
  done
}
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  echo "== joules engine selftest --no-tensor-parallel"
  timeout 200 "$J" engine selftest --no-tensor-parallel > "$OUT/selftest.txt" 2>&1; rc=$?
  grep -E "prefill attention|model|checks|FAIL" "$OUT/selftest.txt"
  if grep -q "prefill attention cudnn.* ok" "$OUT/selftest.txt" && ! grep -q "FAIL" "$OUT/selftest.txt"; then
    if [ "${CHUNKS_ONLY:-0}" = 1 ]; then
      for nc in 512:8192 2048:2048 4096:12288; do bench --model llama-3.1-8b --phase prefill --batch 1 --new-tokens "${nc%%:*}" --context "${nc##*:}" --breakdown; done
      bench --model llama-3.1-8b --phase mixed --batch 1 --new-tokens 4096 --context 12288 --decodes 16 --decode-context 2048
      bench --model llama-3.1-8b --phase mixed --batch 1 --new-tokens 16256 --context 8192 --decodes 128 --decode-context 1024
      bench --model llama-3.1-8b --phase mixed --batch 1 --new-tokens 1024 --context 4096 --decodes 8 --decode-context 512
      bench --model llama-3.1-70b --tp 8 --phase prefill --batch 1 --new-tokens 2048 --context 8192 --breakdown
    else
    for a in joules cudnn; do
      t=$(left); [ "$t" -gt 30 ] && { echo "== joules engine bench --suite attention --prefill-attention $a"; timeout "$t" "$J" engine bench --suite attention --prefill-attention "$a" --json "$OUT/attention-$a.json" | tail -12; }
    done
    for bn in 1:2048 1:8192 8:2048 4:1024 16:512 1:32768; do bench --model llama-3.1-8b --phase prefill --batch "${bn%%:*}" --new-tokens "${bn##*:}" --context 0 --breakdown; done
    bench --model llama-3.1-70b --tp 8 --phase prefill --batch 1 --new-tokens 8192 --context 0 --breakdown
    bench --model llama-3.1-8b --phase prefill --batch 1 --new-tokens 8192 --context 0 --energy
    fi
  else echo "== cuDNN checks did not pass (selftest rc $rc): no timing"; tail -40 "$OUT/selftest.txt"
  fi
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
  echo "== done in $(( $(date +%s) - start )) s"
} 2>&1 | tee "$OUT/cudnn-check-log.txt"
