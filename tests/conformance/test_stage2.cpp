// SPDX-License-Identifier: MIT
// The stage-2 contract (hvcore/core/stage2.hpp), written once and run on
// every backend this build links: the entry format's golden values and
// round trips, the table (leaf choice, all-or-nothing map_range, splits
// with exactly the reserved frames, lookup, raw_entry, for_each_leaf),
// lazy recalculation by marks, and the model MMU's fault records and their
// decode. What differs between EPT, NPT, Arm64 and RISC-V comes from the traits
// (stage2_traits_*.hpp); the scenarios do not.
//
// Backends: each backend folder registers its traits
// (arch/<b>/tests/CMakeLists.txt, hvcore_stage2_traits) and the build
// generates stage2_backends.hpp with those of the linked backends, so a
// one-backend preset instantiates its traits alone. Test names end in
// <ept>, <npt>, <arm64> or <riscv64>.
//
// Numbers: sizes are pages_2m, pages_1g and pages_512g (stage2_traits.hpp);
// mfn 0x1234 is the frame of the golden leaves; mfn 0x100 (host-physical
// 1 MiB) is not 2 MiB aligned, so a range mapped there takes 4 KiB leaves;
// other gfns, mfns and byte offsets are arbitrary, chosen distinct so that
// a wrong frame or address shows.
#include "stage2_traits.hpp"
// Generated: includes each linked backend's traits, Stage2Backends lists them.
#include "stage2_backends.hpp"

using conformance::stage2::Stage2Backends;
static_assert(std::tuple_size_v<Stage2Backends> > 0, "the suite needs at least one backend");

using namespace conformance::stage2;

namespace {

// The whole record of a refused access against what the manual says.
template <class B>
void check_record(const Translation& t, const FaultSpec& s) {
    CHECK_FALSE(t.ok);
    const FaultRecord want = B::expected_record(s);
    CHECK(t.record.arch == want.arch);
    CHECK(t.record.kind == want.kind);
    CHECK(t.record.syndrome == want.syndrome);
    CHECK(t.record.gpa == want.gpa);
    CHECK(t.record.gva == want.gva);
    CHECK(t.record.insn_len == want.insn_len);
    CHECK(t.record.insn == want.insn);
}

// The record decodes back to the access that produced it (when the format
// records the access at all), its address and its cause.
template <class B>
void check_decode(const Stage2& s2, const FaultRecord& r, const FaultSpec& s) {
    const Fault f = s2.decode_fault(r);
    CHECK(f.gpa == s.gpa);
    CHECK(f.cause == s.cause);
    if (s.cause != FaultCause::recalc || B::recalc_record_has_access) CHECK(f.access == s.access);
    CHECK(f.gla == B::decoded_gla(s));
}

// Translates and checks both the record and its decode.
template <class B>
void check_refused(Stage2& s2, const FaultSpec& s) {
    CAPTURE(static_cast<int>(s.access));
    const Translation t = s2.translate(s.gpa, s.access, s.ctx);
    check_record<B>(t, s);
    check_decode<B>(s2, t.record, s);
}

// The entries on the walk to gfn, root first, down to (and including) the
// entry of `lowest` order.
template <class B>
std::vector<uint64_t> walk_entries(Machine<B>& m, uint64_t gfn, unsigned lowest) {
    std::vector<uint64_t> out;
    for (unsigned o = B::root_entry_order;; o -= order_step) {
        out.push_back(m.entry_at(gfn, o));
        if (o == lowest) return out;
    }
}

// A table pointer exactly as encode_table writes it: no mark, nothing else.
template <class B>
bool clean_pointer(uint64_t e) {
    return e != 0 && e == B::encode_table(B::frame(e));
}

}  // namespace

