// SPDX-License-Identifier: MIT
// Xen's interrupt-line bookkeeping for the device-model DMOPs (irq.hpp):
// xen/arch/x86/hvm/irq.c, vmsi.c and xen/arch/arm/dm.c, rule for rule.
#include "hvcore/core/irq.hpp"

#include <cerrno>

namespace hvcore {

namespace {
// xen/arch/x86/include/asm/msi.h
constexpr uint32_t msi_data_vector_mask = 0xff;
constexpr unsigned msi_data_delivery_mode_shift = 8;
constexpr uint32_t msi_data_delivery_mode_mask = 0x700;
constexpr uint32_t msi_addr_dest_id_mask = 0xff000;
constexpr unsigned msi_addr_dest_id_shift = 12;
constexpr uint32_t msi_addr_destmode_mask = 0x4;
constexpr unsigned dest_fixed = 0;        // dest_Fixed
constexpr unsigned dest_lowest_prio = 1;  // dest_LowestPrio

[[nodiscard]] bool test_and_set(std::array<uint32_t, 4>& bits, unsigned n) {
    const uint32_t m = 1u << (n % 32);
    const bool was = (bits[n / 32] & m) != 0;
    bits[n / 32] |= m;
    return was;
}

[[nodiscard]] bool test_and_clear(std::array<uint32_t, 4>& bits, unsigned n) {
    const uint32_t m = 1u << (n % 32);
    const bool was = (bits[n / 32] & m) != 0;
    bits[n / 32] &= ~m;
    return was;
}
}  // namespace

void DomainIrq::isa_line(unsigned isa_irq, bool level) {
    if (sink_ != nullptr) sink_->isa_irq_level(isa_irq, level);
}

void DomainIrq::gsi_line(unsigned gsi, bool level) {
    if (sink_ != nullptr) sink_->gsi_level(gsi, level);
}

// __hvm_pci_intx_assert: the GSI's count, then the link's count and, through
// the link's route, the ISA irq's.
void DomainIrq::pci_intx_assert(unsigned device, unsigned intx) {
    if (test_and_set(st_.pci_intx, device * 4 + intx)) return;
    const unsigned gsi = irq::pci_intx_gsi(device, intx);
    if (st_.gsi_assert_count[gsi]++ == 0) gsi_line(gsi, true);
    const unsigned link = irq::pci_intx_link(device, intx);
    const unsigned isa_irq = st_.link_route[link];
    if (st_.link_assert_count[link]++ == 0 && isa_irq != 0 && st_.gsi_assert_count[isa_irq]++ == 0)
        isa_line(isa_irq, true);
}

// __hvm_pci_intx_deassert. Xen only decrements the GSI's count (its
// IO-APIC looks at the count); a sink is told when it reaches 0.
void DomainIrq::pci_intx_deassert(unsigned device, unsigned intx) {
    if (!test_and_clear(st_.pci_intx, device * 4 + intx)) return;
    const unsigned gsi = irq::pci_intx_gsi(device, intx);
    if (--st_.gsi_assert_count[gsi] == 0) gsi_line(gsi, false);
    const unsigned link = irq::pci_intx_link(device, intx);
    const unsigned isa_irq = st_.link_route[link];
    if (--st_.link_assert_count[link] == 0 && isa_irq != 0 && --st_.gsi_assert_count[isa_irq] == 0)
        isa_line(isa_irq, false);
}

Status DomainIrq::set_pci_intx_level(uint16_t segment, uint8_t bus, uint8_t device, uint8_t intx,
                                     uint8_t level) {
    if (segment != 0 || bus != 0 || device > 0x1f || intx > 3) return Status::err(-EINVAL);
    switch (level) {
    case 0: pci_intx_deassert(device, intx); break;
    case 1: pci_intx_assert(device, intx); break;
    default: return Status::err(-EINVAL);
    }
    return Status::ok();
}

// hvm_isa_irq_assert / hvm_isa_irq_deassert.
Status DomainIrq::set_isa_irq_level(uint8_t isa_irq, uint8_t level) {
    if (isa_irq >= irq::nr_isa_irqs) return Status::err(-EINVAL);
    const unsigned gsi = irq::isa_irq_to_gsi(isa_irq);
    const uint32_t bit = 1u << isa_irq;
    switch (level) {
    case 0:
        if ((st_.isa_irq_levels & bit) != 0) {
            st_.isa_irq_levels &= ~bit;
            if (--st_.gsi_assert_count[gsi] == 0) isa_line(isa_irq, false);
        }
        break;
    case 1:
        if ((st_.isa_irq_levels & bit) == 0) {
            st_.isa_irq_levels |= bit;
            if (st_.gsi_assert_count[gsi]++ == 0) isa_line(isa_irq, true);
        }
        break;
    default: return Status::err(-EINVAL);
    }
    return Status::ok();
}

// hvm_set_pci_link_route: an asserted link moves its assertion from the
// old ISA irq to the new one.
Status DomainIrq::set_pci_link_route(uint8_t link, uint8_t isa_irq) {
    if (link > 3 || isa_irq >= irq::nr_isa_irqs) return Status::err(-EINVAL);
    const uint8_t old = st_.link_route[link];
    if (old == isa_irq) return Status::ok();
    st_.link_route[link] = isa_irq;
    if (st_.link_assert_count[link] == 0) return Status::ok();
    if (old != 0 && --st_.gsi_assert_count[old] == 0) isa_line(old, false);
    if (isa_irq != 0 && st_.gsi_assert_count[isa_irq]++ == 0) isa_line(isa_irq, true);
    return Status::ok();
}

// vlapic_match_dest (xen/arch/x86/hvm/vlapic.c) for an MSI's destination
// on the model's LAPICs: physical 0xff (broadcast) or the APIC ID 2 * vcpu;
// logical mode (vlapic_match_logical_addr) matches nothing while LDR is 0.
bool DomainIrq::lapic_matches(uint32_t vcpu, uint8_t dest, bool logical) const noexcept {
    return !logical && (dest == 0xff || static_cast<uint64_t>(dest) == 2ull * vcpu);
}

void DomainIrq::deliver(uint32_t vcpu, uint32_t vector) noexcept {
    ++vcpu_[vcpu].msi_count;
    vcpu_[vcpu].last_vector = vector;
}

Status DomainIrq::inject_msi(uint64_t addr, uint32_t data) {
    const auto lo = static_cast<uint32_t>(addr);
    const auto dest = static_cast<uint8_t>((lo & msi_addr_dest_id_mask) >> msi_addr_dest_id_shift);
    const bool logical = (lo & msi_addr_destmode_mask) != 0;
    const unsigned mode = (data & msi_data_delivery_mode_mask) >> msi_data_delivery_mode_shift;
    const uint32_t vector = data & msi_data_vector_mask;
    if (vector == 0) {
        // A PIRQ (event channel) MSI: hvcore has none.
        const uint32_t pirq = (static_cast<uint32_t>(addr >> 32) & 0xffffff00u) | dest;
        return Status::err(pirq == 0 ? -ERANGE : -EOPNOTSUPP);
    }
    if (mode != dest_fixed && mode != dest_lowest_prio) return Status::err(-EINVAL);
    if (sink_ != nullptr) {
        if (const int rc = sink_->msi(addr, data); rc != 0) return Status::err(rc);
    } else if (mode == dest_lowest_prio) {
        // vlapic_lowest_prio: every PPR is 0, so the first LAPIC that
        // matches after round_robin_prev_vcpu (wrapping, ending with it).
        uint32_t target = nr_vcpus_;
        for (uint32_t k = 1; k <= nr_vcpus_ && target == nr_vcpus_; ++k) {
            const uint32_t v = (round_robin_prev_vcpu_ + k) % nr_vcpus_;
            if (lapic_matches(v, dest, logical)) target = v;
        }
        if (target == nr_vcpus_) return Status::err(-ESRCH);
        round_robin_prev_vcpu_ = target;
        deliver(target, vector);
    } else {
        // vmsi_deliver dest_Fixed: every LAPIC that matches.
        for (uint32_t v = 0; v < nr_vcpus_; ++v)
            if (lapic_matches(v, dest, logical)) deliver(v, vector);
    }
    ++st_.msi_count;
    st_.last_msi_addr = addr;
    st_.last_msi_data = data;
    return Status::ok();
}

Status DomainIrq::check_irq_level(uint32_t irq, uint8_t level) {
    if (irq < irq::nr_local_irqs || irq >= irq::nr_local_irqs + irq::model_nr_spis) return Status::err(-EINVAL);
    if (level > 1) return Status::err(-EINVAL);
    return Status::ok();
}

void DomainIrq::set_irq_level(uint32_t irq, uint8_t level) {
    const uint32_t m = 1u << (irq % 32);
    const bool was = (st_.spi_level[irq / 32] & m) != 0;
    if (level != 0)
        st_.spi_level[irq / 32] |= m;
    else
        st_.spi_level[irq / 32] &= ~m;
    if (was != (level != 0) && sink_ != nullptr) sink_->spi_level(irq, level != 0);
}

}  // namespace hvcore
