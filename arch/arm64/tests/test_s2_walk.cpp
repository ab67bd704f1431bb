// SPDX-License-Identifier: MIT
// The model MMU beyond the stage-2 conformance suite
// (tests/conformance/test_stage2.cpp, which runs the default configuration):
// the other VTCR configurations, access flag, reserved-encoding and
// address size faults, ISV, split accesses and decode. What translate()
// reports for each access at each level
// (ESR_EL2 with EC 0x24 / 0x20, IL, ISS: ISV fields from the executor's
// syndrome, WnR, DFSC/IFSC = kind + level; HPFAR_EL2 = IPA[47:12] << 4;
// FAR_EL2 = the virtual address), and decode_fault() turning that record
// back into the neutral Fault. ESR layout: Arm ARM ESR_EL2, "ISS encoding
// for an exception from a Data Abort / an Instruction Abort" (D24.2.46;
// Linux esr.h ESR_ELx_FSC_*); fault codes: 0b0001LL translation, 0b0010LL access flag,
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

TEST_CASE("translation_faults_at_each_level_for_every_access") {
    struct Hole {
        const char* where;
        uint64_t vtcr;
        uint64_t gfn;
        unsigned level;
    };
    // The default configuration's holes: the conformance suite.
    const Hole holes[] = {
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

TEST_CASE("an_ipa_beyond_the_configured_size_is_a_level_0_translation_fault") {
    // Arm pseudocode: an IPA with bits set at or above 64 - T0SZ faults
    // with Fault_Translation at level 0 whatever the start level.
    // The default configuration: the conformance suite.
    for (const uint64_t vtcr : {vtcr_32_l1, vtcr_31_l2}) {
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
    // translation fault (QEMU 7.2 wrongly accepts level 0; fixed in 8.2 by
    // "target/arm/ptw: Check for block descriptors at invalid levels").
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

TEST_CASE("a_split_access_faulting_on_its_second_page_names_that_page_and_keeps_isv") {
    // An 8-byte store at 0x1ffc covers pages 1 and 2; the MMU port walks
    // each page with the address of the access's first byte in it (0x1ffc,
    // then 0x2000).
    Machine m;
    REQUIRE(m->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{2}, Mfn{0x102}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    const uint64_t iss = Esr::insn_syndrome(3, false, 1, true, false);
    CHECK(m->translate(Gpa{0x1ffc}, AccessType::write, at(0x1ffc, 8, iss)).ok);
    // Page 2 faults: FAR is its first byte (HPFAR and FAR name the same
    // byte, D24.2.49 FAR_EL2 "the faulting Virtual Address"), and ISV stays
    // 1 with the instruction's syndrome (D24.2.46 ESR_EL2, ISV: no
    // exception for page crossings; QEMU 7.2 keeps it too).
    const Translation t = m->translate(Gpa{0x2000}, AccessType::write, at(0x2000, 8, iss));
    check_fault(t, AccessType::write, permission(level_3), 0x2000, 0x2000, iss);
    CHECK(m->decode_fault(t.record).gpa == Gpa{0x2000});
    CHECK(m->decode_fault(t.record).gla == 0x2000);
    // When the first page faults, the record is the ordinary one.
    Machine m2;
    REQUIRE(m2->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    check_fault(m2->translate(Gpa{0x1ffc}, AccessType::write, at(0x1ffc, 8, iss)), AccessType::write,
                permission(level_3), 0x1ffc, 0x1ffc, iss);
}

TEST_CASE("the_read_of_an_atomic_read_modify_write_is_checked_and_reported_as_a_read") {
    // ESR_EL2.WnR for an atomic that reads and writes: 0 "if a read of the
    // address specified by the instruction would have generated the fault
    // which is being reported, otherwise ... 1" (D24.2.46). The executor
    // reads first (marked rmw) and writes after, so: a hole faults the
    // read, WnR = 0; a read-only page lets the read through, and the write
    // faults with WnR = 1.
    Machine m;
    REQUIRE(m->map_range(Gfn{1}, Mfn{0x101}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    AccessContext rmw = at(0x1040, 8);
    rmw.rmw = true;
    CHECK(m->translate(Gpa{0x1040}, AccessType::read, rmw).ok);
    check_fault(m->translate(Gpa{0x1040}, AccessType::write, at(0x1040, 8)), AccessType::write, permission(level_3),
                0x1040, 0x1040);
    // Gfn 3: nothing mapped below the level-2 table of gfns 0-511, a
    // level-3 translation fault, read.
    rmw.gla = 0x3040;
    check_fault(m->translate(Gpa{0x3040}, AccessType::read, rmw), AccessType::read, translation(level_3), 0x3040,
                0x3040);
}

TEST_CASE("after_mark_recalc_all_an_access_is_a_start_level_translation_fault_that_decodes_to_recalc") {
    // The default configuration: the conformance suite.
    for (const uint64_t vtcr : {vtcr_48_l0, vtcr_31_l2}) {
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

TEST_CASE("a_permission_or_access_flag_fault_has_no_mark_on_its_walk_and_every_decode_agrees_with_the_walk") {
    // decode_fault walks the table for a mark (recalculation) only for
    // translation and address size faults: a mark makes its descriptor
    // invalid, so a walk that reached a leaf and was refused there
    // (permission, access flag) passed no mark. Checked against the walk
    // (walk_entries follows marked table descriptors) for every access to
    // gfns under marks, under resolved tables, with AF = 0 and in holes.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 256, P2mType::ram_rw, perm_of(P2mType::ram_rw)).is_ok());
    REQUIRE(m->map_range(Gfn{256}, Mfn{0x200}, 768, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    unsigned permission_faults = 0;
    unsigned recalc_faults = 0;
    for (const uint64_t resolved : {uint64_t{0x10}, uint64_t{600}}) {
        CAPTURE(resolved);
        REQUIRE(m->resolve(Gfn{resolved}, policy));
        m.entry_on_walk(0x11, level_3) &= ~D::af;  // resolved: AF = 0 gives an access flag fault
        for (const uint64_t gfn : {uint64_t{0x10}, uint64_t{0x11}, uint64_t{300}, uint64_t{600}, uint64_t{700},
                                   uint64_t{1023}, uint64_t{1100}, uint64_t{2000}, uint64_t{0x40000}}) {
            for (AccessType a : all_access) {
                CAPTURE(gfn);
                CAPTURE(static_cast<int>(a));
                const Translation t = m->translate(to_gpa(Gfn{gfn}), a, at(gfn << 12));
                if (t.ok) continue;
                const Stage2Walk w = m->walk_entries(Gfn{gfn});
                bool marked = false;
                for (unsigned i = 0; i < w.count; ++i) marked = marked || D::marked(w.level[i].entry);
                const uint64_t kind = t.record.syndrome & Esr::fsc_kind_mask;
                const bool refused_at_leaf = kind == Esr::fsc_permission || kind == Esr::fsc_access_flag;
                if (refused_at_leaf) CHECK_FALSE(marked);
                const FaultCause expect = marked            ? FaultCause::recalc
                                          : refused_at_leaf ? FaultCause::permission
                                                            : FaultCause::not_present;
                CHECK(m->decode_fault(t.record).cause == expect);
                permission_faults += refused_at_leaf ? 1 : 0;
                recalc_faults += marked ? 1 : 0;
            }
        }
    }
    // Both kinds were met (the check above is not vacuous).
    CHECK(permission_faults >= 4);
    CHECK(recalc_faults >= 4);
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
