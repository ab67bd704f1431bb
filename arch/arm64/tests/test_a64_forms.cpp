// SPDX-License-Identifier: MIT
// The A64 forms that give no syndrome (ESR_EL2.ISV = 0) and the other
// forms the executor decodes, against the recording port: which accesses
// each makes, in what order, with what syndrome; the registers it writes
// back; the faults it raises itself; and its text. The values they compute
// are checked against Arm64 execution by the differential test
// (tests/diff); here is what that test cannot see.
//
// Every word and text below is GNU as 2.40 / objdump 2.40
// (binutils-aarch64-linux-gnu, -march=armv8.5-a+rcpc), independent of
// hvcore. Registers: X0..X30 = 0..30, SP = 31, PC = 32.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <string>
#include <vector>

#include "a64_decode.hpp"
#include "fake_port.hpp"
#include "hvcore/arm64/descriptor.hpp"
#include "hvcore/arm64/esr.hpp"
#include "hvcore/arm64/isa_a64.hpp"
#include "hvcore/arm64/stage2.hpp"
#include "hvcore/core/machine_memory.hpp"

using namespace hvcore;
using namespace hvcore::arm64;
using arm64_test::Access;
using arm64_test::FakePort;
using arm64_test::Kind;

namespace {

constexpr uint64_t code_gpa = 0x40'0000;  // PC
constexpr uint64_t data_gpa = 0x10'0000;  // what the base registers point at
// ESR ISS bits (Arm ARM D24.2.46 ESR_EL2; Linux esr.h), written from the bit positions, not with
// the code under test.
constexpr uint64_t isv = uint64_t{1} << 24;
constexpr uint64_t ar = uint64_t{1} << 14;
constexpr uint64_t cm = uint64_t{1} << 8;
constexpr uint64_t iss(unsigned sas, bool sse, unsigned srt, bool sf) {
    return isv | (uint64_t{sas} << 22) | (uint64_t{sse} << 21) | (uint64_t{srt} << 16) | (uint64_t{sf} << 15);
}

// Distinct register contents: every byte differs between registers.
constexpr uint64_t pattern(unsigned i) { return 0xf0e0'd0c0'b0a0'9080 + i * 0x0101'0101'0101'0101; }

RegFile initial_regs() {
    RegFile r;
    for (unsigned i = 0; i < RegFile::count; ++i) r.r[i] = pattern(i);
    for (unsigned i = 0; i < RegFile::vec_count; ++i) r.v[i] = {pattern(i) ^ 0x5555, pattern(i + 40)};
    r.r[reg::sp] = data_gpa + 0x800;
    r.r[reg::pc] = code_gpa;
    return r;
}

std::vector<uint8_t> le(uint32_t w) {
    return {static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
            static_cast<uint8_t>(w >> 24)};
}

struct Outcome {
    ExecResult result;
    RegFile regs;
};

Outcome run(uint32_t word, const RegFile& before, FakePort& port) {
    auto isa = make_a64_isa();
    RegFile regs = before;
    ExecResult r = isa->execute(regs, le(word), port);
    return {r, regs};
}

void check_regs(const RegFile& got, const RegFile& want) {
    for (unsigned i = 0; i < RegFile::count; ++i)
        CHECK_MESSAGE(got.r[i] == want.r[i], fmt::format("x{}: got {:#x}, want {:#x}", i, got.r[i], want.r[i]));
    for (unsigned i = 0; i < RegFile::vec_count; ++i)
        CHECK_MESSAGE(got.v[i] == want.v[i], fmt::format("v{}: got {:#x}:{:#x}, want {:#x}:{:#x}", i, got.v[i].lo,
                                                         got.v[i].hi, want.v[i].lo, want.v[i].hi));
}

RegFile retired(const RegFile& before) {
    RegFile r = before;
    r.r[reg::pc] += 4;
    return r;
}

Access rd(uint64_t addr, unsigned size, uint64_t syndrome = 0) { return {Kind::read, addr, size, 0, syndrome}; }
// The read of an atomic read-modify-write (AccessInfo::rmw_read).
Access rmw_rd(uint64_t addr, unsigned size) { return {Kind::read, addr, size, 0, 0, false, false, true}; }
Access wr(uint64_t addr, unsigned size, uint64_t value, uint64_t syndrome = 0) {
    return {Kind::write, addr, size, value, syndrome};
}

}  // namespace

