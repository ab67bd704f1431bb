#!/usr/bin/env bash
# The README's test command: installs what is missing, then configures,
# builds and runs the whole suite with every backend (preset `all`) and
# again under ASan+UBSan (preset `asan`). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --workflow --preset all
cmake --workflow --preset asan
echo "hvcore: all tests passed (presets all, asan)"
