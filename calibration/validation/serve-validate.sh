#!/bin/bash
# Issue 12 device run: `joules serve --engine gpu` + `joules replay` + `joules validate` on one GPU, from the checkout's root
# on the GPU machine (no .NET there: a self-contained publish in .devrun/joules).
#
# How to run it (here, then one device call per step):
#   dotnet publish src/Joules.Cli -c Release -r linux-x64 --self-contained -p:PublishTrimmed=true -p:TrimMode=partial \
#       -p:TreatWarningsAsErrors=false -p:JsonSerializerIsReflectionEnabledByDefault=true -o .devrun/joules
#   cp calibration/validation/serve-validate.sh ../shared/traces/azure2023_AzureLLMInferenceTrace_conv.csv .devrun/
#   # device tool: run, carry [".devrun"], command:
#   bash .devrun/serve-validate.sh smoke [BUDGET_S]  # engine serve-check, then a 60 s slice (about 2 minutes)
#   bash .devrun/serve-validate.sh online [BUDGET_S] # (a) alone
#   bash .devrun/serve-validate.sh all [BUDGET_S]    # (a) 400 s of the Azure conversation trace at 2.1x its rate (about 60% of one
#                                                    # H200, 190 s of wall time), (b) 120 s of it at 10x (a burst that queues),
#                                                    # (c) an offline backlog of 2,000 requests (about 6.5 minutes in all)
# Publish again after any profile under calibration/ changes: a published joules prefers the profiles copied into its
# own data/ folder to the checkout's (2026-12-03: a run was validated against the profile a re-measure had replaced;
# `joules validate` now prints the profile file, its hash and card).
# PROFILE: validate against this profile instead of the shipped one (card-validate.sh passes the one it calibrated on
# this card); ONLINE_S: seconds of the trace in run (a), default 400; PREFILL: the server's --prefill-attention (default
# joules, the server's default; cudnn serves the shipped profiles' kernel through bucketed plans, 2026-12-04, not yet run).
# BUDGET_S (default 440): seconds the step may take; every replay is cut (SIGINT: it writes nothing) when it would
# overrun, and the archive is rewritten after every run, so what finished comes back.
#
# Each step starts one server (the shipped defaults: vLLM's limits for an H200, KV blocks sized as the simulator sizes
# them), warms it up with a short backlog that is not kept, replays, validates each run against the shipped profile
# calibration/h200/llama-3.1-8b, stops the server (SIGTERM: it drains) and archives everything into
# $OUT/validation-STEP.tgz (calibration/validation/runs/...) with the console log $OUT/validation-STEP-log.txt.
set -u
step=${1:?usage: serve-validate.sh smoke|all|offline [BUDGET_S]}
budget=${2:-440}
t_start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t_start) )); }
J=.devrun/joules/joules
OUT=${OUT:-/tmp/serve-validate-out}
TRACE=.devrun/azure2023_AzureLLMInferenceTrace_conv.csv
R=${RUNS:-calibration/validation/runs}
PORT=8000
URL=http://127.0.0.1:$PORT
mkdir -p "$OUT" "$R"
log="$OUT/validation-$step-log.txt"

serve() {  # serve NAME: starts the server with an iteration log, waits until /health answers
  "$J" serve --engine ${ENGINE:-gpu} --prefill-attention ${PREFILL:-joules} --host 127.0.0.1 --port $PORT --iteration-log "$R/$1-iterations.parquet" > "$R/$1-serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do
    curl -sf "$URL/health" >/dev/null 2>&1 && { echo "== server up after $(( $(date +%s) - t_serve )) s"; cat "$R/$1-serve.log"; return 0; }
    kill -0 $SERVER 2>/dev/null || { echo "== server died"; cat "$R/$1-serve.log"; return 1; }
    sleep 0.5
  done
  echo "== server did not come up"; cat "$R/$1-serve.log"; return 1
}

