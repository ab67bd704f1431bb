#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's main command: installs what is missing, builds everything
# that ships (release preset: the library, `hvcore` with its bundled guests
# and device models; no tests, no benchmarks), so that
# `cmake --install build/release --prefix P` works right after it, and runs
# `hvcore run` with no arguments - the bundled demo: two real x86-64 guests
# on KVM with the uart and shadow device models attached, each in a process
# of its own (`hvcore dm NAME`, started by hvcore; --in-process: on threads),
# or, without a usable /dev/kvm, the same demo on the model vCPUs of every
# backend.
# Arguments are passed to `hvcore run` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/tools/hvcore run "$@"