TEST_CASE("the_text_of_every_new_form_is_what_gnu_objdump_prints") {
    const std::vector<std::pair<uint32_t, std::string>> cases = {
        {0xf8408fe1, "ldr x1, [sp, #8]!"},        {0xf85f8441, "ldr x1, [x2], #-8"},
        {0xf8400c41, "ldr x1, [x2, #0]!"},        {0x389fdc41, "ldrsb x1, [x2, #-3]!"},
        {0x3c636841, "ldr b1, [x2, x3]"},         {0x7c635841, "ldr h1, [x2, w3, uxtw #1]"},
        {0x3ce37841, "ldr q1, [x2, x3, lsl #4]"}, {0xfc7fd841, "ldr d1, [x2, wzr, sxtw #3]"},
        {0x3d400441, "ldr b1, [x2, #1]"},         {0x3d800441, "str q1, [x2, #16]"},
        {0x3cc01041, "ldur q1, [x2, #1]"},        {0x7c000041, "stur h1, [x2]"},
        {0xbc5fcc41, "ldr s1, [x2, #-4]!"},       {0xfc008441, "str d1, [x2], #8"},
        {0xa9ff0be1, "ldp x1, x2, [sp, #-16]!"},  {0xa8c10861, "ldp x1, x2, [x3], #16"},
        {0x69410861, "ldpsw x1, x2, [x3, #8]"},   {0xac410861, "ldnp q1, q2, [x3, #32]"},
        {0x28000861, "stnp w1, w2, [x3]"},        {0xadbf0861, "stp q1, q2, [x3, #-32]!"},
        {0x2d600861, "ldp s1, s2, [x3, #-256]"},  {0x6cdf8861, "ldp d1, d2, [x3], #504"},
        {0xa8600be1, "ldnp x1, x2, [sp, #-512]"}, {0xa9007c7f, "stp xzr, xzr, [x3]"},
        {0xf8408841, "ldtr x1, [x2, #8]"},        {0x381ff841, "sttrb w1, [x2, #-1]"},
        {0xb8800841, "ldtrsw x1, [x2]"},          {0x384ffbe1, "ldtrb w1, [sp, #255]"},
        {0xf8210062, "ldadd x1, x2, [x3]"},       {0xf821007f, "stadd x1, [x3]"},
        {0xb861007f, "staddl w1, [x3]"},          {0xb8e103e2, "ldaddal w1, w2, [sp]"},
        {0xb8a1007f, "ldadda w1, wzr, [x3]"},     {0x38211062, "ldclrb w1, w2, [x3]"},
        {0x78613062, "ldsetlh w1, w2, [x3]"},     {0xf8212062, "ldeor x1, x2, [x3]"},
        {0xf8214062, "ldsmax x1, x2, [x3]"},      {0xf8e17062, "lduminal x1, x2, [x3]"},
        {0xf8218062, "swp x1, x2, [x3]"},         {0xb8e1807f, "swpal w1, wzr, [x3]"},
        {0xc8a17c62, "cas x1, x2, [x3]"},         {0x88e1fc62, "casal w1, w2, [x3]"},
        {0x08a17c62, "casb w1, w2, [x3]"},        {0x48a1ffe2, "caslh w1, w2, [sp]"},
        {0x48207c82, "casp x0, x1, x2, x3, [x4]"}, {0x0860fc82, "caspal w0, w1, w2, w3, [x4]"},
        {0xc8dffc41, "ldar x1, [x2]"},            {0x889fffe1, "stlr w1, [sp]"},
        {0x08dffc41, "ldarb w1, [x2]"},           {0x78bfc041, "ldaprh w1, [x2]"},
        {0xf8bfc041, "ldapr x1, [x2]"},           {0x38bfc3e1, "ldaprb w1, [sp]"},
        {0xd50b7421, "dc zva, x1"},               {0xd50b7e21, "dc civac, x1"},
        {0xd50b7a21, "dc cvac, x1"},              {0xd50b7b21, "dc cvau, x1"},
        {0xd50b7c21, "dc cvap, x1"},              {0xd50b7d21, "dc cvadp, x1"},
        {0xd5087621, "dc ivac, x1"},              {0xd50b7521, "ic ivau, x1"},
        {0xf9800020, "prfm pldl1keep, [x1]"},     {0xf9800420, "prfm pldl1keep, [x1, #8]"},
        {0xf89ff033, "prfum pstl2strm, [x1, #-1]"}, {0xf8a2782c, "prfm plil3keep, [x1, x2, lsl #3]"},
        {0xf9800027, "prfm #0x07, [x1]"},         {0xc85f7c41, "ldxr x1, [x2]"},
        {0xc803fc41, "stlxr w3, x1, [x2]"},       {0xc87f8861, "ldaxp x1, x2, [x3]"},
        {0xc8240861, "stxp w4, x1, x2, [x3]"},    {0x887f0861, "ldxp w1, w2, [x3]"},
        {0x88047fe1, "stxr w4, w1, [sp]"},        {0x085ffc41, "ldaxrb w1, [x2]"},
        {0x4801fc62, "stlxrh w1, w2, [x3]"},
        // Literal loads: objdump prints the target address; hvcore prints
        // the offset from the PC in GNU as syntax (".+8" assembles back).
        {0x58000041, "ldr x1, .+8"},              {0x9cffffe1, "ldr q1, .-4"},
        {0x98000081, "ldrsw x1, .+16"},           {0xd8000040, "prfm pldl1keep, .+8"},
    };
    // Named members, not a structured binding: doctest's INFO captures in
    // a lambda, which cannot capture a binding before clang 16 (P1091R3).
    for (const auto& c : cases) {
        const uint32_t word = c.first;
        const std::string& want = c.second;
        const detail::Decoded d = detail::decode(word);
        INFO(want);
        REQUIRE(d.insn.has_value());
        CHECK(detail::text(*d.insn) == want);
    }
}

