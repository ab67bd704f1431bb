// SPDX-License-Identifier: MIT
// The interrupt DMOPs and remote_shutdown on a domain: the domain's lock,
// the stop, then DomainIrq's rules (irq.hpp; Xen's xen/arch/x86/hvm/dm.c,
// irq.c, vmsi.c and xen/arch/arm/dm.c).
#include <fmt/format.h>

#include "domain_ports.hpp"

namespace hvcore {

namespace {
// SHUTDOWN_* (xen/include/public/sched.h); Xen passes other values on
// unchecked ("other values not blocked", dm_op.h).
[[nodiscard]] const char* shutdown_name(uint32_t reason) {
    switch (reason) {
    case 0: return "SHUTDOWN_poweroff";
    case 1: return "SHUTDOWN_reboot";
    case 2: return "SHUTDOWN_suspend";
    case 3: return "SHUTDOWN_crash";
    case 4: return "SHUTDOWN_watchdog";
    case 5: return "SHUTDOWN_soft_reset";
    default: return "an unknown SHUTDOWN_ reason";
    }
}
}  // namespace

Status Domain::set_pci_intx_level(uint16_t segment, uint8_t bus, uint8_t device, uint8_t intx, uint8_t level) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    return irq_.set_pci_intx_level(segment, bus, device, intx, level);
}

Status Domain::set_isa_irq_level(uint8_t isa_irq, uint8_t level) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    return irq_.set_isa_irq_level(isa_irq, level);
}

Status Domain::set_pci_link_route(uint8_t link, uint8_t isa_irq) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    return irq_.set_pci_link_route(link, isa_irq);
}

Status Domain::inject_msi(uint64_t addr, uint32_t data) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    return irq_.inject_msi(addr, data);
}

Status Domain::set_irq_level(uint32_t irq, uint8_t level, bool pad_ok) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::err(-ESHUTDOWN);
    HV_TRY(DomainIrq::check_irq_level(irq, level));
    if (!pad_ok) return Status::err(-EINVAL);
    irq_.set_irq_level(irq, level);
    return Status::ok();
}

Status Domain::remote_shutdown(uint32_t reason) {
    const Locked lk(*this, mu_);
    if (stopped(lk)) return Status::ok();  // the first reason stays
    stop(lk, fmt::format("the device model requested a shutdown ({}, reason {})", shutdown_name(reason), reason));
    dm_shutdown_ = true;
    // A KVM run ends now, its vCPUs kicked out of the guest: one that never
    // exits to hvcore would otherwise run on until the run's timeout.
    if (shutdown_observer_ != nullptr) shutdown_observer_->remote_shutdown(lk, *stop_reason_);
    return Status::ok();
}

void Domain::set_shutdown_observer(ShutdownObserver* o) {
    const Locked lk(*this, mu_);
    shutdown_observer_ = o;
}

std::optional<std::string> Domain::shutdown_request() {
    const Locked lk(*this, mu_);
    if (!dm_shutdown_) return std::nullopt;
    return stop_reason_;
}

IrqState Domain::irq_state() {
    const Locked lk(*this, mu_);
    return irq_.state();
}

std::optional<VcpuIrqState> Domain::vcpu_irq_state(uint32_t vcpu) {
    const Locked lk(*this, mu_);
    const VcpuIrqState* v = irq_.vcpu_state(vcpu);
    if (v == nullptr) return std::nullopt;
    return *v;
}

void Domain::set_irq_sink(IrqSink* s) {
    const Locked lk(*this, mu_);
    irq_.set_sink(s);
}

}  // namespace hvcore
