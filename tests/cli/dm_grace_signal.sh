#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A device model that ignores stop_fd (tests/cli/clitest_dm.c, "ignore"
# modes) and a signal, with a --dm-grace of 60 s that must not be waited:
#   first   the guest ends, the stop is ignored; a SIGINT during the grace
#           ends the wait: the results are printed and hvcore exits 130
#   second  a SIGINT stops the guest; during the grace that follows, a
#           second SIGINT exits at once with 130 (no results)
#   dm_grace_signal.sh HVCORE DIR_OF_HVDM_CLITEST first|second
set -u -m  # -m: a background job that receives SIGINT (not ignored)
hvcore=$1
dir=$2
mode=$3
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
cd "$dir" || exit 1
if [[ $mode == first ]]; then
  "$hvcore" run console --on model --arch vmx --dm uart --dm hvdm-clitest.so:ignore --dm-grace 60 >"$out" 2>"$err" &
else
  "$hvcore" run console --on model --arch vmx --dm hvdm-clitest.so:hang-ignore --dm-grace 60 >"$out" 2>"$err" &
fi
pid=$!
wait_for() {  # wait_for FILE TEXT: up to 10 s
  for _ in $(seq 200); do
    grep -q "$2" "$1" && return 0
    sleep 0.05
  done
  kill -KILL "$pid"
  echo "FAIL: never saw '$2'"; cat "$out" "$err"; exit 1
}
if [[ $mode == second ]]; then
  wait_for "$out" "^== console"
  sleep 0.3
  kill -INT "$pid"
fi
wait_for "$out" "clitest: ignoring the stop"
start=$SECONDS
kill -INT "$pid"
wait "$pid"
rc=$?
echo "--- stdout:"; cat "$out"; echo "--- stderr:"; cat "$err"; echo "---"
fail=""
[[ $rc -eq 130 ]] || fail+="exit status $rc, expected 130; "
((SECONDS - start <= 5)) || fail+="took $((SECONDS - start)) s after the last SIGINT; "
if [[ $mode == first ]]; then
  grep -q "FAILED: device model clitest did not return before a signal ended the wait" "$out" \
    || fail+="no result naming clitest; "
  grep -q "^hvcore: device model clitest did not return" "$err" || fail+="no line on stderr naming clitest; "
else
  grep -q "hvcore: SIGINT again: exiting at once" "$err" || fail+="no 'SIGINT again' on stderr; "
  grep -q "^-- console" "$out" && fail+="results printed after the second SIGINT; "
fi
if [[ -n $fail ]]; then
  echo "FAIL: $fail"
  exit 1
fi
echo "PASS: $mode SIGINT during the device models' grace: exit 130 at once"