// --- the entry format ---------------------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("every_type_has_its_golden_4k_leaf_claimed_and_not", B, golden_encode) {
    for (const Golden& g : B::goldens) {
        CAPTURE(to_string(g.t));
        CAPTURE(g.claimed);
        CHECK(B::encode_leaf(Mfn{0x1234}, g.t, perm_of(g.t, g.claimed), p2m_mem_class(g.t), 0) == g.value);
    }
    // The table covers every type, unclaimed and claimed.
    CHECK(std::size(B::goldens) == 2 * std::size(all_p2m_types));
}
TEST_CASE_TEMPLATE_APPLY(golden_encode, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_writes_exactly_the_golden_leaf", B, golden_table) {
    for (const Golden& g : B::goldens) {
        CAPTURE(to_string(g.t));
        CAPTURE(g.claimed);
        Machine<B> m;
        REQUIRE(m->map_range(Gfn{7}, Mfn{0x1234}, 1, g.t, perm_of(g.t, g.claimed)).is_ok());
        CHECK(m->raw_entry(Gfn{7}) == g.value);
    }
}
TEST_CASE_TEMPLATE_APPLY(golden_table, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("decode_inverts_encode_for_every_type_claim_and_leaf_order", B, decode_encode) {
    for (const unsigned order : B::leaf_orders) {
        CAPTURE(order);
        const Mfn mfn{uint64_t{3} << order};  // aligned for the order
        for (P2mType t : all_p2m_types) {
            for (bool claimed : {false, true}) {
                CAPTURE(to_string(t));
                CAPTURE(claimed);
                const Perm p = perm_of(t, claimed);
                const uint64_t e = B::encode_leaf(mfn, t, p, p2m_mem_class(t), order);
                const DecodedLeaf f = B::decode_leaf(e, order);
                CHECK(f.mfn == mfn);
                CHECK(f.type == t);
                CHECK(f.perm == p);
                CHECK(f.mem == p2m_mem_class(t));
                CHECK(f.present == (p != Perm{}));
                CHECK_FALSE(f.recalc);
                CHECK(B::is_leaf(e, order));
            }
        }
    }
}
TEST_CASE_TEMPLATE_APPLY(decode_encode, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("no_entry_hvcore_writes_is_zero_and_an_absent_gfn_reads_as_unmapped_mmio_dm", B,
                          zero_is_absent) {
    // Zero is what an absent entry reads as, so no leaf may encode to it:
    // not even a rightless ram_rw (type 0) at mfn 0.
    for (const unsigned order : B::leaf_orders) {
        for (P2mType t : all_p2m_types) {
            CAPTURE(order);
            CAPTURE(to_string(t));
            for (const Perm p : {perm_of(t, false), perm_of(t, true), Perm{}})
                CHECK(B::encode_leaf(Mfn{0}, t, p, p2m_mem_class(t), order) != 0);
        }
    }
    CHECK(B::encode_table(MachineMemory::table_base_mfn) != 0);
    CHECK(B::decode_leaf(0, 0).type == P2mType::mmio_dm);
    Machine<B> m;
    CHECK(m->raw_entry(Gfn{0x1234}) == 0);
    CHECK(m->lookup(Gfn{0x1234}).type == P2mType::mmio_dm);
    CHECK_FALSE(m->lookup(Gfn{0x1234}).mapped);
}
TEST_CASE_TEMPLATE_APPLY(zero_is_absent, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_takes_exactly_the_rights_the_format_can_express_and_the_walk_obeys_them", B,
                          rights) {
    // Every combination of R, W and X: refused with -EINVAL (and nothing
    // written) if the format has no entry for it, else mapped as asked.
    for (const bool r : {false, true}) {
        for (const bool w : {false, true}) {
            for (const bool x : {false, true}) {
                const Perm p{.r = r, .w = w, .x = x};
                CAPTURE(r);
                CAPTURE(w);
                CAPTURE(x);
                Machine<B> m;
                const Status s = m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, p);
                if (!B::encodable(p)) {
                    CHECK(s.code() == -EINVAL);
                    CHECK(m->raw_entry(Gfn{0}) == 0);
                    CHECK(m.mem->tables_in_use() == B::root_frames);
                    continue;
                }
                REQUIRE(s.is_ok());
                const DecodedLeaf f = B::decode_leaf(m->raw_entry(Gfn{0}), 0);
                CHECK(f.perm == p);
                CHECK(f.present == (p != Perm{}));
                // The leaf allows exactly those accesses: execute-only and
                // write-only too, where the format has them.
                for (AccessType a : all_access) {
                    const Translation t = m->translate(Gpa{0x10}, a, AccessContext{});
                    CHECK(t.ok == allows(p, a));
                    if (t.ok) continue;
                    check_refused<B>(*m, {.access = a,
                                          .cause = p == Perm{} ? FaultCause::not_present : FaultCause::permission,
                                          .order = 0,
                                          .rights = p,
                                          .gpa = Gpa{0x10},
                                          .ctx = {}});
                }
            }
        }
    }
}
TEST_CASE_TEMPLATE_APPLY(rights, Stage2Backends);

// --- the table ------------------------------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("map_range_uses_1g_2m_and_4k_leaves_as_alignment_allows", B, largest_leaves) {
    Machine<B> m;
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
    // The root, the tables between it and the 1 GiB entries (x86: a PDPT),
    // a 2 MiB-level table for GiB 0 and one for GiB 2, one 4 KiB-level table.
    CHECK(m.mem->tables_in_use() == B::root_frames + tables_below_root<B>(18) + 2 + 1);
    // Inside a superpage, lookup returns base + offset.
    const Stage2Leaf l = m->lookup(Gfn{pages_1g + 0x12345});
    CHECK(l.order == 18);
    CHECK(l.mfn == Mfn{2 * pages_1g + 0x12345});
}
TEST_CASE_TEMPLATE_APPLY(largest_leaves, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_with_mfn_misaligned_to_gfn_uses_only_4k_leaves", B, misaligned) {
    Machine<B> m;
    // gfn 0 at mfn 0x100 (host-physical 1 MiB): no 2 MiB leaf can be used
    // although the gfn range is aligned (a superpage's frame must be
    // aligned to its size in every format).
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 2 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    const auto seen = leaves(*m);
    CHECK(seen.size() == 2 * pages_2m);
    for (const LeafSeen& s : seen) CHECK(s.order == 0);
    CHECK(m->lookup(Gfn{0x3FF}).mfn == Mfn{0x100 + 0x3FF});
}
TEST_CASE_TEMPLATE_APPLY(misaligned, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_beyond_the_gfn_or_mfn_limit_is_einval_and_allocates_nothing", B, limits) {
    Machine<B> m;
    CHECK(m->gfn_limit() == B::gfn_limit);
    CHECK(m->map_range(Gfn{B::gfn_limit - 1}, Mfn{0}, 2, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m->map_range(Gfn{B::gfn_limit}, Mfn{0}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m->map_range(Gfn{0}, Mfn{B::mfn_limit}, 1, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m->map_range(Gfn{0}, Mfn{B::mfn_limit - 1}, 2, P2mType::ram_rw, rwx).code() == -EINVAL);
    CHECK(m.mem->tables_in_use() == B::root_frames);
    // The last gfn is mappable, and so is the last frame.
    CHECK(m->map_range(Gfn{B::gfn_limit - 1}, Mfn{B::mfn_limit - 1}, 1, P2mType::ram_rw, rwx).is_ok());
    CHECK(m->lookup(Gfn{B::gfn_limit - 1}).mfn == Mfn{B::mfn_limit - 1});
}
TEST_CASE_TEMPLATE_APPLY(limits, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_out_of_tables_leaves_the_table_as_it_was", B, enomem_unchanged) {
    // A pool of exactly the root and one walk to a 4 KiB leaf.
    const uint64_t pool = B::root_frames + tables_below_root<B>(0);
    Machine<B> m(pool);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->tables_in_use() == pool);
    const uint64_t before0 = m->raw_entry(Gfn{0});
    // 513 pages from gfn 0 at a misaligned mfn: 512 leaves are rewritten in
    // the existing 4 KiB-level table, then gfn 512 needs a second one that
    // the pool lacks.
    CHECK(m->map_range(Gfn{0}, Mfn{0x2100}, 513, P2mType::ram_ro, perm_of(P2mType::ram_ro)).code() == -ENOMEM);
    CHECK(m->raw_entry(Gfn{0}) == before0);
    CHECK(m->raw_entry(Gfn{1}) == 0);
    CHECK(m->raw_entry(Gfn{511}) == 0);
    CHECK(leaves(*m).size() == 1);
    CHECK(m.mem->tables_in_use() == pool);
}
TEST_CASE_TEMPLATE_APPLY(enomem_unchanged, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_out_of_tables_frees_the_tables_it_allocated", B, enomem_frees) {
    // One table short of a walk to a 4 KiB leaf.
    Machine<B> m(B::root_frames + tables_below_root<B>(0) - 1);
    CHECK(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).code() == -ENOMEM);
    CHECK(m.mem->tables_in_use() == B::root_frames);
    CHECK(m.root_entry(0) == 0);
}
TEST_CASE_TEMPLATE_APPLY(enomem_frees, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("map_range_under_a_mark_pushes_it_first_and_undoes_the_push_on_enomem", B, enomem_marks) {
    // The root, one walk to a 4 KiB leaf, and one spare table.
    const uint64_t used = B::root_frames + tables_below_root<B>(0);
    Machine<B> m(used + 1);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    const uint64_t root0 = m.root_entry(0);
    m->mark_recalc_all();
    // gfn 2 alone: the mark goes down the walk before the write; the new
    // leaf is final, its siblings still owe a recalculation.
    REQUIRE(m->map_range(Gfn{2}, Mfn{0x302}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    CHECK_FALSE(m->lookup(Gfn{2}).recalc_pending);
    CHECK(m->lookup(Gfn{3}).recalc_pending);
    // Marked root again, then a range that runs out of tables half-way
    // (gfn 512-1535 at a misaligned mfn need two new tables, one is
    // spare): every push of the mark is undone with the rest.
    m->mark_recalc_all();
    const std::vector<uint64_t> before = walk_entries(m, 0, 0);
    CHECK(before.front() == B::mark(root0));
    CHECK(clean_pointer<B>(before[1]));
    CHECK(m->map_range(Gfn{0}, Mfn{0x1100}, 3 * pages_2m, P2mType::ram_ro, perm_of(P2mType::ram_ro)).code() ==
          -ENOMEM);
    CHECK(walk_entries(m, 0, 0) == before);
    CHECK(m.mem->tables_in_use() == used);
}
TEST_CASE_TEMPLATE_APPLY(enomem_marks, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_larger_leaf_written_over_a_table_frees_the_tables_below", B, superpage_frees) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->tables_in_use() == B::root_frames + tables_below_root<B>(0));
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    CHECK(m.mem->tables_in_use() == B::root_frames + tables_below_root<B>(9));  // the 4 KiB-level table is gone
    CHECK(m->lookup(Gfn{0}).order == 9);
    CHECK(m->lookup(Gfn{0}).mfn == Mfn{0x200});
    // A 1 GiB leaf over the 2 MiB-level table frees it too.
    REQUIRE(m->map_range(Gfn{0}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    CHECK(m.mem->tables_in_use() == B::root_frames + tables_below_root<B>(18));
    CHECK(m->lookup(Gfn{0}).order == 18);
}
TEST_CASE_TEMPLATE_APPLY(superpage_frees, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("set_4k_splits_a_2m_leaf_and_the_children_keep_the_mapping", B, split_2m) {
    Machine<B> m;
    // 2 MiB of RAM at gfn 0x200 -> mfn 0x400 (both 2 MiB aligned).
    REQUIRE(m->map_range(Gfn{0x200}, Mfn{0x400}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    const uint64_t tables = m.mem->tables_in_use();

    const Gfn target{0x205};
    const Perm claimed = perm_of(P2mType::ioreq_server, true);
    REQUIRE(m->tables_needed_4k(target, 1) == 1);  // one 4 KiB-level table under the 2 MiB entry
    REQUIRE(m.mem->reserve_tables(1).is_ok());
    m->set_4k(target, Mfn{0x405}, P2mType::ioreq_server, claimed);
    CHECK(m.mem->reserved() == 0);  // the prediction was used up exactly
    CHECK(m.mem->tables_in_use() == tables + 1);
    CHECK(clean_pointer<B>(m.entry_at(0x205, 9)));  // the 2 MiB entry now points at that table

    const Stage2Leaf t = m->lookup(target);
    CHECK(t.type == P2mType::ioreq_server);
    CHECK(t.order == 0);
    CHECK(t.mfn == Mfn{0x405});
    CHECK(m->raw_entry(target) == B::encode_leaf(Mfn{0x405}, P2mType::ioreq_server, claimed, MemClass::normal, 0));
    // The other 511 children: the parent's mapping as 4 KiB leaves, frame + i.
    for (uint64_t i = 0; i < pages_2m; ++i) {
        if (i == 5) continue;
        CAPTURE(i);
        const Stage2Leaf c = m->lookup(Gfn{0x200 + i});
        CHECK(c.order == 0);
        CHECK(c.mfn == Mfn{0x400 + i});
        CHECK(c.type == P2mType::ram_rw);
        CHECK(m->raw_entry(Gfn{0x200 + i}) ==
              B::encode_leaf(Mfn{0x400 + i}, P2mType::ram_rw, rwx, MemClass::normal, 0));
    }
}
TEST_CASE_TEMPLATE_APPLY(split_2m, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("set_4k_splits_a_1g_leaf_into_2m_leaves_then_the_covering_2m_into_4k", B, split_1g) {
    Machine<B> m;
    // 1 GiB at gfn 1 GiB -> mfn 2 GiB.
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    const Gfn target{pages_1g + 0x345};  // inside the first 2 MiB child
    REQUIRE(m->tables_needed_4k(target, 1) == 2);  // a 2 MiB-level, then a 4 KiB-level table
    REQUIRE(m.mem->reserve_tables(2).is_ok());
    m->set_4k(target, Mfn{0x777}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK(m.mem->reserved() == 0);

    CHECK(m->lookup(target).mfn == Mfn{0x777});
    CHECK(m->lookup(target).type == P2mType::ram_ro);
    // Siblings in the split 2 MiB keep the mapping as 4 KiB leaves.
    CHECK(m->lookup(Gfn{pages_1g + 0x346}).order == 0);
    CHECK(m->lookup(Gfn{pages_1g + 0x346}).mfn == Mfn{2 * pages_1g + 0x346});
    // Other 2 MiB children stay 2 MiB leaves; 1 GiB + 0x400 is in the third.
    CHECK(m->lookup(Gfn{pages_1g + 0x400}).order == 9);
    CHECK(m->lookup(Gfn{pages_1g + 0x400}).mfn == Mfn{2 * pages_1g + 0x400});
    CHECK(m->raw_entry(Gfn{pages_1g + 0x400}) ==
          B::encode_leaf(Mfn{2 * pages_1g + 0x400}, P2mType::ram_rw, rwx, MemClass::normal, 9));
    CHECK(m->lookup(Gfn{2 * pages_1g - 1}).mfn == Mfn{3 * pages_1g - 1});
    // 511 leaves of 2 MiB and 512 of 4 KiB now cover the gigabyte.
    CHECK(leaves(*m).size() == 511 + 512);
}
TEST_CASE_TEMPLATE_APPLY(split_1g, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("splitting_a_typed_hole_keeps_the_children_not_present_and_typed", B, split_hole) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{9}, 1)).is_ok());
    m->set_4k(Gfn{9}, Mfn{0x109}, P2mType::ram_rw, rwx);
    CHECK(m->lookup(Gfn{8}).type == P2mType::mmio_dm);
    CHECK(m->lookup(Gfn{8}).order == 0);
    // A child keeps the hole's bits and frame (0) + its index, as any split.
    CHECK(m->raw_entry(Gfn{8}) == B::encode_leaf(Mfn{8}, P2mType::mmio_dm, Perm{}, MemClass::device, 0));
    CHECK_FALSE(B::decode_leaf(m->raw_entry(Gfn{8}), 0).present);
    CHECK(B::decode_leaf(m->raw_entry(Gfn{9}), 0).present);
}
TEST_CASE_TEMPLATE_APPLY(split_hole, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("tables_needed_4k_predicts_exactly_what_set_4k_takes", B, predict) {
    Machine<B> m;
    // gfn 0x000-0x1FF: a 2 MiB leaf (a split needs 1 table)
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    // gfn 0x400: a 4 KiB leaf, so 0x400-0x5FF already has its table (needs 0)
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // gfn 0x200-0x3FF and 0x600-...: absent 2 MiB entries (1 table each)
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
TEST_CASE_TEMPLATE_APPLY(predict, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("tables_needed_4k_counts_a_1g_split_as_one_table_plus_one_per_2m_touched", B, predict_1g) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    // 1025 pages from the last page of the first 2 MiB child: the 2 MiB-
    // level table, then a 4 KiB-level table for each of the children 0, 1
    // and 2 it touches.
    const Gfn first{pages_1g + pages_2m - 1};
    const uint64_t nr = 2 * pages_2m + 1;
    CHECK(m->tables_needed_4k(first, nr) == 1 + 3);
    REQUIRE(m.mem->reserve_tables(4).is_ok());
    for (uint64_t g = first.raw(); g < first.raw() + nr; ++g)
        m->set_4k(Gfn{g}, Mfn{g}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK(m.mem->reserved() == 0);
    CHECK(m->tables_needed_4k(first, nr) == 0);
}
TEST_CASE_TEMPLATE_APPLY(predict_1g, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("tables_needed_4k_counts_whole_new_walks_either_side_of_the_512g_boundary", B,
                          predict_boundary) {
    // gfns 512 GiB - 4 KiB and 512 GiB, in an empty table: two root
    // entries, in different root frames on Arm64. Each side needs a whole
    // walk below the root.
    Machine<B> m;
    const Gfn first{pages_512g - 1};
    const uint64_t per_side = tables_below_root<B>(0);
    CHECK(m->tables_needed_4k(first, 2) == 2 * per_side);
    REQUIRE(m.mem->reserve_tables(2 * per_side).is_ok());
    m->set_4k(first, Mfn{0x100}, P2mType::ram_rw, rwx);
    m->set_4k(first + 1, Mfn{0x101}, P2mType::ram_rw, rwx);
    CHECK(m.mem->reserved() == 0);
    CHECK(m->lookup(first).mfn == Mfn{0x100});
    CHECK(m->lookup(first + 1).mfn == Mfn{0x101});
    // A second call on the same gfns needs nothing.
    CHECK(m->tables_needed_4k(first, 2) == 0);
    CHECK(m->tables_needed_4k(Gfn{0}, 0) == 0);
}
TEST_CASE_TEMPLATE_APPLY(predict_boundary, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("raw_entry_is_the_leaf_or_the_entry_where_the_walk_stops", B, raw_entry) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // A not-present 2 MiB hole: the walk stops at its entry, which has its type.
    CHECK(m->raw_entry(Gfn{3}) == m.entry_at(3, 9));
    CHECK(B::decode_leaf(m->raw_entry(Gfn{3}), 9).type == P2mType::mmio_dm);
    CHECK(m->lookup(Gfn{3}).mapped);
    CHECK(m->lookup(Gfn{3}).order == 9);
    // A missing 4 KiB entry in an existing table, a missing 1 GiB entry, a
    // missing root entry (700 GiB), and a gfn beyond the table: 0.
    CHECK(m->raw_entry(Gfn{pages_2m + 1}) == 0);
    CHECK(m->raw_entry(Gfn{pages_1g}) == 0);
    CHECK(m->raw_entry(Gfn{700 * pages_1g}) == 0);
    CHECK(m->raw_entry(Gfn{B::gfn_limit}) == 0);
    CHECK_FALSE(m->lookup(Gfn{pages_2m + 1}).mapped);
    CHECK_FALSE(m->lookup(Gfn{B::gfn_limit}).mapped);
}
TEST_CASE_TEMPLATE_APPLY(raw_entry, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("for_each_leaf_visits_present_and_typed_not_present_leaves_in_gfn_order", B, visit) {
    Machine<B> m;
    const uint64_t far_gfn = 700 * pages_1g;  // beyond 512 GiB: another root entry, in Arm64's second root frame
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
TEST_CASE_TEMPLATE_APPLY(visit, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("destroying_the_table_returns_every_table_frame", B, destroy) {
    auto mem = MachineMemory::create(4 * mib, 64);
    REQUIRE(mem.is_ok());
    {
        auto t = B::create(**mem);
        REQUIRE(t.is_ok());
        REQUIRE((*t)->map_range(Gfn{0}, Mfn{0x100}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
        REQUIRE((*t)->map_range(Gfn{B::gfn_limit - 1}, Mfn{0}, 1, P2mType::ram_rw, rwx).is_ok());
        CHECK((*mem)->tables_in_use() > B::root_frames);
    }
    CHECK((*mem)->tables_in_use() == 0);
}
TEST_CASE_TEMPLATE_APPLY(destroy, Stage2Backends);

// --- lazy recalculation ---------------------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("mark_recalc_all_marks_exactly_the_present_root_entries", B, mark_all) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{2 * pages_1g}, Mfn{0}, pages_1g, P2mType::mmio_dm, Perm{}).is_ok());  // a typed hole
    REQUIRE(m->map_range(Gfn{600 * pages_1g}, Mfn{0x300}, 1, P2mType::ram_rw, rwx).is_ok());
    std::vector<uint64_t> root(Machine<B>::root_entries);
    for (uint64_t i = 0; i < root.size(); ++i) root[i] = m.root_entry(i);
    const uint64_t below = m.entry_at(0, B::root_entry_order - order_step);
    m->mark_recalc_all();
    unsigned marked = 0;
    for (uint64_t i = 0; i < root.size(); ++i) {
        CAPTURE(i);
        if (root[i] != 0 && B::present(root[i])) {
            CHECK(m.root_entry(i) == B::mark(root[i]));
            ++marked;
        } else {
            CHECK(m.root_entry(i) == root[i]);  // absent or not present: not changeable, no mark
        }
    }
    CHECK(marked > 0);
    CHECK(m.entry_at(0, B::root_entry_order - order_step) == below);  // O(root): nothing below changes
    for (const uint64_t g : {uint64_t{0}, pages_1g + 5, 600 * pages_1g}) {
        CAPTURE(g);
        CHECK(m->lookup(Gfn{g}).recalc_pending);
        CHECK(m->lookup(Gfn{g}).type == P2mType::ram_rw);  // lookup reports the stored type
    }
    // for_each_leaf reports the mark above a leaf as lookup does.
    m->for_each_leaf([&](Gfn g, const Stage2Leaf& l) {
        CAPTURE(g.raw());
        CHECK(l.recalc_pending == m->lookup(g).recalc_pending);
    });
}
TEST_CASE_TEMPLATE_APPLY(mark_all, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("resolve_pushes_marks_one_level_down_and_recalcs_only_the_reached_table", B, resolve_push) {
    Machine<B> m;
    // Two 4 KiB-level tables (gfn 0-1023 at a misaligned mfn), and a 2 MiB
    // leaf at gfn 0x400, all under one 2 MiB-level table.
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 2 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x400}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();

    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{5}, policy));
    // Exactly the 512 leaves of the table holding gfn 5, once each, in order.
    REQUIRE(policy.calls.size() == pages_2m);
    for (uint64_t i = 0; i < pages_2m; ++i) CHECK(policy.calls[i] == RecordingPolicy::Call{i, 0, P2mType::ram_rw});
    // The walk to gfn 5 is clean: every table pointer as encode_table writes
    // it, and the leaf rewritten whole.
    CHECK_FALSE(m->lookup(Gfn{5}).recalc_pending);
    for (unsigned o = B::root_entry_order; o > 0; o -= order_step) {
        CAPTURE(o);
        CHECK(clean_pointer<B>(m.entry_at(5, o)));
    }
    CHECK(m->raw_entry(Gfn{5}) == B::encode_leaf(Mfn{0x105}, P2mType::ram_rw, rwx, MemClass::normal, 0));
    // Siblings in the 2 MiB-level table got the mark pushed, not resolved:
    // the other table's pointer and the 2 MiB leaf.
    CHECK(B::carries_mark(m.entry_at(600, 9)));
    CHECK(m->lookup(Gfn{600}).recalc_pending);
    CHECK(m->lookup(Gfn{0x400}).recalc_pending);
    CHECK(B::carries_mark(m->raw_entry(Gfn{0x400})));

    // Nothing is left on that walk.
    policy.calls.clear();
    CHECK_FALSE(m->resolve(Gfn{5}, policy));
    CHECK(policy.calls.empty());
}
TEST_CASE_TEMPLATE_APPLY(resolve_push, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("resolve_recalcs_a_marked_2m_leaf_once_with_its_order", B, resolve_2m) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{0x400}, Mfn{0x400}, pages_2m, P2mType::ram_logdirty, perm_of(P2mType::ram_logdirty))
                .is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    // The walk to 0x456 ends at the 2 MiB leaf: its table is the last one.
    // Its marked leaf is recalculated; its marked pointer (gfn 0-511) is not
    // a leaf and stays marked.
    CHECK(m->resolve(Gfn{0x456}, policy));
    REQUIRE(policy.calls.size() == 1);
    CHECK(policy.calls[0] == RecordingPolicy::Call{0x400, 9, P2mType::ram_logdirty});
    // p2m_recalc_type: unclaimed log-dirty becomes ram_rw.
    CHECK(m->lookup(Gfn{0x456}).type == P2mType::ram_rw);
    CHECK(m->lookup(Gfn{0x456}).order == 9);
    CHECK(m->raw_entry(Gfn{0x456}) == B::encode_leaf(Mfn{0x400}, P2mType::ram_rw, rwx, MemClass::normal, 9));
    CHECK(m->lookup(Gfn{0}).recalc_pending);
}
TEST_CASE_TEMPLATE_APPLY(resolve_2m, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("resolve_recalcs_a_marked_1g_leaf_alone_and_another_root_entry_waits", B, resolve_1g) {
    Machine<B> m;
    const Perm logdirty = perm_of(P2mType::ram_logdirty);
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty, logdirty).is_ok());
    // 513 GiB: under another root entry (x86: PML4E 1; Arm64: descriptor
    // 513, in the second root frame).
    const uint64_t far_gfn = 513 * pages_1g;
    REQUIRE(m->map_range(Gfn{far_gfn}, Mfn{pages_1g}, pages_1g, P2mType::ram_logdirty, logdirty).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{pages_1g + 7}, policy));
    CHECK(policy.calls == std::vector<RecordingPolicy::Call>{{pages_1g, 18, P2mType::ram_logdirty}});
    CHECK(m->raw_entry(Gfn{pages_1g}) == B::encode_leaf(Mfn{pages_1g}, P2mType::ram_rw, rwx, MemClass::normal, 18));
    CHECK(m->lookup(Gfn{far_gfn}).recalc_pending);
    policy.calls.clear();
    CHECK(m->resolve(Gfn{far_gfn}, policy));
    CHECK(policy.calls == std::vector<RecordingPolicy::Call>{{far_gfn, 18, P2mType::ram_logdirty}});
}
TEST_CASE_TEMPLATE_APPLY(resolve_1g, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("resolve_applies_the_policy_type_and_rights", B, resolve_policy) {
    Machine<B> m;
    const Perm claimed = perm_of(P2mType::ioreq_server, true);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{2}, 1)).is_ok());
    m->set_4k(Gfn{2}, Mfn{0x102}, P2mType::ioreq_server, claimed);
    m->mark_recalc_all();

    // Claim still held: ioreq_server stays, read only.
    RecordingPolicy kept;
    kept.ioreq_claimed = true;
    CHECK(m->resolve(Gfn{2}, kept));
    CHECK(kept.calls.size() == 4);  // the four present leaves of the table
    CHECK(m->raw_entry(Gfn{2}) == B::encode_leaf(Mfn{0x102}, P2mType::ioreq_server, claimed, MemClass::normal, 0));

    // Disclaimed: the next round turns it into ram_rw with full rights.
    m->mark_recalc_all();
    RecordingPolicy reset;
    CHECK(m->resolve(Gfn{0}, reset));
    CHECK(m->lookup(Gfn{2}).type == P2mType::ram_rw);
    CHECK(m->raw_entry(Gfn{2}) == B::encode_leaf(Mfn{0x102}, P2mType::ram_rw, rwx, MemClass::normal, 0));
}
TEST_CASE_TEMPLATE_APPLY(resolve_policy, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("resolve_without_marks_returns_false_and_calls_nothing", B, resolve_nothing) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 4, P2mType::ram_rw, rwx).is_ok());
    RecordingPolicy policy;
    CHECK_FALSE(m->resolve(Gfn{0}, policy));
    CHECK_FALSE(m->resolve(Gfn{pages_1g}, policy));        // absent 1 GiB entry
    CHECK_FALSE(m->resolve(Gfn{700 * pages_1g}, policy));  // absent root entry
    CHECK(policy.calls.empty());
}
TEST_CASE_TEMPLATE_APPLY(resolve_nothing, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("not_present_entries_take_no_mark", B, holes_unmarked) {
    Machine<B> m;
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
TEST_CASE_TEMPLATE_APPLY(holes_unmarked, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("set_4k_under_a_pending_mark_keeps_the_siblings_pending", B, set_under_mark) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 8, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{3}, 1)).is_ok());
    m->set_4k(Gfn{3}, Mfn{0x103}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    // The mark went down the walk before the write: the new leaf is final
    // (exactly as encode_leaf writes it), its siblings still owe a
    // recalculation.
    CHECK_FALSE(m->lookup(Gfn{3}).recalc_pending);
    CHECK(m->lookup(Gfn{3}).type == P2mType::ram_ro);
    CHECK(m->raw_entry(Gfn{3}) ==
          B::encode_leaf(Mfn{0x103}, P2mType::ram_ro, perm_of(P2mType::ram_ro), MemClass::normal, 0));
    CHECK(m->lookup(Gfn{4}).recalc_pending);
    CHECK(B::carries_mark(m->raw_entry(Gfn{4})));
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{3}, policy));
    CHECK(policy.calls.size() == 7);  // gfns 0-2 and 4-7
}
TEST_CASE_TEMPLATE_APPLY(set_under_mark, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("splitting_a_marked_2m_leaf_gives_marked_children", B, split_marked) {
    // After one resolve pushed the mark onto a 2 MiB leaf, set_4k inside it
    // splits it: the 511 other children inherit the mark (and owe the
    // recalculation), the written leaf does not.
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    RecordingPolicy first;
    REQUIRE(m->resolve(Gfn{0}, first));
    REQUIRE(B::carries_mark(m->raw_entry(Gfn{pages_2m})));
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{pages_2m + 9}, 1)).is_ok());
    m->set_4k(Gfn{pages_2m + 9}, Mfn{0x999}, P2mType::ram_ro, perm_of(P2mType::ram_ro));
    CHECK_FALSE(m->lookup(Gfn{pages_2m + 9}).recalc_pending);
    CHECK(B::carries_mark(m->raw_entry(Gfn{pages_2m + 8})));
    CHECK(m->lookup(Gfn{pages_2m + 8}).mfn == Mfn{pages_2m + 8});
    RecordingPolicy second;
    CHECK(m->resolve(Gfn{pages_2m + 8}, second));
    CHECK(second.calls.size() == pages_2m - 1);
    CHECK(m->raw_entry(Gfn{pages_2m + 8}) ==
          B::encode_leaf(Mfn{pages_2m + 8}, P2mType::ram_rw, rwx, MemClass::normal, 0));
}
TEST_CASE_TEMPLATE_APPLY(split_marked, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("set_4k_below_a_marked_root_splits_the_2m_leaf_into_marked_children", B, split_under_root) {
    // The mark still sits at the root: set_4k pushes it down to the 2 MiB
    // leaf, then splits that.
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_logdirty, perm_of(P2mType::ram_logdirty)).is_ok());
    m->mark_recalc_all();
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{7}, 1)).is_ok());
    m->set_4k(Gfn{7}, Mfn{0x207}, P2mType::ram_rw, rwx);
    CHECK_FALSE(m->lookup(Gfn{7}).recalc_pending);
    CHECK(m->lookup(Gfn{8}).recalc_pending);
    CHECK(B::carries_mark(m->raw_entry(Gfn{8})));
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{8}, policy));
    CHECK(policy.calls.size() == pages_2m - 1);
    CHECK(m->lookup(Gfn{8}).type == P2mType::ram_rw);  // p2m_recalc_type: unclaimed log-dirty becomes ram_rw
}
TEST_CASE_TEMPLATE_APPLY(split_under_root, Stage2Backends);

