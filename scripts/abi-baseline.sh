#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the ABI baseline dm_api/abi/libhvcore.abi that the stable-ABI
# check (tests/abidiff, README.md "ABI and versioning") compares every build
# against: abidw of libhvcore.so.1 from a Debug GCC build (preset `all`),
# restricted to the public headers. Run it only when the ABI changes on
# purpose: after adding symbols in a new version node (the check passes
# additions, but the baseline should then include them), or with a new
# soname (an incompatible change, a new major version).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v abidw >/dev/null || { echo "abi-baseline: abidw not found (apt-get install abigail-tools)" >&2; exit 1; }
cmake --preset all >/dev/null
cmake --build build/all --target hvcore
lib=$(readlink -f build/all/dm_api/libhvcore.so)
abidw --headers-dir dm_api/include/hvcore --no-corpus-path --no-comp-dir-path --no-show-locs \
  --drop-private-types --exported-interfaces-only --no-elf-needed --out-file dm_api/abi/libhvcore.abi "$lib"
# Source paths relative to the tree (abidw writes them absolute).
sed -i "s|path='$PWD/|path='|g" dm_api/abi/libhvcore.abi
echo "abi-baseline: dm_api/abi/libhvcore.abi from $lib ($(grep -c '<elf-symbol ' dm_api/abi/libhvcore.abi) symbols)"
