// The model MMU: what translate() reports for each access at each level
// (EPT violation, exit reason 48, with the exit qualification of SDM Vol.
// 3C §28.2.1 Table 28-7; EPT misconfiguration, exit reason 49, §29.3.3.1),
// and decode_fault() turning that record back into the neutral Fault.
#include "ept_test_support.hpp"

using namespace ept_test;
using E = EptEntry;

namespace {

// Exit-qualification bits (Table 28-7).
constexpr uint64_t q_read = 1 << 0;   // access was a data read
constexpr uint64_t q_write = 1 << 1;  // access was a data write
constexpr uint64_t q_fetch = 1 << 2;  // access was an instruction fetch
constexpr uint64_t q_r = 1 << 3;      // AND of bit 0 (R) over the entries walked
constexpr uint64_t q_w = 1 << 4;      // AND of bit 1 (W)
constexpr uint64_t q_x = 1 << 5;      // AND of bit 2 (X)
constexpr uint64_t q_gla = 1 << 7;    // guest-linear address valid
constexpr uint64_t q_final = 1 << 8;  // the access was to the final translation

constexpr uint32_t violation = 48;
constexpr uint32_t misconfig = 49;

constexpr AccessType all_access[] = {AccessType::read, AccessType::write, AccessType::fetch};

uint64_t q_access(AccessType a) {
    switch (a) {
    case AccessType::read: return q_read;
    case AccessType::write: return q_write;
    case AccessType::fetch: return q_fetch;
    }
    return 0;
}

bool allows(Perm p, AccessType a) {
    switch (a) {
    case AccessType::read: return p.r;
    case AccessType::write: return p.w;
    case AccessType::fetch: return p.x;
    }
    return false;
}

uint64_t q_rights(Perm p) { return (p.r ? q_r : 0) | (p.w ? q_w : 0) | (p.x ? q_x : 0); }

// No guest-linear address: what a hv_vcpu_store through a gpa looks like.
const AccessContext no_gla{};

}  // namespace

TEST_CASE("translate_reaches_the_4k_frame_inside_each_leaf_size") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{2 * pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    // Byte 0x123 of gfn 0; gfn 0x200 + 0x17 (2 MiB leaf); gfn 1 GiB + 0x2345.
    const Translation t4k = m->translate(Gpa{0x123}, AccessType::read, no_gla);
    CHECK(t4k.ok);
    CHECK(t4k.mfn == Mfn{0x100});
    const Translation t2m = m->translate(to_gpa(Gfn{pages_2m + 0x17}), AccessType::write, no_gla);
    CHECK(t2m.ok);
    CHECK(t2m.mfn == Mfn{2 * pages_2m + 0x17});
    const Translation t1g = m->translate(to_gpa(Gfn{pages_1g + 0x2345}), AccessType::fetch, no_gla);
    CHECK(t1g.ok);
    CHECK(t1g.mfn == Mfn{2 * pages_1g + 0x2345});
}

TEST_CASE("permission_violations_at_each_leaf_level_report_access_and_anded_rights") {
    // ram_ro (R-X) leaves of each size: a write is refused, with
    // qualification = write (bit 1) | R and X allowed (bits 3, 5).
    for (unsigned level : {level_pt, level_pd, level_pdpt}) {
        CAPTURE(level);
        Machine m;
        const uint64_t pages = level_pages(level);
        const Gfn g{pages};  // aligned to its own size
        REQUIRE(m->map_range(g, Mfn{pages}, pages, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
        REQUIRE(m->lookup(g).order == level_order(level));
        const Gpa gpa{to_gpa(g).raw() + 0x18};  // byte 0x18 of the first page
        const Translation t = m->translate(gpa, AccessType::write, no_gla);
        CHECK_FALSE(t.ok);
        CHECK(t.record.arch == Arch::x86_vmx);
        CHECK(t.record.kind == violation);
        CHECK(t.record.syndrome == (q_write | q_r | q_x));
        CHECK(t.record.gpa == gpa.raw());
        // Reads and fetches pass.
        CHECK(m->translate(gpa, AccessType::read, no_gla).ok);
        CHECK(m->translate(gpa, AccessType::fetch, no_gla).ok);
    }
}

TEST_CASE("a_write_is_reported_with_the_write_bit_only") {
    // The hardware sets bit 1 alone for a data write (no read bit, even for
    // a read-modify-write instruction's write).
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true)).is_ok());
    const Translation t = m->translate(Gpa{0x8}, AccessType::write, no_gla);
    REQUIRE_FALSE(t.ok);
    CHECK((t.record.syndrome & (q_read | q_write | q_fetch)) == q_write);
    CHECK(t.record.syndrome == (q_write | q_r));  // claimed ioreq_server: R only
}

