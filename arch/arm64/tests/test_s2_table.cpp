// The stage-2 table as a p2m: the leaf sizes map_range picks (blocks at
// levels 1 and 2, pages at level 3), all-or-nothing on -ENOMEM, splitting
// blocks in set_4k with exactly the reserved frames, lookup / raw_entry /
// for_each_leaf over concatenated roots, and lazy recalculation by marks.
#include "s2_test_support.hpp"

#include <utility>

using namespace s2_test;
using D = S2Desc;

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

// The default configuration's root: two concatenated level-1 tables.
constexpr uint64_t root_only = 2;

}  // namespace

TEST_CASE("map_range_uses_1g_2m_and_4k_leaves_as_alignment_allows") {
    // gfn 0x3FE00 is 2 MiB aligned, 2 MiB short of 1 GiB; mfn is the same
    // plus 1 GiB, so both are aligned alike. The range is 2 MiB + 1 GiB +
    // 2 MiB + 3 pages: a block of each size, then three pages. The same on
    // a 3-level (start level 1, two tables) and a 4-level walk.
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
    for (const uint64_t vtcr : {vtcr_40_l1, vtcr_48_l0}) {
        Machine m(vtcr);
        CAPTURE(m->config().start_level);
        const uint64_t root = m.mem->tables_in_use();
        REQUIRE(m->map_range(Gfn{g}, Mfn{mf}, pages_2m + pages_1g + pages_2m + 3, P2mType::ram_rw, rwx).is_ok());
        CHECK(leaves(*m) == expect);
        // Level 2 tables for GiB 0 and 2, one level-3 table; a level-0
        // start adds one level-1 table.
        CHECK(m.mem->tables_in_use() == root + (m->config().start_level == level_0 ? 1 : 0) + 2 + 1);
        // Inside a block, lookup returns base + offset.
        const Stage2Leaf l = m->lookup(Gfn{pages_1g + 0x12345});
        CHECK(l.order == 18);
        CHECK(l.mfn == Mfn{2 * pages_1g + 0x12345});
    }
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

TEST_CASE("map_range_with_mfn_misaligned_to_gfn_uses_only_pages") {
    Machine m;
    // gfn 0 at mfn 0x100 (host-physical 1 MiB): no 2 MiB block can be used
    // although the gfn range is aligned (a block's output address must be
    // aligned to its size: the low bits are RES0, Arm ARM D8.3).
    constexpr Mfn misaligned{0x100};
    REQUIRE(m->map_range(Gfn{0}, misaligned, 2 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    const auto seen = leaves(*m);
    CHECK(seen.size() == 2 * pages_2m);
    for (const LeafSeen& s : seen) CHECK(s.order == 0);
    CHECK(m->lookup(Gfn{0x3FF}).mfn == Mfn{0x100 + 0x3FF});
}

TEST_CASE("map_range_beyond_the_ipa_space_or_the_pa_size_is_einval") {
    Machine m;
    CHECK(m->gfn_limit() == (uint64_t{1} << 28));  // 40-bit IPA
    CHECK(m->map_range(Gfn{m->gfn_limit() - 1}, Mfn{0}, 2, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m->map_range(Gfn{m->gfn_limit()}, Mfn{0}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    // An output address beyond PS (48 bits: mfn < 2^36) cannot be encoded.
    CHECK(m->map_range(Gfn{0}, Mfn{uint64_t{1} << 36}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m.mem->tables_in_use() == root_only);
    // The last gfn is mappable; it lies in the second concatenated table.
    REQUIRE(m->map_range(Gfn{m->gfn_limit() - 1}, Mfn{0}, 1, P2mType::ram_rw, rwx).is_ok());
    CHECK(m->index(m->gfn_limit() - 1, level_1) == 1023);
    // PS 40 (32-bit IPA config): mfn < 2^28.
    Machine small(vtcr_32_l1);
    CHECK(small->gfn_limit() == (uint64_t{1} << 20));
    CHECK(small->map_range(Gfn{0}, Mfn{uint64_t{1} << 28}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(small->map_range(Gfn{(uint64_t{1} << 20) - 1}, Mfn{(uint64_t{1} << 28) - 1}, 1, P2mType::ram_rw, rwx).is_ok());
}

TEST_CASE("map_range_out_of_tables_leaves_the_table_as_it_was") {
    // Pool of 4 frames: the two root tables, a level-2 and a level-3 table
    // for the first mapping.
    Machine m(vtcr_default, 4);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->tables_in_use() == 4);
    const uint64_t before0 = m->raw_entry(Gfn{0});
    // 513 pages from gfn 0 at a misaligned mfn: 512 pages are rewritten in
    // the existing level-3 table, then gfn 512 needs a second one the pool
    // lacks.
    CHECK(m->map_range(Gfn{0}, Mfn{0x2100}, 513, P2mType::ram_ro, perm_of(P2mType::ram_ro)).code() == -ENOMEM);
    CHECK(m->raw_entry(Gfn{0}) == before0);
    CHECK(m->raw_entry(Gfn{1}) == 0);
    CHECK(m->raw_entry(Gfn{511}) == 0);
    CHECK(leaves(*m).size() == 1);
    CHECK(m.mem->tables_in_use() == 4);
}

TEST_CASE("map_range_out_of_tables_frees_the_tables_it_allocated") {
    Machine m(vtcr_default, 3);  // root (2) + level 2: the level-3 table is missing
    CHECK(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).code() == -ENOMEM);
    CHECK(m.mem->tables_in_use() == root_only);
    CHECK(m.entry(m->root(), 0) == 0);
}

TEST_CASE("a_block_written_over_a_table_frees_the_table_below") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->tables_in_use() == root_only + 2);  // level 2, level 3
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    CHECK(m.mem->tables_in_use() == root_only + 1);  // the level-3 table is gone
    CHECK(m->lookup(Gfn{0}).order == 9);
    CHECK(m->lookup(Gfn{0}).mfn == Mfn{0x200});
    // A 1 GiB block over the level-2 table frees it too.
    REQUIRE(m->map_range(Gfn{0}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    CHECK(m.mem->tables_in_use() == root_only);
}

TEST_CASE("set_4k_splits_a_2m_block_and_the_children_keep_the_mapping") {
    Machine m;
    // 2 MiB of RAM at gfn 0x200 -> mfn 0x400 (both 2 MiB aligned).
    REQUIRE(m->map_range(Gfn{0x200}, Mfn{0x400}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    const uint64_t parent = m->raw_entry(Gfn{0x200});
    const uint64_t tables = m.mem->tables_in_use();

    const Gfn target{0x205};
    REQUIRE(m->tables_needed_4k(target, 1) == 1);  // one level-3 table under the block's descriptor
    REQUIRE(m.mem->reserve_tables(1).is_ok());
    m->set_4k(target, Mfn{0x405}, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true));
    CHECK(m.mem->reserved() == 0);  // the prediction was used up exactly
    CHECK(m.mem->tables_in_use() == tables + 1);
    CHECK(D::is_table(m.entry_on_walk(0x205, level_2), level_2));

    const Stage2Leaf t = m->lookup(target);
    CHECK(t.type == P2mType::ioreq_server);
    CHECK(t.order == 0);
    CHECK(t.mfn == Mfn{0x405});
    // The other 511 children: the block's bits, bit 1 set (page), OA + i.
    for (uint64_t i = 0; i < pages_2m; ++i) {
        if (i == 5) continue;
        const Stage2Leaf c = m->lookup(Gfn{0x200 + i});
        CHECK(c.order == 0);
        CHECK(c.mfn == Mfn{0x400 + i});
        CHECK(c.type == P2mType::ram_rw);
        CHECK(m->raw_entry(Gfn{0x200 + i}) == ((parent | D::type_bit) + (i << 12)));
    }
}

TEST_CASE("set_4k_splits_a_1g_block_into_2m_blocks_then_the_covering_2m_into_pages") {
    Machine m;
    // 1 GiB at gfn 1 GiB -> mfn 2 GiB.
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    const Gfn target{pages_1g + 0x345};  // inside the first 2 MiB child
    REQUIRE(m->tables_needed_4k(target, 1) == 2);  // a level-2, then a level-3 table
    REQUIRE(m.mem->reserve_tables(2).is_ok());
    m->set_4k(target, Mfn{0x777}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK(m.mem->reserved() == 0);

    CHECK(m->lookup(target).mfn == Mfn{0x777});
    CHECK(m->lookup(target).type == P2mType::ram_ro);
    // Siblings in the split 2 MiB keep the mapping as pages.
    CHECK(m->lookup(Gfn{pages_1g + 0x346}).order == 0);
    CHECK(m->lookup(Gfn{pages_1g + 0x346}).mfn == Mfn{2 * pages_1g + 0x346});
    // Other 2 MiB children stay blocks; 0x40400 is in the third one.
    CHECK(m->lookup(Gfn{pages_1g + 0x400}).order == 9);
    CHECK(m->lookup(Gfn{pages_1g + 0x400}).mfn == Mfn{2 * pages_1g + 0x400});
    CHECK(m->lookup(Gfn{2 * pages_1g - 1}).mfn == Mfn{3 * pages_1g - 1});
    // 511 blocks of 2 MiB and 512 pages now cover the gigabyte.
    CHECK(leaves(*m).size() == 511 + 512);
}

TEST_CASE("splitting_a_typed_hole_block_keeps_the_children_invalid_and_typed") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{9}, 1)).is_ok());
    m->set_4k(Gfn{9}, Mfn{0x109}, P2mType::ram_rw, rwx);
    CHECK(m->lookup(Gfn{8}).type == P2mType::mmio_dm);
    CHECK(m->lookup(Gfn{8}).order == 0);
    CHECK_FALSE(D::is_valid(m->raw_entry(Gfn{8})));
    CHECK(D::is_valid(m->raw_entry(Gfn{9})));
}

TEST_CASE("tables_needed_4k_predicts_exactly_what_set_4k_takes") {
    Machine m;
    // gfn 0x000-0x1FF: a 2 MiB block (split needs 1 table)
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    // gfn 0x400: a page, so 0x400-0x5FF already has its level-3 table (needs 0)
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // gfn 0x200-0x3FF and 0x600-...: absent level-2 descriptors (1 table each)
    const Gfn first{0x1F0};
    const uint64_t nr = 0x600;  // 0x1F0 .. 0x7EF
    const uint64_t need = m->tables_needed_4k(first, nr);
    CHECK(need == 3);
    const uint64_t before = m.mem->tables_in_use();
    REQUIRE(m.mem->reserve_tables(need).is_ok());
    for (uint64_t g = first.raw(); g < first.raw() + nr; ++g)
        m->set_4k(Gfn{g}, Mfn{0x100}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK(m.mem->reserved() == 0);
    CHECK(m.mem->tables_in_use() == before + need);
}

TEST_CASE("tables_needed_4k_counts_whole_new_walks_across_root_boundaries") {
    struct Case {
        const char* what;
        uint64_t vtcr;
        uint64_t boundary;  // first gfn of a new start-level descriptor in another root frame
        uint64_t per_side;  // tables a lone page needs below the root
    };
    const Case cases[] = {
        // Default: level-1 descriptor 512 is the first of the second
        // concatenated table (512 GiB); a page needs level 2 + level 3.
        {"concatenated level-1 tables", vtcr_40_l1, 512 * pages_1g, 2},
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

TEST_CASE("raw_entry_is_the_leaf_or_the_descriptor_where_the_walk_stops") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // An invalid 2 MiB hole: the walk stops at its level-2 descriptor, which
    // has its type.
    CHECK(m->raw_entry(Gfn{3}) == m.entry_on_walk(3, level_2));
    CHECK(D::type_of(m->raw_entry(Gfn{3})) == P2mType::mmio_dm);
    CHECK(m->lookup(Gfn{3}).mapped);
    CHECK(m->lookup(Gfn{3}).order == 9);
    // A missing page in an existing level-3 table, and a missing level-1
    // descriptor: 0.
    CHECK(m->raw_entry(Gfn{pages_2m + 1}) == 0);
    CHECK(m->raw_entry(Gfn{pages_1g}) == 0);
    CHECK_FALSE(m->lookup(Gfn{pages_2m + 1}).mapped);
    // Beyond the IPA space: nothing.
    CHECK(m->raw_entry(Gfn{m->gfn_limit()}) == 0);
    CHECK_FALSE(m->lookup(Gfn{m->gfn_limit()}).mapped);
}

TEST_CASE("for_each_leaf_visits_valid_and_typed_invalid_leaves_in_gfn_order") {
    Machine m;
    const uint64_t far_gfn = 700 * pages_1g;  // level-1 descriptor 700: the second root table
    REQUIRE(m->map_range(Gfn{far_gfn}, Mfn{0x300}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{3}, Mfn{0}, 1, P2mType::invalid, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    const std::vector<LeafSeen> expect{
        {1, 0, 0x101, P2mType::ram_ro},
        {3, 0, 0, P2mType::invalid},
        {pages_2m, 9, 0, P2mType::mmio_dm},
        {pages_1g, 18, pages_1g, P2mType::ram_rw},
        {far_gfn, 0, 0x300, P2mType::ram_rw},
    };
    CHECK(leaves(*m) == expect);
}

TEST_CASE("mark_recalc_all_invalidates_and_marks_only_the_valid_start_level_descriptors") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());                  // level-1 [0]: table
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());  // [1]: 1 GiB block
    REQUIRE(m->map_range(Gfn{2 * pages_1g}, Mfn{0}, pages_1g, P2mType::mmio_dm, Perm{}).is_ok());  // [2]: typed hole
    REQUIRE(m->map_range(Gfn{600 * pages_1g}, Mfn{0x300}, 1, P2mType::ram_rw, rwx).is_ok());      // [600]: second table
    const uint64_t l1_0 = m.entry(m->root(), 0);
    const uint64_t l1_1 = m.entry(m->root(), 1);
    const uint64_t l1_2 = m.entry(m->root(), 2);
    const uint64_t l1_600 = m.entry(m->root(), 600);
    const uint64_t l2 = m.entry_on_walk(0, level_2);
    m->mark_recalc_all();
    constexpr uint64_t mark = uint64_t{1} << 59;
    CHECK(m.entry(m->root(), 0) == ((l1_0 & ~D::valid) | mark));
    CHECK(m.entry(m->root(), 1) == ((l1_1 & ~D::valid) | mark));
    CHECK(m.entry(m->root(), 600) == ((l1_600 & ~D::valid) | mark));
    CHECK(m.entry(m->root(), 2) == l1_2);  // already invalid: not changeable, no mark
    for (unsigned i = 3; i < 1024; ++i)
        if (i != 600) CHECK(m.entry(m->root(), i) == 0);
    CHECK(m.entry_on_walk(0, level_2) == l2);  // O(root): nothing below changes
    CHECK(m->lookup(Gfn{0}).recalc_pending);
    CHECK(m->lookup(Gfn{pages_1g + 5}).recalc_pending);
    CHECK(m->lookup(Gfn{0}).type == P2mType::ram_rw);  // lookup reports the stored type
}

TEST_CASE("resolve_pushes_marks_down_the_walk_and_recalcs_only_the_reached_table") {
    Machine m;
    // Two level-3 tables of pages (gfn 0-1023 at a misaligned mfn), and a
    // 2 MiB block at gfn 0x400, all under one level-2 table.
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 2 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x400}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();

    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{5}, policy));
    // Exactly the 512 pages of the level-3 table holding gfn 5, in order.
    REQUIRE(policy.calls.size() == pages_2m);
    for (uint64_t i = 0; i < pages_2m; ++i) CHECK(policy.calls[i] == RecordingPolicy::Call{i, 0, P2mType::ram_rw});
    // The walk to gfn 5 is valid again at every level, with no mark.
    CHECK_FALSE(m->lookup(Gfn{5}).recalc_pending);
    CHECK(D::is_valid(m.entry(m->root(), 0)));
    CHECK(D::is_valid(m.entry_on_walk(5, level_2)));
    CHECK(m->raw_entry(Gfn{5}) == D::encode_leaf(Mfn{0x105}, P2mType::ram_rw, rwx, MemClass::normal, level_3));
    // Siblings in the level-2 table got the mark pushed, not resolved: the
    // other level-3 table's descriptor and the 2 MiB block.
    CHECK(D::marked(m.entry_on_walk(600, level_2)));
    CHECK(m->lookup(Gfn{600}).recalc_pending);
    CHECK(m->lookup(Gfn{0x400}).recalc_pending);
    CHECK(D::marked(m->raw_entry(Gfn{0x400})));

    // Nothing is left on that walk.
    policy.calls.clear();
    CHECK_FALSE(m->resolve(Gfn{5}, policy));
    CHECK(policy.calls.empty());
}

TEST_CASE("resolve_recalcs_a_marked_block_once_with_its_order") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x400}, pages_2m, P2mType::ram_logdirty, perm_of(P2mType::ram_logdirty))
                .is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    // The walk to 0x456 ends at the 2 MiB block: the level-2 table is the
    // last one. Its marked block is recalculated; its marked table
    // descriptor (gfn 0-511) is not a leaf and stays marked.
    CHECK(m->resolve(Gfn{0x456}, policy));
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0] == RecordingPolicy::Call{0x400, 9, P2mType::ram_logdirty});
    // p2m_recalc_type: unclaimed log-dirty becomes ram_rw.
    CHECK(m->lookup(Gfn{0x456}).type == P2mType::ram_rw);
    CHECK(m->lookup(Gfn{0x456}).order == 9);
    CHECK(m->raw_entry(Gfn{0x456}) == D::encode_leaf(Mfn{0x400}, P2mType::ram_rw, rwx, MemClass::normal, level_2));
    CHECK(m->lookup(Gfn{0}).recalc_pending);
}

