#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The stable-ABI check (README.md, "ABI and versioning"): abidiff (Debian
# abigail-tools) of the committed baseline (dm_api/abi/libhvcore.abi, made by
# scripts/abi-baseline.sh) against a built libhvcore.so.1. The baseline is
# restricted to the public headers when it is made (abidw --headers-dir) and
# holds no source locations (it must not depend on the checkout's path);
# the diff looks at exported interfaces only (--exported-interfaces-only,
# which reach public types alone), and NOT through --headers-dir1/2: with
# them abidiff 2.2 filtered out the deliberate changes of tests/abidiff/break
# as changes to private types (both of them with a baseline that has source
# locations, the struct's without), so the check could not fail. abidiff's exit status is a bit field (abidiff(1)):
#   1 an error, 2 a usage error, 4 an ABI change, 8 an incompatible change.
# abidiff 2.2 sets bit 8 for a removed function or variable only; a changed
# parameter or struct layout of an existing function is bit 4 with a [C]
# entry in its report. So the check fails on bit 8, and on bit 4 with any
# [C] (changed) or [D] (removed) entry; bit 4 with only [A] entries
# (additions, which go in a new version node) passes.
# EXPECT=compatible passes as above (given a PATTERN, it also requires that
# addition reported); EXPECT=incompatible is the inverse, for the test that
# proves the check fails on a deliberate break, and requires PATTERN (the
# change it was built to show) in abidiff's report.
# Skips (77, with the reason) without abidiff, or where the baseline's
# terms do not hold: GCC, x86-64, a library with DWARF debug info.
# usage: check_abi.sh EXPECT BASELINE LIBRARY COMPILER_ID PROCESSOR [SUPPRESSIONS [PATTERN]]
set -uo pipefail
expect=$1 baseline=$2 lib=$3 compiler=$4 processor=$5 suppr=${6:-} pattern=${7:-}

skip() { echo "SKIP: $*"; exit 77; }
command -v abidiff >/dev/null || skip "abidiff not found (Debian package abigail-tools; scripts/install-deps.sh)"
[[ $compiler == GNU ]] || skip "the baseline is GCC's DWARF; this build uses $compiler"
[[ $processor =~ ^(x86_64|AMD64|amd64)$ ]] || skip "the baseline is of an x86-64 build; this is $processor"
readelf -S --wide "$lib" | grep -q '\.debug_info' || skip "$lib has no debug info (a Debug or RelWithDebInfo build has)"

args=(--exported-interfaces-only --no-show-locs)
[[ -n $suppr ]] && args+=(--suppressions "$suppr")
report=$(abidiff "${args[@]}" "$baseline" "$lib" 2>&1)
rc=$?
echo "abidiff ${args[*]} $baseline $lib: exit $rc"
echo "$report"
if ((rc & 3)); then
  echo "FAILED: abidiff itself failed (exit $rc)"
  exit 1
fi
incompatible=0
if ((rc & 8)) || { ((rc & 4)) && grep -qE '^ *\[[CD]\] ' <<<"$report"; }; then
  incompatible=1
fi
case $expect in
  compatible)
    if ((incompatible)); then
      echo "FAILED: an incompatible change to the C ABI of libhvcore.so.1 (see above). Restore it, or - for a"
      echo "new major version only - bump the soname and regenerate the baseline (scripts/abi-baseline.sh)."
      exit 1
    fi
    if [[ -n $pattern ]]; then
      ((rc & 4)) && grep -qF -- "$pattern" <<<"$report" || { echo "FAILED: abidiff did not report '$pattern'"; exit 1; }
    fi
    ((rc & 4)) && echo "compatible changes only (additions): allowed"
    echo "PASS: no incompatible change against the baseline"
    ;;
  incompatible)
    ((incompatible)) || { echo "FAILED: abidiff did not report the deliberate break as incompatible"; exit 1; }
    [[ -z $pattern ]] || grep -qF -- "$pattern" <<<"$report" || { echo "FAILED: the report does not name '$pattern'"; exit 1; }
    echo "PASS: the deliberate break is reported as incompatible"
    ;;
  *) echo "usage: EXPECT is compatible or incompatible"; exit 2 ;;
esac
