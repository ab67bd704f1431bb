// SPDX-License-Identifier: MIT
// DomainIrq (core/include/hvcore/core/irq.hpp) against a recording
// IrqSink: the edges a host's interrupt controller (KVM's irqchip) is told
// follow Xen's counting (xen/arch/x86/hvm/irq.c): one rise when a line's
// count leaves 0, one fall when it returns there, nothing in between, and
// nothing at all for a rejected call.
#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "hvcore/core/irq.hpp"

using namespace hvcore;

namespace {

class RecordingSink final : public IrqSink {
public:
    std::vector<std::string> events;
    int msi_rc = 0;

    void isa_irq_level(unsigned isa_irq, bool level) override {
        events.push_back("isa " + std::to_string(isa_irq) + (level ? " up" : " down"));
    }
    void gsi_level(unsigned gsi, bool level) override {
        events.push_back("gsi " + std::to_string(gsi) + (level ? " up" : " down"));
    }
    int msi(uint64_t addr, uint32_t data) override {
        events.push_back("msi " + std::to_string(addr) + " " + std::to_string(data));
        return msi_rc;
    }
    void spi_level(unsigned intid, bool level) override {
        events.push_back("spi " + std::to_string(intid) + (level ? " up" : " down"));
    }
    std::vector<std::string> take() { return std::exchange(events, {}); }
};

using Events = std::vector<std::string>;

}  // namespace

TEST_CASE("irq_numbering_is_xens_pci_intx_gsi_pci_intx_link_and_isa_irq_to_gsi") {
    CHECK(irq::pci_intx_gsi(0, 0) == 16);
    CHECK(irq::pci_intx_gsi(3, 1) == 29);
    CHECK(irq::pci_intx_gsi(8, 0) == ((32 + 1) & 31) + 16);  // 17
    CHECK(irq::pci_intx_gsi(31, 3) == ((124 + 3 + 3) & 31) + 16);
    CHECK(irq::pci_intx_link(5, 2) == 3);
    CHECK(irq::isa_irq_to_gsi(0) == 2);
    CHECK(irq::isa_irq_to_gsi(9) == 9);
}

TEST_CASE("an_isa_irq_rises_once_and_falls_once_and_irq_0_counts_on_gsi_2") {
    DomainIrq d(2);
    RecordingSink s;
    d.set_sink(&s);
    CHECK(d.set_isa_irq_level(5, 1));
    CHECK(d.set_isa_irq_level(5, 1));
    CHECK(s.take() == Events{"isa 5 up"});
    CHECK(d.set_isa_irq_level(0, 1));
    CHECK(d.state().gsi_assert_count[2] == 1);
    CHECK(s.take() == Events{"isa 0 up"});
    CHECK(d.set_isa_irq_level(5, 0));
    CHECK(d.set_isa_irq_level(5, 0));
    CHECK(s.take() == Events{"isa 5 down"});
    CHECK(d.set_isa_irq_level(16, 1).code() == -EINVAL);
    CHECK(d.set_isa_irq_level(4, 2).code() == -EINVAL);
    CHECK(s.take().empty());
}

TEST_CASE("a_pci_intx_raises_its_gsi_and_through_its_routed_link_the_isa_irq") {
    DomainIrq d(1);
    RecordingSink s;
    d.set_sink(&s);
    CHECK(d.set_pci_link_route(0, 10));
    CHECK(s.take().empty());  // nothing asserted on the link yet
    CHECK(d.set_pci_intx_level(0, 0, 0, 0, 1));  // device 0 INTA: gsi 16, link 0
    CHECK(s.take() == Events{"gsi 16 up", "isa 10 up"});
    CHECK(d.set_pci_intx_level(0, 0, 3, 1, 1));  // device 3 INTB: gsi 29, link 0 again
    CHECK(s.take() == Events{"gsi 29 up"});      // the link's irq is already up
    // moving an asserted link: the old irq falls, the new one rises
    CHECK(d.set_pci_link_route(0, 11));
    CHECK(s.take() == Events{"isa 10 down", "isa 11 up"});
    CHECK(d.set_pci_link_route(0, 11));  // same route: nothing
    CHECK(s.take().empty());
    CHECK(d.set_pci_intx_level(0, 0, 0, 0, 0));
    CHECK(s.take() == Events{"gsi 16 down"});  // link 0 still held by device 3
    CHECK(d.set_pci_intx_level(0, 0, 3, 1, 0));
    CHECK(s.take() == Events{"gsi 29 down", "isa 11 down"});
    // rejected calls tell the sink nothing
    CHECK(d.set_pci_intx_level(0, 0, 32, 0, 1).code() == -EINVAL);
    CHECK(d.set_pci_intx_level(1, 0, 0, 0, 1).code() == -EINVAL);
    CHECK(d.set_pci_link_route(4, 1).code() == -EINVAL);
    CHECK(s.take().empty());
}

TEST_CASE("an_isa_irq_shared_by_a_link_and_a_direct_assert_falls_only_when_both_let_go") {
    DomainIrq d(1);
    RecordingSink s;
    d.set_sink(&s);
    CHECK(d.set_pci_link_route(1, 9));
    CHECK(d.set_isa_irq_level(9, 1));
    CHECK(d.set_pci_intx_level(0, 0, 1, 0, 1));  // device 1 INTA: link 1
    CHECK(s.take() == Events{"isa 9 up", "gsi 20 up"});
    CHECK(d.state().gsi_assert_count[9] == 2);
    CHECK(d.set_isa_irq_level(9, 0));
    CHECK(s.take().empty());
    CHECK(d.set_pci_intx_level(0, 0, 1, 0, 0));
    CHECK(s.take() == Events{"gsi 20 down", "isa 9 down"});
}

