// SPDX-License-Identifier: MIT
// The ioreq protocol shared with device models: Xen's public layouts
// (xen/include/public/hvm/ioreq.h), the per-server shared pages in real
// shared memory (memfd) and the notification eventfd.
//
// The slot byte at offset 30 is handled with explicit shifts rather than C
// bitfields so the core's view does not depend on a compiler's bitfield
// order; dm_api pins it against hvdm_ioreq_t with static_asserts.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/status.hpp"
#include "hvcore/core/types.hpp"
#include "hvcore/core/wake_after_unlock.hpp"

namespace hvcore {

namespace ioreq {
inline constexpr uint8_t state_none = 0;
inline constexpr uint8_t state_ready = 1;
inline constexpr uint8_t state_inprocess = 2;
inline constexpr uint8_t state_resp_ready = 3;

inline constexpr uint8_t type_pio = 0;
inline constexpr uint8_t type_copy = 1;
inline constexpr uint8_t type_pci_config = 2;
inline constexpr uint8_t type_timeoffset = 7;
inline constexpr uint8_t type_invalidate = 8;

inline constexpr uint8_t dir_write = 0;
inline constexpr uint8_t dir_read = 1;

inline constexpr uint32_t buffer_slots = 511;  // IOREQ_BUFFER_SLOT_NUM
inline constexpr uint64_t buffer_max_addr = 0xfffff;  // buf_ioreq_t.addr is 20 bits

// hvcore's posted-write record (hvdm.h, HVDM_BUF_IOREQ_POSTED): two
// consecutive slots of the ring, for a write to a page whose owner claimed
// WRITE|WRITE_POSTED, whose gpa does not fit buf_ioreq_t's 20 address bits.
//   slot 0, word0: bits 7:0 the marker, bit 8 0, bit 9 dir (0: write),
//                  bits 11:10 the size code (as buf_ioreq_t), bits 31:12
//                  gpa bits 51:32
//   slot 0, data:  gpa bits 31:0
//   slot 1:        the value written, little-endian (word0 bits 31:0, data
//                  bits 63:32), zero above its size
// The marker is a type Xen never writes into the ring (Xen's ioreq types
// are 0-8: xen/include/public/hvm/ioreq.h IOREQ_TYPE_*; ioreq_send_buffered
// carries PIO, COPY and TIMEOFFSET).
inline constexpr uint8_t buffer_posted_marker = 0x80;
inline constexpr uint32_t buffer_posted_slots = 2;
inline constexpr uint64_t buffer_posted_max_gpa = (uint64_t{1} << 52) - 1;  // MAXPHYADDR <= 52 (SDM Vol. 3A 4.1.4; Arm ARM D8.1.4 FEAT_LPA)
}  // namespace ioreq

// A claim (its HVDM_IOREQ_MEM_ACCESS_* flags, p2m_type.hpp
// ioreq_claim_*) whose writes hvcore makes to RAM and posts without waiting.
[[nodiscard]] constexpr bool posts_writes(uint32_t claim_flags) noexcept {
    return (claim_flags & ioreq_claim_write_posted) != 0;
}

// One synchronous request, 32 bytes (Xen's struct ioreq).
struct alignas(8) IoreqSlot {
    uint64_t addr;
    uint64_t data;
    uint32_t count;
    uint32_t size;
    uint32_t vp_eport;
    uint16_t pad0;
    uint8_t flags;  // state:4 data_is_ptr:1 dir:1 df:1 pad:1 (LSB first)
    uint8_t type;
};
static_assert(sizeof(IoreqSlot) == 32);
static_assert(offsetof(IoreqSlot, flags) == 30 && offsetof(IoreqSlot, type) == 31);

// The low `size` bytes set (size 1..8): the mask of an ioreq's data, and
// what a read nobody answers returns (all ones).
[[nodiscard]] constexpr uint64_t ones(unsigned size) noexcept {
    return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1;
}

// The decoded content of a request, independent of the shared layout.
struct IoreqBody {
    uint64_t addr = 0;
    uint64_t data = 0;
    uint32_t count = 1;
    uint32_t size = 0;
    uint8_t type = ioreq::type_copy;
    uint8_t dir = ioreq::dir_write;
    bool df = false;
    bool data_is_ptr = false;
    bool operator==(const IoreqBody&) const = default;
};

// The state nibble is read and written atomically: the device model
// changes it concurrently from another thread or process.
[[nodiscard]] inline uint8_t slot_state(const IoreqSlot& s) noexcept {
    return std::atomic_ref<const uint8_t>(s.flags).load(std::memory_order_acquire) & 0xf;
}
inline void slot_set_state(IoreqSlot& s, uint8_t state) noexcept {
    std::atomic_ref<uint8_t> f(s.flags);
    uint8_t old = f.load(std::memory_order_relaxed);
    while (!f.compare_exchange_weak(old, static_cast<uint8_t>((old & 0xf0) | (state & 0xf)),
                                    std::memory_order_release, std::memory_order_relaxed)) {
    }
}
// Write a request with state NONE; the caller then publishes it with
// slot_set_state(READY) (a release store, so the device model sees it whole).
inline void slot_fill(IoreqSlot& s, const IoreqBody& b, uint32_t port) noexcept {
    s.addr = b.addr;
    s.data = b.data;
    s.count = b.count;
    s.size = b.size;
    s.vp_eport = port;
    s.pad0 = 0;
    s.type = b.type;
    const auto flags = static_cast<uint8_t>(ioreq::state_none | (b.data_is_ptr ? 1u << 4 : 0u) |
                                            (b.dir == ioreq::dir_read ? 1u << 5 : 0u) |
                                            (b.df ? 1u << 6 : 0u));
    std::atomic_ref<uint8_t>(s.flags).store(flags, std::memory_order_release);
}

// Xen's buf_ioreq_t (8 bytes): byte 0 type; byte 1 bit 1 dir, bits 3:2
// size; bits 31:12 of the first word addr; second word data.
struct BufIoreq {
    uint32_t word0;
    uint32_t data;
};
static_assert(sizeof(BufIoreq) == 8);

struct BufferedPage {
    uint32_t read_pointer;
    uint32_t write_pointer;
    BufIoreq slots[ioreq::buffer_slots];
};
static_assert(sizeof(BufferedPage) == 4096);

// A server's shared memory, one memfd laid out as Xen's ioreq-server
// resource (xen/include/public/memory.h, XENMEM_resource_ioreq_server:
// XENMEM_resource_ioreq_server_frame_bufioreq 0 and
// XENMEM_resource_ioreq_server_frame_ioreq(n) (1 + n); xen/common/ioreq.c
// ioreq_server_get_frame), so that the descriptor is the resource and frame
// f is at offset f * page_size:
//   frame 0: the buffered ring (BufferedPage). A server without a ring
//            still has the page (zero, never written), so every mapping has
//            the same layout; Xen refuses to map it (-ENOENT).
//   frame 1: the synchronous slots (one IoreqSlot per vCPU, at most 128:
//            Xen has one such frame).
//   frame 2: hvcore's event page (EventPage), after Xen's frames: which
//            ports fired. Not part of the resource (hvdm_map_resource
//            refuses it).
// Mapped once for the hypervisor; device models get their own MAP_SHARED
// mapping of it. IoreqPages::layout is the only place that knows the order.
inline constexpr uint32_t ioreq_frame_bufioreq = 0;  // XENMEM_resource_ioreq_server_frame_bufioreq
inline constexpr uint32_t ioreq_frame_ioreq = 1;     // XENMEM_resource_ioreq_server_frame_ioreq(0)
inline constexpr uint32_t ioreq_resource_frames = 2;  // the frames Xen's resource has
inline constexpr uint32_t ioreq_frame_events = 2;     // hvcore's event page
inline constexpr size_t ioreq_map_bytes = 3 * page_size;

// The most slots one synchronous page holds, and so the most vCPUs a
// server serves.
inline constexpr uint32_t ioreq_max_slots = page_size / sizeof(IoreqSlot);

// The event page: a bitmap of pending ports, as Xen's event channels
// (xen/include/public/xen.h, shared_info.evtchn_pending). Port v below
// nr_vcpus is vCPU v's channel (the slot's vp_eport); port nr_vcpus is the
// buffered ring's (get_ioreq_server_info's bufioreq_port). The hypervisor
// sets a port's bit (atomic OR, release) before it signals the eventfd; the
// device model clears the bits it has taken (atomic AND, acquire) after it
// has read the eventfd, so a port that fires again later signals again.
//
// Event suppression (hvcore's own, not Xen's: Xen's ioreq_t and
// shared_iopage layouts are unchanged). A signal is a write(2) to the
// eventfd, and one per ioreq costs more than the rest of the fault path;
// as virtio's (VIRTIO 1.2, 2.7.10 "Driver Notifications",
// VRING_USED_F_NO_NOTIFY) and Linux's eventfd users do, the side that
// would be woken says whether it needs to be:
//
//  - dm_awake (device model -> hvcore): 1 while a device model that
//    follows this protocol is awake and will look at the event page before
//    it sleeps; 0 (the initial value, and what a device model that does not
//    know the protocol leaves) while it sleeps or may sleep. hvcore posts
//    (slot READY or ring record, then the port's bit, sequentially
//    consistent), then reads dm_awake: it signals the eventfd only when it
//    reads 0. The device model, before it blocks in poll(2): stores 0
//    (sequentially consistent), then looks at the pending bits again
//    (sequentially consistent) and sleeps only if none is set; awake again,
//    it stores 1 (dm_mark_awake / dm_prepare_sleep below). The two stores
//    each followed by a load of the other's word cannot both miss (Dekker):
//    either hvcore sees 0 and signals, or the device model sees the bit
//    and does not sleep. No wake-up is lost. Every waiter of one server
//    must follow it (hvdm_serve does) or none: one waiter's 1 suppresses
//    the signal for all. A view of the pages made by a new handle
//    (hvdm_map_ioreq_pages, hvdm_ioreq_fd, ...) stores 0, so a device model
//    that died awake cannot silence the server for the next one.
//  - vcpu_waiting (hvcore -> device model): bit v is set while a vCPU
//    thread of hvcore sleeps until vCPU v's slot is answered (a host's
//    decoded exit, Domain::host_access). hvcore sets it (sequentially
//    consistent RMW), then looks at the slot (sequentially consistent) and
//    sleeps only if unanswered; it clears the bit when it wakes. A device
//    model that answers (IORESP_READY, then a sequentially consistent
//    fence) and finds the bit clear may skip hvdm_ioreq_notify: nobody
//    sleeps on that slot (the model vCPUs look at the slot in
//    hv_vcpu_resume and never sleep). hvdm_serve skips it so.
inline constexpr uint32_t ioreq_max_ports = ioreq_max_slots + 1;
inline constexpr uint32_t ioreq_pending_words = (ioreq_max_ports + 63) / 64;
struct EventPage {
    uint64_t pending[ioreq_pending_words];  // bit p % 64 of word p / 64: port p fired
    uint32_t dm_awake;                      // 1: the device model is awake (above); 0: signal it
    uint32_t pad0;
    uint64_t vcpu_waiting[ioreq_pending_words];  // bit v % 64 of word v / 64: a thread sleeps on slot v
};
static_assert(sizeof(EventPage) <= page_size);
static_assert(offsetof(EventPage, pending) == 0, "the pending bits stay where device models look for them");

// --- the device model's side of event suppression (EventPage, above) ---
// Awake: hvcore may post without signalling.
inline void dm_mark_awake(EventPage& e) noexcept {
    std::atomic_ref<uint32_t>(e.dm_awake).store(1, std::memory_order_seq_cst);
}
// About to sleep: from now on hvcore signals. True when a port's bit is set
// (then do not sleep: serve, and mark awake again). Sleeping after false
// loses nothing: a post after the look signals.
[[nodiscard]] inline bool dm_prepare_sleep(EventPage& e) noexcept {
    std::atomic_ref<uint32_t>(e.dm_awake).store(0, std::memory_order_seq_cst);
    for (uint64_t& w : e.pending)
        if (std::atomic_ref<uint64_t>(w).load(std::memory_order_seq_cst) != 0) return true;
    return false;
}
// A device model that does not follow the protocol (any more): always signal.
inline void dm_set_awake(EventPage& e, bool awake) noexcept {
    std::atomic_ref<uint32_t>(e.dm_awake).store(awake ? 1 : 0, std::memory_order_seq_cst);
}
// After an answer's IORESP_READY: does a thread sleep on vCPU v's slot (so
// that the answer must be notified)?
[[nodiscard]] inline bool dm_vcpu_sleeps(EventPage& e, uint32_t v) noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return (std::atomic_ref<uint64_t>(e.vcpu_waiting[v / 64]).load(std::memory_order_seq_cst) >> (v % 64) & 1) != 0;
}

