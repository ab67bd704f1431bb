// SPDX-License-Identifier: MIT
// Interrupts and shutdown (HVCORE_1.3): the typed DMOP wrappers of
// <hvcore/hvdm.h>, named after libxendevicemodel's
// (tools/include/xendevicemodel.h), which build a struct xen_dm_op and go
// through hvdm_dm_op only, and the embedder's read-out of <hvcore/hv.h>.
#include <cstring>
#include <optional>

#include "abi_objects.hpp"
#include "hvcore/core/dmop_abi.hpp"

using hvcore::abi::guard;
namespace dmop = hvcore::dmop;

static_assert(HVDM_DMOP_SET_PCI_INTX_LEVEL == dmop::set_pci_intx_level &&
              HVDM_DMOP_SET_ISA_IRQ_LEVEL == dmop::set_isa_irq_level &&
              HVDM_DMOP_SET_PCI_LINK_ROUTE == dmop::set_pci_link_route && HVDM_DMOP_INJECT_MSI == dmop::inject_msi &&
              HVDM_DMOP_REMOTE_SHUTDOWN == dmop::remote_shutdown && HVDM_DMOP_SET_IRQ_LEVEL == dmop::set_irq_level);
static_assert(sizeof(hv_irq_state) == 232 && offsetof(hv_irq_state, pci_intx) == 8 &&
              offsetof(hv_irq_state, link_route) == 24 && offsetof(hv_irq_state, gsi_assert_count) == 32 &&
              offsetof(hv_irq_state, msi_count) == 80 && offsetof(hv_irq_state, nr_spis) == 100 &&
              offsetof(hv_irq_state, spi_level) == 104);
static_assert(sizeof(hv_irq_state::gsi_assert_count) == hvcore::irq::nr_gsis &&
              sizeof(hv_irq_state::spi_level) * 8 == hvcore::irq::max_intids &&
              sizeof(hv_irq_state::link_route) == hvcore::irq::nr_links);
static_assert(sizeof(hv_vcpu_irq_stats) == 16 && offsetof(hv_vcpu_irq_stats, last_vector) == 4 &&
              offsetof(hv_vcpu_irq_stats, msi_count) == 8);
static_assert(noexcept(hvdm_inject_msi(nullptr, 0, 0, 0)) && noexcept(hv_domain_irq_state(nullptr, nullptr)) &&
              noexcept(hv_vcpu_irq_state(nullptr, 0, nullptr)));

namespace {

// One struct xen_dm_op (32 bytes: the header and the largest payload).
struct IrqDmOp {
    dmop::Header h;
    union {
        dmop::SetPciIntxLevel intx;
        dmop::SetIsaIrqLevel isa;
        dmop::SetPciLinkRoute link;
        dmop::InjectMsi msi;
        dmop::RemoteShutdown shutdown;
        dmop::SetIrqLevel irq;
        uint8_t raw[24];
    } u;
};
static_assert(sizeof(IrqDmOp) == 32 && offsetof(IrqDmOp, u) == dmop::header_size);

[[nodiscard]] IrqDmOp make_op(uint32_t code) {
    IrqDmOp op;
    std::memset(&op, 0, sizeof op);  // pads are zero
    op.h.op = code;
    return op;
}

[[nodiscard]] int issue(hvdm_handle* h, hvdm_domid_t domid, IrqDmOp& op) {
    hvdm_buf b{&op, sizeof op};
    return hvdm_dm_op(h, domid, 1, &b);
}

// The op's level field is a byte; a level above 255 must not wrap to a
// valid one (256 would deassert), so it becomes 255: -EINVAL from the op,
// after the checks every call makes first.
[[nodiscard]] uint8_t level_byte(unsigned int level) { return level > 0xff ? 0xff : static_cast<uint8_t>(level); }

}  // namespace