TEST_CASE("msi_checks_come_before_the_sink_and_the_sinks_error_is_the_calls") {
    DomainIrq d(1);
    RecordingSink s;
    d.set_sink(&s);
    CHECK(d.inject_msi(0xfee00000u, 0x100).code() == -ERANGE);          // vector 0, pirq 0
    CHECK(d.inject_msi(0xfee01000u, 0).code() == -EOPNOTSUPP);          // pirq 1
    CHECK(d.inject_msi(0xfee00000u, 0x241).code() == -EINVAL);          // delivery mode 2
    CHECK(s.take().empty());
    CHECK(d.inject_msi(0xfee01000u, 0x141));  // LowestPrio: with a sink, the sink decides
    CHECK(s.take() == Events{"msi 4276097024 321"});
    s.msi_rc = -EIO;
    CHECK(d.inject_msi(0xfee00000u, 0x42).code() == -EIO);
    CHECK(d.state().msi_count == 1);  // only the accepted one
    CHECK(d.state().last_msi_data == 0x141);
}

namespace {
// vCPU v of d has received n MSIs, the last with vector vec.
bool vcpu_got(const DomainIrq& d, uint32_t v, uint64_t n, uint32_t vec) {
    const VcpuIrqState* s = d.vcpu_state(v);
    return s != nullptr && s->msi_count == n && s->last_vector == vec;
}
}  // namespace

TEST_CASE("a_fixed_msi_reaches_the_vcpus_whose_apic_id_matches_and_no_other") {
    DomainIrq d(3);  // APIC IDs 0, 2, 4
    CHECK(d.vcpu_state(3) == nullptr);
    CHECK(d.inject_msi(0xfee00000u | (2u << 12), 0x51));  // vCPU 1
    CHECK(vcpu_got(d, 0, 0, 0));
    CHECK(vcpu_got(d, 1, 1, 0x51));
    CHECK(vcpu_got(d, 2, 0, 0));
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12), 0x52));  // physical broadcast: all
    CHECK(vcpu_got(d, 0, 1, 0x52));
    CHECK(vcpu_got(d, 1, 2, 0x52));
    CHECK(vcpu_got(d, 2, 1, 0x52));
    // an odd or absent ID, logical mode with LDR 0: accepted, no vCPU
    CHECK(d.inject_msi(0xfee00000u | (3u << 12), 0x53));
    CHECK(d.inject_msi(0xfee00000u | (6u << 12), 0x53));
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12) | 0x4u, 0x53));
    CHECK(d.state().msi_count == 5);
    CHECK(vcpu_got(d, 0, 1, 0x52));
    CHECK(vcpu_got(d, 1, 2, 0x52));
    CHECK(vcpu_got(d, 2, 1, 0x52));
}

TEST_CASE("a_lowest_prio_msi_reaches_one_vcpu_round_robin_as_vlapic_lowest_prio") {
    DomainIrq d(3);
    // broadcast: the first match after the last target, from vCPU 0: 1, 2, 0, 1
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12), 0x161));
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12), 0x162));
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12), 0x163));
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12), 0x164));
    CHECK(vcpu_got(d, 0, 1, 0x63));
    CHECK(vcpu_got(d, 1, 2, 0x64));
    CHECK(vcpu_got(d, 2, 1, 0x62));
    // one APIC ID: that vCPU, and the round robin continues after it
    CHECK(d.inject_msi(0xfee00000u | (4u << 12), 0x165));
    CHECK(vcpu_got(d, 2, 2, 0x65));
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12), 0x166));
    CHECK(vcpu_got(d, 0, 2, 0x66));
    CHECK(d.state().msi_count == 6);
}

TEST_CASE("a_rejected_msi_reaches_no_vcpu_and_with_a_sink_the_sink_delivers") {
    DomainIrq d(2);
    CHECK(d.inject_msi(0xfee00000u | (0xffu << 12) | 0x4u, 0x171).code() == -ESRCH);  // logical
    CHECK(d.inject_msi(0xfee00000u | (1u << 12), 0x171).code() == -ESRCH);            // odd ID
    CHECK(d.inject_msi(0xfee00000u, 0x271).code() == -EINVAL);                        // mode 2
    CHECK(d.inject_msi(0xfee00000u, 0x100).code() == -ERANGE);                        // a PIRQ
    CHECK(d.state().msi_count == 0);
    CHECK(vcpu_got(d, 0, 0, 0));
    CHECK(vcpu_got(d, 1, 0, 0));
    RecordingSink s;
    d.set_sink(&s);
    CHECK(d.inject_msi(0xfee00000u, 0x72));
    CHECK(d.state().msi_count == 1);
    CHECK(vcpu_got(d, 0, 0, 0));  // the host's controller got it, not the model's
}

TEST_CASE("set_irq_level_takes_spis_only_with_one_edge_per_change") {
    DomainIrq d(1);
    RecordingSink s;
    d.set_sink(&s);
    CHECK(DomainIrq::check_irq_level(31, 1).code() == -EINVAL);
    CHECK(DomainIrq::check_irq_level(992, 1).code() == -EINVAL);
    CHECK(DomainIrq::check_irq_level(40, 2).code() == -EINVAL);
    CHECK(DomainIrq::check_irq_level(991, 1));
    d.set_irq_level(40, 1);
    d.set_irq_level(40, 1);
    d.set_irq_level(40, 0);
    CHECK(s.take() == Events{"spi 40 up", "spi 40 down"});
}
