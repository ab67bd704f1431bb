// The model MMU: what translate() reports for each access at each level
// (ESR_EL2 with EC 0x24 / 0x20, IL, ISS: ISV fields from the executor's
// syndrome, WnR, DFSC/IFSC = kind + level; HPFAR_EL2 = IPA[47:12] << 4;
// FAR_EL2 = the virtual address), and decode_fault() turning that record
// back into the neutral Fault. ESR layout: Arm ARM ESR_EL2, "ISS encoding
// for an exception from a Data Abort / an Instruction Abort" (reference
// §C.4); fault codes: 0b0001LL translation, 0b0010LL access flag,
// 0b0011LL permission, 0b0000LL address size.
#include "s2_test_support.hpp"

using namespace s2_test;
using D = S2Desc;

namespace {

constexpr uint32_t ec_dabt = 0x24;             // Data Abort from a lower EL
constexpr uint32_t ec_iabt = 0x20;             // Instruction Abort from a lower EL
constexpr uint64_t il = uint64_t{1} << 25;     // 32-bit instruction
constexpr uint64_t wnr = uint64_t{1} << 6;     // write, not read
constexpr uint64_t isv = uint64_t{1} << 24;    // ISS[23:14] valid
constexpr uint64_t translation(unsigned level) { return 0x04 + level; }
constexpr uint64_t access_flag(unsigned level) { return 0x08 + level; }
constexpr uint64_t permission(unsigned level) { return 0x0c + level; }
constexpr uint64_t address_size(unsigned level) { return 0x00 + level; }

constexpr AccessType all_access[] = {AccessType::read, AccessType::write, AccessType::fetch};

// The ESR the hardware writes for `a` with fault code fsc and, for data
// accesses, the instruction syndrome iss (ISS[24:14]).
uint64_t esr(AccessType a, uint64_t fsc, uint64_t iss = 0) {
    switch (a) {
    case AccessType::read: return (uint64_t{ec_dabt} << 26) | il | iss | fsc;
    case AccessType::write: return (uint64_t{ec_dabt} << 26) | il | iss | wnr | fsc;
    case AccessType::fetch: return (uint64_t{ec_iabt} << 26) | il | fsc;
    }
    return 0;
}
uint32_t ec(AccessType a) { return a == AccessType::fetch ? ec_iabt : ec_dabt; }
constexpr uint64_t hpfar(uint64_t ipa) { return (ipa >> 12) << 4; }

bool allows(Perm p, AccessType a) {
    switch (a) {
    case AccessType::read: return p.r;
    case AccessType::write: return p.w;
    case AccessType::fetch: return p.x;
    }
    return false;
}

// A guest access with stage 1 off: VA == IPA.
AccessContext at(uint64_t va, unsigned size = 4, uint64_t syndrome = 0) {
    return AccessContext{.gla = va, .gla_valid = true, .size = size, .insn = {}, .isa_syndrome = syndrome};
}

// Checks the whole record of a faulting translation.
void check_fault(const Translation& t, AccessType a, uint64_t fsc, uint64_t ipa, uint64_t far, uint64_t iss = 0) {
    CHECK_FALSE(t.ok);
    CHECK(t.record.arch == Arch::arm64);
    CHECK(t.record.kind == ec(a));
    CHECK(t.record.syndrome == esr(a, fsc, iss));
    CHECK(t.record.gpa == hpfar(ipa));
    CHECK(t.record.gva == far);
}

}  // namespace

TEST_CASE("translate_reaches_the_4k_frame_inside_each_leaf_size") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{2 * pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    // Byte 0x123 of gfn 0; gfn 0x200 + 0x17 (2 MiB block); gfn 1 GiB + 0x2345.
    const Translation t4k = m->translate(Gpa{0x123}, AccessType::read, at(0x123));
    CHECK(t4k.ok);
    CHECK(t4k.mfn == Mfn{0x100});
    const Translation t2m = m->translate(to_gpa(Gfn{pages_2m + 0x17}), AccessType::write, at(0));
    CHECK(t2m.ok);
    CHECK(t2m.mfn == Mfn{2 * pages_2m + 0x17});
    const Translation t1g = m->translate(to_gpa(Gfn{pages_1g + 0x2345}), AccessType::fetch, at(0));
    CHECK(t1g.ok);
    CHECK(t1g.mfn == Mfn{2 * pages_1g + 0x2345});
}

