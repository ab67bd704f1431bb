// SPDX-License-Identifier: MIT
// The device models' interrupt DMOPs on KVM's in-kernel irqchip
// (VmOptions::irqchip): an ISA irq a device model raises, and a PCI INTx
// routed through a PCI link to the slave 8259, show up in the guest's 8259
// interrupt request registers, read by the guest itself through OCW3
// (pic_irr.S). The guest keeps IF = 0: what is shown is that the line
// reached the guest's interrupt controller, not delivery through its IDT
// (this machine's nested KVM cannot deliver guest exceptions or
// interrupts; README.md, "Interrupts on KVM").
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "kvm_fixture.hpp"

namespace hvcore::kvm::test {
namespace {

constexpr uint16_t report_port = 0x510;
constexpr uint16_t next_port = 0x511;

hv_irq_state irq_state(hv_domain* d) {
    hv_irq_state s{};
    s.size = sizeof s;
    REQUIRE(hv_domain_irq_state(d, &s) == 0);
    return s;
}

TEST_CASE("an_isa_irq_raised_by_a_device_model_reaches_the_8259_irr") {
    VmOptions opt;
    opt.irqchip = true;
    Guest g(opt);
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.map_ports(report_port, next_port) == 0);
    // The interrupt calls go through a handle of their own (any handle may
    // raise a domain's lines), from the model's thread, before it answers.
    hvdm_handle* irq = hvdm_open(g.host);
    REQUIRE(irq != nullptr);
    int raise_rc = -1, msi_rc = -1, route_rc = -1, intx_rc = -1;
    dm.on_request = [&](TestDm&, hvdm_ioreq_t& r, size_t index) {
        if (index == 0) {
            raise_rc = hvdm_set_isa_irq_level(irq, g.domid, 5, 1);
            // KVM_SIGNAL_MSI: Fixed, vector 0x41, APIC ID 0 (the guest's
            // LAPIC is software-disabled: KVM reports it blocked, which is
            // 0 here, as Xen's vmsi_deliver for a Fixed MSI nobody takes).
            msi_rc = hvdm_inject_msi(irq, g.domid, 0xfee00000u, 0x41);
        } else if (r.addr == next_port) {
            route_rc = hvdm_set_pci_link_route(irq, g.domid, 0, 10);
            // device 0 INTA: GSI 16, PCI link 0 -> ISA irq 10 (slave IR2)
            intx_rc = hvdm_set_pci_intx_level(irq, g.domid, 0, 0, 0, 0, 1);
        }
    };
    dm.start();
    const std::vector<uint8_t> img = Guest::read_image(HVCORE_TEST_GUEST_DIR "/pic_irr.bin");
    REQUIRE(g.vm->load(img, 0x7c00).is_ok());
    REQUIRE(g.vm->boot(0, VcpuBoot{.mode = CpuMode::real16, .entry = 0x7c00, .stack = 0x7000}).is_ok());
    const Error e = g.vm->run();
    dm.stop();
    hvdm_close(irq);
    REQUIRE_MESSAGE(e.is_ok(), e.what());
    REQUIRE_MESSAGE(g.vm->end() == RunEnd::shutdown_port, g.vm->end_detail());

    CHECK(raise_rc == 0);
    CHECK(msi_rc == 0);
    CHECK(route_rc == 0);
    CHECK(intx_rc == 0);
    const std::vector<Seen> seen = dm.seen();
    REQUIRE(seen.size() == 4);
    CHECK(seen[0].addr == report_port);
    CHECK((seen[0].data & 0x20) == 0);  // master IRR before: irq 5 clear
    CHECK(seen[1].addr == report_port);
    CHECK((seen[1].data & 0x20) != 0);  // master IRR after the DMOP: irq 5 requested
    CHECK(seen[2].addr == next_port);
    CHECK(seen[3].addr == report_port);
    CHECK((seen[3].data & 0x04) != 0);  // slave IRR: irq 10 requested through the link

    const hv_irq_state s = irq_state(g.dom);
    CHECK(s.isa_irq_levels == (1u << 5));
    CHECK(s.gsi_assert_count[5] == 1);
    CHECK(s.gsi_assert_count[16] == 1);
    CHECK(s.gsi_assert_count[10] == 1);
    CHECK(s.link_route[0] == 10);
    CHECK(s.msi_count == 1);
}

TEST_CASE("without_irqchip_the_interrupt_dmops_are_recorded_only") {
    Guest g;  // VmOptions::irqchip off: no KVM_IRQ_LINE, the core keeps the counts
    hvdm_handle* h = hvdm_open(g.host);
    REQUIRE(h != nullptr);
    CHECK(hvdm_set_isa_irq_level(h, g.domid, 7, 1) == 0);
    CHECK(hvdm_inject_msi(h, g.domid, 0xfee00000u, 0x141) == 0);  // LowestPrio to APIC ID 0: the model's rule
    CHECK(hvdm_inject_msi(h, g.domid, 0xfee00000u | (1u << 12), 0x141) == -ESRCH);
    hvdm_close(h);
    const hv_irq_state s = irq_state(g.dom);
    CHECK(s.isa_irq_levels == (1u << 7));
    CHECK(s.msi_count == 1);
}

TEST_CASE("a_device_model_shutdown_ends_the_run_cleanly_with_its_reason") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.map_ports(report_port, report_port) == 0);
    hvdm_handle* h = hvdm_open(g.host);
    REQUIRE(h != nullptr);
    int rc = -1;
    // The guest's write is the power-off register: the model shuts the
    // domain down before it answers, so the vCPU waiting for the answer
    // is the one that sees it.
    dm.on_request = [&](TestDm&, hvdm_ioreq_t&, size_t) { rc = hvdm_shutdown(h, g.domid, HVDM_SHUTDOWN_POWEROFF); };
    dm.start();
    g.boot_script({out(report_port, 1, 0x2a), spin()});
    const Error e = g.vm->run();
    dm.stop();
    hvdm_close(h);
    REQUIRE_MESSAGE(e.is_ok(), e.what());
    CHECK(rc == 0);
    REQUIRE_MESSAGE(g.vm->end() == RunEnd::dm_shutdown, g.vm->end_detail());
    CHECK(g.vm->end_detail().find("SHUTDOWN_poweroff") != std::string::npos);
}

TEST_CASE("a_device_model_shutdown_ends_a_guest_that_never_exits_at_once") {
    // The guest spins without an exit: the shutdown must kick it out of
    // KVM_RUN (as request_stop does), not wait for the 30 s timeout.
    VmOptions o;
    o.timeout = std::chrono::seconds(30);
    Guest g(o);
    hvdm_handle* h = hvdm_open(g.host);
    REQUIRE(h != nullptr);
    g.boot_script({spin()});
    int rc = -1;
    std::thread dm([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        rc = hvdm_shutdown(h, g.domid, HVDM_SHUTDOWN_POWEROFF);
    });
    const auto t0 = std::chrono::steady_clock::now();
    const Error e = g.vm->run();
    const auto took = std::chrono::steady_clock::now() - t0;
    dm.join();
    hvdm_close(h);
    REQUIRE_MESSAGE(e.is_ok(), e.what());
    CHECK(rc == 0);
    REQUIRE_MESSAGE(g.vm->end() == RunEnd::dm_shutdown, g.vm->end_detail());
    CHECK(g.vm->end_detail().find("SHUTDOWN_poweroff") != std::string::npos);
    CHECK(took < std::chrono::seconds(5));
}

}  // namespace
}  // namespace hvcore::kvm::test
