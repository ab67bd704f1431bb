#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Ctrl-C (or SIGTERM) stops the whole demo, not only the guest in progress:
# `hvcore --on model` runs with HVCORE_DM_PATH pointing at a directory whose
# hvdm-uart.so is tests/cli's clitest model built in "block" mode, which
# stays in its setup until the host stops it. The signal arrives while the
# first run (console on the first backend) waits for it; hvcore must then
# run nothing else (no second run, no pagetable guest) and exit 128+N.
# With "json" as a fifth argument the demo runs with --json, and stdout must
# be the document of the runs so far, with the signal and the exit status.
#   signal_stops_demo.sh HVCORE BLOCK_DM_DIR SIGNAL EXPECTED_STATUS [json]
set -u -m  # -m: a background job that receives SIGINT (not ignored)
hvcore=$1
dmdir=$2
sig=$3
want=$4
json=${5:-}
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# The model's line goes to stdout, or to stderr with --json.
if [[ $json == json ]]; then
  HVCORE_DM_PATH=$dmdir "$hvcore" --on model --json >"$out" 2>"$err" &
  said=$err
else
  HVCORE_DM_PATH=$dmdir "$hvcore" --on model >"$out" 2>"$err" &
  said=$out
fi
pid=$!
for _ in $(seq 200); do
  grep -q "clitest: blocking in setup" "$said" && break
  sleep 0.05
done
if ! grep -q "clitest: blocking in setup" "$said"; then
  kill -KILL "$pid"
  echo "FAIL: the blocking device model never started"; cat "$out" "$err"; exit 1
fi
start=$SECONDS
kill -"$sig" "$pid"
wait "$pid"
rc=$?
echo "--- stdout:"; cat "$out"; echo "--- stderr:"; cat "$err"; echo "---"
fail=""
[[ $rc -eq $want ]] || fail+="exit status $rc, expected $want; "
((SECONDS - start <= 5)) || fail+="took $((SECONDS - start)) s to stop; "
if [[ $json == json ]]; then
  signo=$((want - 128))
  # One run (the first, stopped), the signal, the exit status.
  [[ $(grep -c '"guest": ' "$out") -eq 1 ]] || fail+="not exactly one run in the document; "
  grep -q '"outcome": "stopped"' "$out" || fail+="the run's outcome is not stopped; "
  grep -q "\"signal\": $signo," "$out" || fail+="no \"signal\": $signo; "
  grep -q "\"exit_status\": $want," "$out" || fail+="no \"exit_status\": $want; "
  [[ $(head -c1 "$out") == "{" && $(tail -n1 "$out") == "}" ]] || fail+="stdout is not the document alone; "
else
  [[ $(grep -c "^== " "$out") -eq 1 ]] || fail+="more than the first run started; "
  grep -q "^== pagetable" "$out" && fail+="the second guest ran; "
  grep -q "hvcore demo: STOPPED" "$out" || fail+="no 'hvcore demo: STOPPED'; "
fi
grep -q "hvcore: SIG$sig: stopping" "$err" || fail+="no 'SIG$sig: stopping' on stderr; "
if [[ -n $fail ]]; then
  echo "FAIL: $fail"
  exit 1
fi
echo "PASS: SIG$sig stopped the whole demo, exit status $rc"
