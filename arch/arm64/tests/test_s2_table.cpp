// SPDX-License-Identifier: MIT
// The stage-2 table in the VTCR configurations other than the default:
// leaf sizes on a 4-level walk and at a level-2 start, the IPA and PA
// limits, tables_needed_4k across root frames, and destruction. The
// default configuration (40-bit IPA at level 1, two concatenated tables)
// runs the whole p2m contract in tests/conformance/test_stage2.cpp.
#include "s2_test_support.hpp"

#include <utility>

using namespace s2_test;

namespace {

struct LeafSeen {
    uint64_t gfn;
    unsigned order;
    uint64_t mfn;
    P2mType type;
    bool operator==(const LeafSeen&) const = default;
};

std::vector<LeafSeen> leaves(const Arm64Stage2& s2) {
    std::vector<LeafSeen> out;
    s2.for_each_leaf([&](Gfn g, const Stage2Leaf& l) {
        CHECK(l.mapped);
        out.push_back({g.raw(), l.order, l.mfn.raw(), l.type});
    });
    return out;
}

}  // namespace

TEST_CASE("map_range_uses_1g_2m_and_4k_leaves_as_alignment_allows") {
    // gfn 0x3FE00 is 2 MiB aligned, 2 MiB short of 1 GiB; mfn is the same
    // plus 1 GiB, so both are aligned alike. The range is 2 MiB + 1 GiB +
    // 2 MiB + 3 pages: a block of each size, then three pages, on a
    // 4-level walk (the default's 3-level walk: the conformance suite).
    const uint64_t g = pages_1g - pages_2m;
    const uint64_t mf = g + pages_1g;
    const std::vector<LeafSeen> expect{
        {g, 9, mf, P2mType::ram_rw},
        {pages_1g, 18, pages_1g + pages_1g, P2mType::ram_rw},
        {2 * pages_1g, 9, 2 * pages_1g + pages_1g, P2mType::ram_rw},
        {2 * pages_1g + pages_2m + 0, 0, 3 * pages_1g + pages_2m + 0, P2mType::ram_rw},
        {2 * pages_1g + pages_2m + 1, 0, 3 * pages_1g + pages_2m + 1, P2mType::ram_rw},
        {2 * pages_1g + pages_2m + 2, 0, 3 * pages_1g + pages_2m + 2, P2mType::ram_rw},
    };
    Machine m(vtcr_48_l0);
    const uint64_t root = m.mem->tables_in_use();
    REQUIRE(m->map_range(Gfn{g}, Mfn{mf}, pages_2m + pages_1g + pages_2m + 3, P2mType::ram_rw, rwx).is_ok());
    CHECK(leaves(*m) == expect);
    // A level-1 table, level-2 tables for GiB 0 and 2, one level-3 table.
    CHECK(m.mem->tables_in_use() == root + 1 + 2 + 1);
    // Inside a block, lookup returns base + offset.
    const Stage2Leaf l = m->lookup(Gfn{pages_1g + 0x12345});
    CHECK(l.order == 18);
    CHECK(l.mfn == Mfn{2 * pages_1g + 0x12345});
}

TEST_CASE("a_level_2_start_has_2m_blocks_but_no_1g_blocks") {
    // 31-bit IPA at level 2: two concatenated level-2 tables, the whole IPA
    // space in 1024 descriptors of 2 MiB.
    Machine m(vtcr_31_l2);
    REQUIRE(m->map_range(Gfn{0}, Mfn{pages_1g}, pages_1g + pages_2m, P2mType::ram_rw, rwx).is_ok());
    const auto seen = leaves(*m);
    REQUIRE(seen.size() == 513);
    for (const LeafSeen& s : seen) CHECK(s.order == 9);
    CHECK(seen.back() == LeafSeen{pages_1g, 9, 2 * pages_1g, P2mType::ram_rw});  // in the second root table
    CHECK(m.mem->tables_in_use() == 2);  // blocks only: the root
}

TEST_CASE("map_range_beyond_the_ipa_space_or_the_pa_size_is_einval") {
    // The default's limits: the conformance suite. Its last gfn lies in
    // the second concatenated table.
    Machine m;
    CHECK(m->index(m->gfn_limit() - 1, level_1) == 1023);
    // PS 40 (32-bit IPA config): mfn < 2^28.
    Machine small(vtcr_32_l1);
    CHECK(small->gfn_limit() == (uint64_t{1} << 20));
    CHECK(small->map_range(Gfn{0}, Mfn{uint64_t{1} << 28}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(small->map_range(Gfn{(uint64_t{1} << 20) - 1}, Mfn{(uint64_t{1} << 28) - 1}, 1, P2mType::ram_rw, rwx).is_ok());
}

TEST_CASE("tables_needed_4k_counts_whole_new_walks_across_root_boundaries") {
    struct Case {
        const char* what;
        uint64_t vtcr;
        uint64_t boundary;  // first gfn of a new start-level descriptor in another root frame
        uint64_t per_side;  // tables a lone page needs below the root
    };
    // The default's concatenated level-1 tables: the conformance suite.
    const Case cases[] = {
        // 4-level walk: a level-0 descriptor covers 2^27 gfns (512 GiB); a
        // page needs level 1 + 2 + 3.
        {"level-0 descriptors", vtcr_48_l0, uint64_t{1} << 27, 3},
        // Level-2 start, two tables: the second begins at 1 GiB; a page
        // needs a level-3 table.
        {"concatenated level-2 tables", vtcr_31_l2, pages_1g, 1},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        Machine m(c.vtcr);
        const Gfn first{c.boundary - 1};
        CHECK(m->tables_needed_4k(first, 2) == 2 * c.per_side);
        REQUIRE(m.mem->reserve_tables(2 * c.per_side).is_ok());
        m->set_4k(first, Mfn{0x100}, P2mType::ram_rw, rwx);
        m->set_4k(first + 1, Mfn{0x101}, P2mType::ram_rw, rwx);
        CHECK(m.mem->reserved() == 0);
        CHECK(m->lookup(first).mfn == Mfn{0x100});
        CHECK(m->lookup(first + 1).mfn == Mfn{0x101});
        // A second call on the same gfns needs nothing.
        CHECK(m->tables_needed_4k(first, 2) == 0);
        CHECK(m->tables_needed_4k(Gfn{0}, 0) == 0);
    }
}

TEST_CASE("destroying_the_table_returns_every_table_frame") {
    // The default configuration: the conformance suite.
    for (const uint64_t vtcr : {vtcr_48_l0, vtcr_43_l1}) {
        auto mem = MachineMemory::create(4 * mib, 64);
        REQUIRE(mem.is_ok());
        {
            auto s2 = Arm64Stage2::create(**mem, vtcr);
            REQUIRE(s2.is_ok());
            REQUIRE((*s2)->map_range(Gfn{0}, Mfn{0x100}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
            REQUIRE((*s2)->map_range(Gfn{(*s2)->gfn_limit() - 1}, Mfn{0}, 1, P2mType::ram_rw, rwx).is_ok());
            CHECK((*mem)->tables_in_use() > (*s2)->config().root_tables);
        }
        CHECK((*mem)->tables_in_use() == 0);
    }
}
