// SPDX-License-Identifier: MIT
// The x86 executor against a recording fake port. Encodings are spelled out
// byte by byte with their Intel syntax; ModRM/SIB fields follow SDM Vol. 2A
// §2.1.5 (mod reg rm / scale index base), registers are numbered
// RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 = 0..15.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <vector>

#include "fake_port.hpp"
#include "hvcore/x86/isa_x86.hpp"

using namespace hvcore;
using namespace hvcore::x86;
using test::Access;
using test::FakePort;
using test::Kind;

namespace {

using Bytes = std::vector<uint8_t>;

// Where the instruction under test sits (any guest-physical address: the
// model has no paging, RIP is a guest-physical address too).
constexpr uint64_t code_gpa = 0x40'0000;
// The guest page that RBX points at before each test.
constexpr uint64_t data_gpa = 0x10'0000;
// Eight distinct bytes, stored in memory for loads and in RAX for stores,
// so a width or byte-order mistake changes the observed value.
constexpr uint64_t distinct = 0x8877'6655'4433'2211;
// RFLAGS with CF PF AF ZF SF OF set (bits 0 2 4 6 7 11) and the always-one
// bit 1 (SDM Vol. 1 §3.4.3): MOV, IN and OUT must leave them all alone.
constexpr uint64_t flags_all_status = 0x8d7;

// Register i's contents before a test: every byte of every register differs
// from `distinct` and from the other registers, so a write to the wrong
// register or the wrong bytes shows.
constexpr uint64_t pattern(unsigned i) { return 0xf0e0'd0c0'b0a0'9080 + i * 0x0101'0101'0101'0101; }

RegFile initial_regs() {
    RegFile r;
    for (unsigned i = 0; i < RegFile::count; ++i)
        r.r[i] = pattern(i);
    r.r[reg::rbx] = data_gpa;
    r.r[reg::rip] = code_gpa;
    r.r[reg::rflags] = flags_all_status;
    return r;
}

// The expected state after a successful `bytes`: the initial registers
// with RIP past the instruction; the test then sets what should change.
RegFile retired(const RegFile& before, const Bytes& bytes) {
    RegFile r = before;
    r.r[reg::rip] = before.r[reg::rip] + bytes.size();
    return r;
}

void check_regs(const RegFile& got, const RegFile& want) {
    for (unsigned i = 0; i < RegFile::count; ++i)
        CHECK_MESSAGE(got.r[i] == want.r[i],
                      fmt::format("register {}: got {:#x}, want {:#x}", i, got.r[i], want.r[i]));
}

struct Outcome {
    ExecResult result;
    RegFile regs;
};

Outcome run(const Bytes& bytes, const RegFile& before, FakePort& port) {
    auto isa = make_x86_isa(Vendor::intel);
    RegFile regs = before;
    ExecResult r = isa->execute(regs, bytes, port);
    return {r, regs};
}

std::string hex(const Bytes& b) { return fmt::format("{:02x}", fmt::join(b, " ")); }

// One instruction and what it must do.
struct Case {
    Bytes bytes;
    unsigned size;     // access width in bytes
    uint64_t expect;   // value written (stores) or the register's new value (loads)
};

}  // namespace

TEST_CASE("isa_reports_x86_family_rip_as_pc_and_18_registers") {
    auto isa = make_x86_isa(Vendor::intel);
    CHECK(isa->kind() == IsaKind::x86_64);
    CHECK(isa->pc_reg() == 16);
    CHECK(isa->nr_regs() == 18);
}

// SDM Vol. 2A 2.3.11: an instruction is at most 15 bytes; IN/OUT exist.
TEST_CASE("isa_takes_at_most_15_instruction_bytes_and_has_port_io") {
    auto isa = make_x86_isa(Vendor::amd);
    CHECK(isa->max_insn_bytes() == 15);
    CHECK(isa->has_port_io());
    CHECK_FALSE(isa->make_pio(1, true).bytes.empty());
}

