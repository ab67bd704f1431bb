// The NPT as a p2m table: the leaf sizes map_range picks, all-or-nothing
// on -ENOMEM, splitting superpages in set_4k with exactly the reserved
// frames, lookup/raw_entry/for_each_leaf, and lazy recalculation by marks
// (Xen's p2m-pt: U/S and A cleared, here with AVL bit 11 as the mark).
#include "npt_test_support.hpp"

#include <utility>

using namespace npt_test;
using E = NptEntry;

namespace {

struct LeafSeen {
    uint64_t gfn;
    unsigned order;
    uint64_t mfn;
    P2mType type;
    bool operator==(const LeafSeen&) const = default;
};

std::vector<LeafSeen> leaves(const Npt& npt) {
    std::vector<LeafSeen> out;
    npt.for_each_leaf([&](Gfn g, const Stage2Leaf& l) {
        CHECK(l.mapped);
        out.push_back({g.raw(), l.order, l.mfn.raw(), l.type});
    });
    return out;
}

// The root table itself (the only table alive in a fresh Npt).
constexpr uint64_t root_only = 1;

// An entry without the mark, as encode_table/encode_leaf write it: U/S and
// A set, bit 11 clear.
bool clean(uint64_t e) { return (e & (E::us | E::accessed)) == (E::us | E::accessed) && !E::marked(e); }
// An entry carrying the mark: U/S and A clear, bit 11 set (Xen's set_recalc).
bool carries_mark(uint64_t e) { return (e & (E::us | E::accessed)) == 0 && E::marked(e); }

}  // namespace

TEST_CASE("map_range_uses_1g_2m_and_4k_leaves_as_alignment_allows") {
    Machine m;
    // gfn 0x3FE00 is 2 MiB aligned, 2 MiB short of 1 GiB; mfn is the same
    // plus 1 GiB, so both are aligned alike. The range is 2 MiB + 1 GiB +
    // 2 MiB + 3 pages: one leaf of each size, then three 4 KiB leaves.
    const uint64_t g = pages_1g - pages_2m;
    const uint64_t mf = g + pages_1g;
    REQUIRE(m->map_range(Gfn{g}, Mfn{mf}, pages_2m + pages_1g + pages_2m + 3, P2mType::ram_rw, rwx).is_ok());
    const std::vector<LeafSeen> expect{
        {g, 9, mf, P2mType::ram_rw},
        {pages_1g, 18, pages_1g + pages_1g, P2mType::ram_rw},
        {2 * pages_1g, 9, 2 * pages_1g + pages_1g, P2mType::ram_rw},
        {2 * pages_1g + pages_2m + 0, 0, 3 * pages_1g + pages_2m + 0, P2mType::ram_rw},
        {2 * pages_1g + pages_2m + 1, 0, 3 * pages_1g + pages_2m + 1, P2mType::ram_rw},
        {2 * pages_1g + pages_2m + 2, 0, 3 * pages_1g + pages_2m + 2, P2mType::ram_rw},
    };
    CHECK(leaves(*m) == expect);
    // PML4 + PDPT + two PDs (1 GiB regions 0 and 2) + one PT.
    CHECK(m.mem->tables_in_use() == 5);
    // Inside a superpage, lookup returns base + offset.
    const Stage2Leaf l = m->lookup(Gfn{pages_1g + 0x12345});
    CHECK(l.order == 18);
    CHECK(l.mfn == Mfn{2 * pages_1g + 0x12345});
}

