#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `hvcore run --dm-exec` and `hvcore dm`: device models as child processes,
# on the model vCPUs (no KVM). MODE picks the case; each states its checks:
#   ready        the uart plug-in as a process (hvcore dm uart) serves the
#                console guest: exit 0, the guest's lines printed by it, a
#                pid that is not hvcore's, its connection, READY and exit 0
#                logged, its socket directory removed at the end
#   early-exit   a command that exits 7 before READY: the run fails (exit 3)
#                naming it and its status, at once
#   never-ready  a command that never says READY: fails after
#                --dm-ready-timeout 1 (exit 3), the process is SIGTERMed
#   kill9        a device model that never answers is killed with SIGKILL
#                while the guest waits on it: its pid and "killed by signal
#                9" are logged, its servers destroyed, the guest completes
#                (the read it waited on and the later ones complete without
#                a device model: all ones, so the UART looks idle), exit 1
#   ignore-term  a device model that ignores its stop and SIGTERM is
#                SIGKILLed 2 x --dm-grace after the stop (exit 1)
#   timeout      a device model that never answers and ignores its stop:
#                --timeout 2 still ends the run (124) within a bound
#   sigint       the same, ended by SIGINT (130) within a bound
#   demo         `hvcore` with no arguments: every run's device models are
#                processes (pids not hvcore's), the demo passes
#   group        a device model whose shell leaves a background child (sleep)
#                behind: the run passes, and once hvcore returns that child
#                is gone too (its process group is killed with the leader)
#   dm-usage     `hvcore dm` without HVCORE_DM_DOMID / without a host: exit
#                2 / 3 with the reason
#   json         --json: the device model's lines go to stderr, stdout is
#                the document alone, with the run's dm_processes; and a
#                --dm-uid that is not hvcore's does not lock out hvcore's
#                own child (its uid is always allowed on its socket)
#   dm_exec.sh HVCORE DM_DIR MODE   (DM_DIR holds hvdm-clitest.so)
set -u -m
hv=$1
dmdir=$2
mode=$3
export HVCORE_KVM_DEVICE=/nonexistent/kvm
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
fail=""
has() { grep -Eq -- "$2" "$1" || fail+="no /$2/ in $3; "; }
hasnt() { grep -Eq -- "$2" "$1" && fail+="/$2/ in $3; "; }
start=$SECONDS
started_pid() { sed -n "s/.*device model '.*' started: pid \([0-9][0-9]*\).*/\1/p" "$err" | head -n1; }
wait_for() {  # FILE RE: up to 10 s
  for _ in $(seq 200); do grep -Eq -- "$2" "$1" && return 0; sleep 0.05; done
  return 1
}
bg() { "$@" >"$out" 2>"$err" & hvpid=$!; }
finish() { wait "$hvpid"; rc=$?; elapsed=$((SECONDS - start)); }

case $mode in
ready)
  export HVCORE_DM_PATH=$dmdir
  bg "$hv" run console --on model --arch vmx --dm-exec "exec '$hv' dm uart"
  finish
  [[ $rc -eq 0 ]] || fail+="exit status $rc, expected 0; "
  dmpid=$(sed -n "s/.*device model process '.*': pid \([0-9][0-9]*\).*/\1/p" "$out" | head -n1)
  [[ -n $dmpid ]] || fail+="no 'device model process ... pid' line; "
  [[ -n $dmpid && $dmpid -ne $hvpid ]] || fail+="the device model's pid ${dmpid:-?} is hvcore's ($hvpid); "
  has "$err" "device model pid $dmpid uid [0-9]+ \\(connection 1\\) connected" stderr
  has "$err" "device model pid $dmpid uid [0-9]+ \\(connection [0-9]+\\) is ready" stderr
  has "$out" "^guest\\| " stdout
  has "$out" "ioreq server 0 \\[uart: process pid $dmpid\\]: [1-9][0-9]* ioreqs" stdout
  has "$out" "uart: [0-9]+ bytes, 3 lines from the guest" stdout
  has "$err" "device model 'exec .* dm uart' pid $dmpid exited with status 0" stderr
  sock=$(sed -n 's/.*HVCORE_DM_SOCKET=\([^,]*\),.*/\1/p' "$err" | head -n1)
  [[ -n $sock && ! -e $(dirname "$sock") ]] || fail+="socket directory ${sock:-?} not removed; "
  ;;
