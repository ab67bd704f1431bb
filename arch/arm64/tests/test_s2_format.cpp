// SPDX-License-Identifier: MIT
// The stage-2 descriptor format beyond the page goldens and the
// encode/decode round trip (those are in tests/conformance/test_stage2.cpp,
// stage2_traits_arm64.hpp): block and table descriptors, memory
// attributes, the recalculation mark, and which VTCR values select which
// walk. Bit positions are from the Arm ARM D8.3 (block/page/table
// descriptors), D8.4 (S2AP, XN, AF) and D8.5 (MemAttr, SH); see
// descriptor.hpp.
#include "s2_test_support.hpp"

using namespace s2_test;
using D = S2Desc;

namespace {

// Pieces of the golden values, each named after its Arm ARM field.
constexpr uint64_t valid = 1 << 0;            // bit 0: valid
constexpr uint64_t page = 1 << 1;             // bit 1: page (level 3) / table; 0 = block
constexpr uint64_t normal_wb = 0xf << 2;      // MemAttr[3:0] = 0b1111: Normal, Write-Back (bits 5:2)
constexpr uint64_t device_ngnrne = 0x0 << 2;  // MemAttr = 0b0000: Device-nGnRnE
constexpr uint64_t s2ap_r = 1 << 6;           // S2AP[0]: read
constexpr uint64_t s2ap_w = 1 << 7;           // S2AP[1]: write
constexpr uint64_t sh_inner = 0x3 << 8;       // SH = 0b11: Inner Shareable (bits 9:8)
constexpr uint64_t sh_outer = 0x2 << 8;       // SH = 0b10: Outer Shareable
constexpr uint64_t af = 1 << 10;              // AF: access flag
constexpr uint64_t xn = uint64_t{1} << 54;    // XN[1:0] = 0b10: no execution at EL1/EL0 (bits 54:53)
constexpr uint64_t type(uint64_t v) { return v << 55; }  // p2m type in bits 58:55 (software)
constexpr uint64_t normal = normal_wb | sh_inner;
constexpr uint64_t device = device_ngnrne | sh_outer;

}  // namespace

