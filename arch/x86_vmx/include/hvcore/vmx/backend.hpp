// SPDX-License-Identifier: MIT
// The Intel VMX backend as the embedding layer links it: EPT stage 2
// (ept_stage2.hpp) and the x86 instruction executor of arch/x86_common.
// The generated backends.cpp lists it by this name (hvcore_backend_<dir>).
#pragma once

#include "hvcore/core/backend.hpp"

// Arch::x86_vmx, its names (vmx, "x86 VMX (EPT)", x86_vmx, x86-vmx), port
// I/O, make_stage2, make_isa and the 4-level table budget (src/backend.cpp).
[[nodiscard]] hvcore::Backend hvcore_backend_x86_vmx();