// One mapping of a server's pages, as the pointers the protocol uses: the
// synchronous slots, the buffered ring (nullptr when there is none) and
// the event page.
struct IoreqMapping {
    IoreqSlot* slots = nullptr;
    BufferedPage* buffered = nullptr;
    EventPage* events = nullptr;
};

class IoreqPages {
public:
    [[nodiscard]] static Result<IoreqPages> create(bool buffered);
    IoreqPages() = default;
    IoreqPages(IoreqPages&&) noexcept;
    IoreqPages& operator=(IoreqPages&&) noexcept;
    IoreqPages(const IoreqPages&) = delete;
    IoreqPages& operator=(const IoreqPages&) = delete;
    ~IoreqPages();

    [[nodiscard]] IoreqSlot& slot(uint32_t vcpu) noexcept { return sync_[vcpu]; }
    [[nodiscard]] const IoreqSlot& slot(uint32_t vcpu) const noexcept { return sync_[vcpu]; }
    [[nodiscard]] BufferedPage* buffered() noexcept { return buf_; }
    [[nodiscard]] EventPage& events() noexcept { return *events_; }
    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] int event_fd() const noexcept { return event_fd_; }
    // The device model's own mapping (created on first use), laid out as
    // the hypervisor's (ioreq_map_bytes, above).
    [[nodiscard]] Result<IoreqMapping> dm_mapping();
    // Wake the device model (eventfd counter += 1), now.
    void notify() const noexcept;
    // The same, once the lock this thread holds is released
    // (wake_after_unlock.hpp); now if it holds none.
    void notify_after_unlock() const noexcept;
    // New close-on-exec descriptors of the pages' memfd and of the eventfd,
    // owned by the caller: a device model that keeps them (an hvdm handle)
    // keeps a valid mapping and a valid descriptor after the server is gone.
    // The eventfd is signalled when the server goes, so a waiter wakes.
    [[nodiscard]] Status dup_fds(int* pages_fd, int* event_fd) const;

    // Where the pointers of a mapping of ioreq_map_bytes at `map` are.
    [[nodiscard]] static IoreqMapping layout(std::byte* map, bool buffered) noexcept;

private:
    void reset() noexcept;
    int fd_ = -1;
    int event_fd_ = -1;  // event_'s, while it is set
    std::shared_ptr<const EventFd> event_;
    std::byte* hv_map_ = nullptr;
    std::byte* dm_map_ = nullptr;
    IoreqSlot* sync_ = nullptr;
    BufferedPage* buf_ = nullptr;
    EventPage* events_ = nullptr;
};

}  // namespace hvcore
