#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: installs what is missing, then configures,
# builds and runs the whole suite with every backend (preset `all`) and
# again under ASan+UBSan (preset `asan`), then the Arm64 backend
# cross-compiled and run under qemu-user (preset `arm64-cross`), then every
# backend built with clang 14 (preset `clang`, warnings as errors and the
# thread-safety analysis; built, its tests not run here), then the
# concurrent tests under ThreadSanitizer (preset `tsan`, clang), then every
# backend optimised by GCC at -O3 (preset `gcc-o3`, Release, warnings as
# errors: the optimiser's warnings; what ships only), then the
# libFuzzer targets for HVCORE_FUZZ_SECONDS each (preset `fuzz`, clang,
# ASan+UBSan; README "Fuzzing"), then the
# README's first command and the install check on the tree it leaves
# (tests/install/install_consumer.sh). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# step NAME COMMAND...: runs one step and prints how long it took.
step() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  echo "hvcore: step '$name' passed in $((SECONDS - t0)) s"
}
step install-deps scripts/install-deps.sh --cross --oracles
for preset in all asan arm64-cross clang tsan gcc-o3 fuzz; do
  step "preset $preset" cmake --workflow --preset "$preset"
done
# The README's first command as a user runs it (build/release, the demo),
# then `cmake --install` of that tree into a prefix, a device model built
# out of tree against the prefix (pkg-config and find_package) and run by
# the installed hvcore.
step demo scripts/demo.sh
step install-check tests/install/install_consumer.sh --from-build build/release . build/install-check
echo "hvcore: all tests passed in $SECONDS s (presets all, asan, arm64-cross, clang, tsan, gcc-o3, fuzz; the demo; the install check)"
