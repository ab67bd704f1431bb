// SPDX-License-Identifier: MIT
// Shared by the test_npt_*.cpp files: the NPT-only checks (bit-level
// goldens of unusual entries, reserved bits, nCR3, crafted walks, the
// QEMU/Bochs oracle vectors, decode assists). The behaviour NPT shares with
// every stage-2 backend is in the conformance suite
// (tests/conformance/test_stage2.cpp), whose fixture and NPT traits these
// tests reuse: a machine with an NPT and raw access to its entries for
// crafting hardware states hvcore itself never writes.
#pragma once

#include <doctest/doctest.h>

#include "stage2_traits_npt.hpp"

namespace npt_test {

using namespace hvcore;
using namespace hvcore::svm;
using conformance::stage2::mib;
using conformance::stage2::NptTraits;
using conformance::stage2::pages_1g;
using conformance::stage2::pages_2m;
using conformance::stage2::perm_of;
using conformance::stage2::rwx;

// m.entry_on_walk(gfn, level_pd), m.entry(m->root(), i), m->ncr3() ...
using Machine = conformance::stage2::Machine<NptTraits>;

}  // namespace npt_test
