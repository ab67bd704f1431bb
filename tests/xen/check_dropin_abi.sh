#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_dropin_abi.sh [--expect-fail REGEX] OURS THEIRS [OURS THEIRS ...]
#
# Each hvcore drop-in (OURS) exports what Debian's library of the same name
# (THEIRS, e.g. /usr/lib/x86_64-linux-gnu/libxenforeignmemory.so.1)
# exports, as the dynamic loader sees it:
# - the same SONAME (objdump -p);
# - the same version definitions, each with the node it inherits (objdump
#   -p "Version definitions": a program linked against Debian's library
#   records VERS_1.x for each function it uses, and the loader refuses a
#   library without that node);
# - the same defined dynamic symbols, each at the same default version
#   (nm -D --with-symbol-versions --defined-only: "name@@VERS_1.x"), and
#   the same version-node symbols (type A).
# The first difference is named and the script exits 1. With
# --expect-fail REGEX it inverts: it passes only if some pair differs and
# the first difference's message matches REGEX (the test that the check
# can fail).
set -euo pipefail
export LC_ALL=C

expect=""
if [[ ${1:-} == --expect-fail ]]; then
  expect=$2
  shift 2
fi
if (( $# == 0 || $# % 2 != 0 )); then
  echo "usage: $0 [--expect-fail REGEX] OURS THEIRS [OURS THEIRS ...]" >&2
  exit 2
fi
for tool in nm objdump; do
  command -v "$tool" >/dev/null || { echo "check_dropin_abi: $tool not found (binutils)" >&2; exit 2; }
done

# One line per fact, sorted: "soname S", "verdef N", "verdef N inherits P",
# "node N", "symbol NAME@@N".
describe() {
  local lib=$1
  [[ -r $lib ]] || { echo "check_dropin_abi: cannot read $lib" >&2; return 2; }
  objdump -p "$lib" | awk '$1 == "SONAME" { print "soname " $2 }'
  objdump -p "$lib" | awk '
    /^Version definitions:/ { f = 1; next }
    f && NF == 0 { exit }
    f && /^[0-9]/ { name = $4; print "verdef " name ($2 == "0x01" ? " (the file itself)" : ""); next }
    f { for (i = 1; i <= NF; i++) print "verdef " name " inherits " $i }'
  nm -D --with-symbol-versions --defined-only "$lib" | awk '
    $2 == "A" { n = $3; sub(/@@.*/, "", n); print "node " n; next }
    NF >= 3 { print "symbol " $3 }'
}

first_difference() {  # OURS THEIRS: prints the first difference, or nothing
  local ours=$1 theirs=$2 a b
  a=$(describe "$ours" | sort -u) || return 2
  b=$(describe "$theirs" | sort -u) || return 2
  [[ -n $b ]] || { echo "$theirs: nothing read"; return 0; }
  # A symbol in both at different versions is the difference to name first.
  join -j1 <(sed -n 's/^symbol \([^@]*\)@\{1,2\}\(.*\)$/\1 \2/p' <<<"$a" | sort) \
           <(sed -n 's/^symbol \([^@]*\)@\{1,2\}\(.*\)$/\1 \2/p' <<<"$b" | sort) |
    awk -v o="$ours" -v t="$theirs" '$2 != $3 { print $1 ": version " $2 " in " o ", " $3 " in " t; exit }' |
    grep . && return 0
  comm -3 <(echo "$a") <(echo "$b") | head -n1 | awk -v o="$ours" -v t="$theirs" '
    /^\t/ { sub(/^\t/, ""); print "only in " t ": " $0; next }
    { print "only in " o ": " $0 }'
}

failed=""
while (( $# > 0 )); do
  ours=$1 theirs=$2
  shift 2
  diff=$(first_difference "$ours" "$theirs")
  if [[ -n $diff ]]; then
    echo "DIFFERENT: $diff"
    failed=${failed:-$diff}
    [[ -n $expect ]] && break
  else
    n=$(describe "$ours" | grep -c '^symbol ')
    echo "same: $(basename "$ours") and $(basename "$theirs"): soname, version definitions, $n symbols"
  fi
done

if [[ -n $expect ]]; then
  if [[ -z $failed ]]; then
    echo "check_dropin_abi: expected a difference matching '$expect', found none" >&2
    exit 1
  fi
  if ! grep -Eq -- "$expect" <<<"$failed"; then
    echo "check_dropin_abi: the first difference does not match '$expect': $failed" >&2
    exit 1
  fi
  echo "the check fails as expected: $failed"
  exit 0
fi
[[ -z $failed ]]