stop() {  # SIGTERM (a background job of a script ignores SIGINT): the server drains, writes its iteration log and exits
  kill -TERM $SERVER 2>/dev/null
  for _ in $(seq 1 60); do kill -0 $SERVER 2>/dev/null || break; sleep 0.5; done
  kill -0 $SERVER 2>/dev/null && { echo "== server still running after 30 s: killed"; kill -KILL $SERVER; }
  wait $SERVER
  echo "== server exit $?"
  tail -3 "$R/$1-serve.log"
}

archive() { tar czf "$OUT/validation-$step.tgz" "$R"; }

run() {  # run NAME REPLAY-ARGS...: replay into runs/NAME, then validate it
  local name=$1; shift
  echo "== $(date -u +%FT%TZ) replay $name: $*"
  echo "joules replay -e $URL --trace $TRACE $* --out $R/$name" > "$R/$name-command.txt"
  # tokens.parquet (every token's time) only for the short smoke run: the long runs' would not fit what a device call returns
  local t=$(( $(left) - 25 ))
  if [ "$t" -lt 20 ]; then echo "== skipped (budget): replay $name"; return 0; fi
  timeout -s INT -k 10 "$t" "$J" replay -e "$URL" --trace "$TRACE" "$@" --out "$R/$name" ${TOKENS:---no-token-times}
  echo "== exit $?: replay $name"
  echo "joules validate $R/$name ${PROFILE:+--profile $PROFILE }--max-energy-error 3 --max-tpot-error 5 --max-e2e-error 5 --max-ttft-error 10" >> "$R/$name-command.txt"
  "$J" validate "$R/$name" ${PROFILE:+--profile "$PROFILE"} --max-energy-error 3 --max-tpot-error 5 --max-e2e-error 5 --max-ttft-error 10
  echo "== exit $?: validate $name"
  if [ -f "$R/$name/queue-order.parquet" ]; then
    echo "joules validate $R/$name ${PROFILE:+--profile $PROFILE }--arrivals received --out $R/$name/received ..." >> "$R/$name-command.txt"
    "$J" validate "$R/$name" ${PROFILE:+--profile "$PROFILE"} --arrivals received --out "$R/$name/received" --max-energy-error 3 --max-tpot-error 5 --max-e2e-error 5 --max-ttft-error 10
    echo "== exit $?: validate $name --arrivals received"
  fi
  archive
}

warmup() {
  echo "== warm-up (not kept): 150 requests as a backlog"
  "$J" replay -e "$URL" --trace "$TRACE" --start 30m --limit 150 --offline --energy none --no-token-times --out /tmp/warmup | tail -4
}

{
  echo "== $(date -u +%FT%TZ) $(hostname) step $step"
  nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
  "$J" --version
  t_serve=$(date +%s)
  case $step in
    smoke)
      echo "== engine serve-check"
      timeout 180 "$J" engine serve-check
      echo "== exit $?: serve-check"
      t_serve=$(date +%s)
      serve smoke || exit 1
      curl -s "$URL/v1/completions" -d '{"prompt":"Hello, world","max_tokens":8}'; echo
      curl -s "$URL/v1/completions" -d '{"prompt":[1,2,3],"max_tokens":400000}'; echo
      warmup
      TOKENS=" " run smoke --duration 60s
      curl -s "$URL/metrics" | grep -v '^#' | head -40
      stop smoke
      ;;
    offline)
      serve offline || exit 1
      warmup
      run offline --start 40m --limit 2000 --offline
      stop offline
      ;;
    # The online run alone (a), for a card whose quick grid was just measured by second-card.sh in the same lease.
    online)
      serve online || exit 1
      warmup
      run online --duration ${ONLINE_S:-400}s --rate-scale 2.1
      stop online
      ;;
    all)
      serve all || exit 1
      warmup
      run online --duration ${ONLINE_S:-400}s --rate-scale 2.1
      run burst --start 20m --duration 120s --rate-scale 10
      run offline --start 40m --limit 2000 --offline
      stop all
      ;;
  esac
  nvidia-smi --query-gpu=index,name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
  echo "== $(date -u +%FT%TZ) done"
} 2>&1 | tee "$log"
archive
ls -la "$OUT"