early-exit)
  bg "$hv" run console --on model --arch vmx --dm-exec 'echo setting up; exit 7'
  finish
  [[ $rc -eq 3 ]] || fail+="exit status $rc, expected 3; "
  has "$err" "device model 'echo setting up; exit 7' \\(pid [0-9]+\\) exited with status 7 before it was ready" stderr
  ((elapsed <= 5)) || fail+="took $elapsed s; "
  ;;
never-ready)
  bg "$hv" run console --on model --arch vmx --dm-ready-timeout 1 --dm-grace 1 --dm-exec 'exec sleep 30'
  finish
  [[ $rc -eq 3 ]] || fail+="exit status $rc, expected 3; "
  has "$err" "device model 'exec sleep 30' \\(pid [0-9]+\\) did not send READY within 1000 ms" stderr
  has "$err" "device model 'exec sleep 30' pid [0-9]+ killed by signal 15" stderr
  ((elapsed <= 6)) || fail+="took $elapsed s; "
  ;;
kill9)
  export HVCORE_DM_PATH=$dmdir
  bg "$hv" run console --on model --arch vmx --timeout 20 --dm-exec "exec '$hv' dm clitest:hang"
  wait_for "$err" "is ready" || fail+="the device model never became ready; "
  sleep 0.5  # the guest is now waiting for the answer to its first UART read
  dmpid=$(started_pid)
  [[ -n $dmpid && $dmpid -ne $hvpid ]] && kill -KILL "$dmpid"
  finish
  [[ $rc -eq 1 ]] || fail+="exit status $rc, expected 1 (a device model died); "
  has "$err" "device model 'exec .* dm clitest:hang' pid $dmpid killed by signal 9 .* during the run" stderr
  has "$err" "device model pid $dmpid uid [0-9]+ \\(connection [0-9]+\\) hung up: its ioreq servers are destroyed" stderr
  has "$out" "halted \\(the trace is complete\\)" stdout
  has "$out" "completed by the core alone: [1-9][0-9]* accesses" stdout
  has "$out" "died during the run: killed by signal 9" stdout
  has "$out" "ioreq server 0 \\[clitest: process pid $dmpid\\]: 1 ioreqs" stdout
  ((elapsed <= 15)) || fail+="took $elapsed s; "
  ;;
ignore-term)
  export HVCORE_DM_PATH=$dmdir
  bg "$hv" run console --on model --arch vmx --dm-grace 1 --dm-exec "exec '$hv' dm clitest:ignore"
  finish
  [[ $rc -eq 1 ]] || fail+="exit status $rc, expected 1; "
  has "$out" "clitest: ignoring the stop" stdout
  has "$err" "did not end within 1000 ms of the stop: SIGTERM" stderr
  has "$err" "did not end after SIGTERM: SIGKILL" stderr
  has "$err" "device model 'exec .* dm clitest:ignore' pid [0-9]+ killed by signal 9" stderr
  ((elapsed >= 2 && elapsed <= 8)) || fail+="took $elapsed s (SIGKILL due 2 s after the stop); "
  ;;
timeout)
  export HVCORE_DM_PATH=$dmdir
  bg "$hv" run console --on model --arch vmx --timeout 2 --dm-grace 1 --dm-exec "exec '$hv' dm clitest:hang-ignore"
  finish
  [[ $rc -eq 124 ]] || fail+="exit status $rc, expected 124; "
  has "$out" "timeout \\(after 2000 ms\\)" stdout
  has "$err" "pid [0-9]+ killed by signal 9" stderr
  ((elapsed <= 9)) || fail+="took $elapsed s; "
  ;;
sigint)
  export HVCORE_DM_PATH=$dmdir
  bg "$hv" run console --on model --arch vmx --dm-grace 1 --dm-exec "exec '$hv' dm clitest:hang-ignore"
  wait_for "$err" "is ready" || fail+="the device model never became ready; "
  sleep 0.3
  t=$SECONDS
  kill -INT "$hvpid"
  finish
  [[ $rc -eq 130 ]] || fail+="exit status $rc, expected 130; "
  has "$err" "hvcore: SIGINT: stopping" stderr
  has "$err" "pid [0-9]+ killed by signal 9" stderr
  ((SECONDS - t <= 6)) || fail+="took $((SECONDS - t)) s after SIGINT; "
  ;;
