#!/usr/bin/env bash
# The README's main command: installs what is missing, builds the release
# preset and runs the example device model against a scripted guest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/examples/hvcore-demo "$@"
