// SPDX-License-Identifier: MIT
#include "hvcore/core/ioreq_channel.hpp"

#include <fmt/format.h>

#include <atomic>

namespace hvcore {

Result<IoreqChannel> IoreqChannel::create(uint8_t mode, uint32_t nr_vcpus) {
    if (mode > bufioreq::atomic || nr_vcpus == 0 || nr_vcpus > ioreq_max_slots) return Status::err(-EINVAL);
    auto pages = IoreqPages::create(mode != bufioreq::off);
    HV_TRY(pages);
    IoreqChannel c;
    c.pages_ = std::move(pages).value();
    c.mode_ = mode;
    c.nr_vcpus_ = nr_vcpus;
    for (uint32_t v = 0; v < nr_vcpus; ++v) c.pages_.slot(v).vp_eport = v;
    return c;
}

std::optional<uint8_t> IoreqChannel::post(uint32_t vcpu, const IoreqBody& req) {
    IoreqSlot& slot = pages_.slot(vcpu);
    if (const uint8_t st = slot_state(slot); st != ioreq::state_none) return st;
    slot_fill(slot, req, vcpu);
    slot_set_state(slot, ioreq::state_ready);
    fire(vcpu);  // the slot's vp_eport
    return std::nullopt;
}

void IoreqChannel::fire(uint32_t port) noexcept {
    EventPage& ev = pages_.events();
    // Release (and more): whatever was published before (the slot's READY,
    // the ring's write_pointer) is visible to a device model that sees the
    // bit. The bit before the eventfd: a device model that reads the
    // eventfd and then takes the bits finds this one, or is signalled again.
    // Sequentially consistent, then dm_awake: the Dekker pair of
    // dm_prepare_sleep (ioreq.hpp, event suppression): either the device
    // model saw this bit before it slept, or this load sees its 0.
    std::atomic_ref<uint64_t>(ev.pending[port / 64]).fetch_or(uint64_t{1} << (port % 64), std::memory_order_seq_cst);
    if (std::atomic_ref<uint32_t>(ev.dm_awake).load(std::memory_order_seq_cst) != 0) return;  // it will look
    // Sent when the caller's lock is released (the domain's), so that the
    // device model does not wake into a lock still held.
    pages_.notify_after_unlock();
}

void IoreqChannel::vcpu_sleeps(uint32_t vcpu, bool sleeps) noexcept {
    std::atomic_ref<uint64_t> w(pages_.events().vcpu_waiting[vcpu / 64]);
    const uint64_t bit = uint64_t{1} << (vcpu % 64);
    if (sleeps) {
        // Then the slot is looked at (take_answer): the Dekker pair of
        // dm_vcpu_sleeps after the device model's IORESP_READY.
        w.fetch_or(bit, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
    } else {
        w.fetch_and(~bit, std::memory_order_relaxed);
    }
}

bool IoreqChannel::post_buffered(const IoreqBody& req) {
    BufferedPage* bp = pages_.buffered();
    if (bp == nullptr || req.dir != ioreq::dir_write || req.data_is_ptr || req.count != 1 ||
        req.addr > ioreq::buffer_max_addr || (req.type != ioreq::type_pio && req.type != ioreq::type_copy))
        return false;
    uint32_t size_code = 0;
    switch (req.size) {
    case 1: size_code = 0; break;
    case 2: size_code = 1; break;
    case 4: size_code = 2; break;
    case 8: size_code = 3; break;
    default: return false;
    }
    const uint32_t qw = req.size == 8 ? 1 : 0;
    std::atomic_ref<uint32_t> rp(bp->read_pointer);
    std::atomic_ref<uint32_t> wp(bp->write_pointer);
    const uint32_t w = wp.load(std::memory_order_relaxed);
    const uint32_t r = rp.load(std::memory_order_acquire);
    if (w - r >= ioreq::buffer_slots - qw) return false;  // full: fall back to synchronous
    const uint32_t word0 = req.type | (((req.dir & 1u) << 1 | size_code << 2) << 8) |
                           (static_cast<uint32_t>(req.addr) << 12);
    bp->slots[w % ioreq::buffer_slots] = {word0, static_cast<uint32_t>(req.data)};
    if (qw != 0) bp->slots[(w + 1) % ioreq::buffer_slots] = {word0, static_cast<uint32_t>(req.data >> 32)};
    wp.store(w + 1 + qw, std::memory_order_release);
    if (mode_ == bufioreq::atomic) {
        // HVM_IOREQSRV_BUFIOREQ_ATOMIC: canonicalise both pointers with one
        // 64-bit compare-and-swap, as Xen does after each post.
        std::atomic_ref<uint64_t> both(*reinterpret_cast<uint64_t*>(bp));
        uint64_t old = both.load(std::memory_order_acquire);
        for (;;) {
            const auto rd = static_cast<uint32_t>(old);
            const auto wr = static_cast<uint32_t>(old >> 32);
            if (rd < ioreq::buffer_slots) break;
            const uint32_t n = rd / ioreq::buffer_slots * ioreq::buffer_slots;
            const uint64_t nv = uint64_t{rd - n} | (uint64_t{wr - n} << 32);
            if (both.compare_exchange_weak(old, nv, std::memory_order_acq_rel)) break;
        }
    }
    fire(nr_vcpus_);  // bufioreq_port
    return true;
}

bool IoreqChannel::ring_empty() noexcept {
    BufferedPage* bp = pages_.buffered();
    if (bp == nullptr) return true;
    return std::atomic_ref<uint32_t>(bp->read_pointer).load(std::memory_order_acquire) ==
           std::atomic_ref<uint32_t>(bp->write_pointer).load(std::memory_order_acquire);
}

IoreqAnswer IoreqChannel::take_answer(uint32_t vcpu, uint8_t& seen_state) {
    IoreqSlot& slot = pages_.slot(vcpu);
    const uint8_t st = slot_state(slot);
    switch (st) {
    case ioreq::state_ready:
    case ioreq::state_inprocess:
        if (st < seen_state)
            return {.kind = IoreqAnswer::Kind::violation, .data = 0,
                    .reason = fmt::format("moved vCPU {}'s slot backwards ({} -> {})", vcpu, seen_state, st)};
        seen_state = st;
        return {};
    case ioreq::state_resp_ready: {
        const uint64_t data = std::atomic_ref<uint64_t>(slot.data).load(std::memory_order_acquire);
        slot_set_state(slot, ioreq::state_none);
        return {.kind = IoreqAnswer::Kind::data, .data = data, .reason = {}};
    }
    case ioreq::state_none: return {.kind = IoreqAnswer::Kind::no_response, .data = 0, .reason = {}};
    default: break;
    }
    return {.kind = IoreqAnswer::Kind::violation, .data = 0,
            .reason = fmt::format("wrote unknown state {} into vCPU {}'s slot", st, vcpu)};
}

std::optional<uint8_t> IoreqChannel::unknown_state(uint32_t vcpu) const {
    const uint8_t st = slot_state(pages_.slot(vcpu));
    if (st > ioreq::state_resp_ready) return st;
    return std::nullopt;
}

}  // namespace hvcore
