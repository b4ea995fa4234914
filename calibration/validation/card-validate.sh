#!/bin/bash
# Issue 12's validation on one card, in two device calls that must land on the same machine (call the second within
# the machine's idle window, ~30 s, so it is still held): the serving engine is checked and the serving grid
# calibrated on this card, then `joules serve --engine gpu` + replay + validate runs against that profile.
#
#   bash .devrun/card-validate.sh calibrate   # selftest, decode bench, `calibrate --grid serving` into .devcal/ (about 6 min)
#   bash .devrun/card-validate.sh serve       # serve-validate.sh all with ONLINE_S=600 and PROFILE=.devcal/profile.parquet
#
# .devcal/ is git-ignored and not carried, so it survives between calls on one machine. If the second call lands on
# another card (its UUID differs from the profile's), it calibrates the quick grid there first and says so.
# Publish and copy as for serve-validate.sh, plus: cp calibration/validation/card-validate.sh .devrun/
set -u
step=${1:?usage: card-validate.sh calibrate|serve|offline}
J=.devrun/joules/joules
OUT=${OUT:-/tmp/card-validate-out}
CAL=.devcal/llama-3.1-8b
mkdir -p "$OUT" .devcal
uuid() { nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1; }
calibrate_here() {  # calibrate_here TIMEOUT_S: the serving grid on this card into $CAL, the card's UUID beside it
  echo "== $(date -u +%FT%TZ) joules calibrate --grid serving -o $CAL"
  rm -rf "$CAL"
  timeout -s INT -k 20 "$1" "$J" calibrate --model llama-3.1-8b --grid serving -o "$CAL"
  echo "== exit $?"
  uuid > .devcal/card
}
case $step in
  calibrate)
    {
      echo "== $(date -u +%FT%TZ) $(hostname) card $(uuid)"
      nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
      "$J" --version
      echo "== joules engine selftest --no-tensor-parallel"; timeout 120 "$J" engine selftest --no-tensor-parallel | tail -12; echo "== exit $?"
      for k in work-list single-pass; do
        echo "== joules engine bench --suite spread --decode-kernel $k"
        timeout 120 "$J" engine bench --suite spread --decode-kernel $k --json "$OUT/spread-$k.json"; echo "== exit $?"
      done
      echo "== joules engine bench --suite issue5"; timeout 120 "$J" engine bench --suite issue5 --json "$OUT/issue5-work-list.json"; echo "== exit $?"
      for k in work-list single-pass; do
        for b in 1 64; do timeout 60 "$J" engine bench --model llama-3.1-70b --tp 8 --phase decode --batch $b --context 1024 --iterations 10 --decode-kernel $k | tail -1; done
      done
      calibrate_here 420
      nvidia-smi --query-gpu=name,uuid,power.draw,temperature.gpu,clocks.sm --format=csv
      echo "== $(date -u +%FT%TZ) done"
    } 2>&1 | tee "$OUT/card-calibrate-log.txt"
    tar czf "$OUT/card-profile.tgz" .devcal
    ;;
  offline)
    # One call: the serving grid on this card, then the offline backlog alone (validated with the trace's arrivals
    # and with the server's queue order).
    {
      echo "== $(date -u +%FT%TZ) $(hostname) card $(uuid)"
      nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,power.draw,temperature.gpu,clocks.sm --format=csv
      calibrate_here 330
    } 2>&1 | tee "$OUT/card-calibrate-log.txt"
    tar czf "$OUT/card-profile.tgz" .devcal
    RUNS=calibration/validation/card-runs OUT="$OUT" PROFILE="$CAL/profile.parquet" bash .devrun/serve-validate.sh offline 200
    ;;
  serve)
    here=$(uuid)
    budget=${2:-560}
    if [ ! -f "$CAL/profile.parquet" ] || [ "$(cat .devcal/card 2>/dev/null)" != "$here" ]; then
      echo "== this card ($here) is not the one calibrated ($(cat .devcal/card 2>/dev/null || echo none)): quick grid first" | tee "$OUT/card-serve-note.txt"
      rm -rf "$CAL"
      timeout -s INT -k 20 200 "$J" calibrate --model llama-3.1-8b --quick -o "$CAL" > "$OUT/card-quick-calibrate-log.txt" 2>&1
      echo "$here" > .devcal/card
      budget=$(( budget - 200 ))
      tar czf "$OUT/card-profile.tgz" .devcal
    fi
    RUNS=calibration/validation/card-runs OUT="$OUT" PROFILE="$CAL/profile.parquet" ONLINE_S=${ONLINE_S:-600} bash .devrun/serve-validate.sh all "$budget"
    ;;
esac
ls -la "$OUT"