TEST_CASE("store_from_register_writes_the_low_bytes_once_and_changes_only_rip") {
    const std::vector<Case> cases = {
        {{0x88, 0x03}, 1, 0x11},                     // mov [rbx], al
        {{0x66, 0x89, 0x03}, 2, 0x2211},             // mov [rbx], ax   (66h: 16-bit)
        {{0x89, 0x03}, 4, 0x4433'2211},              // mov [rbx], eax
        {{0x48, 0x89, 0x03}, 8, distinct},           // mov [rbx], rax  (REX.W)
        {{0x66, 0x48, 0x89, 0x03}, 8, distinct},     // REX.W overrides 66h (SDM Vol. 2A §2.2.1.2)
        {{0x48, 0x66, 0x89, 0x03}, 2, 0x2211},       // a REX not right before the opcode is ignored
    };
    for (const Case& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        RegFile before = initial_regs();
        before.r[reg::rax] = distinct;
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        // A store does not read: the one access is the write.
        REQUIRE(port.log == std::vector<Access>{{Kind::write, data_gpa, c.size, c.expect}});
        check_regs(o.regs, retired(before, c.bytes));
    }
}

TEST_CASE("store_from_ah_writes_bits_15_to_8_and_with_rex_the_same_encoding_is_spl") {
    RegFile before = initial_regs();
    before.r[reg::rax] = distinct;
    before.r[reg::rsp] = 0x7fff'ffff'ffff'ffa5;  // low byte 0xa5 = SPL
    {
        // 88 23 = mov [rbx], ah: ModRM 00 100 011, reg 4 without REX is AH.
        FakePort port;
        const Outcome o = run({0x88, 0x23}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 1, 0x22}});
    }
    {
        // 40 88 23 = mov [rbx], spl: any REX turns reg 4 into SPL.
        FakePort port;
        const Outcome o = run({0x40, 0x88, 0x23}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 1, 0xa5}});
    }
}

TEST_CASE("load_8_and_16_bit_keep_upper_bits_32_bit_zero_extends_64_bit_replaces") {
    const uint64_t old = pattern(reg::rax);
    const std::vector<Case> cases = {
        {{0x8a, 0x03}, 1, (old & ~0xffull) | 0x11},       // mov al, [rbx]
        {{0x66, 0x8b, 0x03}, 2, (old & ~0xffffull) | 0x2211},  // mov ax, [rbx]
        {{0x8b, 0x03}, 4, 0x4433'2211},                   // mov eax, [rbx]: bits 63:32 cleared
        {{0x48, 0x8b, 0x03}, 8, distinct},                // mov rax, [rbx]
    };
    for (const Case& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        port.put(data_gpa, distinct, 8);
        const RegFile before = initial_regs();
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        REQUIRE(port.log == std::vector<Access>{{Kind::read, data_gpa, c.size, 0}});
        RegFile want = retired(before, c.bytes);
        want.r[reg::rax] = c.expect;
        check_regs(o.regs, want);
    }
}

TEST_CASE("load_into_high_byte_register_replaces_only_bits_15_to_8") {
    // 8A 3B = mov bh, [rbx]: ModRM 00 111 011, reg 7 without REX is BH;
    // the address comes from RBX before the load changes its bits 15:8.
    FakePort port;
    port.put(data_gpa, 0x5a, 1);
    const RegFile before = initial_regs();
    const Outcome o = run({0x8a, 0x3b}, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 1, 0}});
    RegFile want = retired(before, {0x8a, 0x3b});
    want.r[reg::rbx] = (data_gpa & ~0xff00ull) | 0x5a00;
    check_regs(o.regs, want);

    // 40 8A 3B = mov dil, [rbx]: with REX, reg 7 is DIL (low byte of RDI).
    FakePort port2;
    port2.put(data_gpa, 0x5a, 1);
    const Outcome o2 = run({0x40, 0x8a, 0x3b}, before, port2);
    REQUIRE(o2.result.status == MemStatus::ok);
    RegFile want2 = retired(before, {0x40, 0x8a, 0x3b});
    want2.r[reg::rdi] = (pattern(reg::rdi) & ~0xffull) | 0x5a;
    check_regs(o2.regs, want2);
}

TEST_CASE("rex_r_and_rex_b_select_r8_to_r15") {
    RegFile before = initial_regs();
    before.r[reg::r11] = data_gpa;
    {
        // 4D 8B 43 08 = mov r8, [r11+8]: REX.WRB, ModRM 01 000 011, disp8 8.
        FakePort port;
        port.put(data_gpa + 8, distinct, 8);
        const Bytes b = {0x4d, 0x8b, 0x43, 0x08};
        const Outcome o = run(b, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa + 8, 8, 0}});
        RegFile want = retired(before, b);
        want.r[reg::r8] = distinct;
        check_regs(o.regs, want);
    }
    {
        // 45 88 7B 10 = mov [r11+0x10], r15b: REX.RB, ModRM 01 111 011, disp8 0x10.
        FakePort port;
        const Bytes b = {0x45, 0x88, 0x7b, 0x10};
        const Outcome o = run(b, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa + 0x10, 1, pattern(reg::r15) & 0xff}});
        check_regs(o.regs, retired(before, b));
    }
}

