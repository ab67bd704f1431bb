// SPDX-License-Identifier: MIT
// The G-stage backend on the stage-2 engine (stage2.hpp) beyond what the
// conformance suite checks in its default Sv39x4 configuration: hgatp and
// the walk's levels, Sv48x4 with a 512 GiB leaf at the root, and the
// type/rights pairs the two-bit encoding cannot tell apart refused.
#include "gstage_test_support.hpp"

#include "hvcore/riscv64/stage2.hpp"

using namespace rv_test;

namespace {

struct Gs {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<GStage> s2;
    explicit Gs(Mode m = Mode::sv39x4) {
        auto mm = MachineMemory::create(4 * 1024 * 1024, 64);
        REQUIRE(mm.is_ok());
        mem = std::move(mm).value();
        auto t = GStage::create(*mem, m);
        REQUIRE(t.is_ok());
        s2 = std::move(t).value();
    }
};

}  // namespace

TEST_CASE("sv39x4_root_is_four_aligned_frames_and_hgatp_points_at_it") {
    Gs g;
    CHECK(g.s2->arch() == Arch::riscv64);
    CHECK(g.s2->gfn_limit() == uint64_t{1} << 29);  // 41-bit guest-physical space
    CHECK(g.mem->tables_in_use() == 4);
    CHECK((g.s2->root().raw() & 3) == 0);  // 16 KiB aligned
    // MODE 8 (Sv39x4), VMID 0, PPN = the root frame.
    CHECK(g.s2->hgatp() == ((uint64_t{8} << 60) | g.s2->root().raw()));
    REQUIRE(g.s2->map_range(Gfn{0x1'2345}, Mfn{0x40000}, 1, P2mType::ram_rw, rwx).is_ok());
    const Stage2Walk w = g.s2->walk_entries(Gfn{0x1'2345});
    CHECK(w.arch == Arch::riscv64);
    CHECK(w.config == g.s2->hgatp());
    CHECK(w.root_frames == 4);
    REQUIRE(w.count == 3);
    // The translation process's i: 2, 1, 0; the root index is gpa bits 40:30.
    CHECK(w.level[0].level == 2);
    CHECK(w.level[1].level == 1);
    CHECK(w.level[2].level == 0);
    CHECK(w.level[0].index == (0x1'2345 >> 18));
    CHECK(w.level[2].index == (0x1'2345 & 511));
    CHECK(w.level[2].entry == Pte::encode_leaf(Mfn{0x40000}, P2mType::ram_rw, rwx, 0));
    // A gfn in the top quarter of the space uses the root's fourth frame.
    REQUIRE(g.s2->map_range(Gfn{(uint64_t{1} << 29) - 1}, Mfn{0x40001}, 1, P2mType::ram_rw, rwx).is_ok());
    CHECK(g.s2->walk_entries(Gfn{(uint64_t{1} << 29) - 1}).level[0].index == 2047);
    const Translation t = g.s2->translate(Gpa{((uint64_t{1} << 41) - 1)}, AccessType::read, {});
    CHECK(t.ok);
    CHECK(t.mfn == Mfn{0x40001});
}

TEST_CASE("sv48x4_maps_a_512g_leaf_at_the_root_and_walks_four_levels") {
    Gs g(Mode::sv48x4);
    CHECK(g.s2->gfn_limit() == uint64_t{1} << 38);  // 50 bits
    CHECK((g.s2->hgatp() >> 60) == 9);
    const uint64_t tera = uint64_t{1} << 27;  // 512 GiB in pages
    REQUIRE(g.s2->map_range(Gfn{5 * tera}, Mfn{tera}, tera, P2mType::ram_rw, rwx).is_ok());
    CHECK(g.mem->tables_in_use() == 4);  // the leaf sits in the root
    const Stage2Leaf l = g.s2->lookup(Gfn{5 * tera + 0x1234});
    CHECK(l.order == 27);
    CHECK(l.mfn == Mfn{tera + 0x1234});
    const Translation t = g.s2->translate(Gpa{((5 * tera + 0x1234) << 12) + 8}, AccessType::write, {});
    CHECK(t.ok);
    CHECK(t.mfn == Mfn{tera + 0x1234});
    // A 4 KiB page walks root (i = 3) to i = 0.
    REQUIRE(g.s2->map_range(Gfn{7}, Mfn{0x40000}, 1, P2mType::ram_ro, {.r = true, .x = true}).is_ok());
    const Stage2Walk w = g.s2->walk_entries(Gfn{7});
    REQUIRE(w.count == 4);
    CHECK(w.level[0].level == 3);
    CHECK(w.level[3].level == 0);
    CHECK(g.s2->lookup(Gfn{7}).type == P2mType::ram_ro);
    // Beyond 50 bits: a guest-page fault with the address in htval.
    const Translation far = g.s2->translate(Gpa{uint64_t{1} << 50}, AccessType::read, {});
    REQUIRE_FALSE(far.ok);
    CHECK(far.record.gpa == (uint64_t{1} << 48));
    CHECK(g.s2->decode_fault(far.record).cause == FaultCause::not_present);
}

TEST_CASE("pairs_that_would_read_back_as_another_type_are_einval_and_write_nothing") {
    Gs g;
    // ram_ro without X would read back as mmio_direct, mmio_direct with X
    // as ram_ro (they share RSW 3); W without R is reserved.
    CHECK(g.s2->map_range(Gfn{0}, Mfn{0x40000}, 1, P2mType::ram_ro, {.r = true}).code() == -EINVAL);
    CHECK(g.s2->map_range(Gfn{0}, Mfn{0x40000}, 1, P2mType::mmio_direct, rwx).code() == -EINVAL);
    CHECK(g.s2->map_range(Gfn{0}, Mfn{0x40000}, 1, P2mType::ioreq_server, {.w = true}).code() == -EINVAL);
    CHECK(g.s2->map_range(Gfn{0}, Mfn{0x40000}, 1, P2mType::mmio_dm, {.r = true}).code() == -EINVAL);
    CHECK(g.s2->raw_entry(Gfn{0}) == 0);
    CHECK(g.mem->tables_in_use() == 4);
    // What the core asks for is accepted and reads back.
    for (P2mType t : all_p2m_types) {
        for (bool claimed : {false, true}) {
            CAPTURE(to_string(t));
            const Perm p = p2m_entry_perm(t, claimed ? ioreq_claim_write : 0U);
            REQUIRE(g.s2->map_range(Gfn{0x200}, Mfn{0x40200}, 512, t, p).is_ok());
            CHECK(g.s2->lookup(Gfn{0x3ff}).type == t);
            CHECK(g.s2->lookup(Gfn{0x3ff}).order == 9);
        }
    }
}