// --- the model MMU and its fault records ----------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("translate_reaches_the_4k_frame_inside_each_leaf_size", B, translate_ok) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{2 * pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    // Byte 0x123 of gfn 0; gfn 0x200 + 0x17 (2 MiB leaf); gfn 1 GiB + 0x2345.
    const Translation t4k = m->translate(Gpa{0x123}, AccessType::read, AccessContext{});
    CHECK(t4k.ok);
    CHECK(t4k.mfn == Mfn{0x100});
    const Translation t2m = m->translate(to_gpa(Gfn{pages_2m + 0x17}), AccessType::write, AccessContext{});
    CHECK(t2m.ok);
    CHECK(t2m.mfn == Mfn{2 * pages_2m + 0x17});
    const Translation t1g = m->translate(to_gpa(Gfn{pages_1g + 0x2345}), AccessType::fetch, AccessContext{});
    CHECK(t1g.ok);
    CHECK(t1g.mfn == Mfn{2 * pages_1g + 0x2345});
}
TEST_CASE_TEMPLATE_APPLY(translate_ok, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_write_to_a_read_only_leaf_of_each_order_is_a_permission_fault_at_that_leaf", B,
                          permission_each_order) {
    const Perm ro = perm_of(P2mType::ram_ro);
    for (const unsigned order : B::leaf_orders) {
        CAPTURE(order);
        Machine<B> m;
        const uint64_t pages = uint64_t{1} << order;
        const Gfn g{pages};  // aligned to its own size
        REQUIRE(m->map_range(g, Mfn{pages}, pages, P2mType::ram_ro, ro).is_ok());
        REQUIRE(m->lookup(g).order == order);
        const Gpa gpa{to_gpa(g).raw() + 0x18};  // byte 0x18 of the first page
        check_refused<B>(*m, {.access = AccessType::write, .cause = FaultCause::permission, .order = order,
                              .rights = ro, .gpa = gpa, .ctx = {}});
        // Reads and fetches pass.
        CHECK(m->translate(gpa, AccessType::read, AccessContext{}).ok);
        CHECK(m->translate(gpa, AccessType::fetch, AccessContext{}).ok);
    }
}
TEST_CASE_TEMPLATE_APPLY(permission_each_order, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("an_absent_entry_at_each_level_is_a_not_present_fault_for_every_access", B,
                          absent_each_level) {
    Machine<B> m;
    // One 4 KiB leaf at gfn 0 builds the tables on the walk to gfn 0.
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const struct {
        const char* where;
        uint64_t gfn;
        unsigned order;  // of the absent entry (capped at the root's)
    } holes[] = {
        {"4 KiB entry absent", 1, 0},
        {"2 MiB entry absent", pages_2m, 9},
        {"1 GiB entry absent", pages_1g, 18},
        {"entry beyond 512 GiB absent", pages_512g, 27},
        {"top gfn", B::gfn_limit - 1, 27},
    };
    for (const auto& h : holes) {
        CAPTURE(h.where);
        for (AccessType a : all_access) {
            const Gpa gpa{to_gpa(Gfn{h.gfn}).raw() + 0x40};
            check_refused<B>(*m, {.access = a, .cause = FaultCause::not_present, .order = stop_order<B>(h.order),
                                  .rights = {}, .gpa = gpa, .ctx = {}});
        }
    }
}
TEST_CASE_TEMPLATE_APPLY(absent_each_level, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_typed_hole_of_each_order_is_a_not_present_fault_for_every_access", B, typed_holes) {
    // A typed hole is an entry the hardware does not use, whatever its other
    // bits (type, frame, attributes).
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m + 1}, Mfn{0}, 1, P2mType::invalid, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{0}, pages_1g, P2mType::mmio_dm, Perm{}).is_ok());
    const struct {
        uint64_t gfn;
        unsigned order;
    } holes[] = {{1, 9}, {pages_2m + 1, 0}, {pages_1g + 3, 18}};
    for (const auto& h : holes) {
        CAPTURE(h.order);
        for (AccessType a : all_access)
            check_refused<B>(*m, {.access = a, .cause = FaultCause::not_present, .order = h.order, .rights = {},
                                  .gpa = to_gpa(Gfn{h.gfn}), .ctx = {}});
    }
}
TEST_CASE_TEMPLATE_APPLY(typed_holes, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_gpa_beyond_the_input_size_reaches_no_entry", B, beyond_input) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    // One past the last gfn, + 0x234: would alias gfn 0 if truncated.
    const Gpa wide{(B::gfn_limit << 12) + 0x234};
    for (AccessType a : all_access)
        check_refused<B>(*m, {.access = a, .cause = FaultCause::not_present, .order = B::out_of_range_order,
                              .rights = {}, .gpa = wide, .ctx = {}});
}
TEST_CASE_TEMPLATE_APPLY(beyond_input, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("the_record_holds_the_linear_address_where_the_format_has_room_for_it", B, linear_address) {
    Machine<B> m;
    const Perm ro = perm_of(P2mType::ram_ro);
    REQUIRE(m->map_range(Gfn{0x40}, Mfn{0x140}, 1, P2mType::ram_ro, ro).is_ok());
    // A guest virtual address unrelated to the GPA (a stage-1 mapping the
    // model does not walk), with the same page offset 0x678 as hardware
    // gives.
    const Gpa gpa{0x40'678};
    const AccessContext with_gla{.gla = 0xffff'8000'1234'5678, .gla_valid = true, .size = 4, .insn = {},
                                 .isa_syndrome = 0};
    check_refused<B>(*m, {.access = AccessType::write, .cause = FaultCause::permission, .order = 0, .rights = ro,
                          .gpa = gpa, .ctx = with_gla});
    // Without one.
    check_refused<B>(*m, {.access = AccessType::write, .cause = FaultCause::permission, .order = 0, .rights = ro,
                          .gpa = gpa, .ctx = {}});
}
TEST_CASE_TEMPLATE_APPLY(linear_address, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("after_mark_recalc_all_every_access_is_a_recalc_fault_until_resolved", B, recalc_fault) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    // The mark sits on the root entry: the walk stops there.
    for (AccessType a : all_access)
        check_refused<B>(*m, {.access = a, .cause = FaultCause::recalc, .order = B::root_entry_order, .rights = {},
                              .gpa = Gpa{0x10}, .ctx = {}});
    // Resolving clears the way; the access then succeeds.
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{0}, policy));
    CHECK(m->translate(Gpa{0x10}, AccessType::write, AccessContext{}).ok);
    CHECK(m->translate(Gpa{0x10}, AccessType::fetch, AccessContext{}).ok);
}
TEST_CASE_TEMPLATE_APPLY(recalc_fault, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_marked_leaf_below_clean_tables_is_a_recalc_fault_at_its_level", B, recalc_leaf) {
    // After one resolve pushed the mark down, a sibling 2 MiB leaf carries
    // the mark itself.
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    REQUIRE(m->resolve(Gfn{0}, policy));
    check_refused<B>(*m, {.access = AccessType::read, .cause = FaultCause::recalc, .order = 9, .rights = {},
                          .gpa = to_gpa(Gfn{pages_2m + 1}), .ctx = {}});
}
TEST_CASE_TEMPLATE_APPLY(recalc_leaf, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_refused_access_under_a_mark_is_recalc_first_then_permission", B, recalc_then_permission) {
    // A write to ram_ro below a marked root entry: the mark is resolved
    // first; the next try is the leaf's own permission fault.
    Machine<B> m;
    const Perm ro = perm_of(P2mType::ram_ro);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_ro, ro).is_ok());
    m->mark_recalc_all();
    check_refused<B>(*m, {.access = AccessType::write, .cause = FaultCause::recalc, .order = B::root_entry_order,
                          .rights = {}, .gpa = Gpa{0}, .ctx = {}});
    RecordingPolicy policy;
    REQUIRE(m->resolve(Gfn{0}, policy));
    check_refused<B>(*m, {.access = AccessType::write, .cause = FaultCause::permission, .order = 0, .rights = ro,
                          .gpa = Gpa{0}, .ctx = {}});
}
TEST_CASE_TEMPLATE_APPLY(recalc_then_permission, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("the_walk_changes_no_entry", B, walk_readonly) {
    // No format here has the walker set accessed or dirty flags (EPTP[6] =
    // 0; NPT presets A/D; Arm64 VTCR.HA = HD = 0).
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const std::vector<uint64_t> before = walk_entries(m, 0, 0);
    for (AccessType a : all_access) REQUIRE(m->translate(Gpa{0}, a, AccessContext{}).ok);
    CHECK(walk_entries(m, 0, 0) == before);
}
TEST_CASE_TEMPLATE_APPLY(walk_readonly, Stage2Backends);

// Every leaf order, p2m type and claim: a machine whose one leaf of that
// order maps gfn 3 * size -> mfn 5 * size (both aligned), with the rights
// of the type and claim, and the address of byte 0xabc of the leaf's last
// page; body(m, p, order, gpa) makes its accesses there.
template <typename B, typename Body>
void for_every_leaf(Body body) {
    for (const unsigned order : B::leaf_orders) {
        const uint64_t pages = uint64_t{1} << order;
        for (P2mType t : all_p2m_types) {
            for (bool claimed : {false, true}) {
                CAPTURE(order);
                CAPTURE(to_string(t));
                CAPTURE(claimed);
                Machine<B> m;
                const Perm p = perm_of(t, claimed);
                REQUIRE(m->map_range(Gfn{3 * pages}, Mfn{5 * pages}, pages, t, p).is_ok());
                REQUIRE(m->lookup(Gfn{3 * pages}).order == order);
                body(m, p, order, Gpa{((4 * pages - 1) << 12) + 0xabc});
            }
        }
    }
}

// The translation tr of a `checked_as` access to a leaf of for_every_leaf:
// allowed iff the rights allow it, then to the frame of the leaf's last
// page (mfn 6 * size - 1); refused, the record and its decode say so (some
// right -> a present leaf refused it; none -> a hole).
template <typename B>
void check_leaf_translation(Machine<B>& m, const Translation& tr, AccessType checked_as, Perm p, unsigned order,
                            Gpa gpa, const AccessContext& ctx) {
    CHECK(tr.ok == allows(p, checked_as));
    if (tr.ok) {
        CHECK(tr.mfn == Mfn{6 * (uint64_t{1} << order) - 1});
        return;
    }
    const FaultSpec s{.access = checked_as,
                      .cause = p == Perm{} ? FaultCause::not_present : FaultCause::permission,
                      .order = order,
                      .rights = p,
                      .gpa = gpa,
                      .ctx = ctx};
    check_record<B>(tr, s);
    check_decode<B>(*m, tr.record, s);
}

TEST_CASE_TEMPLATE_DEFINE("decode_of_translate_round_trips_for_every_type_claim_access_and_leaf_order", B, round_trip) {
    for_every_leaf<B>([](Machine<B>& m, Perm p, unsigned order, Gpa gpa) {
        const AccessContext ctx = B::guest_access(0x7000'0abc);
        for (AccessType a : all_access) {
            CAPTURE(static_cast<int>(a));
            check_leaf_translation<B>(m, m->translate(gpa, a, ctx), a, p, order, gpa, ctx);
        }
    });
}
TEST_CASE_TEMPLATE_APPLY(round_trip, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("the_read_of_a_read_modify_write_is_checked_and_reported_as_the_manual_says", B, rmw_read) {
    // x86 checks and reports it as a write, Arm64 as a read (the traits
    // cite the manuals); every type, claim and leaf order, as round_trip.
    for_every_leaf<B>([](Machine<B>& m, Perm p, unsigned order, Gpa gpa) {
        AccessContext ctx = B::guest_access(0x7000'0abc);
        ctx.isa_syndrome = 0;  // no ISV: an atomic (Arm64) has none
        ctx.rmw = true;
        check_leaf_translation<B>(m, m->translate(gpa, AccessType::read, ctx), B::rmw_read_faults_as, p, order, gpa,
                                  ctx);
    });
}
TEST_CASE_TEMPLATE_APPLY(rmw_read, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("golden_the_read_of_a_read_modify_write_of_an_mmio_dm_hole", B, rmw_golden) {
    // One 4 KiB mmio_dm leaf at gfn 0x40; the read at byte 0x678 of it.
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0x40}, Mfn{0}, 1, P2mType::mmio_dm, Perm{}).is_ok());
    const Gpa gpa{0x40'678};
    AccessContext ctx = B::guest_access(0x40'678);
    ctx.isa_syndrome = 0;
    ctx.rmw = true;
    const Translation t = m->translate(gpa, AccessType::read, ctx);
    REQUIRE_FALSE(t.ok);
    CHECK(t.record.syndrome == B::rmw_hole_syndrome);
    CHECK(m->decode_fault(t.record).access == B::rmw_read_faults_as);
    // The same access without the mark is a plain read.
    ctx.rmw = false;
    const Translation plain = m->translate(gpa, AccessType::read, ctx);
    REQUIRE_FALSE(plain.ok);
    CHECK(m->decode_fault(plain.record).access == AccessType::read);
}
TEST_CASE_TEMPLATE_APPLY(rmw_golden, Stage2Backends);

// --- owners of ioreq_server leaves ------------------------------------------------------
//
// Every ioreq_server leaf keeps the id (0..7) of the ioreq server that owns
// it (Stage2Leaf::owner): in the entry where the format has room (EPT
// 60:58, NPT 58:56, Arm64 codes 8..14 of the type field), beside the table
// for RISC-V G-stage (s2::OwnerSide). The scenarios below hold on every
// backend; where the owner lives shows only in the raw entries.

namespace {

class RecordingCounter final : public TypeCounter {
public:
    std::vector<Delta> deltas;
    void counted(const Delta& d) override { deltas.push_back(d); }
};

constexpr uint16_t type_bit(P2mType t) { return static_cast<uint16_t>(1U << static_cast<unsigned>(t)); }

// A change to `to` that every stored type may make, with owner `owner`.
TypeChange change(P2mType to, Perm p, uint8_t owner = 0) {
    TypeChange c{.to = to, .perm = p, .allowed = 0xffff, .allowed_marked = 0xffff, .owner = owner};
    for (P2mType t : all_p2m_types)
        if (p2m_has_frame(t)) c.has_frame = static_cast<uint16_t>(c.has_frame | type_bit(t));
    return c;
}

// retype_range as the core commits it: the tables reserved first.
template <class B>
void retype(Machine<B>& m, uint64_t first, uint64_t nr, const TypeChange& c, TypeCounter& counter) {
    RecordingPolicy policy;
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(Gfn{first}, nr)).is_ok());
    m->retype_range(Gfn{first}, nr, c, policy, counter);
    m.mem->release_reservation();
}

const Perm claimed_write = p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_write);

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("every_owner_of_an_ioreq_server_leaf_comes_back_from_lookup_for_each_leaf_and_the_counter", B,
                          owners_round_trip) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, pages_2m, P2mType::ram_rw, rwx).is_ok());  // 4 KiB leaves
    RecordingCounter counter;
    for (uint8_t k = 0; k < ioreq_owner_count; ++k) {
        CAPTURE(unsigned{k});
        retype<B>(m, 10 + k, 1, change(P2mType::ioreq_server, claimed_write, k), counter);
        const Stage2Leaf l = m->lookup(Gfn{10U + k});
        CHECK(l.type == P2mType::ioreq_server);
        CHECK(l.owner == k);
        CHECK(l.mfn == Mfn{0x100U + 10 + k});
        REQUIRE(counter.deltas.size() == k + 1U);
        CHECK(counter.deltas.back().owner == k);
        CHECK(counter.deltas.back().added == 1);
        CHECK(counter.deltas.back().removed[0] == 1);  // a ram_rw leaf
    }
    std::array<uint64_t, ioreq_owner_count> before{};
    for (uint8_t k = 0; k < ioreq_owner_count; ++k) before[k] = m->raw_entry(Gfn{10U + k});
    // A recalculation that keeps ioreq_server keeps each leaf's owner, and
    // the policy is told it.
    m->mark_recalc_all();
    RecordingPolicy keep;
    keep.ioreq_claimed = true;
    REQUIRE(m->resolve(Gfn{10}, keep));
    for (uint8_t k = 0; k < ioreq_owner_count; ++k) {
        CHECK(std::find(keep.calls.begin(), keep.calls.end(),
                        RecordingPolicy::Call{10U + k, 0, P2mType::ioreq_server, k}) != keep.calls.end());
        CHECK(m->lookup(Gfn{10U + k}).owner == k);
        CHECK_FALSE(m->lookup(Gfn{10U + k}).recalc_pending);
        CHECK(m->raw_entry(Gfn{10U + k}) == before[k]);
    }
    std::vector<uint8_t> seen;
    m->for_each_leaf([&](Gfn g, const Stage2Leaf& l) {
        if (l.type == P2mType::ioreq_server) {
            CHECK(g.raw() == 10 + seen.size());
            seen.push_back(l.owner);
        } else {
            CHECK(l.owner == 0);
        }
    });
    CHECK(seen == std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 7});
    // All eight to owner 2: seven change owner (each counted as its old
    // owner's loss), owner 2's own leaf is left as it is.
    counter.deltas.clear();
    retype<B>(m, 10, 8, change(P2mType::ioreq_server, claimed_write, 2), counter);
    REQUIRE(counter.deltas.size() == 1);
    const TypeCounter::Delta& d = counter.deltas[0];
    CHECK(d.added == 7);
    CHECK(d.removed[static_cast<unsigned>(P2mType::ioreq_server)] == 7);
    for (uint8_t k = 0; k < ioreq_owner_count; ++k) CHECK(d.removed_owner[k] == (k == 2 ? 0 : 1));
    for (uint8_t k = 0; k < ioreq_owner_count; ++k) {
        CHECK(m->lookup(Gfn{10U + k}).owner == 2);
        // Where the owner lives: in the entry, which a new owner rewrites,
        // or beside it (the entry stays as it was).
        CHECK((m->raw_entry(Gfn{10U + k}) != before[k]) == (B::owner_in_entry && k != 2));
    }
    // Back to ram_rw: the owner goes (0 for every other type).
    retype<B>(m, 10, 8, change(P2mType::ram_rw, rwx), counter);
    for (uint8_t k = 0; k < ioreq_owner_count; ++k) CHECK(m->lookup(Gfn{10U + k}).owner == 0);
    CHECK(m->side_bytes() == 0);  // nothing left beside the table
}
TEST_CASE_TEMPLATE_APPLY(owners_round_trip, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_split_keeps_the_owner_and_only_leaves_of_one_owner_merge_back", B, owners_split_merge) {
    Machine<B> m;
    const Gfn base{pages_2m};
    REQUIRE(m->map_range(base, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->lookup(base).order == 9);
    RecordingCounter counter;
    // The 2 MiB leaf is split by the change; every child gets owner 3.
    retype<B>(m, base.raw(), pages_2m, change(P2mType::ioreq_server, claimed_write, 3), counter);
    for (uint64_t i : {uint64_t{0}, uint64_t{1}, uint64_t{300}, uint64_t{511}}) {
        const Stage2Leaf l = m->lookup(base + i);
        CHECK(l.order == 0);
        CHECK(l.owner == 3);
        CHECK(l.mfn == Mfn{pages_2m + i});
    }
    // A large ioreq_server leaf is owner 0's: owner 3's leaves do not merge.
    CHECK(m->merge(base, P2mType::ioreq_server, claimed_write) == 0);
    CHECK(m->lookup(base).order == 0);
    // Half owner 0, half owner 3: still not.
    retype<B>(m, base.raw(), 256, change(P2mType::ioreq_server, claimed_write, 0), counter);
    CHECK(m->merge(base, P2mType::ioreq_server, claimed_write) == 0);
    CHECK(m->lookup(base + 300).owner == 3);
    CHECK(m->lookup(base + 3).owner == 0);
    // All owner 0: one 2 MiB leaf again, owner 0, and a split of it (a
    // 4 KiB write) keeps owner 0 in the 511 other children.
    retype<B>(m, base.raw() + 256, 256, change(P2mType::ioreq_server, claimed_write, 0), counter);
    CHECK(m->merge(base, P2mType::ioreq_server, claimed_write) == 1);
    CHECK(m->lookup(base + 7).order == 9);
    CHECK(m->lookup(base + 7).owner == 0);
    REQUIRE(m.mem->reserve_tables(m->tables_needed_4k(base, 1)).is_ok());
    m->set_4k(base, Mfn{pages_2m}, P2mType::ram_rw, rwx);
    m.mem->release_reservation();
    CHECK(m->lookup(base + 9).type == P2mType::ioreq_server);
    CHECK(m->lookup(base + 9).owner == 0);
    CHECK(m->lookup(base).owner == 0);
}
TEST_CASE_TEMPLATE_APPLY(owners_split_merge, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_table_of_several_owners_resets_only_the_named_owners_and_refuses_by_owner", B,
                          owners_reset) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    RecordingCounter counter;
    for (uint8_t i = 0; i < 16; ++i) retype<B>(m, i, 1, change(P2mType::ioreq_server, claimed_write, i % 8), counter);
    // Refusals: to ram_ro, which only ram_rw may become (as Xen). Owner 0's
    // claim ended (stale_owners): its leaves are ram_rw; owner 1's are not.
    TypeChange ro = change(P2mType::ram_ro, perm_of(P2mType::ram_ro));
    ro.allowed = ro.allowed_marked = type_bit(P2mType::ram_rw);
    ro.stale_owners = 1U << 0;
    CHECK(m->first_refused(Gfn{0}, 16, ro) == Gfn{1});
    CHECK_FALSE(m->first_refused(Gfn{0}, 1, ro).has_value());
    // ioreq_owners: only owners 2 and 5 may change.
    TypeChange rw = change(P2mType::ram_rw, rwx);
    rw.ioreq_owners = (1U << 2) | (1U << 5);
    CHECK(m->first_refused(Gfn{0}, 16, rw) == Gfn{0});
    CHECK(m->first_refused(Gfn{2}, 4, rw) == Gfn{3});
    const std::array<uint64_t, 2> listed{5, 13};
    CHECK_FALSE(m->first_refused_list(listed, rw).has_value());
    // A reset of owners 2 and 5 takes their 4 leaves and nothing else.
    counter.deltas.clear();
    CHECK(m->reset_leaves(Gfn{0}, 0, 15, P2mType::ioreq_server, rw, true, counter) == 4);
    REQUIRE(counter.deltas.size() == 1);
    CHECK(counter.deltas[0].removed_owner[2] == 2);
    CHECK(counter.deltas[0].removed_owner[5] == 2);
    CHECK(counter.deltas[0].removed[static_cast<unsigned>(P2mType::ioreq_server)] == 4);
    for (uint8_t i = 0; i < 16; ++i) {
        CAPTURE(unsigned{i});
        const Stage2Leaf l = m->lookup(Gfn{i});
        const bool reset = i % 8 == 2 || i % 8 == 5;
        CHECK(l.type == (reset ? P2mType::ram_rw : P2mType::ioreq_server));
        CHECK(l.owner == (reset ? 0 : i % 8));
    }
    // reset_tables, owner 0 only: gfns 0 and 8.
    TypeChange rw0 = change(P2mType::ram_rw, rwx);
    rw0.ioreq_owners = 1U << 0;
    const std::array<Stage2::ResetTable, 1> tables{{{.base = Gfn{0}, .lo = 0, .hi = 15, .uniform = false}}};
    (void)m->reset_tables(tables, P2mType::ioreq_server, rw0, true, true, counter);
    CHECK(m->lookup(Gfn{0}).type == P2mType::ram_rw);
    CHECK(m->lookup(Gfn{8}).type == P2mType::ram_rw);
    CHECK(m->lookup(Gfn{1}).owner == 1);
    CHECK(m->lookup(Gfn{15}).owner == 7);
    CHECK(m->lookup(Gfn{0}).order == 0);  // other owners' leaves stay: no merge
}
TEST_CASE_TEMPLATE_APPLY(owners_reset, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("a_read_trapped_ioreq_server_leaf_is_its_golden_entry_and_every_access_faults_with_the_gpa", B,
                          read_trapped) {
    Machine<B> m;
    REQUIRE(m->map_range(Gfn{7}, Mfn{0x1234}, 1, P2mType::ram_rw, rwx).is_ok());
    RecordingCounter counter;
    const Perm none = p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_read | ioreq_claim_write);
    REQUIRE(none == Perm{});
    retype<B>(m, 7, 1, change(P2mType::ioreq_server, none, 5), counter);
    CHECK(m->raw_entry(Gfn{7}) == B::read_trapped_owner5);
    const Stage2Leaf l = m->lookup(Gfn{7});
    CHECK(l.mapped);
    CHECK(l.type == P2mType::ioreq_server);
    CHECK(l.owner == 5);
    CHECK(l.mfn == Mfn{0x1234});
    const Gpa gpa{to_gpa(Gfn{7}).raw() + 0x18};
    for (AccessType a : all_access)
        check_refused<B>(*m, {.access = a, .cause = B::read_trap_cause, .order = 0, .rights = {}, .gpa = gpa, .ctx = {}});
    // The claim of writes only again: the same frame, readable.
    retype<B>(m, 7, 1, change(P2mType::ioreq_server, claimed_write, 6), counter);  // a new owner rewrites the rights
    CHECK(m->translate(gpa, AccessType::read, AccessContext{}).ok);
    CHECK(m->translate(gpa, AccessType::read, AccessContext{}).mfn == Mfn{0x1234});
    CHECK(m->lookup(Gfn{7}).owner == 6);
}
TEST_CASE_TEMPLATE_APPLY(read_trapped, Stage2Backends);

