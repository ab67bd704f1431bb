// SPDX-License-Identifier: MIT
// The driver of accesses a hardware-assisted host (KVM) has already decoded
// and retired: each is routed like the model path's emulation (EmulPort)
// and the calling vCPU thread blocks on its own waiter until it completes.
#include "domain_ports.hpp"

namespace hvcore {

int Domain::wait_answer(const Locked& lk, VcpuState& v) {
    for (;;) {
        if (stopped(lk) || host_shutdown_) return -ESHUTDOWN;
        // This thread may sleep on the slot: the device model is to notify
        // the answer (ioreq.hpp, EventPage vcpu_waiting), set before the
        // slot is looked at; cleared once the wait is over.
        const InFlight f = *v.io.in_flight();
        if (IoreqServer* s = servers_.get(f.server, f.serial)) s->channel.vcpu_sleeps(v.id, true);
        const Completion c = complete_request(lk, v);
        if (c != Completion::pending) {
            if (IoreqServer* s = servers_.get(f.server, f.serial)) s->channel.vcpu_sleeps(v.id, false);
        }
        switch (c) {
        case Completion::completed: return 0;
        case Completion::violation: return -EPROTO;
        case Completion::pending: break;
        }
        // Woken by hvdm_ioreq_notify for this vCPU, by the destruction of
        // the server, by a stop or by shutdown_host; never by a timer: a
        // device model that answers must notify (hvdm.h, hvdm_ioreq_notify).
        lk.wait(v.wake);
    }
}

int Domain::host_access(uint32_t vcpu, const HostAccess& a, uint64_t* value, HostAccessOutcome* outcome) {
    const Locked lk(*this, mu_);
    if (vcpu >= vcpus_.size() || value == nullptr || a.size == 0 || a.size > 8) return -EINVAL;
    VcpuState& v = vcpus_[vcpu];  // vcpus_ never changes size: the reference outlives the waits
    if (v.busy || v.io.waiting()) return -EBUSY;
    // The vCPU is this call's until it returns, across every wait (the lock
    // is released while it sleeps): one waiter on v.wake, one replay log.
    v.busy = true;
    const int rc = host_route(lk, v, a, value, outcome);
    v.busy = false;
    return rc;
}

int Domain::host_route(const Locked& lk, VcpuState& v, const HostAccess& a, uint64_t* value,
                       HostAccessOutcome* outcome) {
    v.io.forget();
    for (;;) {
        if (stopped(lk) || host_shutdown_) return -ESHUTDOWN;
        v.io.rewind();
        EmulPort port(*this, lk, v);
        uint64_t data = a.is_write ? a.data : 0;
        MemStatus st = MemStatus::ok;
        if (a.is_pio)
            st = port.pio(static_cast<uint16_t>(a.addr), a.size, a.is_write, &data);
        else if (a.is_write)
            st = port.write(a.addr, a.size, &data, AccessInfo{});
        else
            st = port.read(a.addr, a.size, &data, AccessInfo{});
        switch (st) {
        case MemStatus::ok:
            v.io.forget();
            *value = data;
            return 0;
        case MemStatus::pending:
            if (outcome != nullptr) ++outcome->ioreqs[v.io.in_flight()->server.raw()];
            if (v.direct) {
                // The device model's direct handler, on this thread.
                if (int rc = direct_call(lk, v); rc != 0) return rc;
                continue;  // replay with its answer
            }
            if (int rc = wait_answer(lk, v); rc != 0) return rc;
            continue;  // replay with the response
        case MemStatus::retry:
            // The hardware has already retired the instruction, so the
            // access cannot be re-executed later: hold it here until the
            // owner is enabled or the type is reset (set_ioreq_server_state,
            // a destroy, a disclaim, set_mem_type wake the held vCPUs; a
            // stop or shutdown_host every vCPU), then route it again.
            if (outcome != nullptr) ++outcome->holds;
            v.held = true;
            lk.wait(v.wake);
            v.held = false;
            continue;
        case MemStatus::stopped: return -EPROTO;
        case MemStatus::guest_fault:
        case MemStatus::exit: break;
        }
        stop(lk, "host access could not be routed");
        return -EIO;
    }
}

void Domain::shutdown_host() {
    const Locked lk(*this, mu_);
    host_shutdown_ = true;
    wake_all(lk);
}

}  // namespace hvcore
