// SPDX-License-Identifier: MIT
// A domain's interrupt lines as the device-model DMOPs drive them
// (XEN_DMOP_set_pci_intx_level, set_isa_irq_level, set_pci_link_route,
// inject_msi, set_irq_level): Xen's per-GSI assert counting
// (xen/arch/x86/hvm/irq.c __hvm_pci_intx_assert/deassert,
// hvm_isa_irq_assert/deassert, hvm_set_pci_link_route; the numbering of
// xen/arch/x86/include/asm/hvm/irq.h), the MSI checks of irq.c
// hvm_inject_msi and vmsi.c vmsi_deliver, and Arm's SPI lines
// (xen/arch/arm/dm.c XEN_DMOP_set_irq_level).
//
// DomainIrq keeps the counts and levels (what the model vCPUs' "interrupt
// controller" got: hv_domain_irq_state reads them); a host with an
// interrupt controller of its own (KVM's in-kernel irqchip) implements
// IrqSink and is told each edge of a line and each MSI. Not thread-safe:
// the domain's lock guards it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "hvcore/core/status.hpp"

namespace hvcore {

namespace irq {
inline constexpr unsigned nr_isa_irqs = 16;   // NR_ISA_IRQS
inline constexpr unsigned nr_links = 4;       // NR_LINK
inline constexpr unsigned nr_gsis = 48;       // an HVM domain's nr_gsis (VIOAPIC_NUM_PINS)
inline constexpr unsigned nr_pci_devices = 32;
inline constexpr unsigned nr_local_irqs = 32;  // Arm NR_LOCAL_IRQS: SGIs and PPIs
// The SPIs of the model's virtual GIC: 960, the most
// xen/arch/arm/vgic.c domain_vgic_init accepts without eSPIs (rounded up
// to 32, at most 1020 - 32), so INTIDs 32..991 (vgic_num_irqs = 992).
inline constexpr unsigned model_nr_spis = 960;
inline constexpr unsigned max_intids = 1024;

// hvm_pci_intx_gsi, hvm_pci_intx_link, hvm_isa_irq_to_gsi.
[[nodiscard]] constexpr unsigned pci_intx_gsi(unsigned dev, unsigned intx) {
    return (((dev << 2) + (dev >> 3) + intx) & 31) + 16;
}
[[nodiscard]] constexpr unsigned pci_intx_link(unsigned dev, unsigned intx) { return (dev + intx) & 3; }
[[nodiscard]] constexpr unsigned isa_irq_to_gsi(unsigned isa_irq) { return isa_irq != 0 ? isa_irq : 2; }
}  // namespace irq

// A host's own interrupt controller. Called with the domain's lock held,
// after the DMOP's checks passed and the counts changed.
class IrqSink {
public:
    // ISA line isa_irq (0..15) went up or down: Xen's assert_irq /
    // deassert_irq, which drive both the 8259 input isa_irq and the IO-APIC
    // pin isa_irq_to_gsi(isa_irq).
    virtual void isa_irq_level(unsigned isa_irq, bool level) = 0;
    // A PCI GSI (16..47) went up (first assert) or down (last deassert).
    virtual void gsi_level(unsigned gsi, bool level) = 0;
    // An MSI that passed Xen's checks: 0, or a negative errno for the DMOP.
    [[nodiscard]] virtual int msi(uint64_t addr, uint32_t data) = 0;
    // Arm/RISC-V: the line of a shared peripheral interrupt.
    virtual void spi_level(unsigned intid, bool level) = 0;

protected:
    ~IrqSink() = default;
};

// What the lines hold now (hv_irq_state).
struct IrqState {
    uint32_t isa_irq_levels = 0;  // bit n: ISA irq n asserted (set_isa_irq_level)
    std::array<uint32_t, 4> pci_intx{};  // bit device*4+intx (128 bits): asserted
    std::array<uint8_t, irq::nr_links> link_route{};
    std::array<uint8_t, irq::nr_links> link_assert_count{};
    std::array<uint8_t, irq::nr_gsis> gsi_assert_count{};
    uint64_t msi_count = 0;  // MSIs accepted
    uint64_t last_msi_addr = 0;
    uint32_t last_msi_data = 0;
    std::array<uint32_t, irq::max_intids / 32> spi_level{};  // bit n of word n/32: INTID n
};

// What reached one vCPU's LAPIC on the model vCPUs (hv_vcpu_irq_state):
// vmsi_deliver's vmsi_inj_irq calls for it. A host with a sink keeps these
// at 0 (its own interrupt controller delivers).
struct VcpuIrqState {
    uint64_t msi_count = 0;    // MSIs delivered to this vCPU
    uint32_t last_vector = 0;  // the last one's vector (0: none yet)
};

class DomainIrq {
public:
    // The DMOP dispatcher offers each op only to the arches Xen offers it
    // to. nr_vcpus: the LowestPrio target check of the model's LAPICs.
    explicit DomainIrq(uint32_t nr_vcpus) : nr_vcpus_(nr_vcpus), vcpu_(nr_vcpus) {}