TEST_CASE("blocks_clear_bit_1_and_keep_the_rest") {
    // 2 MiB block at mfn 0x200 (OA 0x200000), level 2; 1 GiB block at mfn
    // 0x40000 (OA 0x40000000), level 1 (Arm ARM D8.3, block descriptor).
    CHECK(D::encode_leaf(Mfn{0x200}, P2mType::ram_rw, rwx, MemClass::normal, level_2) ==
          (0x200000 | af | normal | s2ap_w | s2ap_r | valid));
    CHECK(D::encode_leaf(Mfn{0x40000}, P2mType::ram_rw, rwx, MemClass::normal, level_1) ==
          (0x4000'0000 | af | normal | s2ap_w | s2ap_r | valid));
    // A typed 2 MiB hole: invalid, bit 1 clear like a block.
    CHECK(D::encode_leaf(Mfn{0}, P2mType::mmio_dm, Perm{}, MemClass::device, level_2) == (type(4) | xn | af | device));
}

TEST_CASE("table_descriptors_hold_only_the_address_and_bits_1_0") {
    // Arm ARM D8.3: a stage-2 table descriptor has no attribute fields.
    // Table frame 0x1000000 = MachineMemory::table_base_mfn.
    CHECK(D::encode_table(Mfn{0x1000000}) == (0x10'0000'0000 | page | valid));
}

TEST_CASE("an_absent_descriptor_reads_as_mmio_dm_and_no_written_leaf_is_zero") {
    // The absent-descriptor half and "non-zero" for every type, order and
    // rights are in tests/conformance/test_stage2.cpp; here the exact bits.
    // ram_rw is type 0 and a hole has no rights: AF (and the attributes)
    // keep even a not-present ram_rw leaf at mfn 0 non-zero.
    CHECK(D::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, MemClass::normal, level_3) == (xn | af | normal | page));
}

TEST_CASE("device_frames_are_outer_shareable_device_ngnrne_and_ram_inner_shareable_normal_wb") {
    // The memory class comes from the type (p2m_mem_class); Device memory
    // is Outer Shareable whatever SH says (Arm ARM B2.7.2), and hvcore
    // writes exactly that.
    const uint64_t dev = D::encode_leaf(Mfn{0}, P2mType::mmio_direct, perm_of(P2mType::mmio_direct), MemClass::device,
                                        level_3);
    CHECK((dev & D::memattr_mask) == 0);
    CHECK((dev & D::sh_mask) == sh_outer);
    const uint64_t ram = D::encode_leaf(Mfn{0}, P2mType::ram_rw, rwx, MemClass::normal, level_3);
    CHECK((ram & D::memattr_mask) == normal_wb);
    CHECK((ram & D::sh_mask) == sh_inner);
    // Anything else decodes to no class (hvcore never writes it).
    CHECK_FALSE(D::decode_leaf((ram & ~D::memattr_mask) | (0x5 << 2)).mem.has_value());  // Normal NC
}

TEST_CASE("every_leaf_hvcore_writes_has_af_set_and_bits_63_59_clear") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 3 * pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{5 * pages_2m}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    unsigned leaves = 0;
    unsigned tables = 0;
    auto check_table = [&](auto&& self, Mfn t, unsigned level, uint64_t n) -> void {
        for (unsigned i = 0; i < n; ++i) {
            const uint64_t e = m.entry(t, i);
            if (e == 0) continue;
            CHECK((e >> 59) == 0);  // mark and ignored/PBHA bits clear
            if (D::is_table(e, level)) {
                ++tables;
                CHECK((e & ~D::oa_mask) == (page | valid));
                self(self, D::frame(e), level + 1, entries_per_table);
            } else {
                ++leaves;
                CHECK((e & D::af) != 0);
            }
        }
    };
    check_table(check_table, m->root(), level_1, m->config().root_entries());
    // Level 1: one table (GiB 0) and a 1 GiB block; level 2: 3 table
    // descriptors (RAM at mfn 0x100 is not 2 MiB aligned) and a 2 MiB hole;
    // level 3: 3 * 512 pages.
    CHECK(tables == 1 + 3);
    CHECK(leaves == 1 + 1 + 3 * 512);
}

TEST_CASE("the_recalc_mark_clears_only_bit_0_and_sets_bit_59") {
    const uint64_t tbl = D::encode_table(Mfn{0x1000000});
    const uint64_t marked = D::mark(tbl);
    CHECK(marked == ((tbl & ~valid) | (uint64_t{1} << 59)));
    CHECK(D::marked(marked));
    CHECK_FALSE(D::is_valid(marked));
    CHECK(D::is_table(marked, level_1));  // software still follows it
    CHECK(D::unmark(marked) == tbl);
    for (unsigned level : {level_3, level_2, level_1}) {
        const uint64_t leaf = D::encode_leaf(Mfn{0}, P2mType::ram_rw, rwx, MemClass::normal, level);
        const S2LeafFields f = D::decode_leaf(D::mark(leaf));
        CHECK(f.recalc);
        CHECK_FALSE(f.valid);
        CHECK(f.perm == rwx);               // the rights come back on unmark
        CHECK(f.type == P2mType::ram_rw);
        CHECK(D::is_leaf(D::mark(leaf), level));
    }
    // bit 59 in a valid descriptor is not a mark (hvcore never writes it).
    CHECK_FALSE(D::marked(tbl | (uint64_t{1} << 59)));
}

// --- VTCR_EL2 ------------------------------------------------------------------

