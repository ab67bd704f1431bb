// SPDX-License-Identifier: MIT
// <hvcore/hvdm.h>, HVCORE_1.3: a server's pages as Xen's ioreq-server
// resource (xenforeignmemory_map_resource of XENMEM_resource_ioreq_server),
// its fired ports (xenevtchn_pending) and the typed get_ioreq_server_info
// (xendevicemodel_get_ioreq_server_info). Built on the handle's own view of
// the pages (DmPages) and on hvdm_dm_op only, never on the host's objects:
// they work the same whatever carries the handle's calls to its host.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstring>

#include "abi_objects.hpp"
#include "dm_pages.hpp"
#include "hvcore/core/dmop_abi.hpp"
#include "hvcore/core/ioreq.hpp"

using hvcore::abi::guard;
namespace dmop = hvcore::dmop;

static_assert(HVDM_RESOURCE_FRAME_BUFIOREQ == hvcore::ioreq_frame_bufioreq &&
              HVDM_RESOURCE_FRAME_IOREQ(0) == hvcore::ioreq_frame_ioreq);
static_assert(HVDM_MAX_PORTS == hvcore::ioreq_max_ports);
static_assert(noexcept(hvdm_ioreq_pending(nullptr, 0, 0, nullptr, 0)) &&
              noexcept(hvdm_map_resource(nullptr, 0, 0, 0, 0, 0, nullptr)) &&
              noexcept(hvdm_unmap_resource(nullptr, nullptr, 0)) &&
              noexcept(hvdm_get_ioreq_server_info(nullptr, 0, 0, nullptr, nullptr, nullptr)));

namespace hvcore::abi {

unsigned take_pending(const DmPages& p, uint32_t* ports, unsigned n, bool* more) noexcept {
    EventPage* ev = IoreqPages::layout(p.map, p.buffered).events;
    // Ports 0..nr_vcpus-1 are the vCPUs' (vp_eport), nr_vcpus the ring's.
    const uint32_t nports = p.nr_vcpus + (p.buffered ? 1u : 0u);
    unsigned got = 0;
    *more = false;
    for (uint32_t w = 0; w < ioreq_pending_words; ++w) {
        std::atomic_ref<uint64_t> word(ev->pending[w]);
        // Acquire: pairs with hvcore's release OR, so the slot's READY (the
        // ring's write_pointer) posted before the bit is visible.
        const uint64_t bits = word.load(std::memory_order_acquire);
        if (bits == 0) continue;
        const uint32_t first = w * 64;
        const uint64_t valid = nports <= first        ? 0
                               : nports - first >= 64 ? ~uint64_t{0}
                                                      : (uint64_t{1} << (nports - first)) - 1;
        uint64_t take = bits & ~valid;  // no port: cleared, not reported
        for (uint64_t rest = bits & valid; rest != 0; rest &= rest - 1) {
            if (got == n) {
                *more = true;
                break;
            }
            const auto b = static_cast<uint32_t>(std::countr_zero(rest));
            ports[got++] = first + b;
            take |= uint64_t{1} << b;
        }
        // Only the bits taken: one hvcore sets meanwhile stays for the next call.
        if (take != 0) word.fetch_and(~take, std::memory_order_acq_rel);
    }
    return got;
}

void restore_pending(const DmPages& p, const uint32_t* ports, unsigned n) noexcept {
    if (n == 0) return;
    EventPage* ev = IoreqPages::layout(p.map, p.buffered).events;
    for (unsigned i = 0; i < n; ++i)
        std::atomic_ref<uint64_t>(ev->pending[ports[i] / 64])
            .fetch_or(uint64_t{1} << (ports[i] % 64), std::memory_order_release);
    const uint64_t one = 1;
    // The eventfd is never near its limit here (2^64 - 2); EAGAIN would
    // still leave it readable.
    [[maybe_unused]] const ssize_t w = write(p.event_fd, &one, sizeof one);
}

}  // namespace hvcore::abi

