// SPDX-License-Identifier: MIT
// Shared by the test_ept_*.cpp files: the EPT-only checks (bit-level
// goldens of unusual entries, misconfigurations, EPTP, crafted walks). The
// behaviour EPT shares with every stage-2 backend is in the conformance
// suite (tests/conformance/test_stage2.cpp), whose fixture and EPT traits
// these tests reuse: a machine with an EPT and raw access to its entries
// for crafting hardware states hvcore itself never writes.
#pragma once

#include <doctest/doctest.h>

#include "stage2_traits_ept.hpp"

namespace ept_test {

using namespace hvcore;
using namespace hvcore::vmx;
using conformance::stage2::EptTraits;
using conformance::stage2::mib;
using conformance::stage2::pages_1g;
using conformance::stage2::pages_2m;
using conformance::stage2::perm_of;
using conformance::stage2::rwx;

// m.entry_on_walk(gfn, level_pd), m.entry(m->root(), i), m->eptp() ...
using Machine = conformance::stage2::Machine<EptTraits>;

}  // namespace ept_test
