// SPDX-License-Identifier: MIT
#include "hvcore/svm/backend.hpp"

#include "hvcore/svm/npt_stage2.hpp"
#include "hvcore/x86/isa_x86.hpp"

hvcore::Backend hvcore_backend_x86_svm() {
    return hvcore::Backend{
        .arch = hvcore::Arch::x86_svm,
        .name = "x86-svm (NPT)",
        .make_stage2 = &hvcore::svm::make_npt_stage2,
        .make_isa = &hvcore::x86::make_amd_isa,
    };
}
