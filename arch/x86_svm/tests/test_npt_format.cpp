// SPDX-License-Identifier: MIT
// The NPT entry format, where it is NPT's own: the bits kept free for the
// IOMMU, superpage leaves and table pointers, U/S, A and D, which entries
// the processor finds reserved, the recalc mark, the PAT index, and nCR3.
// The golden 4 KiB leaf of every p2m type, decode(encode) and the rights
// NPT cannot express are in the conformance suite
// (tests/conformance/test_stage2.cpp, NptTraits). Bit positions are from
// the AMD APM Vol. 2 §5.4.1 "Field Definitions" (the long-mode
// PML4E/PDPE/PDE/PTE figures), used for nested tables by §15.25.5 "Nested
// Table Walk"; see npt.hpp.
#include "npt_test_support.hpp"

using namespace npt_test;
using namespace conformance::stage2::npt_bits;  // nx, rw_leaf, ro_leaf, uc, ps, type(): named APM fields
using conformance::stage2::Golden;
using E = NptEntry;

TEST_CASE("written_entries_keep_avl_11_9_and_62_59_clear") {
    // AVL 11:9 and 62:59 are what the AMD IOMMU uses in a shared table (and
    // 62:59 the protection key of a leaf); Xen keeps the type out of them.
    // Bit 11 is set only while an entry carries the recalc mark.
    constexpr uint64_t avoided = 0x7800'0000'0000'0e00;
    for (const Golden& g : NptTraits::goldens) {
        CAPTURE(to_string(g.t));
        for (unsigned level : {level_pt, level_pd, level_pdpt}) {
            const Mfn mfn{uint64_t{1} << level_order(level)};
            CHECK((E::encode_leaf(mfn, g.t, perm_of(g.t, g.claimed), p2m_mem_class(g.t), level) & avoided) == 0);
        }
    }
    CHECK((E::encode_table(Mfn{0x1000000}) & avoided) == 0);
}

TEST_CASE("superpage_leaves_add_ps_and_keep_the_rest") {
    // 2 MiB page at mfn 0x200 (frame 0x200000), 1 GiB page at mfn 0x40000
    // (frame 0x40000000): "2-Mbyte PDE" and "1-Gbyte PDPE—Long Mode".
    CHECK(E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pd) ==
          (0x200000 | ps | rw_leaf));
    CHECK(E::encode_leaf(Mfn{0x40000}, P2mType::ram_rw, rwx, MemClass::normal, level_pdpt) ==
          (0x4000'0000 | ps | rw_leaf));
    // A typed hole of 2 MiB is not present but still a leaf (PS).
    CHECK(E::encode_leaf(Mfn{0}, P2mType::mmio_dm, Perm{}, MemClass::device, level_pd) ==
          (nx | type(4) | ps | uc));
    // A 4 KiB leaf never has bit 7: in a PTE it is PAT (§7.8), not PS.
    CHECK((E::encode_leaf(Mfn{0}, P2mType::ram_rw, rwx, MemClass::normal, level_pt) & ps) == 0);
}

TEST_CASE("table_pointers_are_present_writable_user_accessed_and_executable") {
    // "4-Kbyte PML4E/PDPE/PDE—Long Mode": P, R/W, U/S, A = 0x27; no NX and
    // PCD = PWT = 0, so the leaf alone decides rights and memory type.
    // Table frame 0x1000000 = MachineMemory::table_base_mfn.
    CHECK(E::encode_table(Mfn{0x1000000}) == (0x10'0000'0000 | 0x27));
}

TEST_CASE("a_rightless_ram_rw_leaf_at_mfn_0_is_not_zero_because_of_nx") {
    // ram_rw is type 0: a not-present ram_rw leaf at mfn 0 keeps NX (as
    // every hole does), so it is not all zero, which reads as absent.
    CHECK(E::type_of(0) == P2mType::mmio_dm);
    CHECK(E::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, MemClass::normal, level_pt) == nx);
}

