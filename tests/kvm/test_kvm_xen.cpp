// SPDX-License-Identifier: MIT
// A Xen device model on a real KVM guest: tests/xen/xen_test_dm, written
// against Xen's API only and linked against Debian's libxendevicemodel,
// libxenevtchn and libxenforeignmemory, runs unchanged in a process of its
// own with the dynamic linker pointed at hvcore's drop-ins
// (LD_LIBRARY_PATH=<build>/xen/lib) and HVCORE_DM_SOCKET at this test's
// listener. A two-vCPU 64-bit guest (xen_guest.S) drives its PCI device
// (tests/xen/xen_test_dev.h) through real instructions on KVM: the
// configuration space through 0xcf8/0xcfc, BARs mapped by the device model
// from its configuration-write handler, port and MMIO registers (the VCPU
// register read from each vCPU: one event channel per vCPU), rep movsb
// into and out of the BUF window, VGA memory on the buffered ring, a RAM
// page of the ioreq_server type, and ISA irq 10 observed in the slave
// 8259's IRR (in-kernel irqchip; IF stays 0, nothing is delivered: README,
// "Interrupts on KVM").
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "dm_child.hpp"
#include "kvm_fixture.hpp"
#include "xen_guest.h"
#include "xen_test_dev.h"
#include "xen_test_dm_summary.hpp"

#if !defined(HVCORE_XEN_TEST_DM) || !defined(HVCORE_XEN_LIBDIR)
#error "HVCORE_XEN_TEST_DM, HVCORE_XEN_LIBDIR: tests/xen's xen_test_dm and the drop-ins' directory"
#endif