demo)
  unset HVCORE_DM_PATH
  bg "$hv"
  finish
  [[ $rc -eq 0 ]] || fail+="exit status $rc, expected 0; "
  has "$out" "hvcore demo: PASS" stdout
  has "$out" "each in a process of its own" stdout
  runs=$(grep -c "^-- " "$out")
  procs=$(grep -Ec "device model process 'exec .* dm (uart|shadow)': pid [0-9]+, exited with status 0" "$out")
  shadows=$(grep -c "^-- pagetable" "$out")
  [[ $runs -ge 2 && $procs -eq $((runs + shadows)) ]] || fail+="$procs device-model processes for $runs runs; "
  # every server is named by its device model and the pid that served it
  servers=$(grep -Ec "ioreq server [0-9] \\[(uart|shadow): process pid [0-9]+\\]: [1-9][0-9]* ioreqs" "$out")
  [[ $servers -eq $((runs + shadows)) ]] || fail+="$servers servers named by process for $runs runs; "
  for p in $(sed -n "s/.*device model process '.*': pid \([0-9][0-9]*\).*/\1/p" "$out"); do
    [[ $p -ne $hvpid ]] || fail+="a device model ran as hvcore's pid; "
  done
  has "$out" "shadow: PASS" stdout
  hasnt "$out" "FAILED" stdout
  ;;
group)
  export HVCORE_DM_PATH=$dmdir
  left=$(mktemp)
  bg "$hv" run console --on model --arch vmx --dm-exec "sleep 300 & echo \$! >'$left'; exec '$hv' dm uart"
  finish
  [[ $rc -eq 0 ]] || fail+="exit status $rc, expected 0; "
  child=$(cat "$left")
  rm -f "$left"
  [[ -n $child ]] || fail+="the command did not record its background child; "
  # gone, or at most a zombie of no parent of ours (its parent was killed)
  for _ in $(seq 100); do
    [[ -n $child ]] && kill -0 "$child" 2>/dev/null || break
    [[ $(ps -o stat= -p "$child" 2>/dev/null) == Z* ]] && break
    sleep 0.05
  done
  if [[ -n $child ]] && kill -0 "$child" 2>/dev/null && [[ $(ps -o stat= -p "$child") != Z* ]]; then
    fail+="the device model's background child $child outlived hvcore; "
    kill -9 "$child"
  fi
  ;;
dm-usage)
  env -u HVCORE_DM_DOMID "$hv" dm uart >"$out" 2>"$err"
  rc=$?
  [[ $rc -eq 2 ]] || fail+="no HVCORE_DM_DOMID: exit status $rc, expected 2; "
  has "$err" "HVCORE_DM_DOMID must be the guest's domain id" stderr
  HVCORE_DM_DOMID=1 HVCORE_DM_SOCKET=/nonexistent/dm.sock "$hv" dm uart >"$out" 2>>"$err"
  rc=$?
  [[ $rc -eq 3 ]] || fail+="no host: exit status $rc, expected 3; "
  has "$err" "cannot connect to the host at /nonexistent/dm.sock: No such file or directory" stderr
  ;;
json)
  export HVCORE_DM_PATH=$dmdir
  bg "$hv" run console --on model --arch vmx --json --dm-uid 65534 --dm-exec "exec '$hv' dm uart"
  finish
  [[ $rc -eq 0 ]] || fail+="exit status $rc, expected 0; "
  [[ $(head -c1 "$out") == "{" && $(tail -n1 "$out") == "}" ]] || fail+="stdout is not the document alone; "
  has "$err" "^guest\\| " stderr
  has "$out" "\"dm_processes\": \\[" stdout
  has "$out" "\"pid\": [0-9]+," stdout
  has "$out" "\"end\": \"exited with status 0\"" stdout
  has "$out" "\"label\": \"process pid [0-9]+\"" stdout
  ;;
*)
  echo "dm_exec.sh: unknown mode $mode"; exit 2 ;;
esac
echo "--- stdout:"; cat "$out"; echo "--- stderr:"; cat "$err"; echo "---"
if [[ -n $fail ]]; then
  echo "FAIL ($mode): $fail"
  exit 1
fi
echo "PASS ($mode)"