TEST_CASE("store_immediate_truncates_to_the_operand_and_rex_w_sign_extends_imm32") {
    const std::vector<Case> cases = {
        {{0xc6, 0x03, 0x80}, 1, 0x80},                                     // mov byte [rbx], 0x80
        {{0x66, 0xc7, 0x03, 0x34, 0x12}, 2, 0x1234},                      // mov word [rbx], 0x1234
        {{0xc7, 0x03, 0x78, 0x56, 0x34, 0x92}, 4, 0x9234'5678},           // mov dword [rbx], 0x92345678
        {{0x48, 0xc7, 0x03, 0x00, 0x00, 0x00, 0x80}, 8, 0xffff'ffff'8000'0000},  // imm32 bit 31 set: sign-extends
        {{0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0x7f}, 8, 0x7fff'ffff},     // bit 31 clear: upper half zero
    };
    for (const Case& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        const RegFile before = initial_regs();
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, c.size, c.expect}});
        check_regs(o.regs, retired(before, c.bytes));
    }
}

TEST_CASE("immediate_and_register_sources_into_registers_follow_the_width_rules") {
    const uint64_t old = pattern(reg::rax);
    const std::vector<Case> cases = {
        {{0xb0, 0x80}, 1, (old & ~0xffull) | 0x80},                    // mov al, 0x80
        {{0x66, 0xb8, 0x34, 0x12}, 2, (old & ~0xffffull) | 0x1234},   // mov ax, 0x1234
        {{0xb8, 0x78, 0x56, 0x34, 0x92}, 4, 0x9234'5678},              // mov eax, imm32: zero-extends
        {{0x48, 0xb8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}, 8, 0x8877'6655'4433'2211},  // mov rax, imm64
        {{0x48, 0xc7, 0xc0, 0xfe, 0xff, 0xff, 0xff}, 8, ~uint64_t{1}},  // mov rax, -2 (C7 /0, imm32 sign-extended)
        {{0x89, 0xc0}, 4, old & 0xffff'ffff},                           // mov eax, eax: clears bits 63:32
        {{0x88, 0xe0}, 1, (old & ~0xffull) | ((old >> 8) & 0xff)},     // mov al, ah
    };
    for (const Case& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        const RegFile before = initial_regs();
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log.empty());  // no memory operand, no access
        RegFile want = retired(before, c.bytes);
        want.r[reg::rax] = c.expect;
        check_regs(o.regs, want);
    }
}

TEST_CASE("moffs_forms_use_the_absolute_address_in_the_instruction") {
    // A moffs above 4 GiB, so a 32-bit truncation would show.
    constexpr uint64_t moffs = 0x0000'0012'3456'7800;
    const Bytes a = {0x00, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00};  // moffs, little-endian
    auto with = [&](Bytes op) {
        op.insert(op.end(), a.begin(), a.end());
        return op;
    };
    const uint64_t old = pattern(reg::rax);
    struct MoffsCase {
        Bytes bytes;
        Kind kind;
        unsigned size;
        uint64_t rax_after;
        uint64_t written;
    };
    const std::vector<MoffsCase> cases = {
        {with({0xa0}), Kind::read, 1, (old & ~0xffull) | 0x11, 0},             // mov al, [moffs]
        {with({0x66, 0xa1}), Kind::read, 2, (old & ~0xffffull) | 0x2211, 0},   // mov ax, [moffs]
        {with({0xa1}), Kind::read, 4, 0x4433'2211, 0},                         // mov eax, [moffs]
        {with({0x48, 0xa1}), Kind::read, 8, distinct, 0},                      // mov rax, [moffs]
        {with({0xa2}), Kind::write, 1, old, old & 0xff},                       // mov [moffs], al
        {with({0x66, 0xa3}), Kind::write, 2, old, old & 0xffff},               // mov [moffs], ax
        {with({0xa3}), Kind::write, 4, old, old & 0xffff'ffff},                // mov [moffs], eax
        {with({0x48, 0xa3}), Kind::write, 8, old, old},                        // mov [moffs], rax
    };
    for (const MoffsCase& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        port.put(moffs, distinct, 8);
        const RegFile before = initial_regs();
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{c.kind, moffs, c.size, c.written}});
        RegFile want = retired(before, c.bytes);
        want.r[reg::rax] = c.rax_after;
        check_regs(o.regs, want);
    }
    // 67 A1 = mov eax, [moffs32]: the address-size prefix shrinks moffs to
    // 4 bytes, zero-extended even with bit 31 set.
    FakePort port;
    const Bytes b = {0x67, 0xa1, 0x00, 0x10, 0x00, 0x80};
    const Outcome o = run(b, initial_regs(), port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::read, 0x8000'1000, 4, 0}});
}

TEST_CASE("rip_relative_address_counts_from_the_next_instruction") {
    {
        // 8B 05 00 01 00 00 = mov eax, [rip+0x100]; 6 bytes long.
        FakePort port;
        const Outcome o = run({0x8b, 0x05, 0x00, 0x01, 0x00, 0x00}, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, code_gpa + 6 + 0x100, 4, 0}});
    }
    {
        // 48 89 05 F0 FF FF FF = mov [rip-0x10], rax; 7 bytes long.
        FakePort port;
        const Outcome o = run({0x48, 0x89, 0x05, 0xf0, 0xff, 0xff, 0xff}, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, code_gpa + 7 - 0x10, 8, pattern(reg::rax)}});
    }
    {
        // C6 05 05 00 00 00 AB = mov byte [rip+5], 0xab; the immediate
        // follows the displacement, so the next instruction is 7 bytes on.
        FakePort port;
        const Outcome o = run({0xc6, 0x05, 0x05, 0x00, 0x00, 0x00, 0xab}, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, code_gpa + 7 + 5, 1, 0xab}});
    }
}

