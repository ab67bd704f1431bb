// SPDX-License-Identifier: MIT
// Behaviours of the instructions beyond MOV and IN/OUT, against the
// recording fake port: which accesses each makes and in what order, what
// it writes back, how REP string instructions report progress, and what
// becomes a guest fault. Encodings are spelled out byte by byte with their
// Intel syntax (ModRM/SIB per SDM Vol. 2A §2.1.5; RAX RCX RDX RBX RSP RBP
// RSI RDI R8..R15 = 0..15). Exact values and flags over random operands are
// the differential tests' job; these pin the contract with the core.
#include <doctest/doctest.h>
#include <fmt/format.h>

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

constexpr uint64_t code_gpa = 0x40'0000;  // where the instruction sits
constexpr uint64_t data_gpa = 0x10'0000;  // RBX points here before each test
constexpr uint64_t flags_one = 0x2;       // RFLAGS bit 1 always reads 1
constexpr uint64_t cf = 1u << 0, pf = 1u << 2, af = 1u << 4, zf = 1u << 6, sf = 1u << 7, df = 1u << 10,
                   of = 1u << 11;

RegFile initial_regs() {
    RegFile r;
    for (unsigned i = 0; i < nr_gprs; ++i)
        r.r[i] = uint64_t{0x1111'1111'1111'1111} * (i + 1);  // wraps for R15: any distinct values do
    r.r[reg::rbx] = data_gpa;
    r.r[reg::rip] = code_gpa;
    r.r[reg::rflags] = flags_one;
    return r;
}

struct Outcome {
    ExecResult result;
    RegFile regs;
};

// The read of a read-modify-write (AccessInfo::rmw_read): the hardware
// reports its fault as a write.
Access rmw_read(uint64_t addr, unsigned size) { return {Kind::read, addr, size, 0, 0, false, true}; }

Outcome run(const Bytes& bytes, const RegFile& before, FakePort& port, Vendor vendor = Vendor::intel) {
    auto isa = make_x86_isa(vendor);
    RegFile regs = before;
    ExecResult r = isa->execute(regs, bytes, port);
    return {r, regs};
}

}  // namespace

TEST_CASE("alu_with_memory_destination_reads_once_then_writes_the_result_once") {
    // add dword [rbx], eax (01 03): 40 + 2.
    FakePort port;
    port.put(data_gpa, 40, 4);
    RegFile before = initial_regs();
    before.r[reg::rax] = 2;
    const Outcome o = run({0x01, 0x03}, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{rmw_read(data_gpa, 4), {Kind::write, data_gpa, 4, 42}});
    CHECK(o.regs.r[reg::rip] == code_gpa + 2);
    CHECK(o.regs.r[reg::rflags] == flags_one);  // 42: no flag set
}

TEST_CASE("lock_prefixed_rmw_runs_like_the_plain_form") {
    // lock sub byte [rbx], 1 (F0 80 2B 01): 0 - 1 = 0xff borrows, negative, even parity.
    FakePort port;
    const Outcome o = run({0xf0, 0x80, 0x2b, 0x01}, initial_regs(), port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{rmw_read(data_gpa, 1), {Kind::write, data_gpa, 1, 0xff}});
    CHECK(o.regs.r[reg::rflags] == (flags_one | cf | pf | af | sf));
}

