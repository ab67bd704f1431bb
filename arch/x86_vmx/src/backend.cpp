// SPDX-License-Identifier: MIT
#include "hvcore/vmx/backend.hpp"

#include "hvcore/vmx/ept_stage2.hpp"
#include "hvcore/x86/isa_x86.hpp"

hvcore::Backend hvcore_backend_x86_vmx() {
    return hvcore::Backend{
        .arch = hvcore::Arch::x86_vmx,
        .name = "x86-vmx (EPT)",
        .make_stage2 = &hvcore::vmx::make_ept_stage2,
        .make_isa = &hvcore::x86::make_intel_isa,
    };
}
