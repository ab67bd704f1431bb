// SPDX-License-Identifier: MIT
// Dirty tracking (HVCORE_1.6): the typed wrappers of XEN_DMOP_track_dirty_vram
// and XEN_DMOP_modified_memory in <hvcore/hvdm.h>, through hvdm_dm_op only
// (in process and over a socket alike), and the toolstack's log-dirty mode
// in <hvcore/hv.h>.
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <vector>

#include "abi_objects.hpp"
#include "hvcore/core/dmop_abi.hpp"
#include "wire.hpp"

using hvcore::abi::guard;
namespace dmop = hvcore::dmop;

static_assert(HVDM_DMOP_TRACK_DIRTY_VRAM == dmop::track_dirty_vram &&
              HVDM_DMOP_MODIFIED_MEMORY == dmop::modified_memory);
static_assert(sizeof(hvdm_modified_memory_extent) == sizeof(dmop::ModifiedMemoryExtent) &&
              offsetof(hvdm_modified_memory_extent, pad) == offsetof(dmop::ModifiedMemoryExtent, pad) &&
              offsetof(hvdm_modified_memory_extent, first_pfn) == offsetof(dmop::ModifiedMemoryExtent, first_pfn));
// One message holds the header, the op and this many extents.
static_assert(HVDM_MODIFIED_MEMORY_SOCKET_MAX * sizeof(hvdm_modified_memory_extent) + 64 <=
              hvcore::wire::max_payload);
static_assert(noexcept(hvdm_track_dirty_vram(nullptr, 0, 0, 0, nullptr, 0)) &&
              noexcept(hv_log_dirty_read(nullptr, 0, 0, nullptr, 0, 0)));

namespace {

struct VramDmOp {
    dmop::Header h;
    dmop::TrackDirtyVram u;
};
struct ModifiedDmOp {
    dmop::Header h;
    dmop::ModifiedMemory u;
};

[[nodiscard]] int modified_chunk(hvdm_handle* h, hvdm_domid_t domid, hvdm_modified_memory_extent* ext,
                                 uint32_t nr, size_t bytes) {
    ModifiedDmOp op;
    std::memset(&op, 0, sizeof op);
    op.h.op = dmop::modified_memory;
    op.u.nr_extents = nr;
    hvdm_modified_memory_extent none{};  // an address for an empty list
    hvdm_buf b[2] = {{&op, sizeof op}, {nr == 0 && ext == nullptr && bytes == 0 ? &none : ext, bytes}};
    return hvdm_dm_op(h, domid, 2, b);
}

}  // namespace

extern "C" {

int hvdm_track_dirty_vram(hvdm_handle* h, hvdm_domid_t domid, uint64_t first_pfn, uint32_t nr, void* bitmap,
                          size_t bitmap_bytes) noexcept {
    return guard([&]() -> int {
        VramDmOp op;
        std::memset(&op, 0, sizeof op);
        op.h.op = dmop::track_dirty_vram;
        op.u.nr = nr;
        op.u.first_pfn = first_pfn;
        // The bitmap is OUT only: the op writes into a buffer of our own,
        // of the size it needs, copied to the caller's on success. Nothing
        // of the caller's is read (a socket would send it), and a NULL or
        // short bitmap, or nr beyond the op's limit, is sent as an empty
        // buffer: the op's own checks refuse it, after the common ones.
        constexpr uint32_t max_frames = (uint32_t{1} << 30) >> 12;
        const size_t need = (static_cast<size_t>(nr) + 7) / 8;
        const bool usable = bitmap != nullptr && bitmap_bytes >= need && nr <= max_frames;
        std::vector<uint8_t> out;
        try {
            out.assign(usable ? need : 0, 0);
        } catch (const std::bad_alloc&) {
            return -ENOMEM;
        }
        uint8_t none = 0;
        hvdm_buf b[2] = {{&op, sizeof op}, {out.empty() ? &none : out.data(), out.size()}};
        const int rc = hvdm_dm_op(h, domid, 2, b);
        if (rc == 0 && !out.empty()) std::memcpy(bitmap, out.data(), out.size());
        return rc;
    });
}

int hvdm_modified_memory(hvdm_handle* h, hvdm_domid_t domid, uint64_t first_pfn, uint32_t nr) noexcept {
    hvdm_modified_memory_extent e{nr, 0, first_pfn};
    return modified_chunk(h, domid, &e, 1, sizeof e);
}

int hvdm_modified_memory_bulk(hvdm_handle* h, hvdm_domid_t domid, const hvdm_modified_memory_extent* extents,
                              uint32_t nr) noexcept {
    return guard([&]() -> int {
        // No list: an empty buffer, which the op's size check refuses
        // (after the checks every DMOP makes first, and only when
        // log-dirty is on, as Xen).
        if (extents == nullptr || nr == 0) return modified_chunk(h, domid, nullptr, nr, 0);
        // A copy: a socket's reply writes buffer 1 back, and the caller's
        // list is const.
        const bool socket = h != nullptr && h->t != nullptr && h->t->writes_buffers_back();
        const uint32_t step = socket ? HVDM_MODIFIED_MEMORY_SOCKET_MAX : nr;
        std::vector<hvdm_modified_memory_extent> copy;
        try {
            copy.assign(extents, extents + std::min(nr, step));
        } catch (const std::bad_alloc&) {
            return -ENOMEM;
        }
        for (uint32_t done = 0; done < nr;) {
            const uint32_t n = std::min(step, nr - done);
            copy.assign(extents + done, extents + done + n);
            if (const int rc = modified_chunk(h, domid, copy.data(), n, n * sizeof copy[0]); rc != 0) return rc;
            done += n;
        }
        return 0;
    });
}

int hv_log_dirty_enable(hv_domain* d) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->log_dirty_enable().code(); });
}

int hv_log_dirty_disable(hv_domain* d) noexcept {
    return guard([&] { return d == nullptr ? -EINVAL : d->d->log_dirty_disable().code(); });
}

int hv_log_dirty_read(hv_domain* d, uint64_t first_gfn, uint64_t nr, void* bitmap, size_t bitmap_bytes,
                      unsigned int flags) noexcept {
    return guard([&] {
        if (d == nullptr || bitmap == nullptr || (flags & ~HV_LOG_DIRTY_CLEAN) != 0) return -EINVAL;
        if (nr == 0 || (nr + 7) / 8 > bitmap_bytes || nr > ~uint64_t{0} - 7) return -EINVAL;
        return d->d->log_dirty_read(first_gfn, nr, std::span(static_cast<uint8_t*>(bitmap), (nr + 7) / 8),
                                    (flags & HV_LOG_DIRTY_CLEAN) != 0)
            .code();
    });
}

}  // extern "C"