    void set_sink(IrqSink* s) noexcept { sink_ = s; }

    // set_pci_intx_level (xen/arch/x86/hvm/dm.c): -EINVAL for segment or
    // bus != 0, device > 31, intx > 3, level not 0/1.
    [[nodiscard]] Status set_pci_intx_level(uint16_t segment, uint8_t bus, uint8_t device, uint8_t intx,
                                            uint8_t level);
    // set_isa_irq_level: -EINVAL for isa_irq >= 16, level not 0/1.
    [[nodiscard]] Status set_isa_irq_level(uint8_t isa_irq, uint8_t level);
    // hvm_set_pci_link_route: -EINVAL for link > 3, isa_irq >= 16.
    [[nodiscard]] Status set_pci_link_route(uint8_t link, uint8_t isa_irq);
    // hvm_inject_msi + vmsi_deliver: vector 0 is a PIRQ (0 -> -ERANGE; any
    // other -EOPNOTSUPP: hvcore has no PIRQs); delivery mode not Fixed or
    // LowestPrio -> -EINVAL; LowestPrio without a target -> -ESRCH (model:
    // each vCPU's LAPIC enabled, physical APIC ID 2 * index as Xen's vlapic,
    // LDR 0, PPR 0; a sink decides for itself). Without a sink the MSI is
    // recorded on the vCPUs it reaches (vcpu_state): Fixed on every vCPU
    // vlapic_match_dest accepts (physical destination 0xff: all; 2 * i:
    // vCPU i; other IDs and logical mode: none, still 0 as in Xen);
    // LowestPrio on the one vlapic_lowest_prio picks: with equal PPRs, the
    // first match after the vCPU that got the last one (round robin from
    // vCPU 0, Xen's hvm_irq.round_robin_prev_vcpu).
    [[nodiscard]] Status inject_msi(uint64_t addr, uint32_t data);
    // xen/arch/arm/dm.c set_irq_level: -EINVAL for irq < 32 or >= 992,
    // level not 0/1 (the pad is the caller's: the DMOP checks it third).
    [[nodiscard]] static Status check_irq_level(uint32_t irq, uint8_t level);
    void set_irq_level(uint32_t irq, uint8_t level);

    [[nodiscard]] const IrqState& state() const noexcept { return st_; }
    // What reached vCPU vcpu; nullptr if vcpu >= nr_vcpus.
    [[nodiscard]] const VcpuIrqState* vcpu_state(uint32_t vcpu) const noexcept {
        return vcpu < vcpu_.size() ? &vcpu_[vcpu] : nullptr;
    }

private:
    void pci_intx_assert(unsigned device, unsigned intx);
    void pci_intx_deassert(unsigned device, unsigned intx);
    void isa_line(unsigned isa_irq, bool level);
    void gsi_line(unsigned gsi, bool level);

    [[nodiscard]] bool lapic_matches(uint32_t vcpu, uint8_t dest, bool logical) const noexcept;
    void deliver(uint32_t vcpu, uint32_t vector) noexcept;

    uint32_t nr_vcpus_;
    IrqSink* sink_ = nullptr;
    IrqState st_;
    std::vector<VcpuIrqState> vcpu_;
    uint32_t round_robin_prev_vcpu_ = 0;
};

}  // namespace hvcore
