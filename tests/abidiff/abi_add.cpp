// SPDX-License-Identifier: MIT
// A libhvcore.so.1 that only adds to the C ABI, for the test that proves
// the stable-ABI check lets additions pass (tests/abidiff/CMakeLists.txt):
// hv_domain_create exactly as <hvcore/hv.h> declares it, in HVCORE_1.0,
// and a new function in a new version node. The test suppresses the report
// of the functions not defined here as deleted.
#include "hvcore/hv.h"

extern "C" int hv_abi_test_added_function(uint32_t x) noexcept;

int hv_domain_create(hv_host* host, const hv_domain_config* cfg, hv_domain** out) noexcept {
    return host != nullptr && cfg != nullptr && out != nullptr ? -38 : -22;
}
int hv_abi_test_added_function(uint32_t x) noexcept { return static_cast<int>(x & 1u); }