TEST_CASE("base_index_scale_displacement_forms_compute_the_effective_address") {
    RegFile before = initial_regs();
    before.r[reg::rcx] = 3;          // index
    before.r[reg::rbp] = data_gpa;   // base of the [rbp] form
    struct AddrCase {
        Bytes bytes;
        uint64_t addr;
    };
    const std::vector<AddrCase> cases = {
        {{0x8b, 0x44, 0x4b, 0x10}, data_gpa + 3 * 2 + 0x10},  // mov eax, [rbx+rcx*2+0x10]: SIB 01 001 011
        {{0x8b, 0x04, 0xcb}, data_gpa + 3 * 8},               // mov eax, [rbx+rcx*8]:      SIB 11 001 011
        {{0x8b, 0x43, 0xf0}, data_gpa - 0x10},                // mov eax, [rbx-0x10]:       disp8 sign-extended
        {{0x8b, 0x83, 0x00, 0x00, 0x01, 0x00}, data_gpa + 0x1'0000},  // mov eax, [rbx+0x10000]: disp32
        {{0x8b, 0x45, 0x00}, data_gpa},                       // mov eax, [rbp+0]: rbp needs a displacement
        {{0x8b, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00}, 0x2000}, // mov eax, [0x2000]: SIB without base/index
    };
    for (const AddrCase& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, c.addr, 4, 0}});
    }
}

TEST_CASE("address_size_prefix_computes_the_address_in_32_bits") {
    // 67 8B 03 = mov eax, [ebx]: only EBX feeds the address.
    RegFile before = initial_regs();
    before.r[reg::rbx] = 0xffff'ffff'0000'1000;
    FakePort port;
    const Outcome o = run({0x67, 0x8b, 0x03}, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::read, 0x1000, 4, 0}});

    // 67 8B 44 0B FF = mov eax, [ebx+ecx-1]: the sum wraps at 4 GiB.
    before.r[reg::rbx] = 0xffff'ffff;
    before.r[reg::rcx] = 0x1001;
    FakePort port2;
    const Outcome o2 = run({0x67, 0x8b, 0x44, 0x0b, 0xff}, before, port2);
    REQUIRE(o2.result.status == MemStatus::ok);
    CHECK(port2.log == std::vector<Access>{{Kind::read, 0xfff, 4, 0}});
}

