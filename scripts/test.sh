#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: installs what is missing, then configures,
# builds and runs the whole suite with every backend (preset `all`) and
# again under ASan+UBSan (preset `asan`), then the Arm64 backend
# cross-compiled and run under qemu-user (preset `arm64-cross`), then every
# backend built with clang 14 (preset `clang`, warnings as errors), then the
# concurrent tests under ThreadSanitizer (preset `tsan`, clang), then every
# backend optimised by GCC at -O3 (preset `gcc-o3`, Release, warnings as
# errors: the optimiser's warnings; its tests run two at a time). The `all`
# preset includes the install test (tests/install: a plain build installed
# into a temporary prefix and used from there). Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --cross --oracles
cmake --workflow --preset all
cmake --workflow --preset asan
cmake --workflow --preset arm64-cross
cmake --workflow --preset clang
cmake --workflow --preset tsan
cmake --workflow --preset gcc-o3
echo "hvcore: all tests passed (presets all, asan, arm64-cross, clang, tsan, gcc-o3)"
