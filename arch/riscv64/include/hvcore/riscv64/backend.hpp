// SPDX-License-Identifier: MIT
// The RISC-V backend as the embedding layer links it: the H extension's
// G-stage table (stage2.hpp, Sv39x4) and the RV64 load/store executor
// (isa_rv64.hpp). The generated backends.cpp lists it by this name
// (hvcore_backend_<dir>).
#pragma once

#include "hvcore/core/backend.hpp"

// Arch::riscv64, --arch riscv64, test name "riscv64", no port I/O, Sv39x4.
[[nodiscard]] hvcore::Backend hvcore_backend_riscv64();