TEST_CASE("the_default_configuration_is_kvms_40_bit_ipa_at_level_1_with_2_tables") {
    // VTCR_EL2: T0SZ 24 (bits 5:0), SL0 01 (7:6), IRGN0/ORGN0 01 WBWA
    // (9:8, 11:10), SH0 11 (13:12), TG0 00 4 KiB (15:14), PS 101 48 bits
    // (18:16), RES1 bit 31.
    CHECK(vtcr_default == (24 | 1 << 6 | 1 << 8 | 1 << 10 | 3 << 12 | 0 << 14 | 5 << 16 | uint64_t{1} << 31));
    Machine m;
    CHECK(m->vtcr() == vtcr_default);
    CHECK(m->config() == S2Config{.ipa_bits = 40, .pa_bits = 48, .start_level = level_1, .root_tables = 2});
    CHECK(m->gfn_limit() == (uint64_t{1} << 28));  // 40-bit IPA, 4 KiB pages
    // Two concatenated level-1 tables: aligned to 8 KiB, consecutive.
    CHECK(m.mem->tables_in_use() == 2);
    CHECK(m->root().raw() % 2 == 0);
    CHECK(m.mem->is_table_frame(m->root() + 1));
    CHECK(m->vttbr() == (m->root().raw() << 12));  // BADDR, VMID 0
}

TEST_CASE("vtcr_configurations_give_their_start_level_and_concatenation") {
    struct Case {
        const char* what;
        uint64_t vtcr;
        S2Config cfg;
    };
    const Case cases[] = {
        // IPA 48 at level 0: 9 bits resolved there, one table (4-level walk).
        {"48-bit IPA, start level 0", vtcr_48_l0, {48, 48, level_0, 1}},
        // IPA 39 at level 1: 9 bits, one table (3-level walk).
        {"39-bit IPA, start level 1", vtcr_39_l1, {39, 40, level_1, 1}},
        // IPA 32 at level 1: 2 bits, 4 entries of one table.
        {"32-bit IPA, start level 1", vtcr_32_l1, {32, 40, level_1, 1}},
        // IPA 43 at level 1: 13 bits, 16 concatenated tables (the maximum).
        {"43-bit IPA, start level 1", vtcr_43_l1, {43, 44, level_1, 16}},
        // IPA 31 at level 2: 10 bits, 2 concatenated level-2 tables.
        {"31-bit IPA, start level 2", vtcr_31_l2, {31, 40, level_2, 2}},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        const VtcrDecode d = Vtcr::decode(c.vtcr);
        REQUIRE(d.config.has_value());
        CHECK(*d.config == c.cfg);
        Machine m(c.vtcr);
        CHECK(m->config() == c.cfg);
        CHECK(m->gfn_limit() == uint64_t{1} << (c.cfg.ipa_bits - 12));
        CHECK(m.mem->tables_in_use() == c.cfg.root_tables);
        CHECK(m->root().raw() % c.cfg.root_tables == 0);  // aligned to the concatenated size
    }
}

TEST_CASE("invalid_vtcr_combinations_are_rejected_with_einval") {
    struct Case {
        const char* what;
        uint64_t vtcr;
    };
    const Case cases[] = {
        {"40-bit IPA at level 2: 19 bits, 1024 tables", Vtcr::make(40, level_2, 48)},
        {"44-bit IPA at level 1: 14 bits, 32 tables", Vtcr::make(44, level_1, 44)},
        {"48-bit IPA at level 1: 18 bits", Vtcr::make(48, level_1, 48)},
        {"39-bit IPA at level 0 with PS 40: level 0 needs PS > 42", Vtcr::make(39, level_0, 40)},
        {"42-bit IPA at level 0 with PS 42", Vtcr::make(42, level_0, 42)},
        {"30-bit IPA at level 0: no bit left for level 0", Vtcr::make(30, level_0, 48)},
        {"25-bit IPA at level 1: no bit left for level 1", Vtcr::make(25, level_1, 40)},
        {"T0SZ 40 (24-bit IPA)", Vtcr::make(24, level_2, 40)},
        {"T0SZ 15 (49-bit IPA)", Vtcr::make(49, level_0, 48)},
        {"SL0 = 0b11 (level 3 start, FEAT_TTST)", (Vtcr::make(25, level_2, 40) & ~Vtcr::sl0_mask) | (3 << 6)},
        {"IPA 42 wider than PS 40", Vtcr::make(42, level_1, 40)},
        {"PS 0b110 (52 bits)", (vtcr_default & ~Vtcr::ps_mask) | (6 << 16)},
        {"PS 0b111 (reserved)", (vtcr_default & ~Vtcr::ps_mask) | (7 << 16)},
        {"TG0 = 64 KiB", vtcr_default | (1 << 14)},
        {"TG0 = 16 KiB", vtcr_default | (2 << 14)},
        {"DS (FEAT_LPA2)", vtcr_default | Vtcr::ds},
        {"HA (FEAT_HAFDBS)", vtcr_default | Vtcr::ha},
        {"HD (FEAT_HAFDBS)", vtcr_default | Vtcr::hd},
        {"SH0 = 0b01 (reserved)", (vtcr_default & ~Vtcr::sh0_mask) | (1 << 12)},
    };
    auto mem = MachineMemory::create(4 * mib, 64);
    REQUIRE(mem.is_ok());
    for (const Case& c : cases) {
        CAPTURE(c.what);
        const VtcrDecode d = Vtcr::decode(c.vtcr);
        CHECK_FALSE(d.config.has_value());
        CHECK_FALSE(d.why.empty());
        CHECK(Arm64Stage2::create(**mem, c.vtcr).status().code() == -EINVAL);
        CHECK((*mem)->tables_in_use() == 0);  // nothing allocated
    }
}