TEST_CASE("map_range_with_mfn_misaligned_to_gfn_uses_only_4k_leaves") {
    Machine m;
    // gfn 0 at mfn 0x100 (host-physical 1 MiB): no 2 MiB leaf can be used
    // although the gfn range is aligned (a 2 MiB leaf's address bits 20:13
    // are reserved, §5.4.1).
    constexpr Mfn misaligned{0x100};
    REQUIRE(m->map_range(Gfn{0}, misaligned, 2 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    const auto seen = leaves(*m);
    CHECK(seen.size() == 2 * pages_2m);
    for (const LeafSeen& s : seen) CHECK(s.order == 0);
    CHECK(m->lookup(Gfn{0x3FF}).mfn == Mfn{0x100 + 0x3FF});
}

TEST_CASE("map_range_beyond_the_48_bit_gpa_space_is_einval") {
    Machine m;
    CHECK(m->gfn_limit() == (uint64_t{1} << 36));  // 48-bit GPA, 4 KiB pages
    CHECK(m->map_range(Gfn{m->gfn_limit() - 1}, Mfn{0}, 2, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m->map_range(Gfn{m->gfn_limit()}, Mfn{0}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    // A frame beyond MAXPHYADDR (48 bits: mfn < 2^36) cannot be encoded.
    CHECK(m->map_range(Gfn{0}, Mfn{uint64_t{1} << 36}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m.mem->tables_in_use() == root_only);
    // The last gfn is mappable, and so is the last frame.
    CHECK(m->map_range(Gfn{m->gfn_limit() - 1}, Mfn{(uint64_t{1} << 36) - 1}, 1, P2mType::ram_rw, rwx).is_ok());
    CHECK(m->lookup(Gfn{m->gfn_limit() - 1}).mfn == Mfn{(uint64_t{1} << 36) - 1});
}

TEST_CASE("map_range_out_of_tables_leaves_the_table_as_it_was") {
    // Pool of 4 frames: PML4, PDPT, PD and one PT for the first mapping.
    Machine m(4);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->tables_in_use() == 4);
    const uint64_t before0 = m->raw_entry(Gfn{0});
    // 513 pages from gfn 0 at a misaligned mfn: 512 PTEs are rewritten in
    // the existing PT, then gfn 512 needs a second PT that the pool lacks.
    CHECK(m->map_range(Gfn{0}, Mfn{0x2100}, 513, P2mType::ram_ro, perm_of(P2mType::ram_ro)).code() == -ENOMEM);
    CHECK(m->raw_entry(Gfn{0}) == before0);
    CHECK(m->raw_entry(Gfn{1}) == 0);
    CHECK(m->raw_entry(Gfn{511}) == 0);
    CHECK(leaves(*m).size() == 1);
    CHECK(m.mem->tables_in_use() == 4);
}

TEST_CASE("map_range_out_of_tables_frees_the_tables_it_allocated") {
    Machine m(3);  // PML4 + PDPT + PD: the PT for a 4 KiB leaf is missing
    CHECK(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).code() == -ENOMEM);
    CHECK(m.mem->tables_in_use() == root_only);
    CHECK(m.entry(m->root(), 0) == 0);
}

TEST_CASE("map_range_out_of_tables_undoes_a_pushed_mark") {
    // The mark pushed down while descending a marked pointer is part of the
    // transaction: on -ENOMEM the pointer is marked again and the children
    // as they were.
    Machine m(4);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    const uint64_t pml4e = m.entry(m->root(), 0);
    const uint64_t pdpte = m.entry_on_walk(0, level_pdpt);
    CHECK(m->map_range(Gfn{pages_2m}, Mfn{0x300}, 1, P2mType::ram_rw, rwx).code() == -ENOMEM);
    CHECK(m.entry(m->root(), 0) == pml4e);
    CHECK(m.entry_on_walk(0, level_pdpt) == pdpte);
    CHECK(carries_mark(pml4e));
    CHECK(clean(pdpte));
}

TEST_CASE("a_superpage_written_over_a_table_frees_the_table_below") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->tables_in_use() == 4);  // PML4, PDPT, PD, PT
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    CHECK(m.mem->tables_in_use() == 3);  // the PT is gone
    CHECK(m->lookup(Gfn{0}).order == 9);
    CHECK(m->lookup(Gfn{0}).mfn == Mfn{0x200});
}

TEST_CASE("set_4k_splits_a_2m_leaf_and_the_children_keep_the_mapping") {
    Machine m;
    // 2 MiB of RAM at gfn 0x200 -> mfn 0x400 (both 2 MiB aligned).
    REQUIRE(m->map_range(Gfn{0x200}, Mfn{0x400}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    const uint64_t parent = m->raw_entry(Gfn{0x200});
    const uint64_t tables = m.mem->tables_in_use();

    const Gfn target{0x205};
    REQUIRE(m->tables_needed_4k(target, 1) == 1);  // one PT under the PDE
    REQUIRE(m.mem->reserve_tables(1).is_ok());
    m->set_4k(target, Mfn{0x405}, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true));
    CHECK(m.mem->reserved() == 0);  // the prediction was used up exactly
    CHECK(m.mem->tables_in_use() == tables + 1);

    const Stage2Leaf t = m->lookup(target);
    CHECK(t.type == P2mType::ioreq_server);
    CHECK(t.order == 0);
    CHECK(t.mfn == Mfn{0x405});
    CHECK(m->raw_entry(target) == E::encode_leaf(Mfn{0x405}, P2mType::ioreq_server,
                                                 perm_of(P2mType::ioreq_server, true), MemClass::normal, level_pt));
    // The other 511 children: the parent's bits with PS cleared (bit 7 of a
    // PTE is PAT), frame + i.
    for (uint64_t i = 0; i < pages_2m; ++i) {
        if (i == 5) continue;
        const Stage2Leaf c = m->lookup(Gfn{0x200 + i});
        CHECK(c.order == 0);
        CHECK(c.mfn == Mfn{0x400 + i});
        CHECK(c.type == P2mType::ram_rw);
        CHECK(m->raw_entry(Gfn{0x200 + i}) == ((parent & ~E::ps) + (i << 12)));
    }
}

TEST_CASE("set_4k_splits_a_1g_leaf_into_2m_leaves_then_the_covering_2m_into_4k") {
    Machine m;
    // 1 GiB at gfn 1 GiB -> mfn 2 GiB.
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    const uint64_t parent = m->raw_entry(Gfn{pages_1g});
    const Gfn target{pages_1g + 0x345};  // inside the first 2 MiB child
    REQUIRE(m->tables_needed_4k(target, 1) == 2);  // a PD, then a PT
    REQUIRE(m.mem->reserve_tables(2).is_ok());
    m->set_4k(target, Mfn{0x777}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK(m.mem->reserved() == 0);

    CHECK(m->lookup(target).mfn == Mfn{0x777});
    CHECK(m->lookup(target).type == P2mType::ram_ro);
    // Siblings in the split 2 MiB keep the mapping as 4 KiB leaves.
    CHECK(m->lookup(Gfn{pages_1g + 0x346}).order == 0);
    CHECK(m->lookup(Gfn{pages_1g + 0x346}).mfn == Mfn{2 * pages_1g + 0x346});
    // Other 2 MiB children stay 2 MiB leaves (PS kept); 0x40400 is in the third one.
    CHECK(m->lookup(Gfn{pages_1g + 0x400}).order == 9);
    CHECK(m->lookup(Gfn{pages_1g + 0x400}).mfn == Mfn{2 * pages_1g + 0x400});
    CHECK(m->raw_entry(Gfn{pages_1g + 0x400}) == parent + (uint64_t{0x400} << 12));
    CHECK(m->lookup(Gfn{2 * pages_1g - 1}).mfn == Mfn{3 * pages_1g - 1});
    // 511 leaves of 2 MiB and 512 of 4 KiB now cover the gigabyte.
    CHECK(leaves(*m).size() == 511 + 512);
}

TEST_CASE("tables_needed_4k_predicts_exactly_what_set_4k_takes") {
    Machine m;
    // gfn 0x000-0x1FF: a 2 MiB leaf (split needs 1 PT)
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    // gfn 0x400: a 4 KiB leaf, so 0x400-0x5FF already has its PT (needs 0)
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // gfn 0x200-0x3FF and 0x600-...: absent PDEs (1 PT each)
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

TEST_CASE("tables_needed_4k_counts_a_1g_split_as_a_pd_plus_one_pt_per_2m_touched") {
    Machine m;
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    // 0x3FF pages from the last page of the first 2 MiB child: the PD, then
    // a PT for each of the children 0, 1 and 2 it touches.
    const Gfn first{pages_1g + pages_2m - 1};
    const uint64_t nr = 2 * pages_2m + 1;
    CHECK(m->tables_needed_4k(first, nr) == 1 + 3);
    REQUIRE(m.mem->reserve_tables(4).is_ok());
    for (uint64_t g = first.raw(); g < first.raw() + nr; ++g)
        m->set_4k(Gfn{g}, Mfn{g}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK(m.mem->reserved() == 0);
    CHECK(m->tables_needed_4k(first, nr) == 0);
}

TEST_CASE("tables_needed_4k_counts_whole_new_walks_across_a_pml4_boundary") {
    Machine m;
    // A PML4 entry covers 2^27 gfns (512 GiB). Two gfns either side of the
    // first boundary, in an empty table: PDPT + PD + PT on each side.
    const Gfn first{(uint64_t{1} << 27) - 1};
    CHECK(m->tables_needed_4k(first, 2) == 6);
    REQUIRE(m.mem->reserve_tables(6).is_ok());
    m->set_4k(first, Mfn{0x100}, P2mType::ram_rw, rwx);
    m->set_4k(first + 1, Mfn{0x101}, P2mType::ram_rw, rwx);
    CHECK(m.mem->reserved() == 0);
    // A second call on the same gfns needs nothing.
    CHECK(m->tables_needed_4k(first, 2) == 0);
    CHECK(m->tables_needed_4k(Gfn{0}, 0) == 0);
}

TEST_CASE("raw_entry_is_the_leaf_or_the_entry_where_the_walk_stops") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // A not-present 2 MiB hole: the walk stops at its PDE, which has its type.
    CHECK(m->raw_entry(Gfn{3}) == m.entry_on_walk(3, level_pd));
    CHECK(E::type_of(m->raw_entry(Gfn{3})) == P2mType::mmio_dm);
    CHECK(m->lookup(Gfn{3}).mapped);
    CHECK(m->lookup(Gfn{3}).order == 9);
    // A missing PTE in an existing PT, and a missing PDPE: 0.
    CHECK(m->raw_entry(Gfn{pages_2m + 1}) == 0);
    CHECK(m->raw_entry(Gfn{uint64_t{1} << 18}) == 0);
    CHECK_FALSE(m->lookup(Gfn{pages_2m + 1}).mapped);
}

TEST_CASE("for_each_leaf_visits_present_and_typed_not_present_leaves_in_gfn_order") {
    Machine m;
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{3}, Mfn{0}, 1, P2mType::invalid, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    const std::vector<LeafSeen> expect{
        {1, 0, 0x101, P2mType::ram_ro},
        {3, 0, 0, P2mType::invalid},
        {pages_2m, 9, 0, P2mType::mmio_dm},
        {pages_1g, 18, pages_1g, P2mType::ram_rw},
    };
    CHECK(leaves(*m) == expect);
}

TEST_CASE("mark_recalc_all_clears_user_and_accessed_on_the_present_pml4_entries_only") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const uint64_t pml4e = m.entry(m->root(), 0);
    const uint64_t pdpte = m.entry_on_walk(0, level_pdpt);
    m->mark_recalc_all();
    // U/S (bit 2) and A (bit 5) cleared, bit 11 set: Xen's set_recalc plus the mark.
    CHECK(m.entry(m->root(), 0) == ((pml4e & ~uint64_t{0x24}) | 0x800));
    for (unsigned i = 1; i < entries_per_table; ++i) CHECK(m.entry(m->root(), i) == 0);
    CHECK(m.entry_on_walk(0, level_pdpt) == pdpte);  // O(root): nothing below changes
    CHECK(m->lookup(Gfn{0}).recalc_pending);
    CHECK(m->lookup(Gfn{0}).type == P2mType::ram_rw);  // lookup reports the stored type
    // for_each_leaf reports the mark above the leaf too.
    m->for_each_leaf([](Gfn, const Stage2Leaf& l) { CHECK(l.recalc_pending); });
}

TEST_CASE("resolve_pushes_marks_down_the_walk_and_recalcs_only_the_reached_table") {
    Machine m;
    // Two PTs of 4 KiB leaves (gfn 0-1023 at a misaligned mfn), and a 2 MiB
    // leaf at gfn 0x400, all under one PD.
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 2 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x400}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();

    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{5}, policy));
    // Exactly the 512 leaves of the PT holding gfn 5, once each, in order.
    REQUIRE(policy.calls.size() == pages_2m);
    for (uint64_t i = 0; i < pages_2m; ++i)
        CHECK(policy.calls[i] == RecordingPolicy::Call{i, 0, P2mType::ram_rw});
    // The walk to gfn 5 is clean: PML4E, PDPE, PDE and PTE have U/S and A back.
    CHECK_FALSE(m->lookup(Gfn{5}).recalc_pending);
    CHECK(clean(m.entry(m->root(), 0)));
    CHECK(clean(m.entry_on_walk(5, level_pdpt)));
    CHECK(clean(m.entry_on_walk(5, level_pd)));
    // The leaf is rewritten whole, as encode_leaf writes it.
    CHECK(m->raw_entry(Gfn{5}) == E::encode_leaf(Mfn{0x105}, P2mType::ram_rw, rwx, MemClass::normal, level_pt));
    // Siblings in the PD got the mark pushed, not resolved: the other PT's
    // pointer and the 2 MiB leaf.
    CHECK(carries_mark(m.entry_on_walk(600, level_pd)));
    CHECK(m->lookup(Gfn{600}).recalc_pending);
    CHECK(m->lookup(Gfn{0x400}).recalc_pending);
    CHECK(carries_mark(m->raw_entry(Gfn{0x400})));

    // Nothing is left on that walk.
    policy.calls.clear();
    CHECK_FALSE(m->resolve(Gfn{5}, policy));
    CHECK(policy.calls.empty());
}

TEST_CASE("resolve_recalcs_a_marked_superpage_leaf_once_with_its_order") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x400}, pages_2m, P2mType::ram_logdirty,
                         perm_of(P2mType::ram_logdirty))
                .is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    // The walk to 0x456 ends at the 2 MiB leaf: the PD is the last table.
    // Its marked leaf is recalculated; its marked PT pointer (gfn 0-511) is
    // a pointer, not a leaf, and stays marked.
    CHECK(m->resolve(Gfn{0x456}, policy));
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0] == RecordingPolicy::Call{0x400, 9, P2mType::ram_logdirty});
    // p2m_recalc_type: unclaimed log-dirty becomes ram_rw.
    CHECK(m->lookup(Gfn{0x456}).type == P2mType::ram_rw);
    CHECK(m->lookup(Gfn{0x456}).order == 9);
    CHECK(m->raw_entry(Gfn{0x456}) == E::encode_leaf(Mfn{0x400}, P2mType::ram_rw, rwx, MemClass::normal, level_pd));
    CHECK(m->lookup(Gfn{0}).recalc_pending);
}