TEST_CASE("every_instruction_that_writes_its_memory_operand_marks_its_read_as_read_modify_write") {
    // [rbx] is the memory operand of each and ECX the register one; the
    // BTx forms take an immediate bit (0F BA /5 /6 /7 ib), which never
    // moves the address (a register offset would).
    const std::vector<std::pair<const char*, Bytes>> rmw = {
        {"add [rbx], ecx", {0x01, 0x0b}},      {"or [rbx], ecx", {0x09, 0x0b}},
        {"adc [rbx], ecx", {0x11, 0x0b}},      {"sbb [rbx], ecx", {0x19, 0x0b}},
        {"and [rbx], ecx", {0x21, 0x0b}},      {"sub [rbx], ecx", {0x29, 0x0b}},
        {"xor [rbx], ecx", {0x31, 0x0b}},      {"inc dword [rbx]", {0xff, 0x03}},
        {"dec dword [rbx]", {0xff, 0x0b}},     {"not dword [rbx]", {0xf7, 0x13}},
        {"neg dword [rbx]", {0xf7, 0x1b}},     {"xchg [rbx], ecx", {0x87, 0x0b}},
        {"cmpxchg [rbx], ecx", {0x0f, 0xb1, 0x0b}}, {"xadd [rbx], ecx", {0x0f, 0xc1, 0x0b}},
        {"bts dword [rbx], 1", {0x0f, 0xba, 0x2b, 0x01}}, {"btr dword [rbx], 1", {0x0f, 0xba, 0x33, 0x01}},
        {"btc dword [rbx], 1", {0x0f, 0xba, 0x3b, 0x01}}, {"lock add [rbx], ecx", {0xf0, 0x01, 0x0b}},
    };
    for (const auto& form : rmw) {
        const char* const text = form.first;  // not a structured binding: clang 14 cannot capture those
        CAPTURE(text);
        FakePort port;
        const Outcome o = run(form.second, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        REQUIRE(port.log.size() == 2);
        CHECK(port.log[0] == rmw_read(data_gpa, 4));
        CHECK(port.log[1].kind == Kind::write);
    }
    // SETcc only writes; a load only reads.
    FakePort port;
    REQUIRE(run({0x0f, 0x95, 0x03}, initial_regs(), port).result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 1, 1}});
    FakePort load;
    REQUIRE(run({0x8b, 0x0b}, initial_regs(), load).result.status == MemStatus::ok);  // mov ecx, [rbx]
    CHECK(load.log == std::vector<Access>{{Kind::read, data_gpa, 4, 0}});
}

