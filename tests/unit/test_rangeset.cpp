// SPDX-License-Identifier: MIT
#include <doctest/doctest.h>

#include "hvcore/core/rangeset.hpp"

using namespace hvcore;

TEST_CASE("range_with_start_after_end_is_einval") {
    RangeSet r;
    CHECK(r.add(10, 9).code() == -EINVAL);
    CHECK(r.remove(10, 9).code() == -EINVAL);
    CHECK(r.size() == 0);
}

TEST_CASE("overlapping_range_in_one_set_is_eexist_and_changes_nothing") {
    RangeSet r;
    REQUIRE(r.add(0x3f8, 0x3ff).is_ok());  // COM1's eight ports
    CHECK(r.add(0x3ff, 0x400).code() == -EEXIST);
    CHECK(r.add(0x3f0, 0x3f8).code() == -EEXIST);
    CHECK(r.add(0x3f9, 0x3fa).code() == -EEXIST);
    CHECK(r.size() == 1);
    CHECK(r.contains(0x3f8, 0x3ff));
    CHECK_FALSE(r.contains(0x3f7, 0x3f8));
}

TEST_CASE("adjacent_ranges_merge_into_one_run") {
    RangeSet r;
    REQUIRE(r.add(0, 9).is_ok());
    REQUIRE(r.add(20, 29).is_ok());
    REQUIRE(r.add(10, 19).is_ok());  // touches both neighbours
    CHECK(r.size() == 1);
    CHECK(r.contains(0, 29));
}

TEST_CASE("the_257th_disjoint_range_is_enomem") {
    RangeSet r;
    // Ranges of one port with a gap of one, so none merge.
    for (uint64_t i = 0; i < RangeSet::max_ranges; ++i) REQUIRE(r.add(2 * i, 2 * i).is_ok());
    CHECK(r.add(1000, 1000).code() == -ENOMEM);
    CHECK(r.size() == RangeSet::max_ranges);
    // Merging into an existing run adds no run and is still allowed.
    CHECK(r.add(1, 1).is_ok());
    CHECK(r.size() == RangeSet::max_ranges - 1);
}

TEST_CASE("unmapping_a_range_not_held_is_enoent") {
    RangeSet r;
    REQUIRE(r.add(100, 199).is_ok());
    CHECK(r.remove(50, 60).code() == -ENOENT);
    CHECK(r.remove(150, 250).code() == -ENOENT);  // only partly held
    CHECK(r.size() == 1);
}

TEST_CASE("unmapping_the_middle_of_a_range_splits_it") {
    RangeSet r;
    REQUIRE(r.add(100, 199).is_ok());
    REQUIRE(r.remove(120, 129).is_ok());
    CHECK(r.size() == 2);
    CHECK(r.contains(100, 119));
    CHECK(r.contains(130, 199));
    CHECK_FALSE(r.overlaps(120, 129));
}

TEST_CASE("the_full_64_bit_space_is_one_range") {
    RangeSet r;
    REQUIRE(r.add(0, UINT64_MAX).is_ok());
    CHECK(r.contains(UINT64_MAX, UINT64_MAX));
    REQUIRE(r.remove(UINT64_MAX, UINT64_MAX).is_ok());
    CHECK(r.contains(0, UINT64_MAX - 1));
}
