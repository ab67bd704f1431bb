// SPDX-License-Identifier: MIT
// The KVM tests' main: they run when /dev/kvm opens and can create a VM;
// otherwise every test prints why and exits 77, which ctest reports as
// skipped (SKIP_RETURN_CODE). Listing the tests never needs KVM.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "kvm_fixture.hpp"

int main(int argc, char** argv) {
    bool listing = false;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--list", 6) == 0 || std::strncmp(argv[i], "-l", 2) == 0) listing = true;
    std::unique_ptr<hvcore::kvm::Device> dev;
    if (!listing) {
        auto d = hvcore::kvm::Device::open();
        if (!d.is_ok()) {
            std::printf("SKIP: the KVM tests need a usable /dev/kvm: %s\n", d.error().what().c_str());
            return 77;
        }
        if (hvcore::kvm::Error e = d.value()->probe_create_vm(); !e.is_ok()) {
            std::printf("SKIP: the KVM tests need a usable /dev/kvm: %s\n", e.what().c_str());
            return 77;
        }
        std::string why;
        if (hvcore::tools::kvm_p2m_arch(nullptr, &why) == 0) {
            std::printf("SKIP: the KVM tests need an x86 backend: %s\n", why.c_str());
            return 77;
        }
        dev = std::move(d).value();
        hvcore::kvm::test::g_kvm = dev.get();
    }
    // The bundled plug-ins and guests of this build tree: `hvcore` finds
    // them relative to itself (tools/../examples), this program (in
    // tests/kvm) through the variables resolve_dm and resolve_guest search
    // first, unless the caller set them.
    setenv("HVCORE_DM_PATH", HVCORE_BUILD_DM_DIR, 0);
    setenv("HVCORE_GUEST_PATH", HVCORE_BUILD_GUEST_DIR, 0);
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
