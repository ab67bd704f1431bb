// SPDX-License-Identifier: MIT
// hvcore's Arm64 stage-2 backend against QEMU 7.2 TCG (oracle.hpp has the
// flow). One hvcore domain goes through the ioreq_server type's life
// (claim, disclaim with its lazy recalculation, reclaim, owner destroyed);
// in each state every access form runs on every kind of page, and the
// fault record hvcore gives is compared with the one QEMU's MMU gives
// through a copy of the same descriptors. All accesses of all states run
// in one QEMU process per CPU model.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "oracle.hpp"
#include "stub/layout.h"

using namespace oracle;

namespace {

constexpr uint64_t mib = uint64_t{1} << 20;
constexpr uint64_t gib = uint64_t{1} << 30;
// RAM of the domain: 1 GiB + 6 MiB, which build_ram maps as a 1 GiB block
// (IPA 0), then three 2 MiB blocks (IPA 1 GiB, + 2 MiB, + 4 MiB); the
// second and third are split into 4 KiB pages by the type changes below.
constexpr uint64_t ram_bytes = gib + 6 * mib;
constexpr uint64_t blk2m = gib;                // the 2 MiB block that stays one
constexpr uint64_t pages = gib + 2 * mib;      // the 2 MiB range of 4 KiB pages
constexpr uint64_t pg_rw = pages;              // ram_rw
constexpr uint64_t pg_ro = pages + 0x1000;     // ram_ro
constexpr uint64_t pg_mmio = pages + 0x2000;   // mmio_dm
constexpr uint64_t pg_ioreq = pages + 0x3000;  // ioreq_server while claimed
constexpr uint64_t pg_rw2 = pages + 0x4000;    // ram_rw
// An ioreq_server page in another level-3 table: the only page a disclaim
// then resets (the pages above are left as they are).
constexpr uint64_t decoy = gib + 4 * mib + 0x1000;
constexpr uint64_t gfn(uint64_t ipa) { return ipa >> 12; }
// Offset of every in-page access: 8-aligned (LDAR, CAS need it), not
// 64-aligned (so a DC ZVA's register differs from its block's address).
constexpr uint64_t off = 0x48;

// Single-page accesses (GNU as 2.40 -march=armv8.1-a encodings).
const Form forms[] = {
    {"ldrb w3, [x1]", 0x39400023, Kind::data, 1},
    {"ldrh w3, [x1]", 0x79400023, Kind::data, 2},
    {"ldr w3, [x1]", 0xb9400023, Kind::data, 4},
    {"ldr x3, [x1]", 0xf9400023, Kind::data, 8},
    {"ldrsw x5, [x1]", 0xb9800025, Kind::data, 4},
    {"strb w4, [x1]", 0x39000024, Kind::data, 1},
    {"strh w4, [x1]", 0x79000024, Kind::data, 2},
    {"str w4, [x1]", 0xb9000024, Kind::data, 4},
    {"str x4, [x1]", 0xf9000024, Kind::data, 8},
    {"ldar x6, [x1]", 0xc8dffc26, Kind::data, 8},
    {"stlr w7, [x1]", 0x889ffc27, Kind::data, 4},
    {"ldp x8, x9, [x1]", 0xa9402428, Kind::data, 16},
    {"stp x8, x9, [x1]", 0xa9002428, Kind::data, 16},
    {"ldr x10, [x1], #8", 0xf840842a, Kind::data, 8},
    {"str x10, [x1], #8", 0xf800842a, Kind::data, 8},
    {"str x10, [x1, #8]!", 0xf8008c2a, Kind::data, 16},  // writes x1 + 8 .. x1 + 15
    {"ldadd x11, x12, [x1]", 0xf82b002c, Kind::data, 8},
    {"swp x11, x12, [x1]", 0xf82b802c, Kind::data, 8},
    {"cas x13, x14, [x1]", 0xc8ad7c2e, Kind::data, 8},
    {"dc zva, x1", 0xd50b7421, Kind::data, 64},
    {"dc civac, x1", 0xd50b7e21, Kind::dc_civac_probe, 1},
    {"fetch (blr x1)", 0xd63f0020, Kind::fetch, 4},
};
// FEAT_LSE forms: UNDEFINED on an Armv8.0 CPU (cortex-a57).
bool is_lse(const Form& f) { return f.word == 0xf82b002c || f.word == 0xf82b802c || f.word == 0xc8ad7c2e; }

// Page-crossing accesses: each straddles a boundary by half its size.
const Form crossing_forms[] = {
    {"ldrh w3, [x1]", 0x79400023, Kind::data, 2},  {"strh w4, [x1]", 0x79000024, Kind::data, 2},
    {"ldr w3, [x1]", 0xb9400023, Kind::data, 4},   {"str w4, [x1]", 0xb9000024, Kind::data, 4},
    {"ldr x3, [x1]", 0xf9400023, Kind::data, 8},   {"str x4, [x1]", 0xf9000024, Kind::data, 8},
    {"ldp x8, x9, [x1]", 0xa9402428, Kind::data, 16}, {"stp x8, x9, [x1]", 0xa9002428, Kind::data, 16},
};

struct Target {
    const char* name;
    uint64_t base;
};
const Target targets[] = {
    {"ram_rw, 1 GiB block", 256 * mib},
    {"ram_rw, 2 MiB block", blk2m + 0x1000},
    {"ram_rw, 4 KiB page", pg_rw},
    {"ram_ro, 4 KiB page", pg_ro},
    {"mmio_dm, 4 KiB page", pg_mmio},
    {"ioreq_server (or what it became), 4 KiB page", pg_ioreq},
    {"unmapped: absent level-2 entry past RAM", ram_bytes},
    {"unmapped: absent level-1 entry, second concatenated root table", uint64_t{1} << 39},
    {"beyond the 40-bit IPA space", uint64_t{1} << 40},
};
const Target boundaries[] = {
    {"1 GiB block | 2 MiB block", gib},
    {"2 MiB block | 4 KiB ram_rw", pages},
    {"ram_rw | ram_ro", pg_ro},
    {"ram_ro | mmio_dm", pg_mmio},
    {"mmio_dm | ioreq_server", pg_ioreq},
    {"ioreq_server | ram_rw", pg_rw2},
    {"last RAM page | unmapped", ram_bytes},
};

// Arm ARM D8.3/D8.4 bits a plant flips: S2AP[1] (write), AF, XN[1].
constexpr uint64_t s2ap_w = uint64_t{1} << 7;
constexpr uint64_t af = uint64_t{1} << 10;
constexpr uint64_t xn1 = uint64_t{1} << 54;
constexpr uint64_t oa_bit13 = uint64_t{1} << 13;  // output address bit 13 (bits 47:12): 8 KiB away
// The claimed ioreq_server page (S2AP = 01, type code 15) made the page of
// an owner that claims reads (descriptor.hpp): S2AP = 00 and code 12
// (ioreq_server owned by 5) in the software bits 58:55.
constexpr uint64_t s2ap_r = uint64_t{1} << 6;
constexpr uint64_t read_trap = s2ap_r | (uint64_t{15 ^ 12} << 55);
constexpr const char* read_trapped = "read-trapped";

struct Campaign {
    std::string skip;  // why nothing ran
    std::vector<Test> tests;
    uint64_t vtcr = 0;
    std::vector<uint8_t> blob;
};

void run_crossings(Session& s, std::vector<Test>& out, const std::string& scenario) {
    for (const Target& b : boundaries)
        for (const Form& f : crossing_forms)
            out.push_back(s.run(scenario, fmt::format("crossing {}", b.name), f, b.base - f.bytes / 2));
}

void run_matrix(Session& s, std::vector<Test>& out, const std::string& scenario) {
    for (const Target& t : targets)
        for (const Form& f : forms) out.push_back(s.run(scenario, t.name, f, t.base + off));
    run_crossings(s, out, scenario);
}

Campaign build_campaign() {
    Campaign c;
    Session s(ram_bytes);
    std::vector<Test>& v = c.tests;
    // Claimed: the server owns the ioreq_server type (writes).
    REQUIRE(s.claim() == 0);
    REQUIRE(s.set_type(HVDM_MEM_RAM_RO, gfn(pg_ro), 1) == 0);
    REQUIRE(s.set_type(HVDM_MEM_MMIO_DM, gfn(pg_mmio), 1) == 0);
    REQUIRE(s.set_type(HVDM_MEM_IOREQ_SERVER, gfn(pg_ioreq), 1) == 0);
    run_matrix(s, v, "claimed");
    // Planted wrong bits (each test below must disagree with QEMU): a
    // writable ram_ro page, an executable claimed page, a ram_rw page
    // and a 1 GiB block without their access flag, and a ram_rw page
    // whose output address is two pages off (the load reads other data).
    Test p1 = s.run("planted", "ram_ro with S2AP[1] set", forms[8], pg_ro + off);
    p1.plant = Plant{gfn(pg_ro), s2ap_w};
    Test p2 = s.run("planted", "claimed ioreq_server with XN[1] clear", forms[21], pg_ioreq + off);
    p2.plant = Plant{gfn(pg_ioreq), xn1};
    Test p3 = s.run("planted", "ram_rw with AF clear", forms[3], pg_rw + off);
    p3.plant = Plant{gfn(pg_rw), af};
    Test p4 = s.run("planted", "1 GiB block with AF clear", forms[0], 256 * mib + off);
    p4.plant = Plant{gfn(256 * mib), af};
    Test p5 = s.run("planted", "ram_rw with output address bit 13 flipped", forms[3], pg_rw + off);
    p5.plant = Plant{gfn(pg_rw), oa_bit13};
    for (Test* p : {&p1, &p2, &p3, &p4, &p5}) v.push_back(*p);
    // hvcore's read-trapped ioreq_server page (a READ claim) as QEMU walks
    // it: a load, a store and a fetch each take a stage-2 permission fault
    // at level 3, not a translation fault (checked in check_on).
    for (const Form* f : {&forms[3], &forms[8], &forms[21]}) {
        Test t = s.run(read_trapped, "ioreq_server with S2AP = 00, owner 5", *f, pg_ioreq + off);
        t.plant = Plant{gfn(pg_ioreq), read_trap};
        v.push_back(t);
    }

    // Disclaimed: the outstanding page reset in place and no descriptor
    // marked (hvcore differs from Xen, whose disclaim marks the whole p2m:
    // README.md, "Where hvcore differs from Xen"). Each form meets the
    // tables as a disclaim leaves them: retype, disclaim before it, claim
    // again after it.
    for (const Form& f : forms) {
        REQUIRE(s.disclaim() == 0);
        for (const Target& t : targets) v.push_back(s.run("disclaimed", t.name, f, t.base + off));
        REQUIRE(s.claim() == 0);
        REQUIRE(s.set_type(HVDM_MEM_IOREQ_SERVER, gfn(pg_ioreq), 1) == 0);
    }
    // Every single access right after a disclaim whose only outstanding
    // page is the decoy: its level-3 table is reset (and stays split: it
    // holds other types), nothing else is touched.
    for (const Form& f : forms)
        for (const Target& t : targets) {
            REQUIRE(s.set_type(HVDM_MEM_IOREQ_SERVER, gfn(decoy), 1) == 0);
            REQUIRE(s.disclaim() == 0);
            v.push_back(s.run("disclaimed, decoy swept", t.name, f, t.base + off));
            REQUIRE(s.claim() == 0);
        }
    REQUIRE(s.set_type(HVDM_MEM_IOREQ_SERVER, gfn(pg_ioreq), 1) == 0);
    REQUIRE(s.disclaim() == 0);
    run_crossings(s, v, "disclaimed");
    // Reclaimed.
    REQUIRE(s.claim() == 0);
    REQUIRE(s.set_type(HVDM_MEM_IOREQ_SERVER, gfn(pg_ioreq), 1) == 0);
    run_matrix(s, v, "reclaimed");
    // The owner destroyed: its type is released as by a disclaim.
    REQUIRE(s.destroy_server() == 0);
    run_matrix(s, v, "owner destroyed");

    hv_p2m_walk w{};
    w.size = sizeof w;
    REQUIRE(hv_p2m_read_walk(s.dom(), 0, &w) == 0);
    c.vtcr = w.config;
    c.blob = build_blob(v, c.vtcr, ram_bytes);
    return c;
}

const Campaign& campaign() {
    static const Campaign c = build_campaign();
    return c;
}

// A path: the environment variable, else what CMake found.
std::string setting(const char* name, const char* built_in) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string{built_in} : std::string{v};
}

