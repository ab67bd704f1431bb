// SPDX-License-Identifier: MIT
#include "hvcore/svm/backend.hpp"

#include "hvcore/svm/npt_stage2.hpp"
#include "hvcore/x86/isa_x86.hpp"
#include "hvcore/x86/platform.hpp"
#include "hvcore/x86/radix_levels.hpp"

namespace {

// A 4-level nested walk in long mode (APM Vol. 2 15.25.5): one root (nCR3).
uint64_t npt_table_frames(uint64_t ram_frames) {
    return hvcore::s2::table_budget(hvcore::svm::Npt::geometry_4level, ram_frames);
}

}  // namespace

hvcore::Backend hvcore_backend_x86_svm() {
    return hvcore::Backend{
        .arch = hvcore::Arch::x86_svm,
        .name = "x86-svm (NPT)",
        .cli_name = "svm",
        .display_name = "x86 SVM (NPT)",
        .key = "x86_svm",
        .test_name = "x86-svm",
        .has_port_io = true,
        .make_stage2 = &hvcore::svm::make_npt_stage2,
        .make_isa = &hvcore::x86::make_amd_isa,
        .table_frames = &npt_table_frames,
        .posted_mmio = hvcore::x86::vga_memory,  // Xen's stdvga (hvcore/x86/platform.hpp)
    };
}