TEST_CASE("ignored_prefixes_and_trailing_bytes_do_not_change_the_access") {
    struct PrefixCase {
        Bytes bytes;
        unsigned length;  // the instruction's length: RIP advances by this
    };
    const std::vector<PrefixCase> cases = {
        {{0x2e, 0x89, 0x03}, 3},   // cs: mov [rbx], eax: CS/DS/ES/SS bases are 0 in 64-bit mode
        {{0x36, 0x89, 0x03}, 3},   // ss:
        {{0xf3, 0x89, 0x03}, 3},   // xrelease mov [rbx], eax: a hint, no effect without TSX
        {{0x89, 0x03, 0x90, 0x90, 0x0f, 0x0b}, 2},  // decode-assist style buffer: bytes after the insn are ignored
    };
    for (const PrefixCase& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        const RegFile before = initial_regs();
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 4, pattern(reg::rax) & 0xffff'ffff}});
        CHECK(o.regs.r[reg::rip] == code_gpa + c.length);
    }
}

TEST_CASE("in_fills_al_ax_eax_by_width_and_ignores_rex_w") {
    const uint64_t old = pattern(reg::rax);
    constexpr uint16_t com1 = 0x3f8;         // a port in DX
    constexpr uint64_t dx_with_junk = 0xffff'ffff'ffff'03f8;  // only DX (bits 15:0) names the port
    constexpr uint64_t answer = 0xa1b2'c3d4'e5f6'0718;  // wider than any IN: the excess must be dropped
    struct InCase {
        Bytes bytes;
        uint16_t port;
        unsigned size;
        uint64_t rax_after;
    };
    const std::vector<InCase> cases = {
        {{0xe4, 0x60}, 0x60, 1, (old & ~0xffull) | 0x18},             // in al, 0x60
        {{0x66, 0xe5, 0x60}, 0x60, 2, (old & ~0xffffull) | 0x0718},   // in ax, 0x60
        {{0xe5, 0x60}, 0x60, 4, 0xe5f6'0718},                         // in eax, 0x60: zero-extends
        {{0xec}, com1, 1, (old & ~0xffull) | 0x18},                   // in al, dx
        {{0x66, 0xed}, com1, 2, (old & ~0xffffull) | 0x0718},         // in ax, dx
        {{0xed}, com1, 4, 0xe5f6'0718},                               // in eax, dx
        {{0x48, 0xed}, com1, 4, 0xe5f6'0718},                         // REX.W in eax, dx: still 32-bit
    };
    for (const InCase& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        port.io_in[c.port] = answer;
        RegFile before = initial_regs();
        before.r[reg::rdx] = dx_with_junk;
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::port_in, c.port, c.size, 0}});
        RegFile want = retired(before, c.bytes);
        want.r[reg::rax] = c.rax_after;
        check_regs(o.regs, want);
    }
}

TEST_CASE("out_sends_the_low_bytes_of_rax_and_changes_only_rip") {
    constexpr uint16_t com1 = 0x3f8;
    struct OutCase {
        Bytes bytes;
        uint16_t port;
        unsigned size;
        uint64_t sent;
    };
    const std::vector<OutCase> cases = {
        {{0xe6, 0x80}, 0x80, 1, 0x11},               // out 0x80, al
        {{0x66, 0xe7, 0x80}, 0x80, 2, 0x2211},       // out 0x80, ax
        {{0xe7, 0x80}, 0x80, 4, 0x4433'2211},        // out 0x80, eax
        {{0xee}, com1, 1, 0x11},                     // out dx, al
        {{0x66, 0xef}, com1, 2, 0x2211},             // out dx, ax
        {{0xef}, com1, 4, 0x4433'2211},              // out dx, eax
    };
    for (const OutCase& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        RegFile before = initial_regs();
        before.r[reg::rax] = distinct;
        before.r[reg::rdx] = com1;
        const Outcome o = run(c.bytes, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::port_out, c.port, c.size, c.sent}});
        check_regs(o.regs, retired(before, c.bytes));
    }
}

