// SPDX-License-Identifier: MIT
// A device model's direct handler (hvdm_set_direct_handler): hvcore's own
// mode, which Xen does not have. An in-process device model registers a
// function; each synchronous request routed to its server is handed to it
// on the vCPU thread that raised the request, with the domain lock
// released, instead of being posted in the vCPU's slot for the device
// model's thread (Xen's ioreq_send and the device model's
// cpu_handle_ioreq). Nothing is posted, no eventfd is signalled, no thread
// is woken: the round trip is a function call.
//
// The decision is made once per request, under the domain lock, in send
// (router.cpp): the server's handler at that moment takes the request, or
// the slot does, never both and never neither. A clear, a replacement or
// the server's destruction waits (wait_direct_idle) until the calls it
// decided have returned, so that once hvdm_set_direct_handler(NULL)
// returns nothing calls the old function any more (except the thread that
// cleared it, from inside it).
#include <fmt/format.h>

#include <cstring>

#include "domain_ports.hpp"

namespace hvcore {

namespace {

// The direct handlers this thread is inside (innermost first): a clear
// made from inside a handler does not wait for itself.
struct DirectFrame {
    const DirectHandler* h;
    DirectFrame* outer;
};
thread_local DirectFrame* direct_frames = nullptr;

[[nodiscard]] uint32_t own_calls(const DirectHandler* h) noexcept {
    uint32_t n = 0;
    for (const DirectFrame* f = direct_frames; f != nullptr; f = f->outer)
        if (f->h == h) ++n;
    return n;
}

}  // namespace

Status Domain::set_direct_handler(EmulatorId who, IoservId id, std::function<int(IoreqSlot&)> fn) {
    const Locked lk(*this, mu_);
    auto s = live_server(lk, who, id);
    HV_TRY(s);
    std::shared_ptr<DirectHandler> h;
    if (fn) {
        // Records still in the ring would be overtaken by the requests the
        // handler takes from now on (the device model drains the ring
        // before it serves a slot: QEMU's cpu_handle_ioreq calls
        // handle_buffered_iopage first). Posting stops with this hold.
        if (!(*s)->channel.ring_empty()) return Status::err(-EBUSY);
        h = std::make_shared<DirectHandler>();
        h->fn = std::move(fn);
        h->emulator = who;
    }
    const std::shared_ptr<DirectHandler> old = std::exchange((*s)->direct, std::move(h));
    wait_direct_idle(lk, old.get());
    return Status::ok();
}

void Domain::wait_direct_idle(const Locked& lk, const DirectHandler* h) {
    if (h == nullptr) return;
    const uint32_t own = own_calls(h);
    while (h->active > own) {
        ++direct_waiters_;
        lk.wait(direct_idle_);
        --direct_waiters_;
    }
}

int Domain::direct_call(const Locked& lk, VcpuState& v) {
    const std::shared_ptr<DirectHandler> h = std::move(v.direct);
    Expects(h != nullptr && v.io.waiting());
    const InFlight f = *v.io.in_flight();
    // The request as the slot would hold it when the device model's
    // thread takes it (READY -> INPROCESS), port = the vCPU.
    IoreqSlot slot;
    std::memset(&slot, 0, sizeof slot);
    slot_fill(slot, f.sent, v.id);
    slot_set_state(slot, ioreq::state_inprocess);
    // Whatever happens below, the call is over once the lock is held
    // again: the count drops (and a waiting clear is told), and the vCPU
    // is free again for other callers (hv_vcpu_resume meanwhile is -EBUSY,
    // as is a second host_access).
    struct Done {
        Domain& d;
        VcpuState& v;
        DirectHandler& h;
        bool busy;
        ~Done() {
            d.mu_.assert_held();
            v.busy = busy;
            if (--h.active == 0 && d.direct_waiters_ != 0) d.direct_idle_.notify_all();
        }
    } done{*this, v, *h, std::exchange(v.busy, true)};
    if (stopped(lk)) return -ESHUTDOWN;
    int rc = 0;
    {
        DirectFrame frame{h.get(), direct_frames};
        direct_frames = &frame;
        struct Pop {
            DirectFrame& f;
            ~Pop() { direct_frames = f.outer; }
        } pop{frame};
        lk.unlocked([&] { rc = h->fn(slot); });
    }
    // fn may have stopped the domain (hvdm_shutdown) or destroyed the
    // server: a stop ends the access; a destroyed server's answer is
    // still fn's.
    if (stopped(lk)) return -ESHUTDOWN;
    if (rc != 0) {
        const int err = rc < 0 ? rc : -ECANCELED;
        const std::string what =
            fmt::format("ioreq server {}'s direct handler returned {} for vCPU {}'s {}-byte {} at {:#x}",
                        f.server.raw(), err, v.id, f.sent.size,
                        f.sent.dir == ioreq::dir_read ? "read" : "write", f.sent.addr);
        // As a broken protocol (complete_request): an isolated device model
        // loses its servers and the access completes as for a destroyed
        // server; otherwise the domain stops.
        if (fault_emulator(lk, h->emulator, what)) {
            v.io.complete(ones(f.sent.size));
            return 0;
        }
        stop(lk, fmt::format("device model of {}", what));
        return -EPROTO;
    }
    v.io.complete(slot.data);
    return 0;
}

Result<VcpuStatus> Domain::run_direct(const Locked& lk, VcpuState& v, Result<VcpuStatus> rc, uint64_t* value) {
    while (rc.is_ok() && rc.value() == VcpuStatus::ioreq_pending && v.direct) {
        if (const int e = direct_call(lk, v); e != 0) return Status::err(e);
        // hv_vcpu_resume's steps: the instruction again from its entry
        // registers, the answer replayed from the log.
        RegFile regs = v.entry_regs;
        rc = emulate(lk, v, regs);
        if (is_done(rc)) rc = finish(lk, v, regs, value);
    }
    return rc;
}

}  // namespace hvcore
