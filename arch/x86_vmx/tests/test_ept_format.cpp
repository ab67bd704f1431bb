// SPDX-License-Identifier: MIT
// The EPT entry format, where it is EPT's own: the bits of superpage
// leaves and table pointers, suppress-#VE, which entries the hardware
// calls misconfigured, the recalc mark, and the EPTP. The golden 4 KiB leaf
// of every p2m type and decode(encode) are in the conformance suite
// (tests/conformance/test_stage2.cpp, EptTraits). Bit positions are from
// the SDM Vol. 3C §29.3.2, Tables 29-2 (PML4E) to 29-7 (PTE); see ept.hpp.
#include "ept_test_support.hpp"

using namespace ept_test;
using namespace conformance::stage2::ept_bits;  // sve, wb_ipat, uc_ipat, ps, type(): named SDM fields
using E = EptEntry;

TEST_CASE("superpage_leaves_add_bit_7_and_keep_the_rest") {
    // 2 MiB page at mfn 0x200 (frame 0x200000), 1 GiB page at mfn 0x40000
    // (frame 0x40000000): Tables 29-5 and 29-3.
    CHECK(E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pd) ==
          (sve | 0x200000 | ps | wb_ipat | 0x7));
    CHECK(E::encode_leaf(Mfn{0x40000}, P2mType::ram_rw, rwx, MemClass::normal, level_pdpt) ==
          (sve | 0x4000'0000 | ps | wb_ipat | 0x7));
    // A typed hole of 2 MiB is not present but still a leaf (bit 7).
    CHECK(E::encode_leaf(Mfn{0}, P2mType::mmio_dm, Perm{}, MemClass::device, level_pd) ==
          (sve | type(4) | ps | uc_ipat));
}

TEST_CASE("table_pointers_grant_rwx_and_keep_bits_6_to_3_zero") {
    // Tables 29-2/29-4/29-6: bits 2:0 rights, 7:3 (6:3 below PML4) reserved.
    // Table frame 0x1000000 = MachineMemory::table_base_mfn.
    CHECK(E::encode_table(Mfn{0x1000000}) == (sve | 0x10'0000'0000 | 0x7));
}

TEST_CASE("a_rightless_ram_rw_leaf_at_mfn_0_is_not_zero_because_of_suppress_ve") {
    // ram_rw is type 0 and a hole has no rights: without bit 63 a
    // not-present ram_rw leaf at mfn 0 would be all zero, which reads as
    // absent.
    CHECK(E::type_of(0) == P2mType::mmio_dm);
    CHECK(E::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, MemClass::normal, level_pt) == (sve | wb_ipat));
}

TEST_CASE("suppress_ve_is_set_in_every_entry_hvcore_writes") {
    // #VE is off (secondary control 18 = 0), so bit 63 is ignored; it is
    // kept set as Xen does, in leaves and table pointers alike.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{5 * pages_2m}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    unsigned checked = 0;
    auto check_table = [&](auto&& self, Mfn t, unsigned level) -> void {
        for (unsigned i = 0; i < entries_per_table; ++i) {
            const uint64_t e = m.entry(t, i);
            if (e == 0) continue;
            CHECK((e & E::suppress_ve) != 0);
            ++checked;
            if (E::is_table(e, level)) self(self, E::frame(e), level - 1);
        }
    };
    check_table(check_table, m->root(), level_pml4);
    // 1 PML4E + 2 PDPTEs (a PD pointer, a 1 GiB leaf) + 4 PDEs (3 PT
    // pointers, a 2 MiB hole) + 3 * 512 PTEs (RAM at mfn 0x100 is not 2 MiB
    // aligned).
    CHECK(checked == 1 + 2 + 4 + 3 * 512);
}

