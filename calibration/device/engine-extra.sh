#!/bin/bash
# Robustness runs beyond issue 5's table, on the device from the repository root: the published `joules` must execute
# long contexts (split-K decode, chunked prefill over a long cache), mixed iterations, other model cards (QKV bias,
# 7 query heads per kv head, head_dim 64) and tensor-parallel shards without error. Output in $OUT/extra.txt.
set -u
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/engine-check}
mkdir -p "$OUT"
J="$D/joules/joules"
B() { echo "== joules engine bench $*"; "$J" engine bench --iterations 10 "$@"; echo "exit $?"; }
{
  "$J" engine selftest; echo "selftest exit $?"
  B --phase mixed --batch 1 --new-tokens 512 --context 4096 --decodes 64 --decode-context 2048
  B --phase mixed --batch 2 --new-tokens 256 --context 0 --decodes 128 --decode-context 512
  B --phase decode --batch 8 --context 32768
  B --phase decode --batch 1 --context 100000
  B --phase prefill --batch 1 --new-tokens 512 --context 8192
  B --phase prefill --batch 1 --new-tokens 8192 --context 0
  B --model qwen2.5-7b --phase decode --batch 64 --context 1024
  B --model qwen2.5-7b --phase mixed --batch 1 --new-tokens 1024 --context 1024 --decodes 32 --decode-context 1024
  B --model llama-3.2-1b --phase decode --batch 64 --context 1024
  B --model llama-3.2-1b --phase prefill --batch 4 --new-tokens 1024 --context 0
  B --model llama-3.1-70b --tp 4 --phase decode --batch 64 --context 1024
  B --model llama-3.1-70b --tp 8 --phase mixed --batch 1 --new-tokens 512 --context 0 --decodes 64 --decode-context 1024
} 2>&1 | tee "$OUT/extra.txt"
