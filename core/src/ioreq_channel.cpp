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

namespace {

// buf_ioreq_t's size code (0 => 1, 1 => 2, 2 => 4, 3 => 8 bytes), or none.
[[nodiscard]] std::optional<uint32_t> size_code_of(uint32_t size) noexcept {
    switch (size) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    case 8: return 3;
    default: return std::nullopt;
    }
}

}  // namespace

bool IoreqChannel::post_buffered(const IoreqBody& req) {
    if (pages_.buffered() == nullptr || req.dir != ioreq::dir_write || req.data_is_ptr || req.count != 1 ||
        req.addr > ioreq::buffer_max_addr || (req.type != ioreq::type_pio && req.type != ioreq::type_copy))
        return false;
    const std::optional<uint32_t> size_code = size_code_of(req.size);
    if (!size_code) return false;
    const uint32_t word0 = req.type | (((req.dir & 1u) << 1 | *size_code << 2) << 8) |
                           (static_cast<uint32_t>(req.addr) << 12);
    const BufIoreq recs[2] = {{word0, static_cast<uint32_t>(req.data)}, {word0, static_cast<uint32_t>(req.data >> 32)}};
    return publish(recs, req.size == 8 ? 2 : 1);
}

bool IoreqChannel::post_write(const IoreqBody& req) {
    if (pages_.buffered() == nullptr || req.dir != ioreq::dir_write || req.data_is_ptr || req.count != 1 ||
        req.type != ioreq::type_copy || req.addr > ioreq::buffer_posted_max_gpa)
        return false;
    const std::optional<uint32_t> code = size_code_of(req.size);
    if (!code) return false;
    const uint64_t value = req.data & ones(req.size);
    const uint32_t word0 = ioreq::buffer_posted_marker | (((req.dir & 1u) << 1 | *code << 2) << 8) |
                           static_cast<uint32_t>(req.addr >> 32) << 12;
    const BufIoreq recs[2] = {{word0, static_cast<uint32_t>(req.addr)},
                              {static_cast<uint32_t>(value), static_cast<uint32_t>(value >> 32)}};
    return publish(recs, ioreq::buffer_posted_slots);
}

bool IoreqChannel::publish(const BufIoreq* recs, uint32_t n) {
    BufferedPage* bp = pages_.buffered();
    std::atomic_ref<uint32_t> rp(bp->read_pointer);
    std::atomic_ref<uint32_t> wp(bp->write_pointer);
    const uint32_t w = wp.load(std::memory_order_relaxed);
    const uint32_t r = rp.load(std::memory_order_acquire);
    if (w - r >= ioreq::buffer_slots - (n - 1)) return false;  // full: fall back to synchronous
    for (uint32_t i = 0; i < n; ++i) bp->slots[(w + i) % ioreq::buffer_slots] = recs[i];
    // Release: the slots are visible before the pointer that publishes them.
    wp.store(w + n, std::memory_order_release);
    if (mode_ == bufioreq::atomic) {
        // HVM_IOREQSRV_BUFIOREQ_ATOMIC: canonicalise both pointers with one
        // 64-bit compare-and-swap, as Xen does after each post.
        std::atomic_ref<uint64_t> both(*reinterpret_cast<uint64_t*>(bp));
        uint64_t old = both.load(std::memory_order_acquire);
        for (;;) {
            const auto rd = static_cast<uint32_t>(old);
            const auto wr = static_cast<uint32_t>(old >> 32);
            if (rd < ioreq::buffer_slots) break;
            const uint32_t k = rd / ioreq::buffer_slots * ioreq::buffer_slots;
            const uint64_t nv = uint64_t{rd - k} | (uint64_t{wr - k} << 32);
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