extern "C" {

int hvdm_set_pci_intx_level(hvdm_handle* h, hvdm_domid_t domid, uint16_t segment, uint8_t bus, uint8_t device,
                            uint8_t intx, unsigned int level) noexcept {
    IrqDmOp op = make_op(dmop::set_pci_intx_level);
    op.u.intx = dmop::SetPciIntxLevel{segment, bus, device, intx, level_byte(level)};
    return issue(h, domid, op);
}

int hvdm_set_isa_irq_level(hvdm_handle* h, hvdm_domid_t domid, uint8_t irq, unsigned int level) noexcept {
    IrqDmOp op = make_op(dmop::set_isa_irq_level);
    op.u.isa = dmop::SetIsaIrqLevel{irq, level_byte(level)};
    return issue(h, domid, op);
}

int hvdm_set_pci_link_route(hvdm_handle* h, hvdm_domid_t domid, uint8_t link, uint8_t irq) noexcept {
    IrqDmOp op = make_op(dmop::set_pci_link_route);
    op.u.link = dmop::SetPciLinkRoute{link, irq};
    return issue(h, domid, op);
}

int hvdm_inject_msi(hvdm_handle* h, hvdm_domid_t domid, uint64_t msi_addr, uint32_t msi_data) noexcept {
    IrqDmOp op = make_op(dmop::inject_msi);
    op.u.msi.data = msi_data;
    op.u.msi.addr = msi_addr;
    return issue(h, domid, op);
}

int hvdm_set_irq_level(hvdm_handle* h, hvdm_domid_t domid, unsigned int irq, unsigned int level) noexcept {
    IrqDmOp op = make_op(dmop::set_irq_level);
    op.u.irq.irq = irq;
    op.u.irq.level = level_byte(level);
    return issue(h, domid, op);
}

int hvdm_shutdown(hvdm_handle* h, hvdm_domid_t domid, unsigned int reason) noexcept {
    IrqDmOp op = make_op(dmop::remote_shutdown);
    op.u.shutdown.reason = reason;
    return issue(h, domid, op);
}

int hv_domain_irq_state(hv_domain* d, hv_irq_state* out) noexcept {
    return guard([&] {
        if (d == nullptr || out == nullptr || out->size < sizeof(hv_irq_state)) return -EINVAL;
        const hvcore::IrqState st = d->d->irq_state();
        const hvcore::Arch arch = d->d->config().arch;
        hv_irq_state o{};
        o.size = sizeof(hv_irq_state);
        o.isa_irq_levels = st.isa_irq_levels;
        std::memcpy(o.pci_intx, st.pci_intx.data(), sizeof o.pci_intx);
        std::memcpy(o.link_route, st.link_route.data(), sizeof o.link_route);
        std::memcpy(o.link_assert_count, st.link_assert_count.data(), sizeof o.link_assert_count);
        std::memcpy(o.gsi_assert_count, st.gsi_assert_count.data(), sizeof o.gsi_assert_count);
        o.msi_count = st.msi_count;
        o.last_msi_addr = st.last_msi_addr;
        o.last_msi_data = st.last_msi_data;
        o.nr_spis = arch == hvcore::Arch::x86_vmx || arch == hvcore::Arch::x86_svm ? 0 : hvcore::irq::model_nr_spis;
        std::memcpy(o.spi_level, st.spi_level.data(), sizeof o.spi_level);
        *out = o;
        return 0;
    });
}

int hv_vcpu_irq_state(hv_domain* d, uint32_t vcpu, hv_vcpu_irq_stats* out) noexcept {
    return guard([&] {
        if (d == nullptr || out == nullptr || out->size < sizeof(hv_vcpu_irq_stats)) return -EINVAL;
        const std::optional<hvcore::VcpuIrqState> st = d->d->vcpu_irq_state(vcpu);
        if (!st) return -EINVAL;
        hv_vcpu_irq_stats o{};
        o.size = sizeof(hv_vcpu_irq_stats);
        o.last_vector = st->last_vector;
        o.msi_count = st->msi_count;
        *out = o;
        return 0;
    });
}

}  // extern "C"