TEST_CASE("resolve_recalcs_a_marked_1g_leaf_reached_from_the_pml4") {
    Machine m;
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty,
                         perm_of(P2mType::ram_logdirty))
                .is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{pages_1g + 7}, policy));
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0] == RecordingPolicy::Call{pages_1g, 18, P2mType::ram_logdirty});
    CHECK(m->raw_entry(Gfn{pages_1g}) ==
          E::encode_leaf(Mfn{pages_1g}, P2mType::ram_rw, rwx, MemClass::normal, level_pdpt));
}

TEST_CASE("resolve_applies_the_policy_type_and_rights") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{2}, 1)).is_ok());
    m->set_4k(Gfn{2}, Mfn{0x102}, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true));
    m->mark_recalc_all();

    // Claim still held: ioreq_server stays, read-only and NX, U/S back.
    RecordingPolicy kept;
    kept.ioreq_claimed = true;
    CHECK(m->resolve(Gfn{2}, kept));
    CHECK(kept.calls.size() == 4);  // the four present leaves of the PT
    CHECK(m->raw_entry(Gfn{2}) == E::encode_leaf(Mfn{0x102}, P2mType::ioreq_server,
                                                 perm_of(P2mType::ioreq_server, true), MemClass::normal, level_pt));

    // Disclaimed: the next round turns it into ram_rw with full rights.
    m->mark_recalc_all();
    RecordingPolicy reset;
    CHECK(m->resolve(Gfn{0}, reset));
    CHECK(m->lookup(Gfn{2}).type == P2mType::ram_rw);
    CHECK(m->raw_entry(Gfn{2}) == E::encode_leaf(Mfn{0x102}, P2mType::ram_rw, rwx, MemClass::normal, level_pt));
}