TEST_CASE("a_port_that_does_not_answer_ok_leaves_every_register_unchanged") {
    const std::vector<MemStatus> refusals = {MemStatus::exit, MemStatus::pending, MemStatus::retry,
                                             MemStatus::guest_fault, MemStatus::stopped};
    const std::vector<Bytes> insns = {
        {0x48, 0x89, 0x03},                    // mov [rbx], rax
        {0x48, 0x8b, 0x03},                    // mov rax, [rbx]
        {0x8a, 0x3b},                          // mov bh, [rbx]: would change the address register
        {0xc7, 0x03, 0x01, 0x00, 0x00, 0x00},  // mov dword [rbx], 1
        {0xa1, 0, 0x10, 0, 0, 0, 0, 0, 0},     // mov eax, [0x1000]
        {0xed},                                // in eax, dx
        {0xe6, 0x80},                          // out 0x80, al
    };
    for (MemStatus refusal : refusals) {
        for (const Bytes& b : insns) {
            INFO(hex(b), " refused with ", static_cast<int>(refusal));
            FakePort port;
            port.answer = refusal;
            const RegFile before = initial_regs();
            const Outcome o = run(b, before, port);
            CHECK(o.result.status == refusal);
            CHECK(port.log.size() == 1);  // the access was tried once, and nothing after it
            check_regs(o.regs, before);
            if (refusal == MemStatus::guest_fault || refusal == MemStatus::stopped)
                CHECK_FALSE(o.result.detail.empty());
        }
    }
}

TEST_CASE("port_guest_fault_detail_names_the_instruction_and_the_access") {
    FakePort port;
    port.answer = MemStatus::guest_fault;
    const Outcome o = run({0x89, 0x03}, initial_regs(), port);  // mov [rbx], eax
    CHECK(o.result.status == MemStatus::guest_fault);
    CHECK(o.result.detail == "mov [rbx], eax: 4-byte write at 0x100000 faulted");
}

TEST_CASE("an_instruction_executed_again_is_decoded_once_and_reports_as_the_first_time") {
    // The executor keeps its last decode (the core runs an instruction on
    // the model MMU, then on the emulation port, then again after the
    // answer): the same bytes, another RIP or another port, give the same
    // access and the text of this execution; other bytes decode anew.
    auto isa = make_intel_isa();
    FakePort ok;
    RegFile regs = initial_regs();
    const std::vector<uint8_t> mov_store{0x89, 0x03};  // mov [rbx], eax
    CHECK(isa->execute(regs, mov_store, ok).status == MemStatus::ok);
    FakePort pending;
    pending.answer = MemStatus::pending;
    RegFile again = initial_regs();
    const ExecResult p = isa->execute(again, mov_store, pending);
    CHECK(p.status == MemStatus::pending);
    CHECK(p.detail.empty());
    check_regs(again, initial_regs());
    FakePort fault;
    fault.answer = MemStatus::guest_fault;
    RegFile third = initial_regs();
    CHECK(isa->execute(third, mov_store, fault).detail == "mov [rbx], eax: 4-byte write at 0x100000 faulted");
    // Other bytes of the same length: a load, not the store kept.
    FakePort fault2;
    fault2.answer = MemStatus::guest_fault;
    RegFile fourth = initial_regs();
    CHECK(isa->execute(fourth, std::vector<uint8_t>{0x8b, 0x03}, fault2).detail ==
          "mov eax, [rbx]: 4-byte read at 0x100000 faulted");
    // Bytes that do not decode are never kept: the store again is a store.
    RegFile fifth = initial_regs();
    CHECK(isa->execute(fifth, std::vector<uint8_t>{0x0f, 0xff}, ok).status == MemStatus::guest_fault);
    FakePort fault3;
    fault3.answer = MemStatus::guest_fault;
    RegFile sixth = initial_regs();
    CHECK(isa->execute(sixth, mov_store, fault3).detail == "mov [rbx], eax: 4-byte write at 0x100000 faulted");
}

