#!/bin/sh
# SPDX-License-Identifier: MIT
# hvcore run --listen with a device-model process that connects, claims a
# page and is then stopped (SIGSTOP), while the guest waits on another
# device model that never answers: the run still ends, by --timeout (exit
# 124) or by a SIGINT (exit 130).
# listen_stuck_dm.sh HVCORE SOCKET IPC_DM timeout|sigint
set -m  # a background job that receives SIGINT (not ignored)
hv=$1 sock=$2 dm=$3 mode=$4
"$hv" run console --on model --arch vmx --timeout 2 --dm uart --dm hvdm-clitest.so:hang --listen "$sock" &
run=$!
sleep 0.5
HVCORE_DM_SOCKET="$sock" "$dm" claim 1 0xfebf0000 >"$sock.out" &
pid=$!
# stopped once it has claimed its page (it prints "ready"), or after 1 s
i=0
while [ $i -lt 100 ] && ! grep -q ready "$sock.out" 2>/dev/null; do sleep 0.01; i=$((i + 1)); done
kill -STOP "$pid"
if [ "$mode" = sigint ]; then
    sleep 0.2
    kill -INT "$run"
fi
wait "$run"
rc=$?
kill -9 "$pid"
rm -f "$sock.out"
exit "$rc"
