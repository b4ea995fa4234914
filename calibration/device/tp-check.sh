#!/bin/bash
# Issue 15 device run: tensor parallelism through NCCL, from the repository root on the GPU machine (no .NET needed there).
#
# How to run it (here, then one device call):
#   dotnet publish src/Joules.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial \
#       -p:TreatWarningsAsErrors=false -p:JsonSerializerIsReflectionEnabledByDefault=true -o .devrun/joules
#   cp calibration/device/tp-check.sh .devrun/
#   # (.devrun/ must be in the checkout the device call sends, and git-ignored there)
#   # device tool: run, carry [".devrun"], command:
#   bash .devrun/tp-check.sh 540            # BUDGET_S: seconds this call may use (stops between trials when spent)
#   # optional: JOBS="70b-tp2 70b-tp4 70b-tp2-shard 70b-tp4-shard" bash .devrun/tp-check.sh 540
#
# One GPU (nvidia-h200; about 3 minutes): gpu info (NCCL found, NCCL_NVLS_ENABLE=0), engine selftest (every kernel,
# the whole tiny model, an NCCL all-reduce, the model through a one-rank NCCL communicator; tp=2/4/8 report "skip"),
# gpu allreduce-bench on 1 rank, engine bench of Llama-3.1-8B the old way (--tp 1) and through NCCL (--tp 1 --gpus 1),
# and a small calibration through the whole-instance path (--tp 1 --gpus 1).
# Several GPUs (nvidia-h200-x2/-x4/-x8), additionally: the selftest's tp=2/4/8 checks as the GPUs allow,
# gpu allreduce-bench for N = 2, 4, 8 (all sizes the default grid all-reduces), engine bench of Llama-3.1-70B as a whole
# instance (--tp N --gpus N, with energy) and as one shard (--tp N) for each N, then the JOBS calibrations (default:
# 70b-tp2, 70b-tp4, and 70b-tp8 on 8 GPUs) on the default grid, time-budgeted and resumable as calibrate.sh: the
# calibration/<gpu>/<model>/raw.jsonl in the working tree is the state, so unpack the archive into the checkout
# (tar xzf tp-check.tgz) and run the same command again to go on. Steps whose output already exists are skipped.
# Everything comes back as $OUT/tp-check.tgz (calibration/ results, bench JSON, logs) plus $OUT/tp-check-log.txt.
set -u
J=.devrun/joules/joules
OUT=${OUT:-/tmp/tp-check-out}
mkdir -p "$OUT"
budget=${1:-540}
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
export NCCL_NVLS_ENABLE=0     # joules sets it itself before NCCL loads; set here too for anything else started
log="$OUT/tp-check-log.txt"
W=calibration/engine/tp       # bench outputs, kept in the tree so a later call skips what is done
gpudir=${GPUDIR:-calibration/h200}   # where joules calibrate puts this GPU's profiles (the catalog name of the lent H200s)
mkdir -p "$W"

step() {  # step NAME SECONDS_NEEDED COMMAND...: runs under the remaining budget (SIGINT when it runs out)
  local name=$1 need=$2; shift 2
  local t; t=$(left)
  if [ "$t" -lt "$need" ]; then echo "== skipped (budget, ${t} s left): $name"; return 0; fi
  echo "== $(date -u +%FT%TZ) $name (budget ${t} s)"
  timeout -s INT -k 20 "$t" "$@"
  echo "== exit $?: $name"
}