TEST_CASE("resolve_without_marks_returns_false_and_calls_nothing") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    RecordingPolicy policy;
    CHECK_FALSE(m->resolve(Gfn{0}, policy));
    CHECK_FALSE(m->resolve(Gfn{uint64_t{1} << 30}, policy));  // absent PML4E
    CHECK(policy.calls.empty());
}

TEST_CASE("not_present_entries_take_no_mark") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{1}, Mfn{0}, 1, P2mType::mmio_dm, Perm{}).is_ok());
    const uint64_t hole = m->raw_entry(Gfn{1});
    m->mark_recalc_all();
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{1}, policy));  // marks were pushed on the walk
    // Only the present leaf (gfn 0) was marked and recalculated.
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0].gfn == 0);
    CHECK(m->raw_entry(Gfn{1}) == hole);
}

TEST_CASE("set_4k_under_a_pending_mark_keeps_the_siblings_pending") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 8, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{3}, 1)).is_ok());
    m->set_4k(Gfn{3}, Mfn{0x103}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    // The mark went down the walk before the write: the new leaf is final,
    // its siblings still owe a recalculation.
    CHECK_FALSE(m->lookup(Gfn{3}).recalc_pending);
    CHECK(m->lookup(Gfn{3}).type == P2mType::ram_ro);
    CHECK(m->lookup(Gfn{4}).recalc_pending);
    CHECK(carries_mark(m->raw_entry(Gfn{4})));
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{3}, policy));
    CHECK(policy.calls.size() == 7);  // gfns 0-2 and 4-7
}