TEST_CASE("a_marked_1g_block_in_the_root_is_recalculated_by_the_root_table") {
    // The start level holds blocks too: the root is then the last table.
    Machine m;
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty, perm_of(P2mType::ram_logdirty))
                .is_ok());
    REQUIRE(m->map_range(Gfn{513 * pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty,
                         perm_of(P2mType::ram_logdirty))
                .is_ok());  // in the second root table
    m->mark_recalc_all();
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{pages_1g + 7}, policy));
    // Only the 4 KiB root table holding descriptor 1; descriptor 513 waits.
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0] == RecordingPolicy::Call{pages_1g, 18, P2mType::ram_logdirty});
    CHECK(m->raw_entry(Gfn{pages_1g}) == D::encode_leaf(Mfn{pages_1g}, P2mType::ram_rw, rwx, MemClass::normal, level_1));
    CHECK(m->lookup(Gfn{513 * pages_1g}).recalc_pending);
    policy.calls.clear();
    CHECK(m->resolve(Gfn{513 * pages_1g}, policy));
    CHECK(policy.calls == std::vector<RecordingPolicy::Call>{{513 * pages_1g, 18, P2mType::ram_logdirty}});
}

TEST_CASE("resolve_applies_the_policy_type_and_rights") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{2}, 1)).is_ok());
    m->set_4k(Gfn{2}, Mfn{0x102}, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true));
    m->mark_recalc_all();

    // Claim still held: ioreq_server stays, read only, XN.
    RecordingPolicy kept;
    kept.ioreq_claimed = true;
    CHECK(m->resolve(Gfn{2}, kept));
    CHECK(kept.calls.size() == 4);  // the four valid pages of the level-3 table
    CHECK(m->raw_entry(Gfn{2}) == D::encode_leaf(Mfn{0x102}, P2mType::ioreq_server,
                                                 perm_of(P2mType::ioreq_server, true), MemClass::normal, level_3));

    // Disclaimed: the next round turns it into ram_rw with full rights.
    m->mark_recalc_all();
    RecordingPolicy reset;
    CHECK(m->resolve(Gfn{0}, reset));
    CHECK(m->lookup(Gfn{2}).type == P2mType::ram_rw);
    CHECK(m->raw_entry(Gfn{2}) == D::encode_leaf(Mfn{0x102}, P2mType::ram_rw, rwx, MemClass::normal, level_3));
}

