#!/bin/bash
# Issue 16: the tensor-core decode-attention kernel (`--decode-kernel tensor-core`) checked and timed against the
# work-list kernel on one card, same binary, back to back. From the repository root on the GPU machine.
#
#   bash .devrun/tensor-core-check.sh BUDGET_S
#
# The binary is .devrun/joules, or that folder with the files in .devrun/tc laid over it when .devrun/tc exists (the
# assemblies that changed, so a call can carry the published engine and a newer build of it within the 64 MiB limit).
set -u
OUT=${OUT:-/tmp/tensor-core-out}
mkdir -p "$OUT"
budget=${1:?budget seconds}
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
J=.devrun/joules/joules
if [ -d .devrun/tc ]; then rm -rf /tmp/jtc; cp -r .devrun/joules /tmp/jtc; cp .devrun/tc/* /tmp/jtc/; J=/tmp/jtc/joules; fi
bench() {  # bench ARGS...: one engine bench with each decode kernel
  for k in work-list tensor-core; do
    t=$(left); [ "$t" -lt 20 ] && { echo "== skipped (budget): $*"; return; }
    echo "== joules engine bench $* --decode-kernel $k"
    timeout "$t" "$J" engine bench "$@" --decode-kernel "$k" --iterations 20 | tail -4
  done
}
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,uuid,driver_version,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  echo "== joules engine selftest --no-tensor-parallel"
  timeout 150 "$J" engine selftest --no-tensor-parallel > /tmp/selftest.txt 2>&1; rc=$?
  grep -E "decode attention|checks|FAIL" /tmp/selftest.txt
  if [ "$rc" -ne 0 ]; then echo "== selftest failed (rc $rc): no timing"; tail -30 /tmp/selftest.txt
  else
    t=$(left); [ "$t" -gt 30 ] && { echo "== joules engine bench --suite attention --decode-kernel tensor-core"; timeout "$t" "$J" engine bench --suite attention --decode-kernel tensor-core --json "$OUT/attention-tensor-core.json" | tail -12; }
    for bc in 1:1024 64:1024 256:512; do bench --model llama-3.1-8b --phase decode --batch "${bc%%:*}" --context "${bc##*:}" --breakdown; done
    for bc in 1:1024 64:256 32:1024 256:4096; do bench --model llama-3.1-70b --tp 8 --phase decode --batch "${bc%%:*}" --context "${bc##*:}" --breakdown; done
  fi
  nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
  echo "== done in $(( $(date +%s) - start )) s"
} 2>&1 | tee "$OUT/tensor-core-log.txt"
