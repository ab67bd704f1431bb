// SPDX-License-Identifier: MIT
#include "hvcore/vmx/backend.hpp"

#include "hvcore/vmx/ept_stage2.hpp"
#include "hvcore/x86/isa_x86.hpp"
#include "hvcore/x86/platform.hpp"
#include "hvcore/x86/radix_levels.hpp"

namespace {

// A 4-level EPT walk (SDM Vol. 3C 29.3.2): one PML4 root.
uint64_t ept_table_frames(uint64_t ram_frames) {
    return hvcore::s2::table_budget(hvcore::vmx::Ept::geometry_4level, ram_frames);
}

}  // namespace

hvcore::Backend hvcore_backend_x86_vmx() {
    return hvcore::Backend{
        .arch = hvcore::Arch::x86_vmx,
        .name = "x86-vmx (EPT)",
        .cli_name = "vmx",
        .display_name = "x86 VMX (EPT)",
        .key = "x86_vmx",
        .test_name = "x86-vmx",
        .has_port_io = true,
        .make_stage2 = &hvcore::vmx::make_ept_stage2,
        .make_isa = &hvcore::x86::make_intel_isa,
        .table_frames = &ept_table_frames,
        .posted_mmio = hvcore::x86::vga_memory,  // Xen's stdvga (hvcore/x86/platform.hpp)
    };
}
