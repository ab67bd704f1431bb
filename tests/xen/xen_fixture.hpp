// SPDX-License-Identifier: MIT
// The in-process world of the drop-in tests (tests/xen/test_xen_dropins.cpp):
// one host, one hvdm handle given to the drop-ins (hvcore_xen_attach: a
// process has one), a domain per test on the model vCPUs (x86-vmx), and
// the device-model side of a request (a server's slots, answered by hand).
#ifndef HVCORE_TESTS_XEN_FIXTURE_HPP
#define HVCORE_TESTS_XEN_FIXTURE_HPP

// As Xen's tools build (tools/Rules.mk): the tools-only definitions of
// the public headers (HVM_IOREQSRV_BUFIOREQ_* in hvm_op.h).
#ifndef __XEN_TOOLS__
#define __XEN_TOOLS__ 1
#endif
extern "C" {
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xentoollog.h>
#include <xen/sched.h>
}

#include <doctest/doctest.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "hvx_common.h"

namespace xt {

struct World {
    hv_host* host = nullptr;
    hvdm_handle* dm = nullptr;
};

// Created once per process (each doctest case runs in a process of its own
// under ctest); never destroyed: the drop-ins keep the handle for the process.
// HVCORE_TEST_TRANSPORT=socket: the handle is a connection (hvdm_connect)
// to a listener on the host (hv_dm_listen), as a device model started by
// `hvcore run --dm-exec` has, instead of hvdm_open's.
inline World& world() {
    static World w = [] {
        World x;
        REQUIRE(hv_host_create(&x.host) == 0);
        const char* t = std::getenv("HVCORE_TEST_TRANSPORT");
        if (t != nullptr && std::strcmp(t, "socket") == 0) {
            static char path[64];
            std::snprintf(path, sizeof path, "hvcore-xen-%ld.sock", static_cast<long>(getpid()));
            hv_dm_listener* l = nullptr;  // kept open for the process
            REQUIRE(hv_dm_listen(x.host, path, nullptr, &l) == 0);
            x.dm = hvdm_connect(path);
            (void)unlink(path);  // connected: no one else is to connect
        } else {
            x.dm = hvdm_open(x.host);
        }
        REQUIRE(x.dm != nullptr);
        REQUIRE(hvcore_xen_attach(x.dm) == 0);
        return x;
    }();
    return w;
}

// A domain of @p vcpus model vCPUs (x86-vmx unless @p arch), destroyed with the object.
struct Dom {
    hv_domain* d = nullptr;
    domid_t id = 0;
    explicit Dom(uint32_t vcpus = 2, uint32_t arch = HV_ARCH_X86_VMX) {
        hv_domain_config cfg;
        std::memset(&cfg, 0, sizeof cfg);
        cfg.size = sizeof cfg;
        cfg.arch = arch;
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = vcpus;
        REQUIRE(hv_domain_create(world().host, &cfg, &d) == 0);
        id = hv_domain_id(d);
    }
    ~Dom() { (void)hv_domain_destroy(d); }
    Dom(const Dom&) = delete;
    Dom& operator=(const Dom&) = delete;
};

// A libxendevicemodel handle, opened once the world is attached, closed
// with the object.
struct Dmod {
    xendevicemodel_handle* h = (world(), xendevicemodel_open(nullptr, 0));
    Dmod() { REQUIRE(h != nullptr); }
    ~Dmod() { xendevicemodel_close(h); }
    Dmod(const Dmod&) = delete;
    Dmod& operator=(const Dmod&) = delete;
};

// -1 with errno @p e: the Xen convention.
#define XT_FAILS_WITH(e, call)          \
    do {                                \
        errno = 0;                      \
        const auto xt_rc_ = (call);     \
        CHECK(xt_rc_ == -1);            \
        CHECK(errno == (e));            \
    } while (0)

}  // namespace xt

#endif  // HVCORE_TESTS_XEN_FIXTURE_HPP