{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  nvidia-smi topo -m 2>/dev/null || true
  "$J" --version
  ngpu=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
  echo "== $ngpu GPU(s); results under $gpudir"
  "$J" gpu info

  # ---------------------------------------------------------------- one GPU (also run on every machine)
  step "engine selftest (kernels, model, NCCL, tp=1 through NCCL; tp=2/4/8 where GPUs allow)" 60 "$J" engine selftest
  [ -f "$W/allreduce-1gpu.json" ] || step "gpu allreduce-bench on 1 rank" 40 \
    "$J" gpu allreduce-bench --ranks 1 --tokens 1,64,2048 --window-s 0.5 --trials 2 --out "$W/allreduce-1gpu.json"
  for mode in shard nccl; do
    f="$W/8b-tp1-$mode.json"; [ -f "$f" ] && continue
    extra=(); [ $mode = nccl ] && extra=(--gpus 1 --energy)
    step "engine bench llama-3.1-8b --tp 1 ${extra[*]}" 40 "$J" engine bench --model llama-3.1-8b --tp 1 "${extra[@]}" \
      --phase decode --batch 64 --context 1024 --iterations 20 --json "$f"
    f2="$W/8b-tp1-$mode-prefill.json"
    step "engine bench llama-3.1-8b --tp 1 ${extra[*]} prefill 1x2048" 40 "$J" engine bench --model llama-3.1-8b --tp 1 "${extra[@]}" \
      --phase prefill --batch 1 --new-tokens 2048 --context 0 --iterations 10 --json "$f2"
  done
  python3 - "$W" <<'PY'
import json, sys, os
w = sys.argv[1]
for shape in ("", "-prefill"):
    try:
        a = json.load(open(os.path.join(w, f"8b-tp1-shard{shape}.json")))["results"][0]
        b = json.load(open(os.path.join(w, f"8b-tp1-nccl{shape}.json")))["results"][0]
        print(f"tp=1 old path vs through NCCL, {a['label']}: {a['median_s']*1e3:.3f} ms vs {b['median_s']*1e3:.3f} ms (ratio {b['median_s']/a['median_s']:.4f})"
              + (f"; NCCL path {b['energy_j']:.3f} J/iter" if 'energy_j' in b else ""))
    except Exception as e:
        print(f"comparison{shape}: {e}")
PY
  step "calibrate through the whole-instance path on one GPU (llama-3.2-1b --tp 1 --gpus 1, quick decode)" 60 \
    "$J" calibrate --model llama-3.2-1b --tp 1 --gpus 1 --quick --points decode,idle --trials 1 --window-s 0.5 --out "$W/tp1-instance-smoke" --force
  [ -f "$W/tp1-instance-smoke/profile.parquet" ] && "$J" profile show "$W/tp1-instance-smoke/profile.parquet" | head -12

  # ---------------------------------------------------------------- several GPUs
  if [ "$ngpu" -ge 2 ]; then
    [ -f "$gpudir/allreduce.json" ] || step "gpu allreduce-bench (N = 2, 4, 8 as lent; the default grid's sizes)" 120 \
      "$J" gpu allreduce-bench --model llama-3.1-70b --out "$gpudir/allreduce.json"
    for n in 2 4 8; do
      [ "$n" -le "$ngpu" ] || continue
      for mode in instance shard; do
        f="$W/70b-tp$n-$mode.json"; [ -f "$f" ] && continue
        extra=(--energy); [ $mode = instance ] && extra=(--gpus "$n" --energy)
        step "engine bench llama-3.1-70b --tp $n ${extra[*]}" 90 "$J" engine bench --model llama-3.1-70b --tp "$n" "${extra[@]}" \
          --phase decode --batch 64 --context 1024 --iterations 20 --json "$f"
        step "engine bench llama-3.1-70b --tp $n ${extra[*]} prefill 1x2048" 60 "$J" engine bench --model llama-3.1-70b --tp "$n" "${extra[@]}" \
          --phase prefill --batch 1 --new-tokens 2048 --context 0 --iterations 5 --json "$W/70b-tp$n-$mode-prefill.json"
      done
    done
    jobs=${JOBS:-"70b-tp2 70b-tp4$([ "$ngpu" -ge 8 ] && echo ' 70b-tp8')"}
    for job in $jobs; do
      case "$job" in
        70b-tp[248]) n=${job#70b-tp}; [ "$n" -le "$ngpu" ] || { echo "== $job needs $n GPUs"; continue; }
          # tp8: the shipped shard profile holds calibration/h200/llama-3.1-70b-tp8, so the whole instance goes beside it
          out=(); [ "$n" = 8 ] && out=(--out "$gpudir/llama-3.1-70b-tp8-instance")
          step "calibrate llama-3.1-70b --tp $n --gpus $n (default grid)" 60 "$J" calibrate --model llama-3.1-70b --tp "$n" --gpus "$n" "${out[@]}" ;;
        70b-tp[248]-shard) n=${job#70b-tp}; n=${n%-shard}
          step "calibrate llama-3.1-70b --tp $n (one GPU's shard, default grid, 3 trials)" 60 \
            "$J" calibrate --model llama-3.1-70b --tp "$n" --trials 3 --out "$gpudir/llama-3.1-70b-tp$n-shard" ;;
        *) echo "unknown job $job" ;;
      esac
    done
    for n in 2 4 8; do
      inst="$gpudir/llama-3.1-70b-tp$n/profile.parquet"; shard="$gpudir/llama-3.1-70b-tp$n-shard/profile.parquet"
      [ "$n" = 8 ] && { inst="$gpudir/llama-3.1-70b-tp8-instance/profile.parquet"; shard="$gpudir/llama-3.1-70b-tp8/profile.parquet"; }
      [ -f "$inst" ] && [ -f "$shard" ] && \
        "$J" calibrate compare-tp --shard "$shard" --instance "$inst" \
          $([ -f "$gpudir/allreduce.json" ] && echo --allreduce "$gpudir/allreduce.json") --out "$W/compare-tp$n.md"
    done
  fi
  for p in "$gpudir"/*/profile.parquet; do [ -f "$p" ] && { echo "== joules profile show $p"; "$J" profile show "$p" | head -14; }; done
} 2>&1 | tee -a "$log"
cp "$log" "$W/" 2>/dev/null
tar czf "$OUT/tp-check.tgz" "$W" $([ -d "$gpudir" ] && echo "$gpudir")
echo "== done in $(( $(date +%s) - start )) s; archive: $(tar tzf "$OUT/tp-check.tgz" | wc -l) files"