TEST_CASE("cmp_and_test_with_memory_read_and_never_write") {
    for (const Bytes& b : {Bytes{0x39, 0x03}, Bytes{0x85, 0x03}, Bytes{0x0f, 0xa3, 0x03}}) {  // cmp, test, bt
        INFO(fmt::format("{:02x}", fmt::join(b, " ")));
        FakePort port;
        const Outcome o = run(b, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        REQUIRE(port.log.size() == 1);
        CHECK(port.log[0].kind == Kind::read);
        CHECK_FALSE(port.log[0].rmw);  // a plain read: its fault is a read
    }
}

TEST_CASE("inc_keeps_cf_and_neg_sets_it_for_a_nonzero_operand") {
    RegFile before = initial_regs();
    before.r[reg::rflags] = flags_one | cf;
    {
        // inc dword [rbx] (FF 03) on 0x7fffffff: overflows into the sign bit, CF kept.
        FakePort port;
        port.put(data_gpa, 0x7fff'ffff, 4);
        const Outcome o = run({0xff, 0x03}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.get(data_gpa, 4) == 0x8000'0000);
        CHECK(o.regs.r[reg::rflags] == (flags_one | cf | pf | af | sf | of));
    }
    {
        // neg qword [rbx] (48 F7 1B) on 0: stays 0, CF = 0.
        FakePort port;
        const Outcome o = run({0x48, 0xf7, 0x1b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(o.regs.r[reg::rflags] == (flags_one | pf | zf));
    }
}

TEST_CASE("xchg_and_xadd_write_memory_once_and_return_the_old_value") {
    RegFile before = initial_regs();
    before.r[reg::rax] = 5;
    {
        // xchg [rbx], eax (87 03)
        FakePort port;
        port.put(data_gpa, 9, 4);
        const Outcome o = run({0x87, 0x03}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{rmw_read(data_gpa, 4), {Kind::write, data_gpa, 4, 5}});
        CHECK(o.regs.r[reg::rax] == 9);
    }
    {
        // lock xadd [rbx], eax (F0 0F C1 03)
        FakePort port;
        port.put(data_gpa, 9, 4);
        const Outcome o = run({0xf0, 0x0f, 0xc1, 0x03}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{rmw_read(data_gpa, 4), {Kind::write, data_gpa, 4, 14}});
        CHECK(o.regs.r[reg::rax] == 9);
    }
}

TEST_CASE("cmpxchg_writes_the_source_on_success_and_marks_the_write_back_on_failure") {
    RegFile before = initial_regs();
    before.r[reg::rcx] = 0x77;
    {
        // lock cmpxchg [rbx], ecx (F0 0F B1 0B): EAX == [rbx] -> [rbx] = ECX, ZF = 1.
        FakePort port;
        before.r[reg::rax] = 0x1234;
        port.put(data_gpa, 0x1234, 4);
        const Outcome o = run({0xf0, 0x0f, 0xb1, 0x0b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{rmw_read(data_gpa, 4), {Kind::write, data_gpa, 4, 0x77}});
        CHECK((o.regs.r[reg::rflags] & zf) != 0);
        CHECK(o.regs.r[reg::rax] == 0x1234);
    }
    {
        // Different: EAX = [rbx] (zero-extended), ZF = 0, and the write-back
        // of the old value carries the mark the emulation port drops.
        FakePort port;
        before.r[reg::rax] = 0xffff'ffff'0000'0001;
        port.put(data_gpa, 0x1234, 4);
        const Outcome o = run({0xf0, 0x0f, 0xb1, 0x0b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{rmw_read(data_gpa, 4), {Kind::write, data_gpa, 4, 0x1234, 0, true}});
        CHECK((o.regs.r[reg::rflags] & zf) == 0);
        CHECK(o.regs.r[reg::rax] == 0x1234);
    }
}

TEST_CASE("bt_register_offset_addresses_memory_beyond_the_operand_in_both_directions") {
    struct Case {
        int64_t offset;   // ECX, a signed bit index from [rbx]
        uint64_t at;      // the dword it lands in
        unsigned bit;
    };
    // bts [rbx], ecx (0F AB 0B): dword index = offset >> 5 (arithmetic), bit = offset & 31.
    const std::vector<Case> cases = {{3, data_gpa, 3}, {37, data_gpa + 4, 5}, {-1, data_gpa - 4, 31},
                                     {-33, data_gpa - 8, 31}, {0x7fff'ffff, data_gpa + 0x0fff'fffc, 31}};
    for (const Case& c : cases) {
        CAPTURE(c.offset);
        FakePort port;
        RegFile before = initial_regs();
        before.r[reg::rcx] = 0xabcd'0000'0000'0000 | (static_cast<uint64_t>(c.offset) & 0xffff'ffff);
        const Outcome o = run({0x0f, 0xab, 0x0b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{rmw_read(c.at, 4), {Kind::write, c.at, 4, uint64_t{1} << c.bit}});
        CHECK((o.regs.r[reg::rflags] & cf) == 0);  // the bit was clear
    }
    // An immediate offset is taken modulo the width and never moves: bt word [rbx], 17 (66 0F BA 23 11).
    FakePort port;
    port.put(data_gpa, 0x2, 2);
    const Outcome o = run({0x66, 0x0f, 0xba, 0x23, 0x11}, initial_regs(), port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 2, 0}});
    CHECK((o.regs.r[reg::rflags] & cf) != 0);  // bit 17 mod 16 = 1
}

TEST_CASE("setcc_to_memory_writes_one_byte_without_reading") {
    // setnz byte [rbx] (0F 95 03) with ZF clear: 1; sete (0F 94 03): 0.
    FakePort port;
    const Outcome o = run({0x0f, 0x95, 0x03}, initial_regs(), port);
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 1, 1}});
    FakePort port2;
    REQUIRE(run({0x0f, 0x94, 0x03}, initial_regs(), port2).result.status == MemStatus::ok);
    CHECK(port2.log == std::vector<Access>{{Kind::write, data_gpa, 1, 0}});
}

TEST_CASE("movzx_movsx_movsxd_extend_the_loaded_value") {
    struct Case {
        Bytes bytes;
        unsigned size;   // bytes read
        uint64_t rax;    // RAX after
    };
    const std::vector<Case> cases = {
        {{0x0f, 0xb6, 0x03}, 1, 0x80},                        // movzx eax, byte [rbx]
        {{0x48, 0x0f, 0xbe, 0x03}, 1, 0xffff'ffff'ffff'ff80},  // movsx rax, byte [rbx]
        {{0x0f, 0xbf, 0x03}, 2, 0xffff'ff80},                  // movsx eax, word [rbx]: 32-bit write zero-extends
        {{0x48, 0x63, 0x03}, 4, 0xffff'ffff'8000'ff80},        // movsxd rax, dword [rbx]
    };
    for (const Case& c : cases) {
        INFO(fmt::format("{:02x}", fmt::join(c.bytes, " ")));
        FakePort port;
        port.put(data_gpa, 0x8000'ff80, 4);
        const Outcome o = run(c.bytes, initial_regs(), port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, c.size, 0}});
        CHECK(o.regs.r[reg::rax] == c.rax);
    }
}

TEST_CASE("sse_moves_make_one_access_of_the_operand_width_and_movd_zeroes_the_rest") {
    RegFile before = initial_regs();
    before.v[1] = Vec128{0x1122'3344'5566'7788, 0x99aa'bbcc'ddee'ff00};
    {
        // movdqu [rbx], xmm1 (F3 0F 7F 0B): one 16-byte write.
        FakePort port;
        const Outcome o = run({0xf3, 0x0f, 0x7f, 0x0b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 16, before.v[1].lo, before.v[1].hi}});
    }
    {
        // movups xmm2, [rbx] (0F 10 13): one 16-byte read, all of XMM2.
        FakePort port;
        port.put(data_gpa, 0x0102'0304'0506'0708, 8);
        port.put(data_gpa + 8, 0x0910'1112'1314'1516, 8);
        const Outcome o = run({0x0f, 0x10, 0x13}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 16, 0}});
        CHECK(o.regs.v[2] == Vec128{0x0102'0304'0506'0708, 0x0910'1112'1314'1516});
    }
    {
        // movd xmm1, [rbx] (66 0F 6E 0B): 4 bytes, bits 127:32 of XMM1 cleared.
        FakePort port;
        port.put(data_gpa, 0xdead'beef, 4);
        const Outcome o = run({0x66, 0x0f, 0x6e, 0x0b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::read, data_gpa, 4, 0}});
        CHECK(o.regs.v[1] == Vec128{0xdead'beef, 0});
    }
    {
        // movq [rbx], xmm1 (66 0F D6 0B): the low 8 bytes.
        FakePort port;
        const Outcome o = run({0x66, 0x0f, 0xd6, 0x0b}, before, port);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.log == std::vector<Access>{{Kind::write, data_gpa, 8, before.v[1].lo}});
    }
}

TEST_CASE("aligned_sse_forms_on_a_misaligned_address_are_gp_before_any_access") {
    RegFile before = initial_regs();
    before.r[reg::rbx] = data_gpa + 8;
    for (const Bytes& b : {Bytes{0x66, 0x0f, 0x6f, 0x03}, Bytes{0x0f, 0x29, 0x03}, Bytes{0x66, 0x0f, 0xe7, 0x03}}) {
        INFO(fmt::format("{:02x}", fmt::join(b, " ")));  // movdqa xmm0, [rbx]; movaps [rbx], xmm0; movntdq [rbx], xmm0
        FakePort port;
        const Outcome o = run(b, before, port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail.find("not 16-byte aligned (#GP)") != std::string::npos);
        CHECK(port.log.empty());
        CHECK(o.regs.r[reg::rip] == code_gpa);
    }
    // The unaligned forms take it.
    FakePort port;
    CHECK(run({0xf3, 0x0f, 0x6f, 0x03}, before, port).result.status == MemStatus::ok);  // movdqu
}

TEST_CASE("rep_movs_hands_the_port_one_rep_access_and_retires_when_rcx_reaches_zero") {
    // rep movsd (F3 A5): ECX = 3 elements from RSI to RDI, upward.
    RegFile before = initial_regs();
    before.r[reg::rcx] = 3;
    before.r[reg::rsi] = 0x20'0000;
    before.r[reg::rdi] = 0x30'0000;
    FakePort port;
    port.put(0x20'0000, 0x0000'0003'0000'0002, 8);
    port.put(0x20'0008, 0x0000'0004, 4);
    const Outcome o = run({0xf3, 0xa5}, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    REQUIRE(port.reps.size() == 1);
    const RepAccess& a = port.reps[0];
    CHECK(a.kind == RepAccess::Kind::copy);
    CHECK(a.dst == 0x30'0000);
    CHECK(a.src == 0x20'0000);
    CHECK(a.size == 4);
    CHECK(a.count == 3);
    CHECK(!a.df);
    CHECK(port.get(0x30'0000, 4) == 2);
    CHECK(port.get(0x30'0008, 4) == 4);
    CHECK(o.regs.r[reg::rcx] == 0);
    CHECK(o.regs.r[reg::rsi] == 0x20'000c);
    CHECK(o.regs.r[reg::rdi] == 0x30'000c);
    CHECK(o.regs.r[reg::rip] == code_gpa + 2);
}

TEST_CASE("rep_stos_stopped_short_by_the_port_keeps_rip_for_the_rest") {
    // rep stosq (F3 48 AB) downward (DF = 1), 10 elements; the port does 4
    // (a page boundary in the emulation port): RCX 6, RDI 4*8 lower, RIP held.
    RegFile before = initial_regs();
    before.r[reg::rcx] = 10;
    before.r[reg::rdi] = 0x30'0100;
    before.r[reg::rax] = 0x5a5a;
    before.r[reg::rflags] = flags_one | df;
    FakePort port;
    port.rep_limit = 4;
    const Outcome o = run({0xf3, 0x48, 0xab}, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    REQUIRE(port.reps.size() == 1);
    CHECK(port.reps[0].kind == RepAccess::Kind::fill);
    CHECK(port.reps[0].value == 0x5a5a);
    CHECK(port.reps[0].df);
    CHECK(port.log.size() == 4);
    CHECK(port.log.back() == Access{Kind::write, 0x30'0100 - 3 * 8, 8, 0x5a5a});
    CHECK(o.regs.r[reg::rcx] == 6);
    CHECK(o.regs.r[reg::rdi] == 0x30'0100 - 4 * 8);
    CHECK(o.regs.r[reg::rip] == code_gpa);
}

TEST_CASE("rep_movs_faulting_part_way_commits_the_completed_elements") {
    // The hardware role: the 3rd element's write exits (an access index 5:
    // read, write, read, write, read, WRITE). Two elements stand.
    RegFile before = initial_regs();
    before.r[reg::rcx] = 8;
    before.r[reg::rsi] = 0x20'0000;
    before.r[reg::rdi] = 0x30'0000;
    FakePort port;
    port.answer = MemStatus::exit;
    port.answer_from = 5;
    const Outcome o = run({0xf3, 0xa4}, before, port);  // rep movsb
    CHECK(o.result.status == MemStatus::exit);
    CHECK(o.result.committed);
    CHECK(o.regs.r[reg::rcx] == 6);
    CHECK(o.regs.r[reg::rsi] == 0x20'0002);
    CHECK(o.regs.r[reg::rdi] == 0x30'0002);
    CHECK(o.regs.r[reg::rip] == code_gpa);
    // A fault on the first element commits nothing: registers untouched.
    FakePort first;
    first.answer = MemStatus::pending;
    const Outcome p = run({0xf3, 0xa4}, before, first);
    CHECK(p.result.status == MemStatus::pending);
    CHECK(!p.result.committed);
    CHECK(p.regs.r == before.r);
}

TEST_CASE("rep_with_zero_count_makes_no_access_and_retires") {
    RegFile before = initial_regs();
    before.r[reg::rcx] = 0;
    FakePort port;
    const Outcome o = run({0xf3, 0xaa}, before, port);  // rep stosb
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.log.empty());
    CHECK(port.reps.empty());
    CHECK(o.regs.r[reg::rip] == code_gpa + 2);
}

TEST_CASE("address_size_prefix_makes_string_registers_32_bit") {
    // 67 rep stosb: ECX = 2 of RCX, EDI of RDI; both written back 32-bit.
    RegFile before = initial_regs();
    before.r[reg::rcx] = 0xffff'ffff'0000'0002;
    before.r[reg::rdi] = 0xffff'ffff'0030'0000;
    FakePort port;
    const Outcome o = run({0x67, 0xf3, 0xaa}, before, port);
    REQUIRE(o.result.status == MemStatus::ok);
    REQUIRE(port.reps.size() == 1);
    CHECK(port.reps[0].dst == 0x30'0000);
    CHECK(o.regs.r[reg::rcx] == 0);
    CHECK(o.regs.r[reg::rdi] == 0x30'0002);
}

// REP with a zero count under 67h, where the vendors differ; neither the
// SDM (Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ") nor the APM (Vol. 3 "REP")
// says what a zero count does to the registers, so each vendor's rule is
// the processor's, measured by the differential test on a host of that
// vendor: Intel writes ECX, ESI and EDI back as 32-bit registers (bits
// 63:32 cleared, SDM Vol. 1 §3.4.1.1), AMD leaves all three untouched.
TEST_CASE("rep_movs_with_zero_ecx_under_67h_clears_the_upper_halves_on_intel") {
    RegFile before = initial_regs();
    before.r[reg::rcx] = 0xdead'0000'0000'0000;  // ECX = 0, bits 63:32 set
    before.r[reg::rsi] = 0xcafe'0000'0030'0400;
    before.r[reg::rdi] = 0xbeef'0000'0030'0800;
    FakePort port;
    const Outcome o = run({0x67, 0xf3, 0xa4}, before, port, Vendor::intel);  // addr32 rep movsb
    REQUIRE(o.result.status == MemStatus::ok);
    CHECK(port.reps.empty());
    CHECK(o.regs.r[reg::rcx] == 0);
    CHECK(o.regs.r[reg::rsi] == 0x30'0400);
    CHECK(o.regs.r[reg::rdi] == 0x30'0800);
    CHECK(o.regs.r[reg::rip] == code_gpa + 3);
}

TEST_CASE("rep_movs_and_stos_with_zero_ecx_under_67h_leave_the_registers_on_amd") {
    RegFile before = initial_regs();
    before.r[reg::rcx] = 0xdead'0000'0000'0000;
    before.r[reg::rsi] = 0xcafe'0000'0030'0400;
    before.r[reg::rdi] = 0xbeef'0000'0030'0800;
    for (const Bytes& insn : {Bytes{0x67, 0xf3, 0xa4}, Bytes{0x67, 0xf3, 0xaa}}) {  // movsb, stosb
        FakePort port;
        const Outcome o = run(insn, before, port, Vendor::amd);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(port.reps.empty());
        CHECK(o.regs.r[reg::rcx] == before.r[reg::rcx]);
        CHECK(o.regs.r[reg::rsi] == before.r[reg::rsi]);
        CHECK(o.regs.r[reg::rdi] == before.r[reg::rdi]);
        CHECK(o.regs.r[reg::rip] == code_gpa + 3);
    }
}

TEST_CASE("rep_stos_with_a_nonzero_count_under_67h_clears_the_upper_halves_on_both_vendors") {
    // One element moves: both vendors write ECX and EDI as 32-bit registers.
    RegFile before = initial_regs();
    before.r[reg::rcx] = 0xdead'0000'0000'0001;
    before.r[reg::rdi] = 0xbeef'0000'0030'0800;
    for (Vendor v : {Vendor::intel, Vendor::amd}) {
        FakePort port;
        const Outcome o = run({0x67, 0xf3, 0xaa}, before, port, v);
        REQUIRE(o.result.status == MemStatus::ok);
        CHECK(o.regs.r[reg::rcx] == 0);
        CHECK(o.regs.r[reg::rdi] == 0x30'0801);
    }
}

TEST_CASE("string_instruction_at_a_non_canonical_address_is_gp") {
    RegFile before = initial_regs();
    before.r[reg::rdi] = 0x0000'8000'0000'0000;
    FakePort port;
    const Outcome o = run({0xab}, before, port);  // stosd
    CHECK(o.result.status == MemStatus::guest_fault);
    CHECK(o.result.detail == "stosd: non-canonical address 0x800000000000 (#GP)");
    CHECK(port.log.empty());
}

TEST_CASE("instructions_still_not_emulated_are_named_guest_faults") {
    struct Bad {
        Bytes bytes;
        std::string detail;
    };
    const std::vector<Bad> cases = {
        {{0xd1, 0x23}, "shl dword ptr [rbx], 0x01: instruction not emulated"},
        {{0xf0, 0x48, 0x0f, 0xc7, 0x0b}, "lock cmpxchg16b [rbx]: instruction not emulated"},
        {{0xf3, 0xa6}, "repe cmpsb: instruction not emulated"},
        {{0xf3, 0x6e}, "rep outsb: instruction not emulated"},
    };
    for (const Bad& c : cases) {
        FakePort port;
        const Outcome o = run(c.bytes, initial_regs(), port);
        CHECK(o.result.status == MemStatus::guest_fault);
        CHECK(o.result.detail == c.detail);
        CHECK(port.log.empty());
    }
}