TEST_CASE("permission_faults_at_each_leaf_level_report_wnr_and_the_leaf_level") {
    // ram_ro (S2AP 01, executable) leaves of each size: a write is refused
    // with DFSC permission + the leaf's level; reads and fetches pass.
    for (unsigned level : {level_3, level_2, level_1}) {
        CAPTURE(level);
        Machine m;
        const uint64_t pages = level_pages(level);
        const Gfn g{pages};  // aligned to its own size
        REQUIRE(m->map_range(g, Mfn{pages}, pages, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
        REQUIRE(m->lookup(g).order == level_order(level));
        const uint64_t ipa = to_gpa(g).raw() + 0x18;  // byte 0x18 of the first page
        check_fault(m->translate(Gpa{ipa}, AccessType::write, at(ipa)), AccessType::write, permission(level), ipa, ipa);
        CHECK(m->translate(Gpa{ipa}, AccessType::read, at(ipa)).ok);
        CHECK(m->translate(Gpa{ipa}, AccessType::fetch, at(ipa)).ok);
    }
}

TEST_CASE("a_fetch_from_a_claimed_ioreq_server_page_is_an_instruction_abort") {
    // XN = 0b10: EC 0x20, IFSC permission level 3, no WnR and no ISS bits.
    Machine m;
    REQUIRE(m->map_range(Gfn{9}, Mfn{0x109}, 1, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true)).is_ok());
    const uint64_t ipa = to_gpa(Gfn{9}).raw();
    check_fault(m->translate(Gpa{ipa}, AccessType::fetch, at(ipa, 4, Esr::insn_syndrome(2, false, 3, false, false))),
                AccessType::fetch, permission(level_3), ipa, ipa);
    CHECK(m->translate(Gpa{ipa}, AccessType::read, at(ipa)).ok);
    // The write carries the executor's syndrome: ISV 1, SAS 2 (word), SRT 3.
    const uint64_t iss = Esr::insn_syndrome(2, false, 3, false, false);
    check_fault(m->translate(Gpa{ipa}, AccessType::write, at(ipa, 4, iss)), AccessType::write, permission(level_3), ipa,
                ipa, iss);
}

TEST_CASE("translation_faults_at_each_level_for_every_access") {
    struct Hole {
        const char* where;
        uint64_t vtcr;
        uint64_t gfn;
        unsigned level;
    };
    const Hole holes[] = {
        {"level-3 page absent", vtcr_40_l1, 1, level_3},
        {"level-2 descriptor absent", vtcr_40_l1, pages_2m, level_2},
        {"level-1 descriptor absent", vtcr_40_l1, pages_1g, level_1},
        {"level-1 absent in the second root table", vtcr_40_l1, 600 * pages_1g, level_1},
        {"top gfn of the 40-bit IPA space", vtcr_40_l1, (uint64_t{1} << 28) - 1, level_1},
        {"level-0 descriptor absent (4-level walk)", vtcr_48_l0, uint64_t{1} << 27, level_0},
        {"level-2 absent at a level-2 start", vtcr_31_l2, pages_1g + pages_2m, level_2},
    };
    for (const Hole& h : holes) {
        CAPTURE(h.where);
        Machine m(h.vtcr);
        // One page at gfn 0 builds the tables on the walk to gfn 0.
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        for (AccessType a : all_access) {
            const uint64_t ipa = to_gpa(Gfn{h.gfn}).raw() + 0x40;
            check_fault(m->translate(Gpa{ipa}, a, at(ipa)), a, translation(h.level), ipa, ipa);
            const Fault f = m->decode_fault(m->translate(Gpa{ipa}, a, at(ipa)).record);
            CHECK(f.cause == FaultCause::not_present);
            CHECK(f.access == a);
            CHECK(f.gpa == Gpa{ipa});
        }
    }
}

TEST_CASE("a_typed_hole_is_a_translation_fault_at_its_own_level") {
    // Invalid descriptors (bit 0 = 0): the hardware ignores the type, the
    // attributes and the address (Arm ARM D8.3, "Invalid descriptor").
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m + 1}, Mfn{0}, 1, P2mType::invalid, Perm{}).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{0}, pages_1g, P2mType::mmio_dm, Perm{}).is_ok());
    check_fault(m->translate(Gpa{0x1000}, AccessType::read, at(0x1000)), AccessType::read, translation(level_2), 0x1000,
                0x1000);
    const uint64_t page_hole = to_gpa(Gfn{pages_2m + 1}).raw();
    check_fault(m->translate(Gpa{page_hole}, AccessType::write, at(page_hole)), AccessType::write,
                translation(level_3), page_hole, page_hole);
    const uint64_t gib_hole = to_gpa(Gfn{pages_1g}).raw();
    check_fault(m->translate(Gpa{gib_hole}, AccessType::fetch, at(gib_hole)), AccessType::fetch, translation(level_1),
                gib_hole, gib_hole);
}

