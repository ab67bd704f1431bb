#!/bin/sh
# SPDX-License-Identifier: MIT
# hvcore run --listen, checked from outside as a user runs it, while the
# guest waits on a device model that never answers (the run ends by
# --timeout, exit 124):
#   many  three device-model processes (tests/ipc/ipc_dm claim) connect to
#         the one socket during the run, each claims its own MMIO page and
#         says ready: hvcore logs connections 1, 2 and 3 with each one's
#         pid; each is then killed with SIGKILL and hvcore logs its hang-up
#         and the destruction of its servers, and the run still ends by its
#         --timeout (124), not earlier, not later.
#   uid   --dm-uid 65534 alone: a device model of hvcore's own uid is
#         refused (ipc_dm uid: ECONNREFUSED) and hvcore logs its pid, its
#         uid and the allowed list.
# listen_many.sh HVCORE SOCKET IPC_DM many|uid
set -u
hv=$1 sock=$2 dm=$3 mode=$4
err=$sock.err
rm -f "$sock" "$err" "$sock".out*
uids=""
[ "$mode" = uid ] && uids="--dm-uid 65534"
# shellcheck disable=SC2086 # $uids: zero or two words
"$hv" run console --on model --arch vmx --timeout 3 --dm hvdm-clitest.so:hang --listen "$sock" $uids \
    >/dev/null 2>"$err" &
run=$!
fail=""
i=0
while [ $i -lt 250 ] && [ ! -S "$sock" ]; do sleep 0.02; i=$((i + 1)); done
[ -S "$sock" ] || fail="$fail no socket $sock after 5 s;"
me=$(id -u)
case $mode in
many)
  pids=""
  for n in 0 1 2; do
    HVCORE_DM_SOCKET="$sock" "$dm" claim 1 "0xfebf${n}000" >"$sock.out$n" 2>&1 &
    pids="$pids $!"
  done
  for n in 0 1 2; do
    i=0
    while [ $i -lt 250 ] && ! grep -q '^ready' "$sock.out$n" 2>/dev/null; do sleep 0.02; i=$((i + 1)); done
    grep -q '^ready' "$sock.out$n" || fail="$fail device model $n never said ready ($(cat "$sock.out$n"));"
  done
  for p in $pids; do
    grep -Eq "device model pid $p uid $me \\(connection [123]\\) connected" "$err" ||
      fail="$fail no connection logged for pid $p;"
    kill -9 "$p"
    wait "$p" 2>/dev/null
  done
  for c in 1 2 3; do
    i=0
    while [ $i -lt 250 ] && ! grep -Eq "\\(connection $c\\) hung up.*: its ioreq servers are destroyed" "$err"; do
      sleep 0.02; i=$((i + 1))
    done
    grep -Eq "\\(connection $c\\) hung up.*: its ioreq servers are destroyed" "$err" ||
      fail="$fail connection $c: no hang-up logged;"
  done
  ;;
uid)
  HVCORE_DM_SOCKET="$sock" "$dm" uid "$me" >"$sock.out0" 2>&1
  r=$?
  [ $r -eq 0 ] || fail="$fail ipc_dm uid $me: status $r, expected 0 (ECONNREFUSED): $(cat "$sock.out0");"
  i=0
  while [ $i -lt 250 ] && ! grep -q "refused" "$err"; do sleep 0.02; i=$((i + 1)); done
  grep -Eq "device model pid [0-9]+ uid $me refused \\(allowed uids: 65534\\)" "$err" ||
    fail="$fail no refusal logged;"
  grep -q "connected" "$err" && fail="$fail a refused peer was logged as connected;"
  ;;
*)
  echo "listen_many.sh: unknown mode $mode"; exit 2 ;;
esac
wait "$run"
rc=$?
[ $rc -eq 124 ] || fail="$fail hvcore run: exit status $rc, expected 124 (--timeout);"
echo "--- hvcore's stderr:"; cat "$err"; echo "---"
rm -f "$err" "$sock".out*
if [ -n "$fail" ]; then
  echo "FAIL ($mode):$fail"
  exit 1
fi
echo "PASS ($mode)"