TEST_CASE("a_pa_size_that_cannot_reach_hvcores_table_pool_is_einval") {
    // Architecturally fine (32-bit IPA at level 1, PS 32 and 36; PS 32 is
    // what the QEMU 7.2 run of test_a64_record.cpp uses), but the table frames live at
    // host-physical 64 GiB: every walk would be an Address size fault.
    auto mem = MachineMemory::create(4 * mib, 64);
    REQUIRE(mem.is_ok());
    for (unsigned pa : {32U, 36U}) {
        CAPTURE(pa);
        const uint64_t v = Vtcr::make(32, level_1, pa);
        CHECK(Vtcr::decode(v).config.has_value());
        CHECK(Arm64Stage2::create(**mem, v).status().code() == -EINVAL);
    }
    CHECK(Arm64Stage2::create(**mem, Vtcr::make(32, level_1, 40)).is_ok());
}

TEST_CASE("concatenated_root_tables_are_found_aligned_in_a_fragmented_pool") {
    // Free frames 0, 2, 4 ... of the pool: no two free frames are
    // consecutive, so 16 concatenated tables must come from fresh frames,
    // aligned to 16; the frames tried on the way are returned.
    auto mem = MachineMemory::create(4 * mib, 128);
    REQUIRE(mem.is_ok());
    std::vector<Mfn> held;
    for (int i = 0; i < 21; ++i) {
        auto f = (*mem)->alloc_table();
        REQUIRE(f.is_ok());
        held.push_back(*f);
    }
    for (size_t i = 0; i < held.size(); i += 2) (*mem)->free_table(held[i]);
    const uint64_t before = (*mem)->tables_in_use();  // the 10 odd frames
    {
        auto s2 = Arm64Stage2::create(**mem, vtcr_43_l1);
        REQUIRE(s2.is_ok());
        const Mfn root = (*s2)->root();
        CHECK(root.raw() % 16 == 0);
        for (unsigned k = 0; k < 16; ++k) CHECK((*mem)->is_table_frame(root + k));
        CHECK((*mem)->tables_in_use() == before + 16);  // exactly the root is kept
        // The table works across the concatenated frames: the last gfn.
        REQUIRE((*s2)->map_range(Gfn{(*s2)->gfn_limit() - 1}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        CHECK((*s2)->lookup(Gfn{(*s2)->gfn_limit() - 1}).mfn == Mfn{0x100});
    }
    CHECK((*mem)->tables_in_use() == before);
}

TEST_CASE("a_pool_too_small_for_the_concatenated_root_is_enomem_and_keeps_nothing") {
    auto mem = MachineMemory::create(4 * mib, 8);  // 16 tables cannot fit
    REQUIRE(mem.is_ok());
    CHECK(Arm64Stage2::create(**mem, vtcr_43_l1).status().code() == -ENOMEM);
    CHECK((*mem)->tables_in_use() == 0);
}
