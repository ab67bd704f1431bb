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
              noexcept(hvdm_map_guest_pages(nullptr, 0, nullptr, 0, 0, 0, nullptr, nullptr)) &&
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

// The largest gfn whose byte offset fits in an off_t (mmap's offset).
constexpr uint64_t max_gfn = (uint64_t{1} << (63 - hvcore::page_shift)) - 1;

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

int hvdm_map_guest_pages(hvdm_handle* h, hvdm_domid_t domid, const uint64_t* gfns, uint32_t nr, int prot, int flags,
                         void** addr, int* err) noexcept {
    return guard([&]() -> int {
        using hvcore::page_size;
        if (int rc = hvcore::abi::access_check(h, domid); rc != 0) return rc;
        const auto bad_args = [&] {
            if (gfns == nullptr || addr == nullptr || err == nullptr || nr == 0) return true;
            if (prot == 0 || (prot & ~hvcore::abi::prot_rw) != 0 || (flags & ~MAP_FIXED) != 0) return true;
            const auto want = reinterpret_cast<uintptr_t>(*addr);
            return (flags & MAP_FIXED) != 0 && (want == 0 || want % page_size != 0);
        };
        if (bad_args()) return hvcore::abi::refuse(h, domid, -EINVAL);
        const size_t len = size_t{nr} * page_size;

        // One run of the list: up to `limit` consecutive gfns from i (a
        // gfn that cannot be RAM at all is a run of its own, never asked).
        const auto run_at = [&](uint32_t i, uint32_t limit) {
            uint32_t n = 1;
            while (n < limit && i + n < nr && gfns[i + n - 1] < hvcore::abi::max_gfn && gfns[i + n] == gfns[i + n - 1] + 1)
                ++n;
            return n;
        };
        // The descriptor of the next run that is RAM, or the page left out
        // (*left_out) when the run's first page is not; a run that is RAM
        // only up to a page is shortened to that page (*n). Whole-call
        // errors (the domain, the connection) come back as they are.
        const auto next_fd = [&](uint32_t i, uint32_t* n, int* fd, uint64_t* offset, bool* left_out) -> int {
            *left_out = false;
            if (gfns[i] > hvcore::abi::max_gfn) {  // beyond any RAM; also keeps gfn + n from overflowing
                *n = 1;
                *left_out = true;
                return 0;
            }
            for (;;) {
                uint64_t bad = 0;
                const int rc = hvcore::abi::local_guest_memory_fd(h, domid, gfns[i], *n, prot, fd, offset, &bad);
                if (rc != -EFAULT) {
                    // The offset comes from the host (a socket): the run's gfn, as Domain::share_guest_memory.
                    if (rc == 0 && *offset != gfns[i] << hvcore::page_shift) {
                        close(*fd);
                        return -EPROTO;
                    }
                    return rc;
                }
                if (bad < gfns[i] || bad - gfns[i] >= *n) return -EPROTO;  // not a gfn of the run
                if (bad == gfns[i]) {
                    *n = 1;
                    *left_out = true;
                    return 0;
                }
                *n = static_cast<uint32_t>(bad - gfns[i]);  // the RAM before it
            }
        };

        // The first run before anything changes: the domain's errors
        // (-ESRCH, -EPERM from the host) leave the address space as it was.
        uint32_t n = run_at(0, nr);
        int fd = -1;
        uint64_t offset = 0;
        bool left_out = false;
        if (int rc = next_fd(0, &n, &fd, &offset, &left_out); rc != 0) return rc;

        // The whole range, inaccessible, then each run of RAM over it.
        void* base = mmap(*addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & MAP_FIXED), -1, 0);
        if (base == MAP_FAILED) {
            const int e = -errno;
            if (fd >= 0) close(fd);
            return e;
        }
        auto* const bytes = static_cast<std::byte*>(base);
        const auto fail = [&](int rc) {
            if (fd >= 0) close(fd);
            munmap(base, len);
            return rc;
        };
        for (uint32_t i = 0;;) {
            if (left_out) {
                err[i] = -EINVAL;
            } else {
                void* m = mmap(bytes + size_t{i} * page_size, size_t{n} * page_size, prot, MAP_SHARED | MAP_FIXED, fd,
                               static_cast<off_t>(offset));
                if (m == MAP_FAILED) return fail(-errno);
                close(fd);  // the mapping keeps the memfd's pages
                fd = -1;
                std::fill_n(err + i, n, 0);
            }
            i += n;
            if (i == nr) break;
            n = run_at(i, nr - i);
            if (int rc = next_fd(i, &n, &fd, &offset, &left_out); rc != 0) return fail(rc);
        }
        std::unique_lock lk(h->mu);
        try {
            h->guest_maps.push_back({base, nr});
        } catch (...) {
            munmap(base, len);
            throw;
        }
        *addr = base;
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
