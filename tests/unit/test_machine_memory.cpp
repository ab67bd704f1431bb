// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

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