TEST_CASE("writeback_forms_access_at_the_right_place_then_update_the_base_with_no_syndrome") {
    RegFile before = initial_regs();
    before.r[2] = data_gpa;
    struct Case {
        uint32_t word;
        const char* text;
        unsigned base;
        Access access;
        uint64_t base_after;
    };
    const uint64_t x2 = data_gpa;
    const uint64_t sp = before.r[reg::sp];
    const std::vector<Case> cases = {
        // pre-index: the access at base + imm, and the base becomes that.
        {0xf8408fe1, "ldr x1, [sp, #8]!", reg::sp, rd(sp + 8, 8), sp + 8},
        // post-index: the access at the base, then base + imm.
        {0xf85f8441, "ldr x1, [x2], #-8", 2, rd(x2, 8), x2 - 8},
        {0xfc008441, "str d1, [x2], #8", 2, wr(x2, 8, before.v[1].lo), x2 + 8},
        {0xbc5fcc41, "ldr s1, [x2, #-4]!", 2, rd(x2 - 4, 4), x2 - 4},
        {0x389fdc41, "ldrsb x1, [x2, #-3]!", 2, rd(x2 - 3, 1), x2 - 3},
    };
    for (const Case& c : cases) {
        INFO(std::string{c.text});
        RegFile regs = before;
        FakePort port;
        const Outcome o = run(c.word, regs, port);
        REQUIRE(o.result.status == MemStatus::ok);
        REQUIRE(port.log.size() == 1);
        CHECK(port.log[0] == c.access);  // syndrome 0: ISV = 0 for writeback (D24.2.46 ISV)
        CHECK(o.regs.r[c.base] == c.base_after);
        CHECK(o.regs.r[reg::pc] == code_gpa + 4);
    }
}

