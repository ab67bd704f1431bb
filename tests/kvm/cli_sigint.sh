#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `hvcore run` on a guest that never ends: SIGINT stops the run cleanly -
# the vCPU thread leaves KVM_RUN, the device models return, the process
# exits 130 (128 + SIGINT) well before the 20 s timeout.
# Exits 77 (skipped) when /dev/kvm is not usable.
set -u -m  # -m: the background job receives SIGINT (not ignored, as without job control)
hvcore=$1
image=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$hvcore" run "$image" --dm uart --on kvm --timeout 20 >"$out" 2>&1 &
pid=$!
sleep 0.5
kill -INT "$pid"
start=$SECONDS
wait "$pid"
rc=$?
cat "$out"
if grep -q "KVM is not usable" "$out"; then
  echo "SKIP: no usable /dev/kvm"
  exit 77
fi
if ((SECONDS - start > 5)); then
  echo "FAIL: the run took $((SECONDS - start)) s to stop after SIGINT"
  exit 1
fi
if [[ $rc -eq 130 ]] && grep -q "stopped (stop requested)" "$out" && grep -q "^uart: " "$out"; then
  echo "PASS: SIGINT stopped the run cleanly"
  exit 0
fi
echo "FAIL: exit status $rc"
exit 1