TEST_CASE("resolve_without_marks_returns_false_and_calls_nothing") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    RecordingPolicy policy;
    CHECK_FALSE(m->resolve(Gfn{0}, policy));
    CHECK_FALSE(m->resolve(Gfn{pages_1g}, policy));  // absent level-1 descriptor
    CHECK(policy.calls.empty());
}

TEST_CASE("invalid_leaves_take_no_mark") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{1}, Mfn{0}, 1, P2mType::mmio_dm, Perm{}).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{1}, policy));  // marks were pushed on the walk
    // Only the valid page (gfn 0) was marked and recalculated.
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0].gfn == 0);
    CHECK_FALSE(D::marked(m->raw_entry(Gfn{1})));
}

TEST_CASE("set_4k_under_a_pending_mark_keeps_the_siblings_pending") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 8, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{3}, 1)).is_ok());
    m->set_4k(Gfn{3}, Mfn{0x103}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    // The mark went down the walk before the write: the new page is final
    // (and valid), its siblings still owe a recalculation.
    CHECK_FALSE(m->lookup(Gfn{3}).recalc_pending);
    CHECK(m->lookup(Gfn{3}).type == P2mType::ram_ro);
    CHECK(D::is_valid(m->raw_entry(Gfn{3})));
    CHECK(m->lookup(Gfn{4}).recalc_pending);
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{3}, policy));
    CHECK(policy.calls.size() == 7);  // gfns 0-2 and 4-7
}

