// SPDX-License-Identifier: MIT
// The model MMU where it is EPT's own: entries hvcore never writes,
// crafted where the walk meets them (misconfigurations, exit reason 49,
// SDM Vol. 3C §29.3.3.1; rights ANDed over the walk), and the
// decode of qualifications the walk never produces. Every access to the
// entries hvcore writes, with its exact EPT-violation qualification (exit
// reason 48, §28.2.1 Table 28-7) and its decode, is in the conformance
// suite (tests/conformance/test_stage2.cpp, EptTraits).
#include "ept_test_support.hpp"

using namespace ept_test;
using namespace conformance::stage2::ept_exit;  // q_* qualification bits, exit reasons 48/49
using E = EptEntry;

namespace {

// No guest-linear address: what a hv_vcpu_store through a gpa looks like.
const AccessContext no_gla{};

}  // namespace

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