TEST_CASE("re_execution_after_pending_repeats_the_same_access_then_completes") {
    // The core's flow: the device model gets the access, answers, and the
    // same instruction runs again against a port that now says ok.
    const RegFile before = initial_regs();
    {
        const Bytes load = {0x8b, 0x03};  // mov eax, [rbx]
        FakePort port;
        port.put(data_gpa, distinct, 8);
        port.answer = MemStatus::pending;
        const Outcome first = run(load, before, port);
        REQUIRE(first.result.status == MemStatus::pending);
        check_regs(first.regs, before);
        port.answer = MemStatus::ok;
        const Outcome second = run(load, first.regs, port);
        REQUIRE(second.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 4, 0}, {Kind::read, data_gpa, 4, 0}});
        RegFile want = retired(before, load);
        want.r[reg::rax] = 0x4433'2211;
        check_regs(second.regs, want);
    }
    {
        const Bytes store = {0x66, 0x89, 0x03};  // mov [rbx], ax
        FakePort port;
        port.answer = MemStatus::retry;
        const Outcome first = run(store, before, port);
        REQUIRE(first.result.status == MemStatus::retry);
        port.answer = MemStatus::ok;
        const Outcome second = run(store, first.regs, port);
        REQUIRE(second.result.status == MemStatus::ok);
        const Access w{Kind::write, data_gpa, 2, pattern(reg::rax) & 0xffff};
        CHECK(port.log == std::vector<Access>{w, w});
        check_regs(second.regs, retired(before, store));
    }
    {
        const Bytes in = {0xe4, 0x71};  // in al, 0x71
        FakePort port;
        port.io_in[0x71] = 0x42;
        port.answer = MemStatus::pending;
        const Outcome first = run(in, before, port);
        REQUIRE(first.result.status == MemStatus::pending);
        port.answer = MemStatus::ok;
        const Outcome second = run(in, first.regs, port);
        REQUIRE(second.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::port_in, 0x71, 1, 0}, {Kind::port_in, 0x71, 1, 0}});
        CHECK((second.regs.r[reg::rax] & 0xff) == 0x42);
    }
}

TEST_CASE("bytes_that_are_not_an_emulated_instruction_are_a_guest_fault_naming_it") {
    struct Bad {
        Bytes bytes;
        std::string detail;
    };
    const std::vector<Bad> cases = {
        {{}, "(no bytes): empty instruction buffer"},
        {{0x48, 0x89}, "bytes [48 89]: truncated: the buffer ends inside the instruction"},
        {{0xff, 0xff}, "bytes [ff ff]: not a valid x86-64 instruction (#UD)"},  // FF /7 is undefined
        {{0xf0, 0x89, 0x03}, "lock mov [rbx], eax: LOCK prefix not allowed on this instruction (#UD)"},
        {{0x64, 0x8b, 0x03}, "mov eax, fs:[rbx]: fs segment override is not supported"},
        {{0x65, 0x88, 0x03}, "mov gs:[rbx], al: gs segment override is not supported"},
        {{0x8c, 0x03}, "mov [rbx], es: register es is not emulated"},  // MOV r/m16, Sreg
        {{0x0f, 0x20, 0xc0}, "mov rax, cr0: register cr0 is not emulated"},
        {{0xf7, 0x33}, "div [rbx]: instruction not emulated"},
        {{0x0f, 0xa2}, "cpuid: instruction not emulated"},
        {{0xf2, 0x0f, 0x10, 0x03}, "movsd xmm0, qword ptr [rbx]: instruction not emulated"},  // SSE2, not the string MOVSD
        {{0xc5, 0xfa, 0x6f, 0x03}, "vmovdqu xmm0, [rbx]: instruction not emulated"},  // VEX
        {{0x0f, 0x6e, 0x03}, "movd mm0, dword ptr [rbx]: register mm0 is not emulated"},      // MMX
        // LOCK: #UD on CMP/TEST/BT, on register destinations, on MOV.
        {{0xf0, 0x39, 0x03}, "lock cmp [rbx], eax: LOCK prefix not allowed on this instruction (#UD)"},
        {{0xf0, 0x0f, 0xa3, 0x03}, "lock bt [rbx], eax: LOCK prefix not allowed on this instruction (#UD)"},
        {{0xf0, 0x01, 0xd8}, "lock add eax, ebx: LOCK prefix not allowed on this instruction (#UD)"},
        {{0x8d, 0x03}, "lea eax, [rbx]: instruction not emulated"},
        {{0x0f, 0x0b}, "ud2: instruction not emulated"},
    };
    for (const Bad& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        const RegFile before = initial_regs();
        const Outcome o = run(c.bytes, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == c.detail);
        CHECK(port.log.empty());  // rejected before any access
        check_regs(o.regs, before);
    }
}