struct Summary {
    unsigned compared = 0, agreed = 0, corrected = 0, marked = 0, excluded = 0;
    unsigned agreed_fault = 0;     // agreed on a fault record (not on "no fault")
    unsigned retried = 0;          // QEMU aborted on hvcore's marked tables and went on to the next phase
    unsigned registers = 0;        // both completed: X0..X30 compared too
    std::map<unsigned, unsigned> mark_levels;  // level of QEMU's translation fault on a mark -> count
    std::map<std::string, unsigned> tolerated;
    unsigned failures = 0;
};

// Runs the campaign on one QEMU CPU model and checks every record.
Summary check_on(const std::string& cpu, bool armv80) {
    Summary sum;
    const Campaign& c = campaign();
    const std::string qemu = setting("HVCORE_ORACLE_QEMU", HVCORE_ORACLE_QEMU);
    const std::string stub = setting("HVCORE_ORACLE_STUB", HVCORE_ORACLE_STUB);
    const std::string work = setting("HVCORE_ORACLE_WORKDIR", HVCORE_ORACLE_WORKDIR);
    const QemuRun run = run_qemu(qemu, cpu, stub, c.blob, work);
    REQUIRE_MESSAGE(run.ok, run.error);
    // HELLO <DCZID_EL0> <ID_AA64MMFR0_EL1> <MIDR_EL1>: the DC ZVA block must
    // be hvcore's 64 bytes (BS = 4) for the DC ZVA records to be comparable.
    MESSAGE("QEMU -cpu ", cpu, ": ", run.hello);
    REQUIRE_MESSAGE(run.hello.rfind("HELLO 4 ", 0) == 0, "DCZID_EL0.BS is not 4 (64-byte DC ZVA blocks)");
    // VTCR_EL2.HA (bit 21) / HD (bit 22) clear: QEMU max has FEAT_HAFDBS.
    REQUIRE((c.vtcr & (uint64_t{3} << 21)) == 0);
    for (size_t i = 0; i < c.tests.size(); ++i) {
        const Test& t = c.tests[i];
        if (armv80 && t.form->kind == Kind::data && is_lse(*t.form)) {
            ++sum.excluded;  // FEAT_LSE: UNDEFINED on Armv8.0
            continue;
        }
        REQUIRE_MESSAGE(t.status >= 0, fmt::format("hvcore failed the access: {}", t.status));
        auto it = run.results.find(static_cast<unsigned>(i));
        const std::vector<PhaseResult> none;
        const std::vector<PhaseResult>& phases = it == run.results.end() ? none : it->second;
        const Verdict v = compare(t, phases);
        ++sum.compared;
        if (phases.size() > 1) {
            ++sum.retried;
            ++sum.mark_levels[static_cast<unsigned>(phases.front().esr & 3)];  // DFSC/IFSC[1:0]: the level
        }
        if (v.registers_compared) ++sum.registers;
        if (t.marked) ++sum.marked;
        if (t.form->kind == Kind::dc_civac_probe) ++sum.corrected;
        const std::string where = fmt::format("[{}] {} at {:#x} ({}), test {}", t.scenario, t.form->text, t.addr,
                                              t.target, i);
        if (t.scenario == read_trapped) {
            // Arm ARM D8.4: S2AP = 00 gives no data access, XN no
            // execution; the abort is a permission fault (FSC 0b001111 at
            // level 3) with EC 0x24 (data) or 0x20 (instruction), WnR for
            // the store, and HPFAR_EL2.FIPA (bits 39:4) = IPA[47:12].
            REQUIRE_MESSAGE(!phases.empty(), "QEMU completed a read-trapped access: ", where);
            const uint64_t esr = phases.front().esr;
            CHECK((esr >> 26 & 0x3f) == (t.form->kind == Kind::fetch ? 0x20U : 0x24U));
            CHECK((esr & 0x3f) == 0x0f);
            if (t.form->kind == Kind::data) CHECK(((esr >> 6) & 1) == (t.form == &forms[8] ? 1U : 0U));
            CHECK((phases.front().hpfar >> 4) == (t.addr >> 12));
            MESSAGE("read-trapped page: ", where, ": ESR_EL2 ", fmt::format("{:#x}", esr));
            continue;
        }
        if (t.plant) {
            // A planted bit must be seen.
            CHECK_MESSAGE((!v.agree && v.deviation.empty()), "a planted bit must be seen: ", where);
            MESSAGE("planted bit seen: ", where, "\n          ", v.note);
            if (v.agree || !v.deviation.empty()) ++sum.failures;
            continue;
        }
        if (v.agree) {
            ++sum.agreed;
            if (v.expected) ++sum.agreed_fault;
        } else if (!v.deviation.empty()) {
            ++sum.tolerated[v.deviation];
            MESSAGE("known deviation ", v.deviation, ": ", where, "\n          ", v.note);
        } else {
            ++sum.failures;
            FAIL_CHECK("disagreement: ", where, "\n          ", v.note);
        }
    }
    std::string tol;
    for (const auto& [id, n] : sum.tolerated) tol += fmt::format(" {}={}", id, n);
    std::string levels;
    for (const auto& [level, n] : sum.mark_levels) levels += fmt::format(" L{}: {}", level, n);
    MESSAGE(fmt::format("-cpu {}: {} records compared, {} agree ({} of them on a fault record), {} with a marked walk "
                        "({} retried by QEMU on the resolved tables; QEMU's fault on the mark at{}), registers "
                        "compared after {}, {} DC CIVAC corrected, "
                        "{} excluded (no FEAT_LSE), tolerated:{}, failures {}",
                        cpu, sum.compared, sum.agreed, sum.agreed_fault, sum.marked, sum.retried, levels,
                        sum.registers, sum.corrected, sum.excluded,
                        tol.empty() ? " none" : tol, sum.failures));
    return sum;
}

}  // namespace