TEST_CASE("set_4k_inside_a_marked_block_splits_it_into_marked_pages") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_logdirty, perm_of(P2mType::ram_logdirty)).is_ok());
    m->mark_recalc_all();
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{7}, 1)).is_ok());
    m->set_4k(Gfn{7}, Mfn{0x207}, P2mType::ram_rw, rwx);
    CHECK_FALSE(m->lookup(Gfn{7}).recalc_pending);
    // The other 511 children inherit the block's mark (and stay invalid).
    CHECK(m->lookup(Gfn{8}).recalc_pending);
    CHECK(D::marked(m->raw_entry(Gfn{8})));
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{8}, policy));
    CHECK(policy.calls.size() == 511);
    CHECK(m->lookup(Gfn{8}).type == P2mType::ram_rw);
}

TEST_CASE("map_range_under_a_pending_mark_pushes_it_first_and_undoes_it_on_enomem") {
    Machine m(vtcr_default, 5);  // root (2) + level 2 + level 3 + one spare
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    const uint64_t l1 = m.entry(m->root(), 0);
    m->mark_recalc_all();
    // gfn 2 only: the level-1 mark goes down to level 2 and then the level-2
    // mark to the pages; the new page is final.
    REQUIRE(m->map_range(Gfn{2}, Mfn{0x302}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    CHECK_FALSE(m->lookup(Gfn{2}).recalc_pending);
    CHECK(m->lookup(Gfn{3}).recalc_pending);
    // Back to a marked root, then a range that runs out of tables half-way:
    // every push of the mark is undone with the rest.
    m->mark_recalc_all();
    const uint64_t l1_marked = m.entry(m->root(), 0);
    CHECK(l1_marked == D::mark(l1));
    const uint64_t l2_before = m.entry_on_walk(0, level_2);
    CHECK(m->map_range(Gfn{0}, Mfn{0x1100}, 3 * pages_2m, P2mType::ram_ro, perm_of(P2mType::ram_ro)).code() ==
          -ENOMEM);
    CHECK(m.entry(m->root(), 0) == l1_marked);
    CHECK(m.entry_on_walk(0, level_2) == l2_before);
    CHECK(m.mem->tables_in_use() == 4);
}

TEST_CASE("destroying_the_table_returns_every_table_frame") {
    for (const uint64_t vtcr : {vtcr_40_l1, vtcr_48_l0, vtcr_43_l1}) {
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
