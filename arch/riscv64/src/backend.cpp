// SPDX-License-Identifier: MIT
#include "hvcore/riscv64/backend.hpp"

#include "hvcore/riscv64/gstage.hpp"
#include "hvcore/riscv64/isa_rv64.hpp"
#include "hvcore/riscv64/stage2.hpp"

namespace {

// make_riscv64_stage2's Sv39x4 walk: 3 levels, the 16 KiB root of 4
// frames ("Guest Physical Address Translation").
uint64_t riscv64_table_frames(uint64_t ram_frames) {
    return hvcore::s2::table_budget(hvcore::riscv64::geometry(hvcore::riscv64::Mode::sv39x4), ram_frames);
}

}  // namespace

hvcore::Backend hvcore_backend_riscv64() {
    return hvcore::Backend{
        .arch = hvcore::Arch::riscv64,
        .name = "riscv64 (RISC-V H-extension G-stage, Sv39x4)",
        .cli_name = "riscv64",
        .display_name = "RISC-V G-stage (Sv39x4)",
        .key = "riscv64",
        .test_name = "riscv64",
        .has_port_io = false,
        .make_stage2 = &hvcore::riscv64::make_riscv64_stage2,
        .make_isa = &hvcore::riscv64::make_rv64_isa,
        .table_frames = &riscv64_table_frames,
        .posted_mmio = std::nullopt,  // Xen's stdvga (the only MMIO it posts) is x86-only
    };
}