extern "C" {

int hvdm_get_ioreq_server_info(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, uint64_t* ioreq_gfn,
                               uint64_t* bufioreq_gfn, uint32_t* bufioreq_port) noexcept {
    return guard([&] {
        if (int rc = hvcore::abi::handle_access(h, domid); rc != 0) return rc;
        // struct xen_dm_op with xen_dm_op_get_ioreq_server_info, zeroed
        // (pads, and the OUT fields Xen leaves alone without a ring).
        struct {
            dmop::Header h;
            dmop::GetIoreqServerInfo u;
        } op;
        static_assert(sizeof op == 32);  // sizeof(struct xen_dm_op)
        std::memset(&op, 0, sizeof op);
        op.h.op = dmop::get_ioreq_server_info;
        op.u.id = id;
        // As libxendevicemodel: asking for no gfn sets XEN_DMOP_no_gfns;
        // asking for one is the form hvcore refuses (-EOPNOTSUPP): its pages
        // are never in the guest's memory.
        if (ioreq_gfn == nullptr && bufioreq_gfn == nullptr) op.u.flags = HVDM_DMOP_NO_GFNS;
        hvdm_buf b{&op, sizeof op};
        if (int rc = hvdm_dm_op(h, domid, 1, &b); rc != 0) return rc;
        if (ioreq_gfn != nullptr) *ioreq_gfn = op.u.ioreq_gfn;
        if (bufioreq_gfn != nullptr) *bufioreq_gfn = op.u.bufioreq_gfn;
        if (bufioreq_port != nullptr) *bufioreq_port = op.u.bufioreq_port;
        return 0;
    });
}

int hvdm_map_resource(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, unsigned int frame,
                      unsigned int nr_frames, int prot, void** addr) noexcept {
    return guard([&] {
        if (int rc = hvcore::abi::handle_access(h, domid); rc != 0) return rc;
        if (addr == nullptr || nr_frames == 0 || prot == 0 || (prot & ~(PROT_READ | PROT_WRITE)) != 0)
            return hvcore::abi::handle_refuse(h, domid, -EINVAL);
        hvcore::abi::DmPages p;
        if (int rc = hvcore::abi::handle_pages(h, domid, id, &p); rc != 0) return rc;
        // Frame by frame, as Xen's acquire_ioreq_server asks
        // ioreq_server_get_frame for each: the first bad one decides.
        for (uint64_t f = frame; f < uint64_t{frame} + nr_frames; ++f) {
            if (f == hvcore::ioreq_frame_bufioreq && !p.buffered) return -ENOENT;  // no ring
            if (f >= hvcore::ioreq_resource_frames) return -EINVAL;                // not a frame of the resource
        }
        std::lock_guard lk(h->mu);
        h->resources.reserve(h->resources.size() + 1);  // the only step that can throw, before the mapping
        // A new mapping of the view's memfd, whose offsets are the frames:
        // it keeps the memfd as long as it exists, whatever happens to the
        // server, its domain, the host or the view. (Not mremap(2) of the
        // view with old_size 0: qemu-user, which runs the cross builds'
        // tests, refuses it with ENOMEM.)
        const size_t bytes = size_t{nr_frames} * hvcore::page_size;
        void* m = mmap(nullptr, bytes, prot, MAP_SHARED, p.pages_fd,
                       static_cast<off_t>(size_t{frame} * hvcore::page_size));
        if (m == MAP_FAILED) return -errno;
        h->resources.push_back({m, nr_frames});
        *addr = m;
        return 0;
    });
}

int hvdm_unmap_resource(hvdm_handle* h, void* addr, unsigned int nr_frames) noexcept {
    return guard([&] {
        // No host check: like hvdm_close, this works after hv_host_destroy.
        if (h == nullptr) return -EINVAL;
        std::lock_guard lk(h->mu);
        for (auto it = h->resources.begin(); it != h->resources.end(); ++it) {
            if (it->addr != addr || it->nr_frames != nr_frames) continue;
            if (munmap(addr, size_t{nr_frames} * hvcore::page_size) != 0) return -errno;
            h->resources.erase(it);
            return 0;
        }
        return -EINVAL;  // not a mapping of this handle's, or another size
    });
}

int hvdm_ioreq_pending(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t* ports,
                       unsigned int n) noexcept {
    return guard([&] {
        if (int rc = hvcore::abi::handle_access(h, domid); rc != 0) return rc;
        if (ports == nullptr || n == 0) return hvcore::abi::handle_refuse(h, domid, -EINVAL);
        hvcore::abi::DmPages p;
        if (int rc = hvcore::abi::handle_pages(h, domid, id, &p); rc != 0) return rc;
        // The count first, then the bits (hvcore sets a bit before it
        // signals): a port that fires after this read signals again.
        uint64_t count = 0;
        if (read(p.event_fd, &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR) return -errno;
        bool more = false;
        const unsigned got = hvcore::abi::take_pending(p, ports, n, &more);
        if (more) {
            // Ports left for the next call: keep the descriptor readable.
            const uint64_t one = 1;
            [[maybe_unused]] const ssize_t w = write(p.event_fd, &one, sizeof one);
        }
        return static_cast<int>(got);
    });
}

}  // extern "C"
