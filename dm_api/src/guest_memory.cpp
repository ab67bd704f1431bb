// SPDX-License-Identifier: MIT
// Guest memory for a device model: the descriptor-level primitives
// (guest_memory.hpp) and the public calls of <hvcore/hvdm.h> above them.
//
// Xen's model (tools/libs/foreignmemory, xenforeignmemory_map): a device
// model maps guest frames of a domain it may act on into its own address
// space; the mapping holds references to the pages, so it stays valid
// whatever happens to the domain until it is unmapped. Here a domain's RAM
// is one memfd (core MachineMemory, offset = gfn * 4 KiB): a mapping is an
// mmap of a descriptor of it, and the kernel keeps the pages for as long as
// a mapping exists.
#include "guest_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include "abi_objects.hpp"
#include "dm_pages.hpp"

static_assert(sizeof(hvdm_mem_range) == 24 && offsetof(hvdm_mem_range, nr) == 8 &&
              offsetof(hvdm_mem_range, kind) == 16 && offsetof(hvdm_mem_range, pad) == 20);
static_assert(HVDM_MEM_RAM == static_cast<uint32_t>(hvcore::Domain::MemRange::Kind::ram) &&
              HVDM_MEM_HOLE == static_cast<uint32_t>(hvcore::Domain::MemRange::Kind::hole));
static_assert(noexcept(hvdm_map_guest_memory(nullptr, 0, 0, 0, 0, nullptr, nullptr)) &&
              noexcept(hvdm_unmap_guest_memory(nullptr, nullptr, 0)) &&
              noexcept(hvdm_get_memory_map(nullptr, 0, nullptr, nullptr)));

namespace hvcore::abi {

namespace {

// hvdm.cpp's first checks of every call (the handle, a destroyed host,
// the restriction: privcmd's order), then the domain (-ESRCH).
[[nodiscard]] int access_check(const hvdm_handle* h, hvdm_domid_t domid) { return handle_access(h, domid); }

// A verdict on the arguments: -ENODEV first if the host is gone (dm_pages.hpp).
[[nodiscard]] int refuse(const hvdm_handle* h, hvdm_domid_t domid, int rc) { return handle_refuse(h, domid, rc); }

constexpr int prot_rw = PROT_READ | PROT_WRITE;

}  // namespace

int local_guest_memory_fd(hvdm_handle* h, hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr, int prot, int* fd,
                          uint64_t* offset, uint64_t* bad_gfn) {
    if (int rc = access_check(h, domid); rc != 0) return rc;
    if (prot == 0 || (prot & ~prot_rw) != 0 || fd == nullptr || offset == nullptr) return refuse(h, domid, -EINVAL);
    if (nr == 0 || first_gfn + nr < first_gfn) return refuse(h, domid, -EINVAL);
    return h->t->guest_memory_fd(domid, first_gfn, nr, prot, fd, offset, bad_gfn);
}

int domain_guest_memory_fd(hvcore::Domain& d, uint64_t first_gfn, uint32_t nr, int prot, int* fd, uint64_t* offset,
                           uint64_t* bad_gfn) {
    return d.share_guest_memory(first_gfn, nr, (prot & PROT_WRITE) != 0, fd, offset, bad_gfn).code();
}

int domain_memory_map(hvcore::Domain& d, hvdm_mem_range* ranges, unsigned* n) {
    const std::vector<hvcore::Domain::MemRange> map = d.memory_map();
    if (map.size() > *n) {
        *n = static_cast<unsigned>(map.size());
        return -ENOSPC;
    }
    for (size_t i = 0; i < map.size(); ++i) {
        ranges[i].first_gfn = map[i].first_gfn;
        ranges[i].nr = map[i].nr;
        ranges[i].kind = static_cast<uint32_t>(map[i].kind);
        ranges[i].pad = 0;
    }
    *n = static_cast<unsigned>(map.size());
    return 0;
}

int local_memory_map(hvdm_handle* h, hvdm_domid_t domid, hvdm_mem_range* ranges, unsigned* n) {
    if (int rc = access_check(h, domid); rc != 0) return rc;
    if (n == nullptr || (ranges == nullptr && *n > 0)) return refuse(h, domid, -EINVAL);
    return h->t->memory_map(domid, ranges, n);
}

}  // namespace hvcore::abi

using hvcore::abi::guard;

extern "C" {

int hvdm_map_guest_memory(hvdm_handle* h, hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr, int prot, void** addr,
                          uint64_t* bad_gfn) noexcept {
    return guard([&] {
        if (int rc = hvcore::abi::access_check(h, domid); rc != 0) return rc;
        if (addr == nullptr) return hvcore::abi::refuse(h, domid, -EINVAL);  // with the arguments, after the restriction
        int fd = -1;
        uint64_t offset = 0;
        if (int rc = hvcore::abi::local_guest_memory_fd(h, domid, first_gfn, nr, prot, &fd, &offset, bad_gfn);
            rc != 0)
            return rc;
        // One hold from the reservation to the record, so that the room
        // reserved is still there for push_back (which then cannot throw).
        std::unique_lock lk(h->mu);
        try {
            h->guest_maps.reserve(h->guest_maps.size() + 1);  // the only step that can throw, before the mapping
        } catch (...) {
            close(fd);
            throw;
        }
        const size_t len = size_t{nr} * hvcore::page_size;
        void* m = mmap(nullptr, len, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
        const int map_err = -errno;
        close(fd);  // the mapping keeps the memfd's pages
        if (m == MAP_FAILED) return map_err;
        h->guest_maps.push_back({m, nr});
        *addr = m;
        return 0;
    });
}

int hvdm_unmap_guest_memory(hvdm_handle* h, void* addr, uint32_t nr) noexcept {
    return guard([&] {
        // No -ENODEV: a mapping outlives the host, and so does unmapping it.
        if (h == nullptr) return -EINVAL;
        std::lock_guard lk(h->mu);
        auto it = std::find_if(h->guest_maps.begin(), h->guest_maps.end(),
                               [&](const hvcore::abi::GuestMap& g) { return g.addr == addr && g.nr == nr; });
        if (it == h->guest_maps.end() || nr == 0) return -EINVAL;
        if (munmap(it->addr, size_t{it->nr} * hvcore::page_size) != 0) return -errno;
        h->guest_maps.erase(it);
        return 0;
    });
}

int hvdm_get_memory_map(hvdm_handle* h, hvdm_domid_t domid, hvdm_mem_range* ranges, unsigned int* n) noexcept {
    return guard([&] { return hvcore::abi::local_memory_map(h, domid, ranges, n); });
}

}  // extern "C"