TEST_CASE("every_present_entry_has_user_and_accessed_and_every_present_leaf_dirty") {
    // A nested access is a user access (§15.25.5): U/S at every level. A and
    // D are preset (Xen's P2M_BASE_FLAGS) so the walker never writes them.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    REQUIRE(m->map_range(Gfn{5 * pages_2m}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    unsigned present = 0;
    unsigned not_present = 0;
    auto check_table = [&](auto&& self, Mfn t, unsigned level) -> void {
        for (unsigned i = 0; i < entries_per_table; ++i) {
            const uint64_t e = m.entry(t, i);
            if (e == 0) continue;
            if (!E::present(e)) {
                // A hole: P = 0 and nothing the walk would look at.
                CHECK((e & (E::us | E::accessed | E::dirty | E::rw)) == 0);
                ++not_present;
                continue;
            }
            CHECK((e & E::us) != 0);
            CHECK((e & E::accessed) != 0);
            ++present;
            if (E::is_table(e, level)) {
                CHECK((e & E::nx) == 0);
                self(self, E::frame(e), level - 1);
            } else {
                CHECK((e & E::dirty) != 0);
            }
        }
    };
    check_table(check_table, m->root(), level_pml4);
    // 1 PML4E + 2 PDPEs (a PD pointer, a 1 GiB leaf) + 3 PDEs (PT pointers)
    // + 3 * 512 PTEs (RAM at mfn 0x100 is not 2 MiB aligned); one 2 MiB hole.
    CHECK(present == 1 + 2 + 3 + 3 * 512);
    CHECK(not_present == 1);
}

TEST_CASE("reserved_bits_are_the_apm_list_and_nothing_else") {
    // §5.4.1 MBZ fields, for a present entry, with MAXPHYADDR = 48 and
    // EFER.NXE = 1.
    const uint64_t leaf = E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pt);
    const uint64_t ptr = E::encode_table(Mfn{0x1000000});
    for (unsigned level : {level_pml4, level_pdpt, level_pd}) CHECK_FALSE(npt_reserved(ptr, level));
    CHECK_FALSE(npt_reserved(leaf, level_pt));
    // PS in a PML4E (no 512 GiB pages).
    CHECK(npt_reserved(ptr | E::ps, level_pml4));
    // Frame bits 51:48, beyond MAXPHYADDR, at every level.
    for (unsigned b = 48; b <= 51; ++b) {
        CAPTURE(b);
        CHECK(npt_reserved(leaf | bit(b), level_pt));
        CHECK(npt_reserved(ptr | bit(b), level_pd));
        CHECK(npt_reserved(ptr | bit(b), level_pml4));
    }
    // Bit 47 is a legal address bit (a frame below 2^48).
    CHECK_FALSE(npt_reserved(leaf | bit(47), level_pt));
    // A 2 MiB page: address bits 20:13 reserved, bit 12 is PAT (legal).
    const uint64_t leaf_2m = E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pd);
    for (unsigned b = 13; b <= 20; ++b) CHECK(npt_reserved(leaf_2m | bit(b), level_pd));
    CHECK_FALSE(npt_reserved(leaf_2m | E::pat_large, level_pd));
    CHECK_FALSE(npt_reserved(leaf_2m | bit(21), level_pd));  // an address bit
    // A 1 GiB page: bits 29:13 reserved, bit 12 PAT.
    const uint64_t leaf_1g = E::encode_leaf(Mfn{pages_1g}, P2mType::ram_rw, rwx, MemClass::normal, level_pdpt);
    for (unsigned b = 13; b <= 29; ++b) CHECK(npt_reserved(leaf_1g | bit(b), level_pdpt));
    CHECK_FALSE(npt_reserved(leaf_1g | E::pat_large, level_pdpt));
    // Ignored or meaningful-but-legal bits: G (8), AVL (11:9, 62:52), NX (63),
    // D (6), and PAT (7) in a PTE.
    CHECK_FALSE(npt_reserved(leaf | bit(7) | bit(8) | bit(9) | bit(10) | bit(11) | bit(52) | bit(62) | bit(63),
                             level_pt));
    CHECK_FALSE(npt_reserved(ptr | bit(6) | bit(8) | bit(62) | bit(63), level_pml4));
}