TEST_CASE("non_canonical_address_is_gp_or_ss_with_no_access") {
    struct Bad {
        Bytes bytes;
        unsigned base;
        uint64_t base_value;
        std::string detail;
    };
    // Canonical addresses have bits 63:47 equal; 0x0000'8000'0000'0000 is
    // the first address above the lower half.
    const std::vector<Bad> cases = {
        {{0x8b, 0x03}, reg::rbx, 0x0000'8000'0000'0000,
         "mov eax, [rbx]: non-canonical address 0x800000000000 (#GP)"},
        // An 8-byte load at the last 4 bytes of the lower half ends outside it.
        {{0x48, 0x8b, 0x03}, reg::rbx, 0x0000'7fff'ffff'fffc,
         "mov rax, [rbx]: non-canonical address 0x7ffffffffffc (#GP)"},
        // RBP as base makes it a stack reference: #SS.
        {{0x89, 0x45, 0x00}, reg::rbp, 0x0000'8000'0000'0000,
         "mov [rbp], eax: non-canonical address 0x800000000000 (#SS)"},
    };
    for (const Bad& c : cases) {
        INFO(hex(c.bytes));
        FakePort port;
        RegFile before = initial_regs();
        before.r[c.base] = c.base_value;
        const Outcome o = run(c.bytes, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == c.detail);
        CHECK(port.log.empty());
        check_regs(o.regs, before);
    }
}

TEST_CASE("synthetic_store_and_load_are_mov_through_rbx_with_rax") {
    auto isa = make_x86_isa(Vendor::intel);
    const std::vector<std::pair<unsigned, Bytes>> stores = {
        {1, {0x88, 0x03}}, {2, {0x66, 0x89, 0x03}}, {4, {0x89, 0x03}}, {8, {0x48, 0x89, 0x03}}};
    const std::vector<std::pair<unsigned, Bytes>> loads = {
        {1, {0x8a, 0x03}}, {2, {0x66, 0x8b, 0x03}}, {4, {0x8b, 0x03}}, {8, {0x48, 0x8b, 0x03}}};
    for (const auto& [size, bytes] : stores) {
        const SyntheticInsn s = isa->make_store(size);
        CHECK(s.bytes == bytes);
        CHECK(s.addr_reg == reg::rbx);
        CHECK(s.data_reg == reg::rax);
        // Executing it stores data_reg at the address in addr_reg.
        FakePort port;
        RegFile regs = initial_regs();
        regs.r[s.data_reg] = distinct;
        regs.r[s.addr_reg] = data_gpa;
        REQUIRE(isa->execute(regs, s.bytes, port).status == MemStatus::ok);
        CHECK(port.get(data_gpa, size) == (size == 8 ? distinct : distinct & ((uint64_t{1} << (8 * size)) - 1)));
    }
    for (const auto& [size, bytes] : loads) {
        const SyntheticInsn s = isa->make_load(size);
        CHECK(s.bytes == bytes);
        CHECK(s.addr_reg == reg::rbx);
        CHECK(s.data_reg == reg::rax);
    }
    // Sizes the instruction set has no MOV for.
    for (unsigned bad : {0u, 3u, 16u}) {
        CHECK(isa->make_store(bad).bytes.empty());
        CHECK(isa->make_load(bad).bytes.empty());
    }
}

TEST_CASE("synthetic_pio_is_in_or_out_through_dx_with_rax_and_has_no_64_bit_form") {
    auto isa = make_x86_isa(Vendor::intel);
    struct PioCase {
        unsigned size;
        bool is_write;
        Bytes bytes;
    };
    const std::vector<PioCase> cases = {
        {1, true, {0xee}}, {2, true, {0x66, 0xef}}, {4, true, {0xef}},     // out dx, al|ax|eax
        {1, false, {0xec}}, {2, false, {0x66, 0xed}}, {4, false, {0xed}},  // in al|ax|eax, dx
    };
    for (const PioCase& c : cases) {
        const SyntheticInsn s = isa->make_pio(c.size, c.is_write);
        CHECK(s.bytes == c.bytes);
        CHECK(s.addr_reg == reg::rdx);
        CHECK(s.data_reg == reg::rax);
        FakePort port;
        RegFile regs = initial_regs();
        regs.r[s.addr_reg] = 0x3f8;  // COM1, any port would do
        REQUIRE(isa->execute(regs, s.bytes, port).status == MemStatus::ok);
        REQUIRE(port.log.size() == 1);
        CHECK(port.log[0].kind == (c.is_write ? Kind::port_out : Kind::port_in));
        CHECK(port.log[0].where == 0x3f8);
        CHECK(port.log[0].size == c.size);
    }
    CHECK(isa->make_pio(8, true).bytes.empty());
    CHECK(isa->make_pio(8, false).bytes.empty());
    CHECK(isa->make_pio(3, false).bytes.empty());
}
