// SPDX-License-Identifier: MIT
// The A64 executor against a recording fake port. Every instruction word
// and its text were produced by llvm-mc 14 (`llvm-mc -triple=aarch64
// -show-encoding`), an assembler independent of hvcore; the text is what
// it prints for the encoding (so `ldrsb w3, [sp, #-5]` reads `ldursb`).
// Registers: X0..X30 = 0..30, SP = 31, PC = 32 (hv.h).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "a64_decode.hpp"
#include "fake_port.hpp"
#include "hvcore/arm64/isa_a64.hpp"

using namespace hvcore;
using namespace hvcore::arm64;
using arm64_test::Access;
using arm64_test::FakePort;
using arm64_test::Kind;

namespace {

// Where the instruction sits (PC), the page X8 points at, and SP: guest
// addresses (stage 1 off: VA == IPA).
constexpr uint64_t code_gpa = 0x40'0000;
constexpr uint64_t data_gpa = 0x10'0000;
constexpr uint64_t stack_gpa = 0x20'0000;
// Eight distinct bytes, stored from X9, so a width or byte-order mistake
// changes the observed value.
constexpr uint64_t distinct = 0x8877'6655'4433'2211;
// Loaded values: negative at every width (bytes 0x88, 0x9788, 0xb5a69788)
// so sign extension shows; and positive at every width.
constexpr uint64_t negative = 0xf1e2'd3c4'b5a6'9788;
constexpr uint64_t positive = 0x0102'0304'0506'0708;

// Register i's contents before a test: every byte differs from the values
// above and from the other registers.
constexpr uint64_t pattern(unsigned i) { return 0xf0e0'd0c0'b0a0'9080 + i * 0x0101'0101'0101'0101; }

// ESR_EL2 ISS[24:14] for ISV = 1 (Arm ARM D24.2.46; Linux esr.h): ISV 24, SAS 23:22, SSE
// 21, SRT 20:16, SF 15, AR 14 = 0. Written from the bit positions, not
// with the code under test.
constexpr uint64_t iss(unsigned sas, bool sse, unsigned srt, bool sf) {
    return (uint64_t{1} << 24) | (uint64_t{sas} << 22) | (uint64_t{sse} << 21) | (uint64_t{srt} << 16) |
           (uint64_t{sf} << 15);
}

RegFile initial_regs() {
    RegFile r;
    for (unsigned i = 0; i < RegFile::count; ++i) r.r[i] = pattern(i);
    r.r[8] = data_gpa;
    r.r[9] = distinct;
    r.r[reg::sp] = stack_gpa;
    r.r[reg::pc] = code_gpa;
    return r;
}

std::vector<uint8_t> le(uint32_t w) {
    return {static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
            static_cast<uint8_t>(w >> 24)};
}

void check_regs(const RegFile& got, const RegFile& want) {
    for (unsigned i = 0; i < RegFile::count; ++i)
        CHECK_MESSAGE(got.r[i] == want.r[i], fmt::format("register {}: got {:#x}, want {:#x}", i, got.r[i], want.r[i]));
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

RegFile retired(const RegFile& before) {
    RegFile r = before;
    r.r[reg::pc] += 4;
    return r;
}

struct StoreCase {
    uint32_t word;
    const char* text;  // llvm-mc's
    uint64_t x10;      // index register (register-offset forms)
    uint64_t addr;
    unsigned size;
    uint64_t value;    // bytes written
    uint64_t syndrome;
};

struct LoadCase {
    uint32_t word;
    const char* text;
    uint64_t x10;
    uint64_t addr;
    unsigned size;
    uint64_t x9_after;  // with `negative` in memory
    uint64_t syndrome;
};

}  // namespace

TEST_CASE("isa_reports_arm64_family_pc_32_and_33_registers") {
    auto isa = make_a64_isa();
    CHECK(isa->kind() == IsaKind::a64);
    CHECK(isa->pc_reg() == 32);
    CHECK(isa->nr_regs() == 33);
}

// Every A64 instruction is one 32-bit word (Arm ARM DDI 0487 C1.1); there
// is no port I/O space.
TEST_CASE("isa_takes_one_4_byte_word_and_has_no_port_io") {
    auto isa = make_a64_isa();
    CHECK(isa->max_insn_bytes() == 4);
    CHECK_FALSE(isa->has_port_io());
    CHECK(isa->make_pio(1, true).bytes.empty());
}

TEST_CASE("stores_write_the_low_bytes_of_rt_once_with_their_syndrome_and_change_only_pc") {
    constexpr uint64_t d = data_gpa;
    const std::vector<StoreCase> cases = {
        // unsigned offset: imm12 scaled by the size
        {0x39000109, "strb w9, [x8]", 0, d, 1, 0x11, iss(0, false, 9, false)},
        {0x79000509, "strh w9, [x8, #2]", 0, d + 2, 2, 0x2211, iss(1, false, 9, false)},
        {0xb9000509, "str w9, [x8, #4]", 0, d + 4, 4, 0x4433'2211, iss(2, false, 9, false)},
        {0xf9000509, "str x9, [x8, #8]", 0, d + 8, 8, distinct, iss(3, false, 9, true)},
        {0xf93ffd09, "str x9, [x8, #32760]", 0, d + 32760, 8, distinct, iss(3, false, 9, true)},  // imm12 = 4095
        {0x393ffd09, "strb w9, [x8, #4095]", 0, d + 4095, 1, 0x11, iss(0, false, 9, false)},
        // unscaled: simm9, -256..255, not scaled
        {0x381ff109, "sturb w9, [x8, #-1]", 0, d - 1, 1, 0x11, iss(0, false, 9, false)},
        {0x78100109, "sturh w9, [x8, #-256]", 0, d - 256, 2, 0x2211, iss(1, false, 9, false)},
        {0xb80ff109, "stur w9, [x8, #255]", 0, d + 255, 4, 0x4433'2211, iss(2, false, 9, false)},
        {0xf81f8109, "stur x9, [x8, #-8]", 0, d - 8, 8, distinct, iss(3, false, 9, true)},
        // register offset: Rm extended, then shifted by 0 or log2(size)
        {0x382a6909, "strb w9, [x8, x10]", 0x30, d + 0x30, 1, 0x11, iss(0, false, 9, false)},
        {0x382a7909, "strb w9, [x8, x10, lsl #0]", 0x30, d + 0x30, 1, 0x11, iss(0, false, 9, false)},
        {0x782a7909, "strh w9, [x8, x10, lsl #1]", 0x30, d + 0x60, 2, 0x2211, iss(1, false, 9, false)},
        // UXTW drops bits 63:32 of X10
        {0xb82a5909, "str w9, [x8, w10, uxtw #2]", 0xffff'ffff'0000'0030, d + 0xc0, 4, 0x4433'2211, iss(2, false, 9, false)},
        // SXTW: W10 = -16, times 8
        {0xf82ad909, "str x9, [x8, w10, sxtw #3]", 0x1234'5678'ffff'fff0, d - 128, 8, distinct, iss(3, false, 9, true)},
        {0xf82ae909, "str x9, [x8, x10, sxtx]", ~uint64_t{0x1f}, d - 0x20, 8, distinct, iss(3, false, 9, true)},
        {0xb82ac909, "str w9, [x8, w10, sxtw]", 0x0000'0001'ffff'fffc, d - 4, 4, 0x4433'2211, iss(2, false, 9, false)},
        // Rn = 31 is SP; Rt = 31 is XZR/WZR (stores zero, SRT = 31)
        {0xf9000be9, "str x9, [sp, #16]", 0, stack_gpa + 16, 8, distinct, iss(3, false, 9, true)},
        {0xf900011f, "str xzr, [x8]", 0, d, 8, 0, iss(3, false, 31, true)},
        {0x3900051f, "strb wzr, [x8, #1]", 0, d + 1, 1, 0, iss(0, false, 31, false)},
    };
    for (const StoreCase& c : cases) {
        INFO(c.text);
        FakePort port;
        RegFile before = initial_regs();
        before.r[10] = c.x10;
        const Outcome o = run(c.word, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        // A store does not read: the one access is the write.
        CHECK(port.log == std::vector<Access>{{Kind::write, c.addr, c.size, c.value, c.syndrome}});
        check_regs(o.regs, retired(before));
    }
}

TEST_CASE("loads_zero_or_sign_extend_and_w_destinations_clear_bits_63_32") {
    constexpr uint64_t d = data_gpa;
    const std::vector<LoadCase> cases = {
        {0x39400109, "ldrb w9, [x8]", 0, d, 1, 0x88, iss(0, false, 9, false)},
        {0x79400109, "ldrh w9, [x8]", 0, d, 2, 0x9788, iss(1, false, 9, false)},
        {0xb9400109, "ldr w9, [x8]", 0, d, 4, 0xb5a6'9788, iss(2, false, 9, false)},
        {0xf9400109, "ldr x9, [x8]", 0, d, 8, negative, iss(3, false, 9, true)},
        {0x39c00109, "ldrsb w9, [x8]", 0, d, 1, 0xffff'ff88, iss(0, true, 9, false)},  // sign to 32, zero above
        {0x39800109, "ldrsb x9, [x8]", 0, d, 1, 0xffff'ffff'ffff'ff88, iss(0, true, 9, true)},
        {0x79c00109, "ldrsh w9, [x8]", 0, d, 2, 0xffff'9788, iss(1, true, 9, false)},
        {0x79800109, "ldrsh x9, [x8]", 0, d, 2, 0xffff'ffff'ffff'9788, iss(1, true, 9, true)},
        {0xb9800109, "ldrsw x9, [x8]", 0, d, 4, 0xffff'ffff'b5a6'9788, iss(2, true, 9, true)},
        {0x38dfd109, "ldursb w9, [x8, #-3]", 0, d - 3, 1, 0xffff'ff88, iss(0, true, 9, false)},
        {0x789fe109, "ldursh x9, [x8, #-2]", 0, d - 2, 2, 0xffff'ffff'ffff'9788, iss(1, true, 9, true)},
        {0xb89fc109, "ldursw x9, [x8, #-4]", 0, d - 4, 4, 0xffff'ffff'b5a6'9788, iss(2, true, 9, true)},
        {0xf8401109, "ldur x9, [x8, #1]", 0, d + 1, 8, negative, iss(3, false, 9, true)},  // unaligned: allowed (Normal memory, A = 0)
        {0x38500109, "ldurb w9, [x8, #-256]", 0, d - 256, 1, 0x88, iss(0, false, 9, false)},
        {0x784ff109, "ldurh w9, [x8, #255]", 0, d + 255, 2, 0x9788, iss(1, false, 9, false)},
        {0xb8aad909, "ldrsw x9, [x8, w10, sxtw #2]", 0xabcd'ef00'ffff'fffe, d - 8, 4, 0xffff'ffff'b5a6'9788,
         iss(2, true, 9, true)},
        {0x78ea7909, "ldrsh w9, [x8, x10, lsl #1]", 3, d + 6, 2, 0xffff'9788, iss(1, true, 9, false)},
        {0x386a4909, "ldrb w9, [x8, w10, uxtw]", 0xffff'ffff'0000'0005, d + 5, 1, 0x88, iss(0, false, 9, false)},
        {0xf86a7909, "ldr x9, [x8, x10, lsl #3]", 2, d + 16, 8, negative, iss(3, false, 9, true)},
        {0xb86a5be9, "ldr w9, [sp, w10, uxtw #2]", 1, stack_gpa + 4, 4, 0xb5a6'9788, iss(2, false, 9, false)},
        {0x38bf6be9, "ldrsb x9, [sp, xzr]", 0, stack_gpa, 1, 0xffff'ffff'ffff'ff88, iss(0, true, 9, true)},
    };
    for (const LoadCase& c : cases) {
        INFO(c.text);
        FakePort port;
        port.put(c.addr, negative, 8);
        RegFile before = initial_regs();
        before.r[10] = c.x10;
        const Outcome o = run(c.word, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, c.addr, c.size, 0, c.syndrome}});
        RegFile want = retired(before);
        want.r[9] = c.x9_after;
        check_regs(o.regs, want);
    }
}

TEST_CASE("sign_extending_loads_of_positive_values_fill_with_zeros") {
    struct Case {
        uint32_t word;
        const char* text;
        uint64_t x9_after;
    };
    const std::vector<Case> cases = {
        {0x39c00109, "ldrsb w9, [x8]", 0x08},
        {0x39800109, "ldrsb x9, [x8]", 0x08},
        {0x79c00109, "ldrsh w9, [x8]", 0x0708},
        {0x79800109, "ldrsh x9, [x8]", 0x0708},
        {0xb9800109, "ldrsw x9, [x8]", 0x0506'0708},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        FakePort port;
        port.put(data_gpa, positive, 8);
        const Outcome o = run(c.word, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(o.regs.r[9] == c.x9_after);
    }
}

TEST_CASE("a_load_to_xzr_makes_the_access_and_discards_the_value") {
    // 0xf940011f = ldr xzr, [x8]: SRT 31; no register but PC changes (and
    // register 31, SP, is untouched).
    FakePort port;
    port.put(data_gpa, negative, 8);
    const RegFile before = initial_regs();
    const Outcome o = run(0xf940011f, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 8, 0, iss(3, false, 31, true)}});
    check_regs(o.regs, retired(before));
}

TEST_CASE("a_load_into_its_own_base_register_uses_the_old_address") {
    // 0xf9400108 = ldr x8, [x8]
    FakePort port;
    port.put(data_gpa, negative, 8);
    const RegFile before = initial_regs();
    const Outcome o = run(0xf9400108, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 8, 0, iss(3, false, 8, true)}});
    RegFile want = retired(before);
    want.r[8] = negative;
    check_regs(o.regs, want);
}

TEST_CASE("the_text_of_every_emulated_form_is_what_llvm_mc_prints") {
    const std::vector<std::pair<uint32_t, std::string>> cases = {
        {0x39000109, "strb w9, [x8]"},          {0xf93ffd09, "str x9, [x8, #32760]"},
        {0x381ff109, "sturb w9, [x8, #-1]"},    {0x382a6909, "strb w9, [x8, x10]"},
        {0x382a7909, "strb w9, [x8, x10, lsl #0]"}, {0xb82a5909, "str w9, [x8, w10, uxtw #2]"},
        {0xf82ae909, "str x9, [x8, x10, sxtx]"}, {0xb82ac909, "str w9, [x8, w10, sxtw]"},
        {0xf9000be9, "str x9, [sp, #16]"},      {0xf900011f, "str xzr, [x8]"},
        {0x3900051f, "strb wzr, [x8, #1]"},     {0x38dfd109, "ldursb w9, [x8, #-3]"},
        {0x789fe109, "ldursh x9, [x8, #-2]"},   {0xb89fc109, "ldursw x9, [x8, #-4]"},
        {0xb8aad909, "ldrsw x9, [x8, w10, sxtw #2]"}, {0x386a4909, "ldrb w9, [x8, w10, uxtw]"},
        {0xb86a5be9, "ldr w9, [sp, w10, uxtw #2]"}, {0x38bf6be9, "ldrsb x9, [sp, xzr]"},
        {0xf940011f, "ldr xzr, [x8]"},          {0x79c00109, "ldrsh w9, [x8]"},
    };
    for (const auto& [word, want] : cases) {
        const detail::Decoded d = detail::decode(word);
        REQUIRE(d.insn.has_value());
        CHECK(detail::text(*d.insn) == want);
    }
}

TEST_CASE("instructions_not_emulated_or_undefined_are_a_guest_fault_naming_them_with_no_access") {
    struct Bad {
        uint32_t word;
        const char* asm_text;  // llvm-mc's text for the word
        std::string detail;
    };
    const std::string undef = "UNDEFINED (the guest takes an Undefined Instruction exception)";
    const std::vector<Bad> cases = {
        {0x4c407000, "ld1 { v0.16b }, [x0]", "0x4c407000 (LD1/ST1 family (SIMD structures)): not emulated"},
        {0xd9400020, "ldapur x0, [x1]", "0xd9400020 (LDAPUR/STLUR (RCpc, unscaled)): not emulated"},
        {0xf8200420, "ldraa x0, [x1]", "0xf8200420 (LDRAA/LDRAB (pointer authentication)): not emulated"},
        {0xd9200820, "stg x0, [x1]", "0xd9200820 (LDG/STG (memory tagging)): not emulated"},
        {0x08df7c20, "ldlarb w0, [x1]", "0x08df7c20 (LDLAR (load LOAcquire)): not emulated"},
        {0xd503201f, "nop", "0xd503201f (not a load/store instruction): not emulated"},
        {0x8b020020, "add x0, x1, x2", "0x8b020020 (not a load/store instruction): not emulated"},
        {0xd5087e41, "dc cisw, x1", "0xd5087e41 (SYS #0, C7, C14, #2 (not a cache maintenance by address)): not emulated"},
        // Hand-made: ldr x9, [x8, x2] with option 000 (x0x is unallocated),
        // and size 10 / opc 11 (nothing there).
        {0xf8620909, "(unallocated)", "0xf8620909 (unallocated load/store register (register offset) option): " + undef},
        {0xb9c00109, "(unallocated)", "0xb9c00109 (unallocated load/store register encoding): " + undef},
    };
    for (const Bad& c : cases) {
        INFO(c.asm_text);
        FakePort port;
        const RegFile before = initial_regs();
        const Outcome o = run(c.word, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == c.detail);
        // Not emulated (the caller may be told, HV_VCPU_UNDECODED) versus
        // UNDEFINED (the guest's exception whatever the policy).
        CHECK(o.result.undecoded == (c.detail.find(undef) == std::string::npos));
        CHECK(port.log.empty());  // refused before any access
        check_regs(o.regs, before);
    }
}

TEST_CASE("a_short_buffer_is_a_guest_fault_and_trailing_bytes_are_ignored") {
    auto isa = make_a64_isa();
    FakePort port;
    RegFile regs = initial_regs();
    const std::vector<uint8_t> none;
    CHECK(isa->execute(regs, none, port).detail == "(no bytes): empty instruction buffer");
    const std::vector<uint8_t> three = {0x09, 0x01, 0x00};
    const ExecResult r = isa->execute(regs, three, port);
    CHECK(r.status == MemStatus::guest_fault);
    CHECK(r.detail == "bytes [09 01 00]: truncated: an A64 instruction is 4 bytes");
    CHECK(port.log.empty());
    // str x9, [x8] followed by four more bytes: one instruction, PC + 4.
    const std::vector<uint8_t> eight = {0x09, 0x01, 0x00, 0xf9, 0xff, 0xff, 0xff, 0xff};
    REQUIRE(isa->execute(regs, eight, port).status == MemStatus::ok);
    CHECK(regs.r[reg::pc] == code_gpa + 4);
    CHECK(port.log.size() == 1);
}

TEST_CASE("addresses_beyond_the_48_bit_pa_range_are_a_guest_address_size_fault") {
    // Stage 1 off: VA bits 63:48 must be zero (ID_AA64MMFR0_EL1.PARange 48).
    struct Bad {
        uint64_t x8;
        uint32_t word;
        std::string detail;
    };
    const std::vector<Bad> cases = {
        {uint64_t{1} << 48, 0xf9400109,
         "0xf9400109 (ldr x9, [x8]): address 0x1000000000000 is beyond the 48-bit physical address space "
         "(stage-1 Address size fault, level 0)"},
        // The last byte of an 8-byte access crosses the limit.
        {(uint64_t{1} << 48) - 4, 0xf9000109,
         "0xf9000109 (str x9, [x8]): address 0xfffffffffffc is beyond the 48-bit physical address space "
         "(stage-1 Address size fault, level 0)"},
        // x8 - 8 wraps below zero.
        {4, 0xf81f8109,
         "0xf81f8109 (stur x9, [x8, #-8]): address 0xfffffffffffffffc is beyond the 48-bit physical address space "
         "(stage-1 Address size fault, level 0)"},
    };
    for (const Bad& c : cases) {
        INFO(c.detail);
        FakePort port;
        RegFile before = initial_regs();
        before.r[8] = c.x8;
        const Outcome o = run(c.word, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == c.detail);
        CHECK(port.log.empty());
        check_regs(o.regs, before);
    }
    // The last byte below the limit is fine.
    FakePort port;
    RegFile before = initial_regs();
    before.r[8] = (uint64_t{1} << 48) - 8;
    CHECK(run(0xf9000109, before, port).result.status == MemStatus::ok);
}

TEST_CASE("a_port_that_does_not_answer_ok_leaves_every_register_unchanged") {
    const std::vector<MemStatus> refusals = {MemStatus::exit, MemStatus::pending, MemStatus::retry,
                                             MemStatus::guest_fault, MemStatus::stopped};
    const std::vector<uint32_t> insns = {
        0xf9000109,  // str x9, [x8]
        0xf9400109,  // ldr x9, [x8]
        0xf9400108,  // ldr x8, [x8]: would change the address register
        0x39800109,  // ldrsb x9, [x8]
        0xb86a5be9,  // ldr w9, [sp, w10, uxtw #2]
    };
    for (MemStatus refusal : refusals) {
        for (uint32_t w : insns) {
            INFO(fmt::format("{:#010x} refused with {}", w, static_cast<int>(refusal)));
            FakePort port;
            port.answer = refusal;
            const RegFile before = initial_regs();
            const Outcome o = run(w, before, port);
            CHECK(o.result.status == refusal);
            CHECK(port.log.size() == 1);  // tried once, and nothing after it
            check_regs(o.regs, before);
            const bool described = refusal == MemStatus::guest_fault || refusal == MemStatus::stopped;
            CHECK(o.result.detail.empty() == !described);
        }
    }
}

TEST_CASE("port_refusal_details_name_the_instruction_and_the_access") {
    FakePort port;
    port.answer = MemStatus::guest_fault;
    CHECK(run(0xf9000109, initial_regs(), port).result.detail ==
          "0xf9000109 (str x9, [x8]): 8-byte write at 0x100000 faulted");
    port.answer = MemStatus::stopped;
    CHECK(run(0x79c00109, initial_regs(), port).result.detail ==
          "0x79c00109 (ldrsh w9, [x8]): 2-byte read at 0x100000 stopped the domain");
}

TEST_CASE("re_execution_after_pending_repeats_the_same_access_then_completes") {
    const RegFile before = initial_regs();
    FakePort port;
    port.put(data_gpa, negative, 8);
    port.answer = MemStatus::pending;
    const Outcome first = run(0xb9800109, before, port);  // ldrsw x9, [x8]
    REQUIRE(first.result.status == MemStatus::pending);
    check_regs(first.regs, before);
    port.answer = MemStatus::ok;
    const Outcome second = run(0xb9800109, first.regs, port);
    REQUIRE(second.result.status == MemStatus::ok);
    const Access a{Kind::read, data_gpa, 4, 0, iss(2, true, 9, true)};
    CHECK(port.log == std::vector<Access>{a, a});
    RegFile want = retired(before);
    want.r[9] = 0xffff'ffff'b5a6'9788;
    check_regs(second.regs, want);
}

TEST_CASE("synthetic_store_and_load_are_str_and_ldr_of_x1_at_x0") {
    auto isa = make_a64_isa();
    // llvm-mc: strb w1, [x0] = 0x39000001; strh 0x79000001; str w1
    // 0xb9000001; str x1 0xf9000001; ldrb w1, [x0] 0x39400001; ldrh
    // 0x79400001; ldr w1 0xb9400001; ldr x1 0xf9400001.
    const std::vector<std::pair<unsigned, uint32_t>> stores = {
        {1, 0x39000001}, {2, 0x79000001}, {4, 0xb9000001}, {8, 0xf9000001}};
    const std::vector<std::pair<unsigned, uint32_t>> loads = {
        {1, 0x39400001}, {2, 0x79400001}, {4, 0xb9400001}, {8, 0xf9400001}};
    for (const auto& sw : stores) {  // no structured binding: CAPTURE's lambda (clang < 16)
        const unsigned size = sw.first;
        const uint32_t word = sw.second;
        CAPTURE(size);
        const SyntheticInsn s = isa->make_store(size);
        CHECK(s.bytes == le(word));
        CHECK(s.addr_reg == 0);
        CHECK(s.data_reg == 1);
        FakePort port;
        RegFile regs = initial_regs();
        regs.r[s.data_reg] = distinct;
        regs.r[s.addr_reg] = data_gpa;
        REQUIRE(isa->execute(regs, s.bytes, port).status == MemStatus::ok);
        CHECK(port.get(data_gpa, size) == (size == 8 ? distinct : distinct & ((uint64_t{1} << (8 * size)) - 1)));
    }
    for (const auto& sw : loads) {  // no structured binding: CAPTURE's lambda (clang < 16)
        const unsigned size = sw.first;
        const uint32_t word = sw.second;
        CAPTURE(size);
        const SyntheticInsn s = isa->make_load(size);
        CHECK(s.bytes == le(word));
        CHECK(s.addr_reg == 0);
        CHECK(s.data_reg == 1);
        // Zero-extending: the register holds exactly the loaded bytes.
        FakePort port;
        port.put(data_gpa, negative, 8);
        RegFile regs = initial_regs();
        regs.r[s.addr_reg] = data_gpa;
        REQUIRE(isa->execute(regs, s.bytes, port).status == MemStatus::ok);
        CHECK(regs.r[1] == (size == 8 ? negative : negative & ((uint64_t{1} << (8 * size)) - 1)));
    }
    for (unsigned bad : {0U, 3U, 16U}) {
        CHECK(isa->make_store(bad).bytes.empty());
        CHECK(isa->make_load(bad).bytes.empty());
    }
}

TEST_CASE("a64_has_no_port_io") {
    auto isa = make_a64_isa();
    for (unsigned size : {1U, 2U, 4U, 8U})
        for (bool w : {false, true}) CHECK(isa->make_pio(size, w).bytes.empty());
}