namespace hvcore::kvm::test {
namespace {

uint64_t byte_sum(uint64_t v, unsigned bytes) {
    uint64_t s = 0;
    for (unsigned i = 0; i < bytes; ++i) s += (v >> (8 * i)) & 0xff;
    return s;
}

TEST_CASE("a_xen_device_model_serves_a_kvm_guest_through_hvcores_xen_libraries") {
    VmOptions opt;
    opt.irqchip = true;  // ISA irq 10 reaches KVM's 8259s; the guest ends at the shutdown port
    opt.timeout = std::chrono::seconds(120);
    Guest g(opt, 2, XG_RAM);
    const std::string sock = "hvcore-kvm-xen-" + std::to_string(getpid()) + ".sock";
    hv_dm_listen_config lc{};
    lc.size = sizeof lc;  // nr_uids 0: this process's uid only
    hv_dm_listener* listener = nullptr;
    REQUIRE(hv_dm_listen(g.host, sock.c_str(), &lc, &listener) == 0);
    struct CloseListener {
        hv_dm_listener* l;
        ~CloseListener() { hv_dm_listener_close(l); }
    } close_listener{listener};

    // The same binary tests/xen runs: Debian's libraries by its DT_NEEDED,
    // hvcore's by the search path.
    // In a process of its own, with its stdin (closing it stops the device
    // model), stdout and stderr on pipes; 30 s at most for each byte of
    // its stdout (the VM under QEMU TCG is slow to start a process).
    constexpr auto byte_bound = std::chrono::seconds(30);
    const std::vector<std::string> env = hvcore_test::environ_with(
        {"LD_LIBRARY_PATH=" HVCORE_XEN_LIBDIR, "HVCORE_DM_SOCKET=" + sock}, {"LD_LIBRARY_PATH=", "HVCORE_DM_SOCKET="});
    hvcore_test::DmChild dm;
    const std::string started =
        dm.start({HVCORE_XEN_TEST_DM, std::to_string(g.domid)}, &env, hvcore_test::DmChild::stderr_pipe);
    REQUIRE_MESSAGE(started.empty(), started);
    const std::string ready = dm.line(byte_bound);
    REQUIRE_MESSAGE(ready == "xen_test_dm: ready", "stdout '", ready, "', stderr: ", dm.err());
    // It has hvcore's three libraries mapped, from the drop-in directory
    // (Debian's would have failed to open Xen's devices, which this machine
    // has not).
    std::string maps;
    {
        FILE* f = std::fopen(("/proc/" + std::to_string(dm.pid()) + "/maps").c_str(), "r");
        REQUIRE(f != nullptr);
        for (int c; (c = std::fgetc(f)) != EOF;) maps += static_cast<char>(c);
        std::fclose(f);
    }
    for (const char* lib : {"/libxendevicemodel.so.1.4", "/libxenevtchn.so.1.2", "/libxenforeignmemory.so.1.4"})
        CHECK_MESSAGE(maps.find(std::string(HVCORE_XEN_LIBDIR) + lib) != std::string::npos, lib, " not mapped from ",
                      HVCORE_XEN_LIBDIR);

    std::array<uint8_t, XG_COPY> src{};
    uint64_t src_sum = 0;
    for (unsigned i = 0; i < src.size(); ++i) {
        src[i] = static_cast<uint8_t>(0x31 + 7 * i);
        src_sum += src[i];
    }
    REQUIRE(hv_guest_write(g.dom, XG_SRC, src.data(), src.size()) == 0);
    const std::vector<uint8_t> img = Guest::read_image(HVCORE_TEST_GUEST_DIR "/xen_guest.bin");
    REQUIRE(g.vm->load(img, XG_LOAD).is_ok());
    for (uint32_t v = 0; v < 2; ++v) {
        const Error b = g.vm->boot(v, VcpuBoot{.mode = CpuMode::long64, .entry = XG_LOAD,
                                               .stack = XG_STACK - v * 0x10000ull});
        REQUIRE_MESSAGE(b.is_ok(), b.what());
    }
    const Error e = g.vm->run();
    std::string rest;
    int status = 0;
    const bool reaped = dm.finish(&rest, &status, byte_bound);
    const std::string dm_err = dm.err();
    INFO("device model stdout: ", rest, " stderr: ", dm_err);
    REQUIRE(reaped);
    REQUIRE_MESSAGE(e.is_ok(), e.what());
    REQUIRE_MESSAGE(g.vm->end() == RunEnd::shutdown_port, g.vm->end_detail());
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    auto res = [&](unsigned i) { return g.ram_u64(XG_RES + 8 * i); };
    // The configuration space, the BARs sized (PCI 3.0 6.2.5.1) and programmed.
    CHECK(res(XGR_ID) == (XTD_VENDOR_ID | uint64_t{XTD_DEVICE_ID} << 16));
    CHECK(res(XGR_BAR0_SIZE) == (~uint32_t{XTD_BAR0_SIZE - 1} | 1u));
    CHECK(res(XGR_BAR1_SIZE) == ~uint32_t{XTD_BAR1_SIZE - 1});
    CHECK(res(XGR_BAR0) == (XTD_BAR0_PORT | 1u));
    // BAR0, mapped from the configuration-write handler: SCRATCH, and VCPU
    // from each vCPU (the device model tells them apart by the event
    // channel that fired).
    CHECK(res(XGR_SCRATCH) == XG_SCRATCH_VALUE);
    CHECK(res(XGR_VCPU0) == 0);
    CHECK(res(XGR_VCPU1) == 1);
    // BAR1: the ID, and rep movsb both ways through the BUF window.
    CHECK(res(XGR_MMIO_ID) == XTD_MMIO_ID_VALUE);
    CHECK(res(XGR_SUM) == src_sum);
    std::array<uint8_t, XG_COPY> dst{};
    REQUIRE(hv_guest_read(g.dom, XG_DST, dst.data(), dst.size()) == 0);
    CHECK(dst == src);
    // VGA memory: the four writes applied (posted on the ring, drained before
    // the synchronous read of VRAM_SUM), and a synchronous read.
    const uint64_t vram_sum = byte_sum(XG_VGA_B, 1) + byte_sum(XG_VGA_W, 2) + byte_sum(XG_VGA_L, 4) +
                              byte_sum(XG_VGA_Q, 8);
    CHECK(res(XGR_VRAM_SUM) == vram_sum);
    CHECK(res(XGR_VGA_READ) == XG_VGA_L);
    // The protected page: both writes reached the device model, which
    // performed them on guest RAM; the write after unprotecting did not.
    CHECK(res(XGR_WRITES) == 2);
    CHECK(res(XGR_PROT_READ) == XG_PROT_VALUE);
    CHECK(res(XGR_WRITES_AFTER) == 2);
    CHECK(g.ram_u64((XG_PROT_GFN << 12) + 8) == XG_PROT_VALUE2);
    CHECK(g.ram_u64((XG_PROT_GFN << 12) + 16) == 7);
    // ISA irq 10 (xendevicemodel_set_isa_irq_level): the slave 8259's IRR
    // bit 2, clear before.
    CHECK((res(XGR_IRR_BEFORE) & 0x04) == 0);
    CHECK((res(XGR_IRR_AFTER) & 0x04) != 0);
    hv_irq_state irq{};
    irq.size = sizeof irq;
    REQUIRE(hv_domain_irq_state(g.dom, &irq) == 0);
    CHECK(irq.isa_irq_levels == (1u << XTD_ISA_IRQ));
    CHECK(irq.gsi_assert_count[XTD_ISA_IRQ] == 1);

    // The device model's own count. KVM hands a rep movsb to MMIO to user
    // space one element at a time (KVM_EXIT_MMIO per byte: its emulator
    // repeats the instruction), so on KVM no request has data_is_ptr.
    hvcore_test::XtdServed s;
    REQUIRE_MESSAGE(hvcore_test::parse_xtd_summary(rest, &s), rest);
    CHECK(s.pci == 9);       // every 0xcfc access above
    CHECK(s.buffered == 4);  // the four VGA writes
    CHECK(s.prot == 2);
    CHECK(s.ptr == 0);
    REQUIRE(s.vcpus.size() == 2);
    CHECK(s.vcpus[1] == 1);  // vCPU 1's read of VCPU
    CHECK(s.sync == s.vcpus[0] + s.vcpus[1]);
    MESSAGE("xen_test_dm on KVM: ", rest.substr(0, rest.find('\n')));
}

}  // namespace
}  // namespace hvcore::kvm::test