TEST_CASE("fetch_from_a_claimed_ioreq_server_page_is_a_violation_with_r_only") {
    Machine m;
    REQUIRE(m->map_range(Gfn{9}, Mfn{0x109}, 1, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true)).is_ok());
    const Translation t = m->translate(to_gpa(Gfn{9}), AccessType::fetch, no_gla);
    CHECK(t.record.kind == violation);
    CHECK(t.record.syndrome == (q_fetch | q_r));
    CHECK(m->translate(to_gpa(Gfn{9}), AccessType::read, no_gla).ok);
}

TEST_CASE("not_present_at_each_level_reports_no_rights") {
    Machine m;
    // One 4 KiB leaf at gfn 0 builds PML4E 0, PDPTE 0, PDE 0, PTE 0.
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const struct {
        const char* where;
        uint64_t gfn;
    } holes[] = {
        {"PTE 1 absent", 1},
        {"PDE 1 absent", pages_2m},
        {"PDPTE 1 absent", pages_1g},
        {"PML4E 1 absent", uint64_t{1} << 27},
        {"top gfn", m->gfn_limit() - 1},
    };
    for (const auto& h : holes) {
        CAPTURE(h.where);
        for (AccessType a : all_access) {
            const Gpa gpa{to_gpa(Gfn{h.gfn}).raw() + 0x40};
            const Translation t = m->translate(gpa, a, no_gla);
            CHECK(t.record.kind == violation);
            CHECK(t.record.syndrome == q_access(a));  // bits 5:3 = 0: not present
            CHECK(t.record.gpa == gpa.raw());
            const Fault f = m->decode_fault(t.record);
            CHECK(f.cause == FaultCause::not_present);
            CHECK(f.access == a);
        }
    }
}

TEST_CASE("a_typed_not_present_leaf_is_a_violation_whatever_its_other_bits") {
    // SDM Vol. 3C §29.3.2: bits 2:0 = 0 is not present; the type bits,
    // EMT and frame are ignored.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    const Translation t = m->translate(Gpa{0x1000}, AccessType::read, no_gla);
    CHECK(t.record.kind == violation);
    CHECK(t.record.syndrome == q_read);
}

TEST_CASE("a_valid_guest_linear_address_sets_bits_7_and_8_and_the_gva") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    const AccessContext ctx{.gla = 0xffff'8000'0000'0008, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = 0};
    const Translation t = m->translate(Gpa{0x8}, AccessType::write, ctx);
    CHECK(t.record.syndrome == (q_write | q_r | q_x | q_gla | q_final));
    CHECK(t.record.gva == 0xffff'8000'0000'0008);
    const Fault f = m->decode_fault(t.record);
    REQUIRE(f.gla.has_value());
    CHECK(*f.gla == 0xffff'8000'0000'0008);
    // Without a valid gla: bits 7/8 clear, gva 0, no gla in the Fault.
    const Translation n = m->translate(Gpa{0x8}, AccessType::write, no_gla);
    CHECK(n.record.gva == 0);
    CHECK_FALSE(m->decode_fault(n.record).gla.has_value());
}

TEST_CASE("after_mark_recalc_all_an_access_is_a_misconfiguration_that_decodes_to_recalc") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    for (AccessType a : all_access) {
        const Translation t = m->translate(Gpa{0x10}, a, no_gla);
        CHECK_FALSE(t.ok);
        CHECK(t.record.kind == misconfig);
        CHECK(t.record.syndrome == 0);  // no qualification is defined for 49
        CHECK(t.record.gpa == 0x10);
        const Fault f = m->decode_fault(t.record);
        CHECK(f.cause == FaultCause::recalc);
        CHECK(f.gpa == Gpa{0x10});
        CHECK_FALSE(f.gla.has_value());
    }
    // Resolving clears the way; the access then succeeds.
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{0}, policy));
    CHECK(m->translate(Gpa{0x10}, AccessType::write, no_gla).ok);
}

TEST_CASE("a_marked_leaf_below_clean_tables_is_a_misconfiguration_too") {
    // After one resolve pushed the mark down, a sibling 2 MiB leaf carries
    // EMT 7 itself (reserved memory type in a leaf).
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    REQUIRE(m->resolve(Gfn{0}, policy));
    const Translation t = m->translate(to_gpa(Gfn{pages_2m + 1}), AccessType::read, no_gla);
    CHECK(t.record.kind == misconfig);
    CHECK(m->decode_fault(t.record).cause == FaultCause::recalc);
}

