// SPDX-License-Identifier: MIT
#include "hvcore/arm64/backend.hpp"

#include "hvcore/arm64/isa_a64.hpp"
#include "hvcore/arm64/stage2.hpp"

hvcore::Backend hvcore_backend_arm64() {
    return hvcore::Backend{
        .arch = hvcore::Arch::arm64,
        .name = "arm64 (VMSAv8-64 stage 2)",
        .make_stage2 = &hvcore::arm64::make_arm64_stage2,
        .make_isa = &hvcore::arm64::make_a64_isa,
    };
}
