// SPDX-License-Identifier: MIT
// The G-stage entry format (gstage.hpp): golden entries from the
// privileged spec's bit positions (Sv39/Sv48 PTE figures: V 0, R 1, W 2,
// X 3, U 4, G 5, A 6, D 7, RSW 9:8, PPN 53:10), the p2m type with two
// software bits (every (type, restriction) the core asks for decodes
// back; what cannot be told apart is refused), not-present entries, the
// recalculation mark, and hgatp.
#include "gstage_test_support.hpp"

using namespace rv_test;
using P = Pte;

TEST_CASE("golden_4k_leaf_of_every_present_type") {
    using namespace bits;
    const uint64_t f = ppn(0x1234);  // 0x48D000
    // U and A in every leaf, D in every writable one; RSW carries the code.
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::ram_rw, rwx, 0) == (f | d | a | u | x | w | r | v));
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::ram_rw, rwx, 0) == 0x48D0DF);
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::ram_logdirty, {.r = true, .x = true}, 0) ==
          (f | rsw(1) | a | u | x | r | v));
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, {.r = true, .w = true}, 0) ==
          (f | rsw(2) | d | a | u | w | r | v));
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, {.r = true}, 0) == (f | rsw(2) | a | u | r | v));
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::ram_ro, {.r = true, .x = true}, 0) == (f | rsw(3) | a | u | x | r | v));
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::mmio_direct, {.r = true, .w = true}, 0) ==
          (f | rsw(3) | d | a | u | w | r | v));
    // G is never set, PBMT and N stay 0, bits 60:54 stay 0 in a valid entry.
    for (P2mType t : all_p2m_types) {
        for (bool claimed : {false, true}) {
            const Perm p = p2m_entry_perm(t, claimed ? ioreq_claim_write : 0U);
            const uint64_t e = P::encode_leaf(Mfn{0x1234}, t, p, 0);
            CHECK((e & g) == 0);
            if ((e & v) != 0) CHECK((e >> 54) == 0);
        }
    }
}

TEST_CASE("typed_holes_and_rightless_leaves_keep_the_whole_type_in_bits_57_54") {
    using namespace bits;
    CHECK(P::encode_leaf(Mfn{0x1234}, P2mType::mmio_dm, {}, 0) == (hole_type(4) | ppn(0x1234) | a | u));
    CHECK(P::encode_leaf(Mfn{0}, P2mType::invalid, {}, 0) == (hole_type(1) | a | u));
    CHECK(P::encode_leaf(Mfn{0x200}, P2mType::ioreq_server, {}, 1) == (hole_type(15) | ppn(0x200) | a | u));
    for (P2mType t : all_p2m_types) {
        const uint64_t e = P::encode_leaf(Mfn{0x40000}, t, {}, 2);
        CAPTURE(to_string(t));
        CHECK_FALSE(P::is_valid(e));
        CHECK(P::is_leaf(e, 2));
        CHECK(P::decode_leaf(e) == LeafFields{Mfn{0x40000}, t, Perm{}, false, false});
    }
}

TEST_CASE("every_type_and_restriction_the_core_asks_for_decodes_back_at_every_level") {
    for (unsigned level = 0; level <= 3; ++level) {
        for (P2mType t : all_p2m_types) {
            for (bool claimed : {false, true}) {
                CAPTURE(level);
                CAPTURE(to_string(t));
                CAPTURE(claimed);
                const Perm p = p2m_entry_perm(t, claimed ? ioreq_claim_write : 0U);
                REQUIRE(P::encodable(t, p));
                const Mfn m{uint64_t{5} << level_order(level)};
                const uint64_t e = P::encode_leaf(m, t, p, level);
                CHECK(P::decode_leaf(e) == LeafFields{m, t, p, p != Perm{}, false});
                CHECK(P::is_leaf(e, level));
                // Marked, it keeps its type and rights; unmarked, it is as it was.
                if (P::is_valid(e)) {
                    CHECK(P::decode_leaf(P::mark(e)) == LeafFields{m, t, p, false, true});
                    CHECK(P::unmark(P::mark(e)) == e);
                }
            }
        }
    }
}

