// SPDX-License-Identifier: MIT
// One ioreq server's channel to its device model: the shared slot page (one
// synchronous slot per vCPU), the buffered ring and the notification. This
// is the only code that reads or writes the shared pages or signals the
// eventfd (a transport to another process goes here). It knows nothing of
// domains or locks: its caller serialises the calls for one vCPU's slot.
//
// The protocol is Xen's (xen/common/ioreq.c: ioreq_send, ioreq_send_buffered,
// wait_for_io / ioreq_complete_mmio; xen/include/public/hvm/ioreq.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "hvcore/core/ioreq.hpp"
#include "hvcore/core/status.hpp"

namespace hvcore {

// handle_bufioreq (HVM_IOREQSRV_BUFIOREQ_*).
namespace bufioreq {
inline constexpr uint8_t off = 0;
inline constexpr uint8_t legacy = 1;
inline constexpr uint8_t atomic = 2;
}  // namespace bufioreq

// What a vCPU's slot says about the request it holds.
struct IoreqAnswer {
    enum class Kind : uint8_t {
        pending,      // READY or INPROCESS: not answered yet
        data,         // RESP_READY: `data` is the answer; the slot is NONE again
        no_response,  // NONE without a response: a read completes with all ones
        violation,    // the device model broke the protocol: `reason`
    };
    Kind kind = Kind::pending;
    uint64_t data = 0;
    std::string reason;  // "moved vCPU n's slot backwards (a -> b)", ...
};

class IoreqChannel {
public:
    // The pages (and ring, unless mode is bufioreq::off) for nr_vcpus slots
    // (at most ioreq_max_slots), each slot's vp_eport naming its vCPU: the
    // port of vCPU v is v, the ring's is nr_vcpus (ioreq.hpp, EventPage).
    [[nodiscard]] static Result<IoreqChannel> create(uint8_t mode, uint32_t nr_vcpus);

    // Post a synchronous request into the vCPU's slot (NONE -> READY) and
    // notify: the vCPU's port fires; the eventfd is signalled only if the
    // device model may sleep (ioreq.hpp, event suppression), and only once
    // the caller's lock is released (wake_after_unlock.hpp). A slot not NONE is the device model's violation: nothing is
    // posted and the state found is returned.
    [[nodiscard]] std::optional<uint8_t> post(uint32_t vcpu, const IoreqBody& req);
    // Post a write to the buffered ring (Xen's ioreq_send_buffered), and
    // notify (the ring's port fires); false when it cannot be posted (no ring, not a plain write of
    // 1/2/4/8 bytes below 1 MiB, or the ring full) and must go synchronous.
    // An ATOMIC ring has both pointers canonicalised after the post.
    [[nodiscard]] bool post_buffered(const IoreqBody& req);
    // Post a single write to a page whose owner has writes posted: hvcore's
    // two-slot record with the full gpa (ioreq.hpp, buffer_posted_marker),
    // and notify; false when it cannot be posted (no ring, not a single
    // write of 1/2/4/8 bytes, a gpa above 52 bits, or fewer than two free
    // slots) and must go synchronous. An ATOMIC ring is canonicalised as
    // for post_buffered.
    [[nodiscard]] bool post_write(const IoreqBody& req);
    // Look at the vCPU's slot for the answer to its request. seen_state is
    // the highest state observed so far (updated): moving backwards, or a
    // state above RESP_READY (XSA-262), is a violation.
    [[nodiscard]] IoreqAnswer take_answer(uint32_t vcpu, uint8_t& seen_state);
    // The slot's state if it is not one the protocol knows (above
    // RESP_READY), as hvdm_ioreq_notify observes it.
    [[nodiscard]] std::optional<uint8_t> unknown_state(uint32_t vcpu) const;
    // Wake the device model (eventfd counter += 1).
    void notify() const noexcept { pages_.notify(); }
    // A thread of hvcore is about to sleep until vCPU vcpu's slot is
    // answered (sleeps = true; then look at the slot with take_answer
    // before sleeping), or is awake again (false): the device model
    // notifies an answer only while the bit is set (ioreq.hpp, EventPage
    // vcpu_waiting).
    void vcpu_sleeps(uint32_t vcpu, bool sleeps) noexcept;

    [[nodiscard]] uint8_t mode() const noexcept { return mode_; }
    // The ring's port (get_ioreq_server_info's bufioreq_port).
    [[nodiscard]] uint32_t bufioreq_port() const noexcept { return nr_vcpus_; }
    [[nodiscard]] bool buffered() const noexcept { return mode_ != bufioreq::off; }
    // The ring holds no record the device model has not taken (true
    // without a ring).
    [[nodiscard]] bool ring_empty() noexcept;
    // The device model's own mapping (created on first use): its slots and
    // its ring (nullptr without one), wherever the pages put them.
    [[nodiscard]] Result<IoreqMapping> dm_mapping() { return pages_.dm_mapping(); }
    [[nodiscard]] int event_fd() const noexcept { return pages_.event_fd(); }
    [[nodiscard]] Status dup_fds(int* pages_fd, int* event_fd) const { return pages_.dup_fds(pages_fd, event_fd); }

private:
    // Xen's notify_via_xen_event_channel: the port's pending bit, then
    // the eventfd.
    void fire(uint32_t port) noexcept;
    // Publish n (1 or 2) slots at write_pointer if they fit (Xen's full
    // test: write - read >= slots - (n - 1)), then canonicalise an ATOMIC
    // ring and fire the ring's port; false when full.
    [[nodiscard]] bool publish(const BufIoreq* recs, uint32_t n);
    IoreqPages pages_;
    uint8_t mode_ = bufioreq::off;
    uint32_t nr_vcpus_ = 0;
};

}  // namespace hvcore