TEST_CASE("every known emulator deviation is listed once with its source and its handling") {
    std::map<std::string, int> seen;
    for (const Deviation& d : known_deviations()) {
        CHECK(++seen[d.id] == 1);
        CHECK(std::string(d.source).size() > 0);
        CHECK(std::string(d.handling).size() > 0);
        MESSAGE(d.id, ": ", d.what, "\n  source: ", d.source, "\n  handling: ", d.handling);
    }
}

TEST_CASE("hvcore's stage-2 fault records match QEMU 7.2 -cpu max on every p2m state, access form and leaf size") {
    const Summary s = check_on("max", false);
    CHECK(s.failures == 0);
    // No walk carried a lazy-recalculation mark: a disclaim resets its
    // counted entries in place and marks nothing (Xen would have marked
    // the whole p2m, p2m_change_entry_type_global), so QEMU never faulted
    // on a mark nor had to be re-run on resolved tables.
    CHECK(s.marked == 0);
    CHECK(s.retried == 0);
}

TEST_CASE("hvcore's stage-2 fault records match QEMU 7.2 -cpu cortex-a57 (Armv8.0) except the LSE forms it lacks") {
    const Summary s = check_on("cortex-a57", true);
    CHECK(s.failures == 0);
    CHECK(s.excluded > 0);
}
