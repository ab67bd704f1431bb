// SPDX-License-Identifier: MIT
// The AMD SVM backend as the embedding layer links it: NPT stage 2
// (npt_stage2.hpp) and the x86 instruction executor of arch/x86_common.
// The generated backends.cpp lists it by this name (hvcore_backend_<dir>).
#pragma once

#include "hvcore/core/backend.hpp"

// Arch::x86_svm, its names (svm, "x86 SVM (NPT)", x86_svm, x86-svm), port
// I/O, make_stage2, make_isa and the 4-level table budget (src/backend.cpp).
[[nodiscard]] hvcore::Backend hvcore_backend_x86_svm();
