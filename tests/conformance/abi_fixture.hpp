// SPDX-License-Identifier: MIT
// Shared pieces of the conformance suite: every scenario is written once
// against the C ABI and runs on each backend linked into libhvcore.
#pragma once

#include <doctest/doctest.h>
#include <poll.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "hvcore_test_backends.h"

namespace conformance {

inline constexpr uint64_t mib = 1024 * 1024;

struct ArchInfo {
    uint32_t arch;
    const char* name;
    bool has_pio;  // its ISA has port I/O; the others answer -EOPNOTSUPP
};

// The backends linked into libhvcore, as their folders declare them
// (hvcore_backend_facts; the generated hvcore_test_backends.h).
#define HVCORE_CONFORMANCE_ARCH_ROW(name, arch, has_pio) ArchInfo{arch, name, (has_pio) != 0},
inline constexpr ArchInfo all_arches[] = {HVCORE_TEST_BACKENDS(HVCORE_CONFORMANCE_ARCH_ROW)};
#undef HVCORE_CONFORMANCE_ARCH_ROW

// The arches this build of libhvcore has (hv_domain_create says which).
inline std::vector<ArchInfo> linked_arches() {
    std::vector<ArchInfo> out;
    hv_host* h = nullptr;
    if (hv_host_create(&h) != 0) return out;
    for (const ArchInfo& a : all_arches) {
        hv_domain_config cfg{sizeof(hv_domain_config), a.arch, 4 * mib, 1, 0};
        hv_domain* d = nullptr;
        if (hv_domain_create(h, &cfg, &d) == 0) {
            out.push_back(a);
            (void)hv_domain_destroy(d);
        }
    }
    hv_host_destroy(h);
    return out;
}

// A host, one domain and one device-model handle.
struct Env {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_handle* dm = nullptr;
    hvdm_domid_t domid = 0;

    Env(uint32_t arch, uint64_t ram, uint32_t vcpus) {
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{sizeof(hv_domain_config), arch, ram, vcpus, 0};
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        domid = hv_domain_id(dom);
        dm = hvdm_open(host);
        REQUIRE(dm != nullptr);
    }
    ~Env() {
        if (dm != nullptr) (void)hvdm_close(dm);
        (void)hv_domain_destroy(dom);
        hv_host_destroy(host);
    }
    Env(const Env&) = delete;
    Env& operator=(const Env&) = delete;
};

}  // namespace conformance