TEST_CASE("crafted_misconfigurations_exit_49_and_without_a_mark_decode_as_not_present") {
    // Entries hvcore never writes, placed by hand where the walk meets them.
    // A misconfiguration with no recalc mark on the walk is a broken entry,
    // not a pending recalculation.
    struct Case {
        const char* what;
        unsigned level;
        uint64_t set;
        uint64_t clear;
    };
    const Case cases[] = {
        {"PTE write without read", level_pt, E::w, E::r | E::x},
        {"PTE memory type 2", level_pt, uint64_t{2} << 3, E::emt_mask},
        {"PTE memory type 3", level_pt, uint64_t{3} << 3, E::emt_mask},
        {"PTE frame bit 46, beyond MAXPHYADDR", level_pt, bit(46), 0},
        {"PDE (table) bit 6 reserved", level_pd, bit(6), 0},
        {"PDPTE (table) bit 3 reserved", level_pdpt, bit(3), 0},
        {"PML4E bit 7 reserved", level_pml4, E::large, 0},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        Machine m;
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        uint64_t& e = m.entry_on_walk(0, c.level);
        e = (e & ~c.clear) | c.set;
        const Translation t = m->translate(Gpa{0}, AccessType::read, no_gla);
        CHECK(t.record.kind == misconfig);
        CHECK(t.record.syndrome == 0);
        CHECK(m->decode_fault(t.record).cause == FaultCause::not_present);
    }
}

TEST_CASE("an_unaligned_2m_frame_is_a_misconfiguration") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m.entry_on_walk(0, level_pd) |= bit(12);  // frame 0x201: address bit 12 in a 2 MiB page
    CHECK(m->translate(Gpa{0}, AccessType::read, no_gla).record.kind == misconfig);
}

TEST_CASE("an_execute_only_leaf_is_legal_and_fetchable") {
    // The model reports execute-only support (IA32_VMX_EPT_VPID_CAP bit 0).
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    uint64_t& e = m.entry_on_walk(0, level_pt);
    e = (e & ~E::rwx) | E::x;
    CHECK(m->translate(Gpa{0}, AccessType::fetch, no_gla).ok);
    const Translation t = m->translate(Gpa{0}, AccessType::read, no_gla);
    CHECK(t.record.kind == violation);
    CHECK(t.record.syndrome == (q_read | q_x));
}

TEST_CASE("rights_are_anded_over_every_entry_walked") {
    // A PDE (table pointer) without W forbids writes below it although the
    // PTE allows them; bit 4 of the qualification is then clear.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m.entry_on_walk(0, level_pd) &= ~E::w;
    const Translation t = m->translate(Gpa{0}, AccessType::write, no_gla);
    CHECK(t.record.kind == violation);
    CHECK(t.record.syndrome == (q_write | q_r | q_x));
    CHECK(m->decode_fault(t.record).cause == FaultCause::permission);
}

TEST_CASE("the_walk_sets_no_accessed_or_dirty_flags") {
    // EPTP[6] = 0: the model, like the processor, leaves bits 8 and 9 alone.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const uint64_t before = m->raw_entry(Gfn{0});
    const uint64_t pml4e = m.entry(m->root(), 0);
    REQUIRE(m->translate(Gpa{0}, AccessType::write, no_gla).ok);
    CHECK(m->raw_entry(Gfn{0}) == before);
    CHECK(m.entry(m->root(), 0) == pml4e);
    CHECK((before & (E::accessed | E::dirty)) == 0);
}

TEST_CASE("decode_of_translate_round_trips_for_every_type_and_access") {
    for (P2mType t : all_p2m_types) {
        for (bool claimed : {false, true}) {
            for (AccessType a : all_access) {
                CAPTURE(to_string(t));
                CAPTURE(claimed);
                CAPTURE(static_cast<int>(a));
                Machine m;
                const Perm p = perm_of(t, claimed);
                REQUIRE(m->map_range(Gfn{0x42}, Mfn{0x142}, 1, t, p).is_ok());
                const Gpa gpa{0x42'abc};  // byte 0xabc of gfn 0x42
                const AccessContext ctx{.gla = 0x7000'0abc, .gla_valid = true, .size = 1, .insn = {}, .isa_syndrome = 0};
                const Translation tr = m->translate(gpa, a, ctx);
                CHECK(tr.ok == allows(p, a));
                if (tr.ok) {
                    CHECK(tr.mfn == Mfn{0x142});
                    continue;
                }
                CHECK(tr.record.kind == violation);
                CHECK(tr.record.syndrome == (q_access(a) | q_rights(p) | q_gla | q_final));
                const Fault f = m->decode_fault(tr.record);
                CHECK(f.gpa == gpa);
                CHECK(f.access == a);
                // Present (some right) -> permission; no right -> not present.
                CHECK(f.cause == (p == Perm{} ? FaultCause::not_present : FaultCause::permission));
                REQUIRE(f.gla.has_value());
                CHECK(*f.gla == 0x7000'0abc);
            }
        }
    }
}

TEST_CASE("decode_picks_fetch_over_write_over_read") {
    Machine m;
    FaultRecord r;
    r.kind = violation;
    r.syndrome = q_read | q_write | q_fetch | q_r;
    CHECK(m->decode_fault(r).access == AccessType::fetch);
    r.syndrome = q_read | q_write | q_r;
    CHECK(m->decode_fault(r).access == AccessType::write);
    r.syndrome = q_read;
    CHECK(m->decode_fault(r).access == AccessType::read);
    CHECK(m->decode_fault(r).cause == FaultCause::not_present);
}