TEST_CASE("pairs_are_two_element_accesses_in_address_order_without_syndrome") {
    RegFile before = initial_regs();
    before.r[3] = data_gpa;
    FakePort port;
    // stp q1, q2, [x3, #-32]!: 16 bytes of V1 at x3 - 32, then V2 at x3 - 16.
    const Outcome o = run(0xadbf0861, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    REQUIRE(port.log.size() == 2);
    CHECK(port.log[0] == wr(data_gpa - 32, 16, before.v[1].lo));  // the log keeps the low 8 bytes
    CHECK(port.log[1] == wr(data_gpa - 16, 16, before.v[2].lo));
    CHECK(port.get(data_gpa - 24, 8) == before.v[1].hi);
    CHECK(port.get(data_gpa - 8, 8) == before.v[2].hi);
    CHECK(o.regs.r[3] == data_gpa - 32);

    // ldpsw x1, x2, [x3, #8]: two 4-byte reads, each sign-extended.
    FakePort p2;
    p2.put(data_gpa + 8, 0x8000'0001, 4);
    p2.put(data_gpa + 12, 0x7fff'fffe, 4);
    const Outcome l = run(0x69410861, before, p2);
    REQUIRE(l.result.status == MemStatus::ok);
    CHECK(p2.log == std::vector<Access>{rd(data_gpa + 8, 4), rd(data_gpa + 12, 4)});
    RegFile want = retired(before);
    want.r[1] = 0xffff'ffff'8000'0001;
    want.r[2] = 0x7fff'fffe;
    check_regs(l.regs, want);
}

TEST_CASE("simd_fp_loads_clear_the_rest_of_the_vector_register_and_stores_take_its_low_bytes") {
    RegFile before = initial_regs();
    before.r[2] = data_gpa;
    FakePort port;
    port.put(data_gpa + 1, 0xa5, 1);
    // ldr b1, [x2, #1]: V1 = 0xa5, bits 127:8 cleared (C7.2 LDR (immediate, SIMD&FP)).
    Outcome o = run(0x3d400441, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(o.regs.v[1] == Vec128{0xa5, 0});
    CHECK(port.log == std::vector<Access>{rd(data_gpa + 1, 1)});  // SIMD&FP: ISV = 0
    // str q1, [x2, #16]: all 16 bytes, little-endian, low half first.
    FakePort p2;
    o = run(0x3d800441, before, p2);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(p2.get(data_gpa + 16, 8) == before.v[1].lo);
    CHECK(p2.get(data_gpa + 24, 8) == before.v[1].hi);
    check_regs(o.regs, retired(before));
}

TEST_CASE("atomics_read_then_write_the_combined_value_once_and_return_the_old_one") {
    RegFile before = initial_regs();
    before.r[3] = data_gpa;
    before.r[1] = 0x0000'0000'0000'00f0;
    struct Case {
        uint32_t word;
        const char* text;
        unsigned size;
        uint64_t memory_after;
        uint64_t x2_after;  // the old value, zero-extended; x2 unchanged for ST<op>
    };
    constexpr uint64_t old = 0x8877'6655'4433'22ff;
    const std::vector<Case> cases = {
        {0xf8210062, "ldadd x1, x2, [x3]", 8, old + 0xf0, old},
        {0x38211062, "ldclrb w1, w2, [x3]", 1, 0x0f, 0xff},            // 0xff & ~0xf0
        {0x78613062, "ldsetlh w1, w2, [x3]", 2, 0x22ff, 0x22ff},       // 0x22ff | 0xf0
        {0xf8212062, "ldeor x1, x2, [x3]", 8, old ^ 0xf0, old},
        {0xf8214062, "ldsmax x1, x2, [x3]", 8, 0xf0, old},             // old is negative
        {0xf8e17062, "lduminal x1, x2, [x3]", 8, 0xf0, old},
        {0xf8218062, "swp x1, x2, [x3]", 8, 0xf0, old},
        {0xf821007f, "stadd x1, [x3]", 8, old + 0xf0, pattern(2)},
    };
    for (const Case& c : cases) {
        INFO(std::string{c.text});
        FakePort port;
        port.put(data_gpa, old, 8);
        const Outcome o = run(c.word, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        REQUIRE(port.log.size() == 2);
        // No syndrome (ISV = 0 for atomics); the read comes first, marked
        // as the read of a read-modify-write, so a fault on it reports
        // WnR = 0 and on the write WnR = 1.
        CHECK(port.log[0] == rmw_rd(data_gpa, c.size));
        CHECK(port.log[1] == wr(data_gpa, c.size, c.memory_after));
        RegFile want = retired(before);
        want.r[2] = c.x2_after;
        check_regs(o.regs, want);
    }
}

TEST_CASE("cas_writes_only_when_equal_and_a_failed_compare_is_checked_as_an_unchanged_write") {
    RegFile before = initial_regs();
    before.r[3] = data_gpa;
    before.r[2] = 0x1234;  // the new value
    // cas x1, x2, [x3] with x1 equal to memory: one write of x2, x1 = old.
    FakePort eq;
    eq.put(data_gpa, 0xabcd, 8);
    before.r[1] = 0xabcd;
    Outcome o = run(0xc8a17c62, before, eq);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(eq.log == std::vector<Access>{rmw_rd(data_gpa, 8), wr(data_gpa, 8, 0x1234)});
    CHECK(o.regs.r[1] == 0xabcd);
    // Not equal: the memory stays, x1 = old; the write-back of the old
    // value is marked so the hypervisor drops it (isa.hpp).
    FakePort ne;
    ne.put(data_gpa, 0xabce, 8);
    o = run(0xc8a17c62, before, ne);
    REQUIRE(o.result.status == MemStatus::ok);
    REQUIRE(ne.log.size() == 2);
    CHECK(ne.log[1].rewrites);
    CHECK(ne.log[1].value == 0xabce);
    CHECK(o.regs.r[1] == 0xabce);
    // casb w1, w2, [x3]: compares the low byte only; w1 gets the byte
    // zero-extended.
    FakePort b;
    b.put(data_gpa, 0xcd, 1);
    o = run(0x08a17c62, before, b);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(b.get(data_gpa, 1) == 0x34);
    CHECK(o.regs.r[1] == 0xcd);
}

TEST_CASE("casp_compares_and_swaps_a_register_pair_low_register_at_the_low_address") {
    RegFile before = initial_regs();
    before.r[4] = data_gpa;
    before.r[0] = 0x1111;
    before.r[1] = 0x2222;  // comparand: x0 at data, x1 at data + 8
    before.r[2] = 0x3333;
    before.r[3] = 0x4444;  // new pair
    FakePort port;
    port.put(data_gpa, 0x1111, 8);
    port.put(data_gpa + 8, 0x2222, 8);
    // casp x0, x1, x2, x3, [x4]: one 16-byte read, one 16-byte write.
    const Outcome o = run(0x48207c82, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    REQUIRE(port.log.size() == 2);
    CHECK(port.log[0] == rmw_rd(data_gpa, 16));
    CHECK(port.get(data_gpa, 8) == 0x3333);
    CHECK(port.get(data_gpa + 8, 8) == 0x4444);
    // An odd register pair is UNDEFINED (C6.2 CASP: "if Rs<0> == '1' then UNDEFINED").
    FakePort none;
    const Outcome odd = run(0x48217c82, before, none);  // 0x48207c82 with Rs = 1
    CHECK(odd.result.status == MemStatus::guest_fault);
    CHECK(odd.result.undecoded == false);
    CHECK(none.log.empty());
}

TEST_CASE("acquire_release_and_unprivileged_and_literal_loads_keep_their_isv_syndrome") {
    RegFile before = initial_regs();
    before.r[2] = data_gpa;
    struct Case {
        uint32_t word;
        const char* text;
        Access access;
    };
    const uint64_t sp = before.r[reg::sp];
    const std::vector<Case> cases = {
        {0xc8dffc41, "ldar x1, [x2]", rd(data_gpa, 8, iss(3, false, 1, true) | ar)},
        {0x889fffe1, "stlr w1, [sp]", wr(sp, 4, pattern(1) & 0xffff'ffff, iss(2, false, 1, false) | ar)},
        {0x78bfc041, "ldaprh w1, [x2]", rd(data_gpa, 2, iss(1, false, 1, false) | ar)},
        // LDTR: a single register without writeback, so ISV = 1, AR = 0.
        {0xb8800841, "ldtrsw x1, [x2]", rd(data_gpa, 4, iss(2, true, 1, true))},
        {0x381ff841, "sttrb w1, [x2, #-1]", wr(data_gpa - 1, 1, pattern(1) & 0xff, iss(0, false, 1, false))},
        // LDR (literal): PC-relative.
        {0x98000081, "ldrsw x1, .+16", rd(code_gpa + 16, 4, iss(2, true, 1, true))},
        {0x9cffffe1, "ldr q1, .-4", rd(code_gpa - 4, 16, 0)},
    };
    for (const Case& c : cases) {
        INFO(std::string{c.text});
        FakePort port;
        const Outcome o = run(c.word, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{c.access});
    }
}

TEST_CASE("prefetch_is_a_hint_and_dc_zva_zeroes_the_aligned_64_byte_block") {
    RegFile before = initial_regs();
    FakePort port;
    // prfm pldl1keep, [x1, #8] with x1 anywhere, even beyond the PA range:
    // no access, no fault, PC + 4.
    before.r[1] = ~uint64_t{0};
    Outcome o = run(0xf9800420, before, port);
    CHECK(o.result.status == MemStatus::ok);
    CHECK(port.log.empty());
    check_regs(o.regs, retired(before));
    // dc zva, x1: one 64-byte write of zeros at x1 rounded down to 64.
    before.r[1] = data_gpa + 0x47;
    port.put(data_gpa + 0x40, 0xffff'ffff'ffff'ffff, 8);
    o = run(0xd50b7421, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{wr(data_gpa + 0x40, 64, 0)});
    CHECK(port.get(data_gpa + 0x40, 8) == 0);
    check_regs(o.regs, retired(before));
}

TEST_CASE("cache_maintenance_is_a_no_data_probe_with_cm_and_completes") {
    RegFile before = initial_regs();
    before.r[1] = data_gpa + 0x123;
    for (const uint32_t w : {0xd50b7e21u, 0xd50b7a21u, 0xd50b7b21u, 0xd50b7c21u, 0xd50b7d21u, 0xd5087621u, 0xd50b7521u}) {
        INFO(fmt::format("{:#010x}", w));
        FakePort port;
        const Outcome o = run(w, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        REQUIRE(port.log.size() == 1);
        CHECK(port.log[0].kind == Kind::read);
        CHECK(port.log[0].addr == data_gpa + 0x123);
        CHECK(port.log[0].syndrome == cm);
        CHECK(port.log[0].no_data);
        check_regs(o.regs, retired(before));
    }
}

TEST_CASE("exclusives_are_probed_where_the_hardware_checks_then_declined_as_not_emulated") {
    RegFile before = initial_regs();
    before.r[2] = data_gpa;
    struct Case {
        uint32_t word;
        Access probe;
        std::string detail;
    };
    const std::string why = "not emulated: an exclusive needs the exclusive monitor, which the model does not keep";
    const std::vector<Case> cases = {
        {0xc85f7c41, {Kind::read, data_gpa, 8, 0, 0, true, false}, "0xc85f7c41 (ldxr x1, [x2]): " + why},
        {0xc803fc41, {Kind::write, data_gpa, 8, 0, 0, true, false}, "0xc803fc41 (stlxr w3, x1, [x2]): " + why},
    };
    for (const Case& c : cases) {
        FakePort port;
        const Outcome o = run(c.word, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.undecoded);
        CHECK(o.result.detail == c.detail);
        CHECK(port.log == std::vector<Access>{c.probe});
        check_regs(o.regs, before);
    }
}

TEST_CASE("atomics_acquire_release_cas_and_exclusives_must_be_aligned") {
    RegFile before = initial_regs();
    before.r[3] = data_gpa + 4;  // 4-aligned, not 8
    before.r[2] = data_gpa + 1;
    before.r[4] = data_gpa + 8;  // 8-aligned, not 16
    struct Case {
        uint32_t word;
        std::string detail;
    };
    const std::vector<Case> cases = {
        {0xf8210062, "0xf8210062 (ldadd x1, x2, [x3]): address 0x100004 is not aligned to 8 bytes (Alignment fault)"},
        {0xc8a17c62, "0xc8a17c62 (cas x1, x2, [x3]): address 0x100004 is not aligned to 8 bytes (Alignment fault)"},
        {0x78bfc041, "0x78bfc041 (ldaprh w1, [x2]): address 0x100001 is not aligned to 2 bytes (Alignment fault)"},
        {0x48207c82,
         "0x48207c82 (casp x0, x1, x2, x3, [x4]): address 0x100008 is not aligned to 16 bytes (Alignment fault)"},
        {0xc85f7c41, "0xc85f7c41 (ldxr x1, [x2]): address 0x100001 is not aligned to 8 bytes (Alignment fault)"},
    };
    for (const Case& c : cases) {
        FakePort port;
        const Outcome o = run(c.word, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == c.detail);
        CHECK_FALSE(o.result.undecoded);
        CHECK(port.log.empty());
        check_regs(o.regs, before);
    }
    // The same atomic aligned is fine; an unaligned LDR or LDP is too
    // (SCTLR_EL1.A = 0).
    before.r[3] = data_gpa;
    FakePort port;
    CHECK(run(0xf8210062, before, port).result.status == MemStatus::ok);
    before.r[3] = data_gpa + 3;
    CHECK(run(0xa8c10861, before, port).result.status == MemStatus::ok);  // ldp x1, x2, [x3], #16
}

TEST_CASE("constrained_unpredictable_overlaps_are_undefined_in_the_model") {
    const std::string undef = "UNDEFINED (the guest takes an Undefined Instruction exception)";
    const std::vector<std::pair<uint32_t, std::string>> cases = {
        // ldr x1, [x1], #8 (Unpredictable_WBOVERLAPLD)
        {0xf8408421, "0xf8408421 (a load with writeback with Rt == Rn: CONSTRAINED UNPREDICTABLE "
                     "(Unpredictable_WBOVERLAPLD), the model is UNDEFINED): " + undef},
        // str x2, [x2, #8]! (Unpredictable_WBOVERLAPST)
        {0xf8008c42, "0xf8008c42 (a store with writeback with Rt == Rn: CONSTRAINED UNPREDICTABLE "
                     "(Unpredictable_WBOVERLAPST), the model is UNDEFINED): " + undef},
        // ldp x1, x1, [x2] (Unpredictable_LDPOVERLAP)
        {0xa9400441, "0xa9400441 (a load pair with Rt == Rt2: CONSTRAINED UNPREDICTABLE "
                     "(Unpredictable_LDPOVERLAP), the model is UNDEFINED): " + undef},
        // stp x1, x2, [x2], #16
        {0xa8810841, "0xa8810841 (a store pair with Rt or Rt2 == Rn: CONSTRAINED UNPREDICTABLE "
                     "(Unpredictable_WBOVERLAPST), the model is UNDEFINED): " + undef},
    };
    for (const auto& [word, detail] : cases) {
        FakePort port;
        const RegFile before = initial_regs();
        const Outcome o = run(word, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == detail);
        CHECK_FALSE(o.result.undecoded);
        CHECK(port.log.empty());
    }
    // Without writeback the overlap is fine: ldp x1, x2, [x1] reads at the
    // old x1 (0xa9400821).
    RegFile before = initial_regs();
    before.r[1] = data_gpa;
    FakePort port;
    port.put(data_gpa, 7, 8);
    const Outcome o = run(0xa9400821, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(o.regs.r[1] == 7);
}

TEST_CASE("a_refusal_on_the_second_access_leaves_every_register_and_the_base_unchanged") {
    // ldp x1, x2, [x3], #16: the first read answers, the second is pending.
    class SecondPending final : public MemPort {
    public:
        unsigned calls = 0;
        MemStatus read(uint64_t, unsigned size, void* out, const AccessInfo&) override {
            std::memset(out, 0x5a, size);
            return ++calls == 2 ? MemStatus::pending : MemStatus::ok;
        }
        MemStatus write(uint64_t, unsigned, const void*, const AccessInfo&) override {
            return ++calls == 2 ? MemStatus::pending : MemStatus::ok;
        }
        MemStatus pio(uint16_t, unsigned, bool, uint64_t*) override { return MemStatus::guest_fault; }
    };
    RegFile before = initial_regs();
    before.r[3] = data_gpa;
    for (const uint32_t w : {0xa8c10861u, 0xadbf0861u, 0xf8210062u}) {  // ldp post, stp q pre, ldadd
        INFO(fmt::format("{:#010x}", w));
        SecondPending port;
        auto isa = make_a64_isa();
        RegFile regs = before;
        const ExecResult r = isa->execute(regs, le(w), port);
        CHECK(r.status == MemStatus::pending);
        CHECK(port.calls == 2);
        check_regs(regs, before);
    }
}

TEST_CASE("a_record_with_cm_completes_the_instruction_without_any_access") {
    auto isa = make_a64_isa();
    FakePort port;
    RegFile regs = initial_regs();
    const RegFile before = regs;
    // EC 0x24, IL, CM, WnR, translation fault level 1: what the walker
    // reports for a DC CIVAC to a hole.
    FaultRecord rec;
    rec.arch = Arch::arm64;
    rec.kind = 0x24;
    rec.syndrome = (uint64_t{0x24} << 26) | (uint64_t{1} << 25) | cm | (uint64_t{1} << 6) | 0x05;
    const std::optional<ExecResult> r = isa->execute_from_record(regs, rec, port);
    REQUIRE(r.has_value());
    CHECK(r->status == MemStatus::ok);
    CHECK(port.log.empty());
    check_regs(regs, retired(before));
}

TEST_CASE("the_walker_reports_cm_and_wnr_for_cache_maintenance_and_no_isv_for_isv0_forms") {
    auto mem = MachineMemory::create(4 << 20, 64);
    REQUIRE(mem.is_ok());
    auto s2 = Arm64Stage2::create(**mem);
    REQUIRE(s2.is_ok());
    // Nothing mapped: every access is a translation fault at the start
    // level (1 in the default configuration).
    const AccessContext civac{.gla = data_gpa, .gla_valid = true, .size = 1, .insn = {}, .isa_syndrome = Esr::cm};
    const Translation t = (*s2)->translate(Gpa{data_gpa}, AccessType::read, civac);
    REQUIRE_FALSE(t.ok);
    // EC 0x24 | IL | CM | WnR (always 1 for cache maintenance) | DFSC 0x05.
    CHECK(t.record.syndrome == 0x9200'0145);
    const AccessContext stp{.gla = data_gpa, .gla_valid = true, .size = 8, .insn = {}, .isa_syndrome = 0};
    const Translation w = (*s2)->translate(Gpa{data_gpa}, AccessType::write, stp);
    CHECK(w.record.syndrome == 0x9200'0045);  // ISV = 0, WnR
}