TEST_CASE("an_ipa_beyond_the_configured_size_is_a_level_0_translation_fault") {
    // Arm pseudocode: an IPA with bits set at or above 64 - T0SZ faults
    // with Fault_Translation at level 0 whatever the start level.
    for (const uint64_t vtcr : {vtcr_40_l1, vtcr_32_l1, vtcr_31_l2}) {
        Machine m(vtcr);
        CAPTURE(m->config().ipa_bits);
        const uint64_t ipa = (uint64_t{1} << m->config().ipa_bits) + 0x234;
        for (AccessType a : all_access) {
            check_fault(m->translate(Gpa{ipa}, a, at(ipa)), a, translation(level_0), ipa, ipa);
            CHECK(m->decode_fault(m->translate(Gpa{ipa}, a, at(ipa)).record).cause == FaultCause::not_present);
        }
    }
}

TEST_CASE("access_flag_faults_at_each_leaf_level_decode_as_permission") {
    // AF = 0 with VTCR.HA = 0 (no FEAT_HAFDBS): Access flag fault at the
    // leaf's level, checked before the permissions (QEMU's order).
    for (unsigned level : {level_3, level_2, level_1}) {
        CAPTURE(level);
        Machine m;
        const uint64_t pages = level_pages(level);
        REQUIRE(m->map_range(Gfn{pages}, Mfn{pages}, pages, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
        m.entry_on_walk(pages, level) &= ~D::af;
        const uint64_t ipa = to_gpa(Gfn{pages}).raw() + 8;
        for (AccessType a : all_access) {
            check_fault(m->translate(Gpa{ipa}, a, at(ipa)), a, access_flag(level), ipa, ipa);
            const Fault f = m->decode_fault(m->translate(Gpa{ipa}, a, at(ipa)).record);
            CHECK(f.cause == FaultCause::permission);
            CHECK(f.access == a);
        }
    }
}

TEST_CASE("a_level_0_block_and_a_level_3_block_encoding_are_translation_faults") {
    // Arm ARM D8.3: bits 1:0 = 01 is a block only at levels 1 and 2 with the
    // 4 KiB granule (no FEAT_LPA2); at level 0 and level 3 it is a
    // translation fault (QEMU 7.2 wrongly accepts level 0, reference §D.2).
    {
        Machine m(vtcr_48_l0);
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        m.entry(m->root(), 0) = D::encode_leaf(Mfn{pages_1g}, P2mType::ram_rw, rwx, MemClass::normal, level_1);
        check_fault(m->translate(Gpa{0x5000}, AccessType::read, at(0x5000)), AccessType::read, translation(level_0),
                    0x5000, 0x5000);
    }
    {
        Machine m;
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        m.entry_on_walk(0, level_3) &= ~D::type_bit;  // 0b01 at level 3: reserved
        check_fault(m->translate(Gpa{0}, AccessType::write, at(0)), AccessType::write, translation(level_3), 0, 0);
    }
}

TEST_CASE("output_addresses_beyond_ps_are_address_size_faults") {
    // PS 40 (39-bit IPA config): address bits 47:40 of a table or leaf
    // descriptor are beyond the output size (QEMU: address size fault at
    // the level of that descriptor). hvcore never writes such a descriptor:
    // it decodes as no usable entry.
    Machine m(vtcr_39_l1);
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m.entry_on_walk(0, level_3) |= bit(44);  // page output address
    check_fault(m->translate(Gpa{0x10}, AccessType::read, at(0x10)), AccessType::read, address_size(level_3), 0x10, 0x10);
    CHECK(m->decode_fault(m->translate(Gpa{0x10}, AccessType::read, at(0x10)).record).cause == FaultCause::not_present);
    m.entry_on_walk(pages_2m, level_2) |= bit(40);  // block output address
    const uint64_t ipa = to_gpa(Gfn{pages_2m}).raw();
    check_fault(m->translate(Gpa{ipa}, AccessType::fetch, at(ipa)), AccessType::fetch, address_size(level_2), ipa, ipa);
    const uint64_t l1 = m.entry(m->root(), 0);
    m.entry(m->root(), 0) |= bit(47);  // level-1 table descriptor: checked before following it
    check_fault(m->translate(Gpa{ipa}, AccessType::write, at(ipa)), AccessType::write, address_size(level_1), ipa, ipa);
    m.entry(m->root(), 0) = l1;  // so the destructor can free the tables below
}

TEST_CASE("an_execute_only_leaf_allows_fetches_and_refuses_reads") {
    // At stage 2 in AArch64 an instruction fetch needs no read permission:
    // S2AP = 00 with XN = 00 is execute-only.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, Perm{.x = true}).is_ok());
    CHECK(m->translate(Gpa{0}, AccessType::fetch, at(0)).ok);
    check_fault(m->translate(Gpa{0}, AccessType::read, at(0)), AccessType::read, permission(level_3), 0, 0);
    check_fault(m->translate(Gpa{0}, AccessType::write, at(0)), AccessType::write, permission(level_3), 0, 0);
}

TEST_CASE("far_is_the_virtual_address_and_hpfar_the_ipa_page") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0x40}, Mfn{0x140}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    // A guest VA unrelated to the IPA (a stage-1 mapping the model does not
    // walk): FAR holds the VA, HPFAR the IPA, and decode puts the IPA back
    // together from HPFAR and FAR[11:0].
    const AccessContext ctx{.gla = 0xffff'8000'1234'5678, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = 0};
    const uint64_t ipa = 0x40'678;
    const Translation t = m->translate(Gpa{ipa}, AccessType::write, ctx);
    check_fault(t, AccessType::write, permission(level_3), ipa, 0xffff'8000'1234'5678);
    const Fault f = m->decode_fault(t.record);
    CHECK(f.gpa == Gpa{ipa});
    REQUIRE(f.gla.has_value());
    CHECK(*f.gla == 0xffff'8000'1234'5678);
    // Without a virtual address (stage 1 off and none given): FAR = IPA.
    const Translation n = m->translate(Gpa{ipa}, AccessType::write, AccessContext{});
    CHECK(n.record.gva == ipa);
    CHECK(m->decode_fault(n.record).gpa == Gpa{ipa});
}

TEST_CASE("isv_comes_from_the_executor_and_without_it_the_iss_fields_are_zero") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    // ldrsh x7, [..]: SAS 1, SSE, SRT 7, SF.
    const uint64_t iss = Esr::insn_syndrome(1, true, 7, true, false);
    CHECK(iss == (isv | 1 << 22 | 1 << 21 | 7 << 16 | 1 << 15));
    check_fault(m->translate(Gpa{0x20}, AccessType::write, at(0x20, 2, iss)), AccessType::write, permission(level_3),
                0x20, 0x20, iss);
    // ISV = 0 (an STP, a post-index store): ISS[23:14] are RES0, whatever
    // else the executor passed; bits outside ISS[24:14] are never taken.
    check_fault(m->translate(Gpa{0x20}, AccessType::write, at(0x20, 2, iss & ~isv)), AccessType::write,
                permission(level_3), 0x20, 0x20, 0);
    check_fault(m->translate(Gpa{0x20}, AccessType::write, at(0x20, 2, iss | 0xff | (uint64_t{1} << 40))),
                AccessType::write, permission(level_3), 0x20, 0x20, iss);
}

TEST_CASE("a_split_access_faulting_on_its_second_page_names_that_page_and_has_no_isv") {
    // An 8-byte store at 0x1ffc covers pages 1 and 2; the MMU port
    // translates each page with ctx.gla = 0x1ffc.
    Machine m;
    REQUIRE(m->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{2}, Mfn{0x102}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    const uint64_t iss = Esr::insn_syndrome(3, false, 1, true, false);
    CHECK(m->translate(Gpa{0x1ffc}, AccessType::write, at(0x1ffc, 8, iss)).ok);
    // Page 2 faults: FAR is its first byte (so HPFAR and FAR name the same
    // byte), and hvcore clears ISV: the syndrome cannot say where the
    // access began (deviation: the hardware keeps ISV).
    const Translation t = m->translate(Gpa{0x2000}, AccessType::write, at(0x1ffc, 8, iss));
    check_fault(t, AccessType::write, permission(level_3), 0x2000, 0x2000, 0);
    CHECK(m->decode_fault(t.record).gpa == Gpa{0x2000});
    // When the first page faults, the record is the ordinary one.
    Machine m2;
    REQUIRE(m2->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    check_fault(m2->translate(Gpa{0x1ffc}, AccessType::write, at(0x1ffc, 8, iss)), AccessType::write,
                permission(level_3), 0x1ffc, 0x1ffc, iss);
}

TEST_CASE("after_mark_recalc_all_an_access_is_a_start_level_translation_fault_that_decodes_to_recalc") {
    for (const uint64_t vtcr : {vtcr_40_l1, vtcr_48_l0, vtcr_31_l2}) {
        Machine m(vtcr);
        const unsigned start = m->config().start_level;
        CAPTURE(start);
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        m->mark_recalc_all();
        for (AccessType a : all_access) {
            const Translation t = m->translate(Gpa{0x10}, a, at(0x10));
            check_fault(t, a, translation(start), 0x10, 0x10);
            const Fault f = m->decode_fault(t.record);
            CHECK(f.cause == FaultCause::recalc);
            CHECK(f.gpa == Gpa{0x10});
            CHECK(f.access == a);
        }
        // Resolving restores the walk; the access then succeeds.
        RecordingPolicy policy;
        CHECK(m->resolve(Gfn{0}, policy));
        CHECK(m->translate(Gpa{0x10}, AccessType::write, at(0x10)).ok);
    }
}

TEST_CASE("a_marked_leaf_below_valid_tables_faults_at_its_level_and_decodes_to_recalc") {
    // After one resolve pushed the mark down, a sibling 2 MiB block and the
    // other level-3 table's descriptor are themselves invalid and marked.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    REQUIRE(m->resolve(Gfn{0}, policy));
    const uint64_t ipa = to_gpa(Gfn{pages_2m + 1}).raw();
    const Translation t = m->translate(Gpa{ipa}, AccessType::read, at(ipa));
    check_fault(t, AccessType::read, translation(level_2), ipa, ipa);
    CHECK(m->decode_fault(t.record).cause == FaultCause::recalc);
}

TEST_CASE("an_invalid_descriptor_without_a_mark_decodes_as_not_present") {
    // A translation fault is a pending recalculation only if a mark lies on
    // the walk; otherwise reporting recalc would make the core retry forever.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m.entry_on_walk(0, level_2) &= ~D::valid;  // an invalid table descriptor, no mark
    const Translation t = m->translate(Gpa{0}, AccessType::read, at(0));
    check_fault(t, AccessType::read, translation(level_2), 0, 0);
    CHECK(m->decode_fault(t.record).cause == FaultCause::not_present);
}

TEST_CASE("the_walk_changes_no_descriptor") {
    // VTCR.HA = HD = 0: the model, like the processor, never writes AF or
    // dirty state.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const uint64_t before = m->raw_entry(Gfn{0});
    const uint64_t l1 = m.entry(m->root(), 0);
    REQUIRE(m->translate(Gpa{0}, AccessType::write, at(0)).ok);
    CHECK(m->raw_entry(Gfn{0}) == before);
    CHECK(m.entry(m->root(), 0) == l1);
}

TEST_CASE("decode_of_translate_round_trips_for_every_type_claim_and_access") {
    for (P2mType t : all_p2m_types) {
        for (bool claimed : {false, true}) {
            for (AccessType a : all_access) {
                CAPTURE(to_string(t));
                CAPTURE(claimed);
                CAPTURE(static_cast<int>(a));
                Machine m;
                const Perm p = perm_of(t, claimed);
                REQUIRE(m->map_range(Gfn{0x42}, Mfn{0x142}, 1, t, p).is_ok());
                const uint64_t ipa = 0x42'abc;  // byte 0xabc of gfn 0x42
                // A 4-byte access, as `str w5` / `ldr w5` would describe it.
                const uint64_t iss = Esr::insn_syndrome(2, false, 5, false, false);
                const AccessContext ctx{.gla = 0x7000'0abc, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = iss};
                const Translation tr = m->translate(Gpa{ipa}, a, ctx);
                CHECK(tr.ok == allows(p, a));
                if (tr.ok) {
                    CHECK(tr.mfn == Mfn{0x142});
                    continue;
                }
                // Valid leaf -> permission fault; typed hole -> translation
                // fault; both at level 3.
                const uint64_t fsc = p == Perm{} ? translation(level_3) : permission(level_3);
                check_fault(tr, a, fsc, ipa, 0x7000'0abc, iss);
                const Fault f = m->decode_fault(tr.record);
                CHECK(f.gpa == Gpa{ipa});
                CHECK(f.access == a);
                CHECK(f.cause == (p == Perm{} ? FaultCause::not_present : FaultCause::permission));
                REQUIRE(f.gla.has_value());
                CHECK(*f.gla == 0x7000'0abc);
            }
        }
    }
}

TEST_CASE("decode_takes_the_access_from_ec_and_wnr") {
    Machine m;
    FaultRecord r;
    r.arch = Arch::arm64;
    // An instruction abort is a fetch even with bit 6 set (it is RES0 there).
    r.kind = ec_iabt;
    r.syndrome = esr(AccessType::fetch, permission(level_3)) | wnr;
    CHECK(m->decode_fault(r).access == AccessType::fetch);
    r.kind = ec_dabt;
    r.syndrome = esr(AccessType::write, permission(level_3));
    CHECK(m->decode_fault(r).access == AccessType::write);
    r.syndrome = esr(AccessType::read, translation(level_1));
    CHECK(m->decode_fault(r).access == AccessType::read);
    CHECK(m->decode_fault(r).cause == FaultCause::not_present);
    // IPA = HPFAR[39:4] << 8 | FAR[11:0]; HPFAR bits outside FIPA ignored.
    r.gpa = hpfar(0x12'3456'7000) | (uint64_t{1} << 63);
    r.gva = 0xdead'beef'0000'0abc;
    CHECK(m->decode_fault(r).gpa == Gpa{0x12'3456'7abc});
}
