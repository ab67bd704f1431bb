// The model MMU: what translate() reports for each access at each level
// (#NPF, exit code 400h, EXITINFO1 = the page-fault error code of the
// nested walk plus bit 32, EXITINFO2 = the GPA; APM Vol. 2 §15.25.6 and
// §8.4.2), the decode-assist bytes (§15.33), and decode_fault() turning
// that record back into the neutral Fault. The golden vectors of the QEMU
// 7.2 TCG and Bochs 2.7 runs are in stage2-formats-and-oracles.md §D.1.
#include "npt_test_support.hpp"

#include <array>

using namespace npt_test;
using E = NptEntry;

namespace {

// EXITINFO1 bits (§8.4.2 "Page-Fault Error Code", §15.25.6).
constexpr uint64_t i_p = 1 << 0;            // protection violation on a present entry (0: not present)
constexpr uint64_t i_rw = 1 << 1;           // the access was a write
constexpr uint64_t i_us = 1 << 2;           // user access: every nested access is one
constexpr uint64_t i_rsv = 1 << 3;          // reserved bit set in a nested entry
constexpr uint64_t i_id = 1 << 4;           // the access was an instruction fetch
constexpr uint64_t i_final = uint64_t{1} << 32;  // fault on the final guest-physical translation
constexpr uint64_t i_gpt = uint64_t{1} << 33;    // fault on a guest page-table access (not in the model)

constexpr uint32_t npf = 0x400;  // VMEXIT_NPF (APM Vol. 2 Appendix C)

constexpr AccessType all_access[] = {AccessType::read, AccessType::write, AccessType::fetch};

// The access part of the error code: U/S always, R/W for a write, I/D for
// a fetch; and bit 32, as the model has no guest paging.
uint64_t i_access(AccessType a) {
    switch (a) {
    case AccessType::read: return i_us | i_final;
    case AccessType::write: return i_rw | i_us | i_final;
    case AccessType::fetch: return i_id | i_us | i_final;
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

// A hv_vcpu_store through a gpa: no instruction bytes.
const AccessContext no_insn{};

// `mov dword [rax], ebx` (89 18) followed by filler: what the core passes as
// ctx.insn, the bytes at guest CS:RIP.
constexpr std::array<uint8_t, 2> mov_store{0x89, 0x18};

}  // namespace

TEST_CASE("translate_reaches_the_4k_frame_inside_each_leaf_size") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{2 * pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{2 * pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
    // Byte 0x123 of gfn 0; gfn 0x200 + 0x17 (2 MiB leaf); gfn 1 GiB + 0x2345.
    const Translation t4k = m->translate(Gpa{0x123}, AccessType::read, no_insn);
    CHECK(t4k.ok);
    CHECK(t4k.mfn == Mfn{0x100});
    const Translation t2m = m->translate(to_gpa(Gfn{pages_2m + 0x17}), AccessType::write, no_insn);
    CHECK(t2m.ok);
    CHECK(t2m.mfn == Mfn{2 * pages_2m + 0x17});
    const Translation t1g = m->translate(to_gpa(Gfn{pages_1g + 0x2345}), AccessType::fetch, no_insn);
    CHECK(t1g.ok);
    CHECK(t1g.mfn == Mfn{2 * pages_1g + 0x2345});
}

// --- the §D.1 runs (QEMU 7.2 TCG and Bochs 2.7), as golden vectors -------------

TEST_CASE("oracle_case_1_write_to_a_read_only_page_is_0x1_00000007") {
    // A write to an NPT page with R/W = 0 at GPA 0x200000: P W U, final.
    Machine m;
    REQUIRE(m->map_range(Gfn{0x200}, Mfn{0x400}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    const Translation t = m->translate(Gpa{0x200000}, AccessType::write, no_insn);
    REQUIRE_FALSE(t.ok);
    CHECK(t.record.arch == Arch::x86_svm);
    CHECK(t.record.kind == npf);
    CHECK(t.record.syndrome == 0x1'0000'0007);
    CHECK(t.record.gpa == 0x200000);
    const Fault f = m->decode_fault(t.record);
    CHECK(f.access == AccessType::write);
    CHECK(f.cause == FaultCause::permission);
    CHECK(f.gpa == Gpa{0x200000});
}

TEST_CASE("oracle_case_2_read_through_a_not_present_pdpe_is_0x1_00000004") {
    // RAM at gfn 0 gives PML4E 0 and PDPE 0; PDPE 1 (GPA 1 GiB) is absent.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const Translation t = m->translate(Gpa{0x40000000}, AccessType::read, no_insn);
    CHECK(t.record.kind == npf);
    CHECK(t.record.syndrome == 0x1'0000'0004);
    CHECK(t.record.gpa == 0x40000000);
    const Fault f = m->decode_fault(t.record);
    CHECK(f.access == AccessType::read);
    CHECK(f.cause == FaultCause::not_present);
}

TEST_CASE("oracle_case_3_a_guest_page_table_fault_decodes_as_a_not_present_write") {
    // 0x2_00000006 (W U, bit 33) at 0x400000: the guest's own page-table
    // walk met a not-present nested entry. The model has no guest paging,
    // so translate() never produces bit 33; the record still decodes.
    Machine m;
    FaultRecord r;
    r.arch = Arch::x86_svm;
    r.kind = npf;
    r.syndrome = i_gpt | i_rw | i_us;
    r.gpa = 0x400000;
    const Fault f = m->decode_fault(r);
    CHECK(f.access == AccessType::write);  // guest page-table walks are user writes
    CHECK(f.cause == FaultCause::not_present);
    CHECK(f.gpa == Gpa{0x400000});
}

TEST_CASE("oracle_case_4_fetch_from_an_nx_page_is_0x1_00000015") {
    // A claimed ioreq_server page is NX: fetch at GPA 0x600000, P U ID, final.
    Machine m;
    REQUIRE(m->map_range(Gfn{0x600}, Mfn{0x600}, 1, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true))
                .is_ok());
    const Translation t = m->translate(Gpa{0x600000}, AccessType::fetch, no_insn);
    CHECK(t.record.kind == npf);
    CHECK(t.record.syndrome == 0x1'0000'0015);
    CHECK(t.record.gpa == 0x600000);
    const Fault f = m->decode_fault(t.record);
    CHECK(f.access == AccessType::fetch);
    CHECK(f.cause == FaultCause::permission);
    // Reads pass.
    CHECK(m->translate(Gpa{0x600000}, AccessType::read, no_insn).ok);
}

TEST_CASE("oracle_case_5_read_through_a_pde_with_a_bit_beyond_maxphyaddr_is_0x1_0000000d") {
    // The run set bit 45 in the PDE for GPA 0x800000, beyond QEMU's
    // MAXPHYADDR of 40. The model's MAXPHYADDR is 48, so the same case uses
    // bit 48. Bochs 2.7 reports P RSV U = 0x1_0000000D (the architectural
    // record); QEMU 7.2 omits P (0x1_0000000C). Both decode alike.
    Machine m;
    REQUIRE(m->map_range(Gfn{0x800}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    uint64_t& pde = m.entry_on_walk(0x800, level_pd);
    const uint64_t good = pde;
    pde |= bit(48);
    const Translation t = m->translate(Gpa{0x800000}, AccessType::read, no_insn);
    pde = good;  // the PDE points at a table again, for the teardown
    CHECK(t.record.kind == npf);
    CHECK(t.record.syndrome == 0x1'0000'000d);
    CHECK(t.record.gpa == 0x800000);
    const Fault f = m->decode_fault(t.record);
    CHECK(f.access == AccessType::read);
    CHECK(f.cause == FaultCause::not_present);
    FaultRecord qemu = t.record;
    qemu.syndrome = 0x1'0000'000c;
    CHECK(m->decode_fault(qemu).cause == FaultCause::not_present);
    CHECK(m->decode_fault(qemu).access == AccessType::read);
}

// --- each fault kind at each level ----------------------------------------------

TEST_CASE("not_present_at_each_level_reports_p_0_with_the_access_bits") {
    Machine m;
    // One 4 KiB leaf at gfn 0 builds PML4E 0, PDPE 0, PDE 0, PTE 0.
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const struct {
        const char* where;
        uint64_t gfn;
    } holes[] = {
        {"PTE 1 absent", 1},
        {"PDE 1 absent", pages_2m},
        {"PDPE 1 absent", pages_1g},
        {"PML4E 1 absent", uint64_t{1} << 27},
        {"top gfn", m->gfn_limit() - 1},
    };
    for (const auto& h : holes) {
        CAPTURE(h.where);
        for (AccessType a : all_access) {
            CAPTURE(static_cast<int>(a));
            const Gpa gpa{to_gpa(Gfn{h.gfn}).raw() + 0x40};
            const Translation t = m->translate(gpa, a, no_insn);
            CHECK(t.record.kind == npf);
            CHECK(t.record.syndrome == i_access(a));  // P = 0
            CHECK(t.record.gpa == gpa.raw());
            const Fault f = m->decode_fault(t.record);
            CHECK(f.cause == FaultCause::not_present);
            CHECK(f.access == a);
        }
    }
}

TEST_CASE("a_typed_not_present_leaf_is_p_0_whatever_its_other_bits") {
    // §5.4.1: P = 0 and the processor ignores every other bit: the type, NX,
    // PCD/PWT and the frame of a hole.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0}, pages_2m, P2mType::mmio_dm, Perm{}).is_ok());
    for (AccessType a : all_access) {
        const Translation t = m->translate(Gpa{0x1000}, a, no_insn);
        CHECK(t.record.syndrome == i_access(a));
    }
}

TEST_CASE("user_supervisor_clear_at_any_level_denies_every_access_with_p_1") {
    // Crafted U/S = 0 without the mark: the processor refuses the user
    // access (§5.6.1); without a mark on the walk it is a plain permission
    // fault.
    for (unsigned level : {level_pml4, level_pdpt, level_pd, level_pt}) {
        CAPTURE(level);
        Machine m;
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        m.entry_on_walk(0, level) &= ~E::us;
        for (AccessType a : all_access) {
            const Translation t = m->translate(Gpa{0x10}, a, no_insn);
            CHECK(t.record.syndrome == (i_p | i_access(a)));
            const Fault f = m->decode_fault(t.record);
            CHECK(f.cause == FaultCause::permission);
            CHECK(f.access == a);
        }
    }
}

TEST_CASE("read_write_clear_at_any_level_denies_writes_only") {
    // R/W is ANDed over the walk (§5.6.2); hCR0.WP does not matter for a
    // user access.
    for (unsigned level : {level_pml4, level_pdpt, level_pd, level_pt}) {
        CAPTURE(level);
        Machine m;
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        m.entry_on_walk(0, level) &= ~E::rw;
        const Translation t = m->translate(Gpa{0x10}, AccessType::write, no_insn);
        CHECK(t.record.syndrome == 0x1'0000'0007);  // P W U, final
        CHECK(m->decode_fault(t.record).cause == FaultCause::permission);
        CHECK(m->translate(Gpa{0x10}, AccessType::read, no_insn).ok);
        CHECK(m->translate(Gpa{0x10}, AccessType::fetch, no_insn).ok);
    }
}

TEST_CASE("nx_at_any_level_denies_fetches_only") {
    // NX is ORed over the walk (§5.6, "No Execute (NX) Bit").
    for (unsigned level : {level_pml4, level_pdpt, level_pd, level_pt}) {
        CAPTURE(level);
        Machine m;
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        m.entry_on_walk(0, level) |= E::nx;
        const Translation t = m->translate(Gpa{0x10}, AccessType::fetch, no_insn);
        CHECK(t.record.syndrome == 0x1'0000'0015);  // P U ID, final
        CHECK(m->decode_fault(t.record).cause == FaultCause::permission);
        CHECK(m->translate(Gpa{0x10}, AccessType::read, no_insn).ok);
        CHECK(m->translate(Gpa{0x10}, AccessType::write, no_insn).ok);
    }
}

TEST_CASE("permission_faults_at_each_leaf_size_report_p_and_the_access") {
    // ram_ro leaves of each size refuse a write.
    for (unsigned level : {level_pt, level_pd, level_pdpt}) {
        CAPTURE(level);
        Machine m;
        const uint64_t pages = level_pages(level);
        const Gfn g{pages};  // aligned to its own size
        REQUIRE(m->map_range(g, Mfn{pages}, pages, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
        REQUIRE(m->lookup(g).order == level_order(level));
        const Gpa gpa{to_gpa(g).raw() + 0x18};  // byte 0x18 of the first page
        const Translation t = m->translate(gpa, AccessType::write, no_insn);
        CHECK_FALSE(t.ok);
        CHECK(t.record.syndrome == (i_p | i_access(AccessType::write)));
        CHECK(t.record.gpa == gpa.raw());
        CHECK(m->translate(gpa, AccessType::read, no_insn).ok);
        CHECK(m->translate(gpa, AccessType::fetch, no_insn).ok);
    }
}

TEST_CASE("reserved_bits_at_each_level_report_p_rsv_and_decode_as_not_present") {
    // Entries hvcore never writes, placed by hand where the walk meets them.
    struct Case {
        const char* what;
        uint64_t gfn;
        unsigned level;
        uint64_t set;
    };
    const Case cases[] = {
        {"PML4E PS (no 512 GiB pages)", 0, level_pml4, E::ps},
        {"PML4E frame bit 51", 0, level_pml4, bit(51)},
        {"PDPE (pointer) frame bit 49", 0, level_pdpt, bit(49)},
        {"PDE (pointer) frame bit 48", 0, level_pd, bit(48)},
        {"PTE frame bit 50", 0, level_pt, bit(50)},
        {"2 MiB leaf address bit 13", pages_2m, level_pd, bit(13)},
        {"1 GiB leaf address bit 21", pages_1g, level_pdpt, bit(21)},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        Machine m;
        REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(m->map_range(Gfn{pages_1g}, Mfn{pages_1g}, pages_1g, P2mType::ram_rw, rwx).is_ok());
        uint64_t& e = m.entry_on_walk(c.gfn, c.level);
        const uint64_t good = e;
        e |= c.set;
        for (AccessType a : all_access) {
            CAPTURE(static_cast<int>(a));
            const Translation t = m->translate(to_gpa(Gfn{c.gfn}), a, no_insn);
            CHECK(t.record.syndrome == (i_p | i_rsv | i_access(a)));
            const Fault f = m->decode_fault(t.record);
            CHECK(f.cause == FaultCause::not_present);  // broken, not resolvable
            CHECK(f.access == a);
        }
        e = good;  // a pointer's frame must name a table again for the teardown
    }
}

TEST_CASE("the_pat_bit_of_a_large_leaf_is_legal_and_not_an_address_bit") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x200}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m.entry_on_walk(0, level_pd) |= E::pat_large;  // bit 12: PAT, not frame 0x201
    const Translation t = m->translate(to_gpa(Gfn{3}), AccessType::read, no_insn);
    CHECK(t.ok);
    CHECK(t.mfn == Mfn{0x203});
}

TEST_CASE("an_address_bit_below_maxphyaddr_is_legal") {
    // Bit 45 made QEMU (MAXPHYADDR 40) fault in §D.1 case 5; with the model's
    // 48 it is an address bit.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m.entry_on_walk(0, level_pt) |= bit(45);
    const Translation t = m->translate(Gpa{0}, AccessType::read, no_insn);
    CHECK(t.ok);
    CHECK(t.mfn == Mfn{0x100 | (uint64_t{1} << 33)});
}

TEST_CASE("a_not_present_entry_below_a_denying_one_is_reported_not_present") {
    // Rights are checked once the walk is complete, so a not-present entry
    // deeper down wins (P = 0); a reserved bit deeper down wins too.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m.entry(m->root(), 0) &= ~E::us;
    CHECK(m->translate(to_gpa(Gfn{1}), AccessType::write, no_insn).record.syndrome == i_access(AccessType::write));
    m.entry_on_walk(0, level_pt) |= bit(51);
    CHECK(m->translate(Gpa{0}, AccessType::read, no_insn).record.syndrome == (i_p | i_rsv | i_access(AccessType::read)));
}

TEST_CASE("a_gpa_beyond_48_bits_reaches_no_entry") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const Gpa wide{uint64_t{1} << 48};  // would alias gfn 0 if truncated
    const Translation t = m->translate(wide, AccessType::read, no_insn);
    CHECK(t.record.syndrome == i_access(AccessType::read));
    CHECK(t.record.gpa == wide.raw());
    CHECK(m->decode_fault(t.record).cause == FaultCause::not_present);
}

// --- lazy recalculation -----------------------------------------------------------

TEST_CASE("after_mark_recalc_all_an_access_is_a_p_1_fault_that_decodes_to_recalc") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    for (AccessType a : all_access) {
        CAPTURE(static_cast<int>(a));
        const Translation t = m->translate(Gpa{0x10}, a, no_insn);
        CHECK_FALSE(t.ok);
        CHECK(t.record.kind == npf);
        // The PML4E denies the user access: P = 1, like Xen's recalc faults.
        CHECK(t.record.syndrome == (i_p | i_access(a)));
        CHECK(t.record.gpa == 0x10);
        const Fault f = m->decode_fault(t.record);
        CHECK(f.cause == FaultCause::recalc);
        CHECK(f.access == a);
        CHECK(f.gpa == Gpa{0x10});
        CHECK_FALSE(f.gla.has_value());
    }
    // Resolving clears the way; the access then succeeds.
    RecordingPolicy policy;
    CHECK(m->resolve(Gfn{0}, policy));
    CHECK(m->translate(Gpa{0x10}, AccessType::write, no_insn).ok);
    CHECK(m->translate(Gpa{0x10}, AccessType::fetch, no_insn).ok);
}

TEST_CASE("a_marked_leaf_below_clean_tables_faults_and_decodes_to_recalc_too") {
    // After one resolve pushed the mark down, a sibling 2 MiB leaf carries
    // the mark (U/S = 0) itself.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE(m->map_range(Gfn{pages_2m}, Mfn{pages_2m}, pages_2m, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    RecordingPolicy policy;
    REQUIRE(m->resolve(Gfn{0}, policy));
    const Translation t = m->translate(to_gpa(Gfn{pages_2m + 1}), AccessType::read, no_insn);
    CHECK(t.record.syndrome == (i_p | i_access(AccessType::read)));
    CHECK(m->decode_fault(t.record).cause == FaultCause::recalc);
}

TEST_CASE("a_refused_access_under_a_mark_is_recalc_first_then_permission") {
    // A write to ram_ro below a marked PML4E: the record cannot tell the
    // mark from the leaf's R/W = 0, so the mark is resolved first; the next
    // try is the leaf's own permission fault.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_ro, perm_of(P2mType::ram_ro)).is_ok());
    m->mark_recalc_all();
    const Translation first = m->translate(Gpa{0}, AccessType::write, no_insn);
    CHECK(first.record.syndrome == 0x1'0000'0007);
    CHECK(m->decode_fault(first.record).cause == FaultCause::recalc);
    RecordingPolicy policy;
    REQUIRE(m->resolve(Gfn{0}, policy));
    const Translation second = m->translate(Gpa{0}, AccessType::write, no_insn);
    CHECK(second.record.syndrome == 0x1'0000'0007);
    CHECK(m->decode_fault(second.record).cause == FaultCause::permission);
}

TEST_CASE("a_not_present_fault_under_a_mark_is_not_present") {
    // The walk passes the marked PML4E and stops at an absent PTE: P = 0.
    // No recalculation can make a hole present, so (as Xen's svm.c, which
    // resolves only for P = 1) the fault is not a recalc fault, though
    // lookup still sees the mark on the walk.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    m->mark_recalc_all();
    const Translation t = m->translate(to_gpa(Gfn{1}), AccessType::read, no_insn);
    CHECK(t.record.syndrome == i_access(AccessType::read));
    CHECK(m->decode_fault(t.record).cause == FaultCause::not_present);
    CHECK(m->lookup(Gfn{1}).recalc_pending);
}

TEST_CASE("the_walk_writes_no_accessed_or_dirty_flags") {
    // A and D are preset in every entry hvcore writes (Xen's P2M_BASE_FLAGS),
    // so the walk has nothing to set and leaves every entry as it was.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ram_rw, rwx).is_ok());
    const uint64_t before = m->raw_entry(Gfn{0});
    const uint64_t pml4e = m.entry(m->root(), 0);
    REQUIRE(m->translate(Gpa{0}, AccessType::write, no_insn).ok);
    CHECK(m->raw_entry(Gfn{0}) == before);
    CHECK(m.entry(m->root(), 0) == pml4e);
    CHECK((before & (E::accessed | E::dirty)) == (E::accessed | E::dirty));
    CHECK((pml4e & E::accessed) != 0);
}

// --- decode assists ------------------------------------------------------------------

TEST_CASE("a_data_fault_carries_the_instruction_bytes") {
    // §15.33: on #NPF for a data access the VMCB holds the bytes fetched at
    // guest CS:RIP (up to 15) and their count.
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::ioreq_server, perm_of(P2mType::ioreq_server, true)).is_ok());
    const AccessContext ctx{.gla = 0x8, .gla_valid = true, .size = 4, .insn = mov_store, .isa_syndrome = 0};
    const Translation t = m->translate(Gpa{0x8}, AccessType::write, ctx);
    REQUIRE_FALSE(t.ok);
    CHECK(t.record.insn_len == 2);
    CHECK(t.record.insn[0] == 0x89);
    CHECK(t.record.insn[1] == 0x18);
    for (unsigned i = 2; i < t.record.insn.size(); ++i) CHECK(t.record.insn[i] == 0);
    // A not-present data fault carries them too.
    const Translation hole = m->translate(to_gpa(Gfn{5}), AccessType::read, ctx);
    CHECK(hole.record.syndrome == i_access(AccessType::read));
    CHECK(hole.record.insn_len == 2);
    CHECK(hole.record.insn[0] == 0x89);
}

TEST_CASE("decode_assist_bytes_are_capped_at_15") {
    // The VMCB field holds at most 15 bytes (0D1h-0DFh); an x86 instruction
    // is at most 15 bytes long anyway.
    Machine m;
    std::array<uint8_t, 16> bytes{};
    for (unsigned i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(0xa0 + i);
    const AccessContext ctx{.gla = 0, .gla_valid = false, .size = 1, .insn = bytes, .isa_syndrome = 0};
    const Translation t = m->translate(Gpa{0}, AccessType::write, ctx);
    CHECK(t.record.insn_len == 15);
    for (unsigned i = 0; i < 15; ++i) CHECK(t.record.insn[i] == 0xa0 + i);
    CHECK(t.record.insn[15] == 0);
}

TEST_CASE("an_instruction_fetch_fault_carries_no_instruction_bytes") {
    Machine m;
    REQUIRE(m->map_range(Gfn{0}, Mfn{0x100}, 1, P2mType::mmio_direct, perm_of(P2mType::mmio_direct)).is_ok());
    const AccessContext ctx{.gla = 0, .gla_valid = true, .size = 1, .insn = mov_store, .isa_syndrome = 0};
    const Translation t = m->translate(Gpa{0}, AccessType::fetch, ctx);
    CHECK(t.record.syndrome == 0x1'0000'0015);
    CHECK(t.record.insn_len == 0);
    CHECK(t.record.insn == std::array<uint8_t, 16>{});
    // A not-present fetch neither.
    CHECK(m->translate(to_gpa(Gfn{7}), AccessType::fetch, ctx).record.insn_len == 0);
}

TEST_CASE("npf_has_no_linear_address") {
    // #NPF reports the GPA only: gva stays 0 and the Fault has no gla, even
    // when the access had one.
    Machine m;
    const AccessContext ctx{.gla = 0xffff'8000'0000'0008, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = 0};
    const Translation t = m->translate(Gpa{0x8}, AccessType::write, ctx);
    CHECK(t.record.gva == 0);
    CHECK_FALSE(m->decode_fault(t.record).gla.has_value());
}

// --- round trip ------------------------------------------------------------------------

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
                const Gpa gpa{0x42'abc};  // byte 0xabc of gfn 0x42
                const AccessContext ctx{.gla = 0x7000'0abc, .gla_valid = true, .size = 1, .insn = mov_store,
                                        .isa_syndrome = 0};
                const Translation tr = m->translate(gpa, a, ctx);
                CHECK(tr.ok == allows(p, a));
                if (tr.ok) {
                    CHECK(tr.mfn == Mfn{0x142});
                    continue;
                }
                CHECK(tr.record.arch == Arch::x86_svm);
                CHECK(tr.record.kind == npf);
                // Present (P = 1: some right) -> protection; none -> P = 0.
                CHECK(tr.record.syndrome == ((p.r ? i_p : 0) | i_access(a)));
                CHECK(tr.record.gpa == gpa.raw());
                CHECK(tr.record.gva == 0);
                CHECK(tr.record.insn_len == (a == AccessType::fetch ? 0U : 2U));
                const Fault f = m->decode_fault(tr.record);
                CHECK(f.gpa == gpa);
                CHECK(f.access == a);
                CHECK(f.cause == (p.r ? FaultCause::permission : FaultCause::not_present));
                CHECK_FALSE(f.gla.has_value());
            }
        }
    }
}

TEST_CASE("decode_picks_fetch_over_write_over_read") {
    Machine m;
    FaultRecord r;
    r.arch = Arch::x86_svm;
    r.kind = npf;
    r.syndrome = i_p | i_rw | i_id | i_us | i_final;
    CHECK(m->decode_fault(r).access == AccessType::fetch);
    r.syndrome = i_p | i_rw | i_us | i_final;
    CHECK(m->decode_fault(r).access == AccessType::write);
    r.syndrome = i_us | i_final;
    CHECK(m->decode_fault(r).access == AccessType::read);
    CHECK(m->decode_fault(r).cause == FaultCause::not_present);
}
