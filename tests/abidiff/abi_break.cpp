// SPDX-License-Identifier: MIT
// A libhvcore.so.1 that breaks the C ABI on purpose, for the test that
// proves the stable-ABI check fails (CMakeLists.txt here): two functions
// of the real library, in its version node, with the changes that
// break/hv_break.h describes. The test suppresses the report of the other
// functions as removed, so that the verdict rests on these changes alone.
#include "break/hv_break.h"

int hv_domain_create(hv_host* host, const hv_domain_config* cfg, hv_domain** out) {
    return host != nullptr && cfg != nullptr && out != nullptr ? -38 : -22;
}
int hv_guest_read(hv_domain* d, uint64_t gpa, void* buf, uint32_t len) {
    return d != nullptr && buf != nullptr && gpa + len != 0 ? -38 : -22;
}
