// SPDX-License-Identifier: MIT
// The Arm64 backend as the embedding layer links it: VMSAv8-64 stage 2
// (stage2.hpp) and the A64 load/store executor (isa_a64.hpp). The
// generated backends.cpp lists it by this name (hvcore_backend_<dir>).
#pragma once

#include "hvcore/core/backend.hpp"

// Arch::arm64, its names (arm64, "Arm64 stage 2"), no port I/O, make_stage2,
// make_isa and the table budget of vtcr_default's walk (src/backend.cpp).
[[nodiscard]] hvcore::Backend hvcore_backend_arm64();
