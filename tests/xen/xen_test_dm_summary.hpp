// SPDX-License-Identifier: MIT
// The summary line xen_test_dm (xen_test_dm.c) prints when its stdin
// closes, parsed: what test_xen_dm.cpp (tests/xen) and test_kvm_xen.cpp
// (tests/kvm) compare with what they sent it. No test framework here.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace hvcore_test {

// "xen_test_dm: served sync=N buffered=N pci=N ptr=N protected=N vcpus=a,b"
struct XtdServed {
    uint64_t sync = 0, buffered = 0, pci = 0, ptr = 0, prot = 0;
    std::vector<uint64_t> vcpus;
};

// False if @p out has no summary line.
inline bool parse_xtd_summary(const std::string& out, XtdServed* s) {
    const auto at = out.find("xen_test_dm: served ");
    if (at == std::string::npos) return false;
    char vcpus[256] = {0};
    if (std::sscanf(out.c_str() + at,
                    "xen_test_dm: served sync=%" SCNu64 " buffered=%" SCNu64 " pci=%" SCNu64 " ptr=%" SCNu64
                    " protected=%" SCNu64 " vcpus=%255s",
                    &s->sync, &s->buffered, &s->pci, &s->ptr, &s->prot, vcpus) != 6)
        return false;
    std::stringstream ss(vcpus);
    std::string n;
    while (std::getline(ss, n, ',')) s->vcpus.push_back(std::strtoull(n.c_str(), nullptr, 10));
    return true;
}

}  // namespace hvcore_test