TEST_CASE_TEMPLATE_DEFINE("owners_beside_the_table_stay_within_1_percent_of_the_table_frames_in_the_worst_case", B,
                          owners_budget) {
    // 64 leaf tables of 4 KiB leaves; each made to hold leaves of two owners
    // (1 and 2: the worst case, a packed array each) until the bound refuses.
    constexpr uint64_t tables = 64;
    Machine<B> m(256);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, tables * pages_2m, P2mType::ram_rw, rwx).is_ok());
    RecordingCounter counter;
    const uint64_t budget = m.mem->tables_in_use() * page_size / 100;
    uint64_t mixed = 0;
    bool refused = false;
    for (uint64_t t = 0; t < tables; ++t) {
        const uint64_t g = t * pages_2m;
        // Each change checked first, as P2m::set_type_range does.
        const TypeChange first = change(P2mType::ioreq_server, claimed_write, 1);
        if (!m->owners_fit(Gfn{g}, 1, first)) {
            refused = true;
            continue;
        }
        retype<B>(m, g, 1, first, counter);
        const TypeChange second = change(P2mType::ioreq_server, claimed_write, 2);
        if (!m->owners_fit(Gfn{g + 1}, 1, second)) {
            refused = true;
            CHECK(m->side_bytes() <= budget);
            continue;
        }
        retype<B>(m, g + 1, 1, second, counter);
        ++mixed;
        CHECK(m->side_bytes() <= budget);
        CHECK(m->lookup(Gfn{g}).owner == 1);
        CHECK(m->lookup(Gfn{g + 1}).owner == 2);
    }
    CHECK(m->side_bytes() <= budget);
    if (B::owner_in_entry) {
        CHECK_FALSE(refused);
        CHECK(m->side_bytes() == 0);
    } else {
        CHECK(refused);
        CHECK(mixed > 0);
        // The refused changes changed nothing: the last table is ram_rw.
        CHECK(m->lookup(Gfn{(tables - 1) * pages_2m + 1}).type == P2mType::ram_rw);
        CHECK(m->lookup(Gfn{(tables - 1) * pages_2m + 1}).owner == 0);
        // Undone, the mixed records free their arrays: the change fits again.
        for (uint64_t t = 0; t < tables; ++t) retype<B>(m, t * pages_2m + 1, 1, change(P2mType::ram_rw, rwx), counter);
        CHECK(m->side_bytes() <= budget);
        CHECK(m->owners_fit(Gfn{(tables - 1) * pages_2m + 1}, 1, change(P2mType::ioreq_server, claimed_write, 2)));
    }
}
TEST_CASE_TEMPLATE_APPLY(owners_budget, Stage2Backends);