TEST_CASE("splitting_a_marked_superpage_gives_marked_children") {
    // After one resolve pushed the mark onto a 2 MiB leaf, set_4k inside it
    // splits it: the 511 other children inherit the mark (and owe the
    // recalculation), the written leaf does not.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    RecordingPolicy first;
    REQUIRE(m->resolve(Gfn{0}, first));
    REQUIRE(carries_mark(m->raw_entry(Gfn{pages_2m})));
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{pages_2m + 9}, 1)).is_ok());
    m->set_4k(Gfn{pages_2m + 9}, Mfn{0x999}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK_FALSE(m->lookup(Gfn{pages_2m + 9}).recalc_pending);
    CHECK(carries_mark(m->raw_entry(Gfn{pages_2m + 8})));
    CHECK(m->lookup(Gfn{pages_2m + 8}).mfn == Mfn{pages_2m + 8});
    RecordingPolicy second;
    CHECK(m->resolve(Gfn{pages_2m + 8}, second));
    CHECK(second.calls.size() == pages_2m - 1);
    CHECK(m->raw_entry(Gfn{pages_2m + 8}) ==
          E::encode_leaf(Mfn{pages_2m + 8}, P2mType::ram_rw, rwx, MemClass::normal, level_pt));
}

TEST_CASE("destroying_the_npt_returns_every_table_frame") {
    auto mem = MachineMemory::create(4 * mib, 64);
    REQUIRE(mem.is_ok());
    {
        auto npt = Npt::create(**mem);
        REQUIRE(npt.is_ok());
        REQUIRE((*npt)->map_range(Gfn{0}, Mfn{0x100}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
        REQUIRE((*npt)->map_range(Gfn{uint64_t{1} << 27}, Mfn{0}, 1, P2mType::ram_rw, rwx).is_ok());
        CHECK((*mem)->tables_in_use() > 1);
    }
    CHECK((*mem)->tables_in_use() == 0);
}