TEST_CASE("the_recalc_mark_clears_user_and_accessed_and_sets_bit_11") {
    // Xen's p2m-pt set_recalc: RECALC_FLAGS = U/S | A cleared; hvcore adds
    // AVL bit 11 so a mark is told apart from a crafted U/S = 0 entry.
    const uint64_t ptr = E::encode_table(Mfn{0x1000000});
    const uint64_t marked = E::mark(ptr);
    CHECK(marked == ((ptr & ~uint64_t{0x24}) | 0x800));
    CHECK(E::present(marked));  // still present: the access faults with P = 1
    CHECK(E::marked(marked));
    CHECK_FALSE(npt_reserved(marked, level_pml4));
    CHECK(E::unmark(marked) == ptr);
    for (unsigned level : {level_pt, level_pd, level_pdpt}) {
        const Mfn mfn{uint64_t{1} << level_order(level)};
        const uint64_t leaf = E::encode_leaf(mfn, P2mType::ram_rw, rwx, MemClass::normal, level);
        const NptLeafFields f = E::decode_leaf(E::mark(leaf), level);
        CHECK(f.recalc);
        // The rest of the leaf survives the mark: type, rights, memory type.
        CHECK(f.type == P2mType::ram_rw);
        CHECK(f.perm == rwx);
        CHECK(f.mem == MemClass::normal);
        CHECK((E::mark(leaf) & E::us) == 0);
    }
}

TEST_CASE("memory_class_is_the_pat_index_of_pcd_pwt_and_pat") {
    // PAT index = PAT:PCD:PWT (§7.8); 0 = WB (normal), 3 = UC (device).
    const uint64_t wb = E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pt);
    CHECK((wb & (E::pcd | E::pwt | E::pat_4k)) == 0);
    CHECK(E::mem_class_of(wb, level_pt) == MemClass::normal);
    const uint64_t dev = E::encode_leaf(Mfn{0x200}, P2mType::mmio_direct, perm_of(P2mType::mmio_direct),
                                        MemClass::device, level_pt);
    CHECK((dev & (E::pcd | E::pwt)) == (E::pcd | E::pwt));
    CHECK(E::mem_class_of(dev, level_pt) == MemClass::device);
    // Indices hvcore never writes decode to no class: PWT alone (1), and the
    // PAT bit (7 in a PTE, 12 in a large leaf).
    CHECK_FALSE(E::mem_class_of(wb | E::pwt, level_pt).has_value());
    CHECK_FALSE(E::mem_class_of(wb | E::pat_4k, level_pt).has_value());
    const uint64_t wb_2m = E::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_pd);
    CHECK(E::mem_class_of(wb_2m, level_pd) == MemClass::normal);  // bit 7 is PS there, not PAT
    CHECK_FALSE(E::mem_class_of(wb_2m | E::pat_large, level_pd).has_value());
}

TEST_CASE("a_large_leaf_frame_ignores_the_pat_bit") {
    // In a 2 MiB/1 GiB leaf bit 12 is PAT, not an address bit.
    const uint64_t leaf_2m = E::encode_leaf(Mfn{0x400}, P2mType::ram_rw, rwx, MemClass::normal, level_pd);
    CHECK(E::leaf_frame(leaf_2m | E::pat_large, level_pd) == Mfn{0x400});
    // In a 4 KiB leaf it is the frame's low bit.
    CHECK(E::leaf_frame(E::encode_leaf(Mfn{0x401}, P2mType::ram_rw, rwx, MemClass::normal, level_pt), level_pt) ==
          Mfn{0x401});
}

TEST_CASE("ncr3_points_at_the_pml4_with_write_back_table_walks") {
    Machine m;
    // §15.25 nCR3 (VMCB 0B0h): the PML4 physical address; PWT (3) = PCD (4)
    // = 0, so the nested tables are read write-back.
    CHECK(m->ncr3() == (m->root().raw() << 12));
    CHECK((m->ncr3() & 0x18) == 0);
}
