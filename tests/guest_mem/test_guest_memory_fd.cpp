// SPDX-License-Identifier: MIT
// The descriptor-level primitives below hvdm_map_guest_memory and
// hvdm_get_memory_map (dm_api/src/guest_memory.hpp), on every backend linked
// in: what a transport carries to a device model in another process (the
// descriptor, its offset, the first bad gfn, the ranges), checked on the
// descriptor itself.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "guest_memory.hpp"
#include "hvcore/core/backend.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

using hvcore::abi::local_guest_memory_fd;
using hvcore::abi::local_memory_map;

namespace {

constexpr uint64_t ram_bytes = 8u << 20;  // 2048 pages
constexpr uint64_t ram_pages = ram_bytes / 4096;
constexpr uint64_t sentinel = 0x5a5a5a5a5a5a5a5aull;

// hv_arch values are the core's Arch values (hv.h, core/fault.hpp).
uint32_t hv_arch_of(const hvcore::Backend& b) { return static_cast<uint32_t>(b.arch); }

struct Fixture {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_handle* h = nullptr;
    hvdm_domid_t domid = 0;
    explicit Fixture(uint32_t arch) {
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = arch;
        cfg.ram_bytes = ram_bytes;
        cfg.nr_vcpus = 1;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        domid = hv_domain_id(dom);
        h = hvdm_open(host);
        REQUIRE(h != nullptr);
    }
    ~Fixture() {
        if (h != nullptr) hvdm_close(h);
        if (host != nullptr) hv_host_destroy(host);
    }
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;
};

bool open_fd(int fd) { return fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("a writable descriptor is the domain's RAM at gfn times 4 KiB and close-on-exec") {
    for (const hvcore::Backend& b : hvcore::linked_backends()) {
        CAPTURE(b.name);
        Fixture f(hv_arch_of(b));
        const uint64_t value = 0x1122334455667788ull;
        REQUIRE(hv_guest_write(f.dom, 5 * 4096 + 8, &value, sizeof value) == 0);
        int fd = -1;
        uint64_t offset = sentinel;
        uint64_t bad = sentinel;
        REQUIRE(local_guest_memory_fd(f.h, f.domid, 5, 3, PROT_READ | PROT_WRITE, &fd, &offset, &bad) == 0);
        CHECK(offset == 5 * 4096);
        CHECK(bad == sentinel);  // only -EFAULT writes it
        CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
        uint64_t got = 0;
        CHECK(pread(fd, &got, sizeof got, static_cast<off_t>(offset + 8)) == sizeof got);
        CHECK(got == value);
        // A write through the descriptor is in the guest's RAM.
        const uint64_t back = 0xa5a5000011112222ull;
        CHECK(pwrite(fd, &back, sizeof back, static_cast<off_t>(offset + 16)) == sizeof back);
        uint64_t seen = 0;
        REQUIRE(hv_guest_read(f.dom, 5 * 4096 + 16, &seen, sizeof seen) == 0);
        CHECK(seen == back);
        close(fd);
    }
}

TEST_CASE("without PROT_WRITE the descriptor is read-only: the kernel refuses a writable shared mapping") {
    for (const hvcore::Backend& b : hvcore::linked_backends()) {
        CAPTURE(b.name);
        Fixture f(hv_arch_of(b));
        int fd = -1;
        uint64_t offset = 0;
        REQUIRE(local_guest_memory_fd(f.h, f.domid, 0, 1, PROT_READ, &fd, &offset, nullptr) == 0);
        CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        errno = 0;
        void* w = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(w == MAP_FAILED);
        CHECK(errno == EACCES);
        void* r = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
        REQUIRE(r != MAP_FAILED);
        errno = 0;
        CHECK(mprotect(r, 4096, PROT_READ | PROT_WRITE) == -1);
        CHECK(errno == EACCES);
        munmap(r, 4096);
        uint64_t one = 1;
        CHECK(pwrite(fd, &one, sizeof one, 0) == -1);
        CHECK(errno == EBADF);
        close(fd);
    }
}

TEST_CASE("the checks come in their order and a refusal hands out no descriptor") {
    for (const hvcore::Backend& b : hvcore::linked_backends()) {
        CAPTURE(b.name);
        Fixture f(hv_arch_of(b));
        int fd = -7;
        uint64_t offset = sentinel;
        uint64_t bad = sentinel;
        // Restricted to another domain: -EPERM before the bad prot and nr.
        hvdm_handle* r = hvdm_open(f.host);
        REQUIRE(r != nullptr);
        REQUIRE(hvdm_restrict(r, static_cast<hvdm_domid_t>(f.domid + 1)) == 0);
        CHECK(local_guest_memory_fd(r, f.domid, 0, 0, 0, &fd, &offset, &bad) == -EPERM);
        unsigned n = 4;
        hvdm_mem_range ranges[4];
        CHECK(local_memory_map(r, f.domid, ranges, &n) == -EPERM);
        hvdm_close(r);
        CHECK(local_guest_memory_fd(nullptr, f.domid, 0, 1, PROT_READ, &fd, &offset, &bad) == -EINVAL);
        // prot before nr; nr and overflow before the domain.
        CHECK(local_guest_memory_fd(f.h, f.domid, 0, 0, 0, &fd, &offset, &bad) == -EINVAL);
        CHECK(local_guest_memory_fd(f.h, f.domid, 0, 1, PROT_EXEC | PROT_READ, &fd, &offset, &bad) == -EINVAL);
        CHECK(local_guest_memory_fd(f.h, 999, 0, 0, PROT_READ, &fd, &offset, &bad) == -EINVAL);
        CHECK(local_guest_memory_fd(f.h, 999, ~uint64_t{0}, 2, PROT_READ, &fd, &offset, &bad) == -EINVAL);
        CHECK(local_guest_memory_fd(f.h, f.domid, 0, 1, PROT_READ, nullptr, &offset, &bad) == -EINVAL);
        CHECK(local_guest_memory_fd(f.h, 999, 0, 1, PROT_READ, &fd, &offset, &bad) == -ESRCH);
        // The first gfn past RAM, the range straddling the end of RAM.
        CHECK(local_guest_memory_fd(f.h, f.domid, ram_pages - 2, 4, PROT_READ, &fd, &offset, &bad) == -EFAULT);
        CHECK(bad == ram_pages);
        CHECK(fd == -7);
        CHECK(offset == sentinel);
        // A RAM page made mmio_dm is not RAM any more; the page before is.
        REQUIRE(hvdm_set_mem_type(f.h, f.domid, HVDM_MEM_MMIO_DM, 100, 1) == 0);
        CHECK(local_guest_memory_fd(f.h, f.domid, 90, 20, PROT_READ, &fd, &offset, &bad) == -EFAULT);
        CHECK(bad == 100);
        CHECK(local_guest_memory_fd(f.h, f.domid, 90, 10, PROT_READ, &fd, &offset, &bad) == 0);
        CHECK(open_fd(fd));
        close(fd);
    }
}

TEST_CASE("the memory map is RAM from 0 then a hole to the top and -ENOSPC names the room needed") {
    for (const hvcore::Backend& b : hvcore::linked_backends()) {
        CAPTURE(b.name);
        Fixture f(hv_arch_of(b));
        unsigned n = 0;
        CHECK(local_memory_map(f.h, f.domid, nullptr, &n) == -ENOSPC);
        CHECK(n == 2);
        n = 1;
        hvdm_mem_range ranges[3];
        std::memset(ranges, 0xee, sizeof ranges);
        CHECK(local_memory_map(f.h, f.domid, ranges, &n) == -ENOSPC);
        CHECK(n == 2);
        CHECK(ranges[0].kind == 0xeeeeeeeeu);  // nothing written
        n = 3;
        REQUIRE(local_memory_map(f.h, f.domid, ranges, &n) == 0);
        REQUIRE(n == 2);
        CHECK(ranges[0].first_gfn == 0);
        CHECK(ranges[0].nr == ram_pages);
        CHECK(ranges[0].kind == HVDM_MEM_RAM);
        CHECK(ranges[0].pad == 0);
        CHECK(ranges[1].first_gfn == ram_pages);
        CHECK(ranges[1].kind == HVDM_MEM_HOLE);
        CHECK(ranges[1].pad == 0);
        // The hole ends where the p2m does: the last gfn has a type, the next is refused.
        const uint64_t top = ranges[1].first_gfn + ranges[1].nr;
        uint16_t t = 0xffff;
        CHECK(hvdm_get_mem_type(f.h, f.domid, top - 1, &t) == 0);
        CHECK(t == HVDM_MEM_MMIO_DM);
        CHECK(hvdm_get_mem_type(f.h, f.domid, top, &t) == -EINVAL);
        CHECK(local_memory_map(f.h, f.domid, nullptr, nullptr) == -EINVAL);
        n = 1;
        CHECK(local_memory_map(f.h, f.domid, nullptr, &n) == -EINVAL);
        CHECK(local_memory_map(f.h, 999, ranges, &n) == -ESRCH);
    }
}
