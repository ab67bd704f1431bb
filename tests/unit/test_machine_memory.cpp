// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "hvcore/core/machine_memory.hpp"

using namespace hvcore;

TEST_CASE("ram_frames_start_above_zero_so_mfn_and_gfn_differ") {
    auto m = MachineMemory::create(16 * page_size, 8);
    REQUIRE(m.is_ok());
    CHECK((*m)->ram_mfn(Gfn{0}) == MachineMemory::ram_base_mfn);
    CHECK((*m)->ram_mfn(Gfn{0}).raw() != 0);
    CHECK((*m)->frame((*m)->ram_mfn(Gfn{3})) == (*m)->ram_base() + 3 * page_size);
    CHECK((*m)->frame(Mfn{0}) == nullptr);
    CHECK((*m)->frame((*m)->ram_mfn(Gfn{16})) == nullptr);  // one past the end
}

TEST_CASE("table_pool_refuses_beyond_its_limit_with_enomem") {
    auto m = MachineMemory::create(page_size, 2);
    REQUIRE(m.is_ok());
    auto a = (*m)->alloc_table();
    auto b = (*m)->alloc_table();
    REQUIRE(a.is_ok());
    REQUIRE(b.is_ok());
    CHECK((*m)->alloc_table().status().code() == -ENOMEM);
    (*m)->free_table(*a);
    CHECK((*m)->alloc_table().is_ok());
}

TEST_CASE("a_failed_reservation_holds_nothing") {
    auto m = MachineMemory::create(page_size, 3);
    REQUIRE(m.is_ok());
    CHECK((*m)->reserve_tables(4).code() == -ENOMEM);
    CHECK((*m)->reserved() == 0);
    CHECK((*m)->tables_in_use() == 0);
    REQUIRE((*m)->reserve_tables(3).is_ok());
    CHECK((*m)->tables_in_use() == 3);
    (*m)->release_reservation();
    CHECK((*m)->tables_in_use() == 0);
}

TEST_CASE("table_frames_are_zeroed_when_handed_out_again") {
    auto m = MachineMemory::create(page_size, 1);
    REQUIRE(m.is_ok());
    auto a = (*m)->alloc_table();
    REQUIRE(a.is_ok());
    (*m)->frame(*a)[100] = std::byte{0xab};
    (*m)->free_table(*a);
    auto b = (*m)->alloc_table();
    REQUIRE(b.is_ok());
    CHECK((*m)->frame(*b)[100] == std::byte{0});
}

TEST_CASE("unaligned_or_empty_ram_is_einval") {
    CHECK(MachineMemory::create(0, 1).status().code() == -EINVAL);
    CHECK(MachineMemory::create(page_size + 1, 1).status().code() == -EINVAL);
}

// Descriptors of the RAM go to device-model processes; one that could
// resize the memfd would make the hypervisor's next access SIGBUS. Both
// the writable duplicate and the read-only reopen (/proc/self/fd) carry
// the seals, which belong to the file, and the RAM stays usable.
TEST_CASE("shared_ram_descriptors_refuse_ftruncate_with_eperm_and_report_their_seals") {
    constexpr uint64_t bytes = 16 * page_size;
    auto m = MachineMemory::create(bytes, 8);
    REQUIRE(m.is_ok());
    for (const bool writable : {true, false}) {
        CAPTURE(writable);
        auto fd = (*m)->share_ram_fd(writable);
        REQUIRE(fd.is_ok());
        CHECK(fcntl(*fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
        if (writable) {
            errno = 0;
            CHECK(ftruncate(*fd, 0) == -1);
            CHECK(errno == EPERM);
            errno = 0;
            CHECK(ftruncate(*fd, static_cast<off_t>(2 * bytes)) == -1);
            CHECK(errno == EPERM);
            errno = 0;
            CHECK(fcntl(*fd, F_ADD_SEALS, F_SEAL_WRITE) == -1);  // F_SEAL_SEAL: no more seals
            CHECK(errno == EPERM);
            // Still a writable shared mapping (no F_SEAL_WRITE).
            void* p = mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
            REQUIRE(p != MAP_FAILED);
            static_cast<volatile unsigned char*>(p)[5] = 0x5a;
            CHECK(std::to_integer<int>((*m)->ram_base()[5]) == 0x5a);
            munmap(p, page_size);
        } else {
            CHECK(ftruncate(*fd, 0) == -1);  // EINVAL or EBADF: not open for writing
            // Read-only: a shared writable mapping is refused as before.
            CHECK(mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0) == MAP_FAILED);
        }
        struct stat st {};
        REQUIRE(fstat(*fd, &st) == 0);
        CHECK(static_cast<uint64_t>(st.st_size) == bytes);
        close(*fd);
    }
    (*m)->ram_base()[bytes - 1] = std::byte{1};  // the last page is still there
    CHECK(std::to_integer<int>((*m)->ram_base()[bytes - 1]) == 1);
}
