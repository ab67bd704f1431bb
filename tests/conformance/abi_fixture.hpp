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

namespace conformance {

inline constexpr uint64_t mib = 1024 * 1024;

struct ArchInfo {
    uint32_t arch;
    const char* name;
    bool has_pio;  // x86 only; Arm64 and RISC-V answer -EOPNOTSUPP
};

inline constexpr ArchInfo all_arches[] = {
    {HV_ARCH_X86_VMX, "x86-vmx", true},
    {HV_ARCH_X86_SVM, "x86-svm", true},
    {HV_ARCH_ARM64, "arm64", false},
    {HV_ARCH_RISCV64, "riscv64", false},
};

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
