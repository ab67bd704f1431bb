// SPDX-License-Identifier: MIT
#include "hvcore/arm64/backend.hpp"

#include "hvcore/arm64/isa_a64.hpp"
#include "hvcore/arm64/stage2.hpp"
#include "hvcore/arm64/vtcr.hpp"

namespace {

// The walk make_arm64_stage2 configures (vtcr_default): levels from the
// start level down to level 3, with the concatenated root tables of that
// start level (Arm ARM DDI 0487 D8.2, "Concatenated translation tables for
// the initial stage 2 lookup").
constexpr hvcore::arm64::S2Config default_config = *hvcore::arm64::Vtcr::decode(hvcore::arm64::vtcr_default).config;

uint64_t arm64_table_frames(uint64_t ram_frames) {
    return hvcore::s2::table_budget(hvcore::arm64::geometry_of(default_config), ram_frames);
}

}  // namespace

hvcore::Backend hvcore_backend_arm64() {
    return hvcore::Backend{
        .arch = hvcore::Arch::arm64,
        .name = "arm64 (VMSAv8-64 stage 2)",
        .cli_name = "arm64",
        .display_name = "Arm64 stage 2",
        .key = "arm64",
        .test_name = "arm64",
        .has_port_io = false,
        .make_stage2 = &hvcore::arm64::make_arm64_stage2,
        .make_isa = &hvcore::arm64::make_a64_isa,
        .table_frames = &arm64_table_frames,
        .posted_mmio = std::nullopt,  // Xen on Arm has no stdvga: nothing is posted unasked
    };
}
