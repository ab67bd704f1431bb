#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# xen_exec_missing.sh HVCORE DIR: a copy of the hvcore program in DIR/bin,
# outside any build tree and with no DIR/<libdir>/hvcore/xen, refuses
# `xen-exec` with exit 3 and one line naming that directory, and runs no
# command.
set -euo pipefail
hv=$1 dir=$2
rm -rf "$dir"
mkdir -p "$dir/bin"
cp "$hv" "$dir/bin/hvcore"
set +e
err=$("$dir/bin/hvcore" xen-exec touch "$dir/ran" 2>&1 >/dev/null)
rc=$?
set -e
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $rc -eq 3 ]] || fail "exit $rc, not 3 (stderr: $err)"
[[ $(wc -l <<<"$err") -eq 1 ]] || fail "not one line on stderr: $err"
[[ $err == "hvcore xen-exec: hvcore's Xen libraries are not installed: no directory $dir/lib"*"/hvcore/xen" ]] ||
  fail "unexpected message: $err"
[[ ! -e $dir/ran ]] || fail "the command ran"
rm -rf "$dir"
echo "PASS: exit 3: $err"