TEST_CASE("encodable_refuses_exactly_the_pairs_that_would_read_back_as_another") {
    for (P2mType t : all_p2m_types) {
        for (unsigned bits3 = 0; bits3 < 8; ++bits3) {
            const Perm p{.r = (bits3 & 1) != 0, .w = (bits3 & 2) != 0, .x = (bits3 & 4) != 0};
            CAPTURE(to_string(t));
            CAPTURE(bits3);
            const bool ok = P::encodable(t, p);
            if (p == Perm{}) {
                CHECK(ok);
                continue;
            }
            if (p.w && !p.r) {  // "Reserved for future use" (Encoding of PTE R/W/X fields)
                CHECK_FALSE(ok);
                continue;
            }
            if (t == P2mType::invalid || t == P2mType::mmio_dm) {
                CHECK_FALSE(ok);  // no frame, never present
                continue;
            }
            if (t == P2mType::ram_ro) CHECK(ok == p.x);
            else if (t == P2mType::mmio_direct) CHECK(ok == !p.x);
            else CHECK(ok);
            // Whatever is accepted decodes back to itself.
            if (ok) CHECK(P::decode_leaf(P::encode_leaf(Mfn{9}, t, p, 0)) == LeafFields{Mfn{9}, t, p, true, false});
        }
    }
}

TEST_CASE("superpages_and_tables") {
    using namespace bits;
    // A 1 GiB leaf at mfn 0x40000 (PPN[1:0] = 0) and a 512 GiB one (Sv48x4 root).
    CHECK(P::encode_leaf(Mfn{0x40000}, P2mType::ram_rw, rwx, 2) == (ppn(0x40000) | d | a | u | x | w | r | v));
    CHECK(P::encode_leaf(Mfn{uint64_t{1} << 27}, P2mType::ram_rw, rwx, 3) ==
          (ppn(uint64_t{1} << 27) | d | a | u | x | w | r | v));
    // A pointer: V and the PPN only (D, A, U cleared, as the spec asks of non-leaf PTEs).
    CHECK(P::encode_table(Mfn{0x1000004}) == (ppn(0x1000004) | v));
    CHECK(P::is_table(P::encode_table(Mfn{0x1000004}), 1));
    CHECK_FALSE(P::is_leaf(P::encode_table(Mfn{0x1000004}), 1));
    // A marked pointer: V cleared, bit 58, still a pointer to software.
    const uint64_t mt = P::mark(P::encode_table(Mfn{0x1000004}));
    CHECK(mt == (recalc | ppn(0x1000004)));
    CHECK(P::is_table(mt, 2));
    CHECK(P::marked(mt));
    // A marked leaf is a leaf.
    const uint64_t ml = P::mark(P::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, 1));
    CHECK(ml == (recalc | ppn(0x200) | d | a | u | x | w | r));
    CHECK(P::is_leaf(ml, 1));
    // Zero is absent and reads as mmio_dm.
    CHECK_FALSE(P::is_leaf(0, 0));
    CHECK(P::type_of(0) == P2mType::mmio_dm);
}

TEST_CASE("hgatp_mode_vmid_and_16k_aligned_root") {
    // MODE 63:60 (8 Sv39x4, 9 Sv48x4), VMID 57:44, PPN 43:0.
    CHECK(Hgatp::encode(Mode::sv39x4, 0, Mfn{0x1000000}) == 0x8000'0000'0100'0000);
    CHECK(Hgatp::encode(Mode::sv48x4, 0x3fff, Mfn{0x1000004}) == 0x93FF'F000'0100'0004);
    CHECK(Hgatp::mode(0x8000'0000'0100'0000) == Mode::sv39x4);
    CHECK(Hgatp::mode(0x9000'0000'0100'0000) == Mode::sv48x4);
    CHECK_FALSE(Hgatp::mode(0xA000'0000'0100'0000).has_value());  // Sv57x4: not in the model
    CHECK_FALSE(Hgatp::mode(0).has_value());                      // Bare
    CHECK(Hgatp::root(0x93FF'F000'0100'0004) == Mfn{0x1000004});
    // 3 / 4 levels, the 2048-entry root, 41 / 50 guest-physical bits, the
    // 56-bit output, leaves at every level.
    CHECK(geometry(Mode::sv39x4) ==
          s2::Geometry{.levels = 3, .root_entries = 2048, .ia_bits = 41, .oa_bits = 56, .leaf_levels = 0b111});
    CHECK(geometry(Mode::sv48x4) ==
          s2::Geometry{.levels = 4, .root_entries = 2048, .ia_bits = 50, .oa_bits = 56, .leaf_levels = 0b1111});
    CHECK(geometry(Mode::sv39x4).gfn_count() == uint64_t{1} << 29);
}