TEST_CASE("misconfigurations_are_the_sdm_list_and_nothing_else") {
    // SDM Vol. 3C §29.3.3.1, for a present entry.
    const uint64_t leaf = E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pt);
    const uint64_t ptr = E::encode_table(Mfn{0x1000000});
    CHECK_FALSE(ept_misconfigured(leaf, level_pt));
    CHECK_FALSE(ept_misconfigured(ptr, level_pml4));
    // Write without read: RWX 010 and 110.
    CHECK(ept_misconfigured((leaf & ~uint64_t{7}) | 0x2, level_pt));
    CHECK(ept_misconfigured((leaf & ~uint64_t{7}) | 0x6, level_pt));
    // Execute-only (100) is legal: the model reports execute-only support.
    CHECK_FALSE(ept_misconfigured((leaf & ~uint64_t{7}) | 0x4, level_pt));
    // Reserved memory types 2, 3, 7 in a leaf; 1 (WC), 4 (WT), 5 (WP) are legal.
    for (uint64_t emt = 0; emt < 8; ++emt) {
        CAPTURE(emt);
        const bool reserved = emt == 2 || emt == 3 || emt == 7;
        CHECK(ept_misconfigured((leaf & ~E::emt_mask) | (emt << 3), level_pt) == reserved);
    }
    // Bits 6:3 of a non-leaf entry (PDE pointing at a PT) are reserved.
    for (unsigned b = 3; b <= 6; ++b) CHECK(ept_misconfigured(ptr | bit(b), level_pd));
    // Bit 7 of a PML4E is reserved (no 512 GiB pages).
    CHECK(ept_misconfigured(ptr | E::large, level_pml4));
    // Frame bits 51:46 are beyond MAXPHYADDR = 46.
    CHECK(ept_misconfigured(leaf | bit(46), level_pt));
    CHECK(ept_misconfigured(ptr | bit(51), level_pdpt));
    // A 2 MiB page whose frame is not 2 MiB aligned (address bit 12 set),
    // and a 1 GiB page with address bit 21 set.
    const uint64_t leaf_2m = E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pd);
    CHECK(ept_misconfigured(leaf_2m | bit(12), level_pd));
    const uint64_t leaf_1g = E::encode_leaf(Mfn{pages_1g}, P2mType::ram_rw, rwx, MemClass::normal, level_pdpt);
    CHECK(ept_misconfigured(leaf_1g | bit(21), level_pdpt));
    // Ignored bits do not matter: A/D (8, 9), bit 10, bit 11, 62:52.
    CHECK_FALSE(ept_misconfigured(leaf | bit(8) | bit(9) | bit(10) | bit(11) | bit(62), level_pt));
}

TEST_CASE("the_recalc_mark_is_emt_7_plus_bit_11_and_misconfigures_every_level") {
    const uint64_t ptr = E::encode_table(Mfn{0x1000000});
    const uint64_t marked = E::mark(ptr);
    CHECK(marked == (ptr | 0x38 | 0x800));  // bits 5:3 = 7, bit 11
    for (unsigned level : {level_pml4, level_pdpt, level_pd}) CHECK(ept_misconfigured(marked, level));
    for (unsigned level : {level_pt, level_pd, level_pdpt}) {
        const uint64_t leaf = E::encode_leaf(Mfn{0}, P2mType::ram_rw, rwx, MemClass::normal, level);
        CHECK(ept_misconfigured(E::mark(leaf), level));
        CHECK(E::decode_leaf(E::mark(leaf)).recalc);
        CHECK_FALSE(E::decode_leaf(E::mark(leaf)).mem.has_value());  // EMT lost, derived from the type later
    }
    CHECK(E::unmark(marked) == ptr);
}

TEST_CASE("eptp_selects_wb_4_levels_and_leaves_accessed_dirty_off") {
    Machine m;
    // SDM Vol. 3C §25.6.11: 2:0 = 6 (WB), 5:3 = 3 (4-level walk), bit 6 = 0
    // (no A/D: the model never sets bits 8/9), 51:12 = PML4 frame.
    CHECK(m->eptp() == ((m->root().raw() << 12) | 0x1E));
    CHECK((m->eptp() & Eptp::enable_ad) == 0);
}
