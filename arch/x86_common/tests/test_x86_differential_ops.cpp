// SPDX-License-Identifier: MIT
// Differential test of every emulated instruction but MOV (which
// test_x86_differential.cpp covers form by form): each trial runs the same
// bytes from the same registers (general-purpose, XMM, RFLAGS) once on the
// host CPU against a real buffer and once through the executor against a
// copy of it (native_harness.hpp), and compares every general-purpose
// register but RSP, RIP, the status flags the instruction defines, DF,
// XMM0-15, the whole buffer, and how many reads and writes the executor
// made.
//
// A form is one row of `forms` below: its prefixes and opcode, what the
// ModRM fields name, its immediate, and its memory accesses. Each trial
// draws an operand size, registers (REX.R/X/B included, AH-BH without
// REX), an addressing mode (register, [base], [base+disp8/32], SIB with
// index and scale, RIP-relative), LOCK where the SDM allows it, and
// random register, memory and immediate contents, with edge values
// (0, all ones, sign bits) one time in four. MOVS and STOS have their own
// generator (REP/REPNE, DF, 66h/REX.W, 67h, counts 0..40, overlapping
// buffers). Seeded: a failure reproduces, and prints its bytes.
//
// Undefined flags: BT/BTS/BTR/BTC leave OF SF AF PF undefined (SDM Vol. 2A
// "BT"); they are not compared. AND/OR/XOR/TEST leave AF undefined; the
// executor clears it and the comparison checks that (the hosts hvcore was
// checked on clear it too).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string_view>

#include "hvcore/x86/isa_x86.hpp"
#include "native_harness.hpp"

#ifndef HVCORE_DIFF_TRIALS_DIVISOR
#define HVCORE_DIFF_TRIALS_DIVISOR 1  // 4 under the sanitizers (CMakeLists.txt)
#endif

using namespace hvcore;
using namespace hvcore::x86;
using namespace hvcore::x86::test;

namespace {

using Rng = std::mt19937_64;

constexpr uint64_t status_flags = 0x8d5;      // CF PF AF ZF SF OF
constexpr uint64_t flag_df = 0x400;           // EFLAGS.DF
constexpr uint64_t flags_reserved_one = 0x2;  // bit 1 always reads 1
constexpr uint64_t bt_undefined = 0x894;      // OF SF AF PF
// Trials per form: 2000 to 8000 per mnemonic (ADD has four forms).
constexpr unsigned trials_per_form = 2000 / HVCORE_DIFF_TRIALS_DIVISOR;

enum class Field : uint8_t { gpr, xmm };
enum class Special : uint8_t {
    none,
    cmpxchg,    // half the trials make the comparison succeed
    bt_offset,  // a register bit offset that moves the address, kept in the buffer
    setcc,      // the condition in the opcode's low nibble, drawn per trial
};

struct Form {
    std::string_view name{};
    Bytes mandatory{};         // SSE mandatory prefix (66/F2/F3), before REX
    Bytes op8{};               // opcode for 8-bit operands; empty if none
    Bytes op{};                // opcode for 16/32/64-bit operands (or the only one)
    std::vector<unsigned> sizes{};  // operand sizes (2: 66h, 8: REX.W); 0: neither
    int digit = -1;            // ModRM.reg = /digit, or -1: a register operand
    Field reg = Field::gpr;    // what ModRM.reg names
    Field rm = Field::gpr;     // what ModRM.rm names with mod = 11
    unsigned rm_size = 0;      // memory / rm register bytes; 0: the operand size
    int imm = 0;               // immediate bytes; -1: the operand size (4 for 8)
    bool memory_only = false;
    bool register_only = false;
    bool lockable = false;
    unsigned align = 1;        // required memory alignment (MOVDQA: 16)
    unsigned reads = 0;        // port reads and writes with a memory operand
    unsigned writes = 0;
    uint64_t undefined = 0;    // status flags not compared
    Special special = Special::none;
};

const std::vector<unsigned> all_sizes = {1, 2, 4, 8};
const std::vector<unsigned> wide_sizes = {2, 4, 8};

std::vector<Form> make_forms() {
    std::vector<Form> f;
    // ADD OR ADC SBB AND SUB XOR CMP: 00+8d.. (SDM Vol. 2A opcode map, Table A-2).
    constexpr std::array<std::string_view, 8> alu = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
    for (unsigned d = 0; d < 8; ++d) {
        const auto b = static_cast<uint8_t>(d * 8);
        const bool cmp = d == 7;
        const unsigned w = cmp ? 0 : 1;
        f.push_back({.name = alu[d], .op8 = {b}, .op = {static_cast<uint8_t>(b + 1)}, .sizes = all_sizes,
                     .lockable = !cmp, .reads = 1, .writes = w});
        f.push_back({.name = alu[d], .op8 = {static_cast<uint8_t>(b + 2)}, .op = {static_cast<uint8_t>(b + 3)},
                     .sizes = all_sizes, .reads = 1});
        f.push_back({.name = alu[d], .op8 = {0x80}, .op = {0x81}, .sizes = all_sizes, .digit = static_cast<int>(d),
                     .imm = -1, .lockable = !cmp, .reads = 1, .writes = w});
        f.push_back({.name = alu[d], .op = {0x83}, .sizes = wide_sizes, .digit = static_cast<int>(d), .imm = 1,
                     .lockable = !cmp, .reads = 1, .writes = w});
    }
    f.push_back({.name = "test", .op8 = {0x84}, .op = {0x85}, .sizes = all_sizes, .reads = 1});
    f.push_back({.name = "test", .op8 = {0xf6}, .op = {0xf7}, .sizes = all_sizes, .digit = 0, .imm = -1, .reads = 1});
    constexpr std::array<std::pair<std::string_view, int>, 4> unary = {
        {{"not", 2}, {"neg", 3}, {"inc", 0}, {"dec", 1}}};
    for (const auto& [name, d] : unary) {
        const bool grp3 = name == "not" || name == "neg";
        f.push_back({.name = name, .op8 = {static_cast<uint8_t>(grp3 ? 0xf6 : 0xfe)},
                     .op = {static_cast<uint8_t>(grp3 ? 0xf7 : 0xff)}, .sizes = all_sizes, .digit = d,
                     .lockable = true, .reads = 1, .writes = 1});
    }
    f.push_back({.name = "xchg", .op8 = {0x86}, .op = {0x87}, .sizes = all_sizes, .lockable = true, .reads = 1,
                 .writes = 1});
    f.push_back({.name = "xadd", .op8 = {0x0f, 0xc0}, .op = {0x0f, 0xc1}, .sizes = all_sizes, .lockable = true,
                 .reads = 1, .writes = 1});
    f.push_back({.name = "cmpxchg", .op8 = {0x0f, 0xb0}, .op = {0x0f, 0xb1}, .sizes = all_sizes, .lockable = true,
                 .reads = 1, .writes = 1, .special = Special::cmpxchg});
    constexpr std::array<std::pair<std::string_view, uint8_t>, 4> bits = {
        {{"bt", 0xa3}, {"bts", 0xab}, {"btr", 0xb3}, {"btc", 0xbb}}};
    for (unsigned i = 0; i < bits.size(); ++i) {
        const bool test_only = i == 0;
        f.push_back({.name = bits[i].first, .op = {0x0f, bits[i].second}, .sizes = wide_sizes,
                     .lockable = !test_only, .reads = 1, .writes = test_only ? 0u : 1u, .undefined = bt_undefined,
                     .special = Special::bt_offset});
        f.push_back({.name = bits[i].first, .op = {0x0f, 0xba}, .sizes = wide_sizes,
                     .digit = static_cast<int>(4 + i), .imm = 1, .lockable = !test_only, .reads = 1,
                     .writes = test_only ? 0u : 1u, .undefined = bt_undefined});
    }
    f.push_back({.name = "setcc", .op = {0x0f, 0x90}, .sizes = {1}, .digit = 0, .writes = 1,
                 .special = Special::setcc});
    f.push_back({.name = "movzx", .op = {0x0f, 0xb6}, .sizes = wide_sizes, .rm_size = 1, .reads = 1});
    f.push_back({.name = "movzx", .op = {0x0f, 0xb7}, .sizes = wide_sizes, .rm_size = 2, .reads = 1});
    f.push_back({.name = "movsx", .op = {0x0f, 0xbe}, .sizes = wide_sizes, .rm_size = 1, .reads = 1});
    f.push_back({.name = "movsx", .op = {0x0f, 0xbf}, .sizes = wide_sizes, .rm_size = 2, .reads = 1});
    f.push_back({.name = "movsxd", .op = {0x63}, .sizes = {4, 8}, .rm_size = 4, .reads = 1});
    f.push_back({.name = "movnti", .op = {0x0f, 0xc3}, .sizes = {4, 8}, .memory_only = true, .writes = 1});

    // SSE (SDM Vol. 2B): reg = XMM; rm = XMM, a GPR (MOVD/MOVQ) or memory.
    const Bytes p66 = {0x66}, pf3 = {0xf3};
    f.push_back({.name = "movd/movq xmm, r/m", .mandatory = p66, .op = {0x0f, 0x6e}, .sizes = {4, 8},
                 .reg = Field::xmm, .reads = 1});
    f.push_back({.name = "movd/movq r/m, xmm", .mandatory = p66, .op = {0x0f, 0x7e}, .sizes = {4, 8},
                 .reg = Field::xmm, .writes = 1});
    f.push_back({.name = "movq xmm, xmm/m64", .mandatory = pf3, .op = {0x0f, 0x7e}, .sizes = {0},
                 .reg = Field::xmm, .rm = Field::xmm, .rm_size = 8, .reads = 1});
    f.push_back({.name = "movq xmm/m64, xmm", .mandatory = p66, .op = {0x0f, 0xd6}, .sizes = {0},
                 .reg = Field::xmm, .rm = Field::xmm, .rm_size = 8, .writes = 1});
    struct Sse {
        std::string_view name;
        Bytes mandatory;
        uint8_t load;
        uint8_t store;
        unsigned align;
    };
    const std::array<Sse, 6> sse = {{{"movdqa", p66, 0x6f, 0x7f, 16},
                                     {"movdqu", pf3, 0x6f, 0x7f, 1},
                                     {"movaps", {}, 0x28, 0x29, 16},
                                     {"movups", {}, 0x10, 0x11, 1},
                                     {"movapd", p66, 0x28, 0x29, 16},
                                     {"movupd", p66, 0x10, 0x11, 1}}};
    for (const Sse& s : sse) {
        f.push_back({.name = s.name, .mandatory = s.mandatory, .op = {0x0f, s.load}, .sizes = {0}, .reg = Field::xmm,
                     .rm = Field::xmm, .rm_size = 16, .align = s.align, .reads = 1});
        f.push_back({.name = s.name, .mandatory = s.mandatory, .op = {0x0f, s.store}, .sizes = {0},
                     .reg = Field::xmm, .rm = Field::xmm, .rm_size = 16, .align = s.align, .writes = 1});
    }
    f.push_back({.name = "movntdq", .mandatory = p66, .op = {0x0f, 0xe7}, .sizes = {0}, .reg = Field::xmm,
                 .rm = Field::xmm, .rm_size = 16, .memory_only = true, .align = 16, .writes = 1});
    f.push_back({.name = "movntps", .op = {0x0f, 0x2b}, .sizes = {0}, .reg = Field::xmm, .rm = Field::xmm,
                 .rm_size = 16, .memory_only = true, .align = 16, .writes = 1});
    f.push_back({.name = "movntpd", .mandatory = p66, .op = {0x0f, 0x2b}, .sizes = {0}, .reg = Field::xmm,
                 .rm = Field::xmm, .rm_size = 16, .memory_only = true, .align = 16, .writes = 1});
    f.push_back({.name = "movntdqa", .mandatory = p66, .op = {0x0f, 0x38, 0x2a}, .sizes = {0}, .reg = Field::xmm,
                 .rm = Field::xmm, .rm_size = 16, .memory_only = true, .align = 16, .reads = 1});
    return f;
}

struct Trial {
    Bytes bytes;
    RegFile regs;
    bool memory = false;            // the rm operand is memory
    uint64_t poke_at = 0;           // buffer offset written after the random fill
    Bytes poke;                     // (edge values, CMPXCHG's equal comparand)
    unsigned reads = 0;             // expected port accesses
    unsigned writes = 0;
    uint64_t undefined = 0;
};

bool coin(Rng& rng, unsigned one_in) { return rng() % one_in == 0; }

uint64_t edge_or_random(Rng& rng) {
    static constexpr std::array<uint64_t, 9> edges = {
        0, ~uint64_t{0}, 0x8000'0000'0000'0000, 0x7fff'ffff'ffff'ffff, 0xffff'ffff, 0x8000'0000,
        0x7fff'ffff, 0x80, 0x7f};
    return coin(rng, 4) ? edges[rng() % edges.size()] : rng();
}

void push_le(Bytes& b, uint64_t v, unsigned n) {
    for (unsigned i = 0; i < n; ++i)
        b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A general-purpose register as an operand of `size` bytes: RSP (and SPL)
// are left out, the native run keeps its own stack pointer; without REX,
// byte register 4 is AH, which is fine.
bool usable_gpr(unsigned r, unsigned size, bool rex) {
    if (r != reg::rsp)
        return true;
    return size == 1 && !rex;
}

// Byte register r (ModRM encoding) as the executor numbers it.
uint64_t& byte_reg_home(RegFile& regs, unsigned r, bool rex, unsigned* shift) {
    if (!rex && r >= 4 && r < 8) {
        *shift = 8;
        return regs.r[r - 4];
    }
    *shift = 0;
    return regs.r[r];
}

std::optional<Trial> make_trial(const Form& form, Rng& rng, const Sandbox& sb) {
    Trial t;
    for (unsigned i = 0; i < nr_gprs; ++i)
        t.regs.r[i] = edge_or_random(rng);
    t.regs.r[reg::rsp] = 0;
    t.regs.r[reg::rip] = sb.code_addr();
    t.regs.r[reg::rflags] = (rng() & status_flags) | flags_reserved_one;
    for (unsigned i = 0; i < 16; ++i)
        t.regs.v[i] = Vec128{edge_or_random(rng), edge_or_random(rng)};
    t.undefined = form.undefined;

    const unsigned size = form.sizes[rng() % form.sizes.size()];
    const unsigned rm_size = form.rm_size != 0 ? form.rm_size : size;
    const bool w = size == 8;

    enum class Mode { direct, base, base_disp8, base_disp32, sib, rip };
    constexpr std::array<Mode, 6> modes = {Mode::direct, Mode::base, Mode::base_disp8, Mode::base_disp32,
                                           Mode::sib, Mode::rip};
    Mode mode = modes[rng() % modes.size()];
    if (form.memory_only && mode == Mode::direct)
        return std::nullopt;
    if (form.register_only)
        mode = Mode::direct;
    const bool memory = mode != Mode::direct;
    const bool bt_moves = form.special == Special::bt_offset && memory;
    const unsigned r = form.digit >= 0 ? static_cast<unsigned>(form.digit) : static_cast<unsigned>(rng() % 16);
    const unsigned base = static_cast<unsigned>(rng() % 16);
    const unsigned index = static_cast<unsigned>(rng() % 16);
    const unsigned scale = static_cast<unsigned>(rng() % 4);
    const bool lock = form.lockable && memory && coin(rng, 2);

    bool rex = w || coin(rng, 4);
    if (form.digit < 0 && r >= 8)
        rex = true;
    if (mode != Mode::rip && base >= 8)
        rex = true;
    if (mode == Mode::sib && index >= 8)
        rex = true;
    // Register constraints.
    if (form.digit < 0 && form.reg == Field::gpr && !usable_gpr(r, size, rex))
        return std::nullopt;
    if (mode == Mode::direct && form.rm == Field::gpr && !usable_gpr(base, rm_size, rex))
        return std::nullopt;
    if (memory && mode != Mode::rip) {
        if (base == reg::rsp || (mode == Mode::sib && (index == reg::rsp || index == base)))
            return std::nullopt;
        // The register operand must not be an address register: its value
        // is drawn separately (a high-byte register shares RAX..RBX).
        if (form.digit < 0 && form.reg == Field::gpr) {
            const unsigned home = (!rex && size == 1 && r >= 4 && r < 8) ? r - 4 : r;
            if (home == base || (mode == Mode::sib && home == index))
                return std::nullopt;
        }
    }
    if (form.special == Special::cmpxchg && memory && mode != Mode::rip) {
        if (base == reg::rax || (mode == Mode::sib && index == reg::rax))
            return std::nullopt;  // RAX is the comparand
    }

    // Where the memory operand points: anywhere in the buffer (aligned as
    // the form needs), the middle for BT's moving offset.
    uint64_t target = 0;
    if (memory) {
        if (bt_moves) {
            target = sb.data_addr() + page - 512 + rng() % 1024;
        } else {
            target = sb.data_addr() + rng() % (data_size - 16);
            target &= ~uint64_t{form.align - 1};
        }
    }

    // Encoding: LOCK, 66h, mandatory prefix, REX, opcode, ModRM, SIB, disp, imm.
    if (lock)
        t.bytes.push_back(0xf0);
    if (size == 2)
        t.bytes.push_back(0x66);
    t.bytes.insert(t.bytes.end(), form.mandatory.begin(), form.mandatory.end());
    const unsigned rex_r = form.digit < 0 ? r >> 3 : 0;
    const unsigned rex_x = mode == Mode::sib ? index >> 3 : 0;
    const unsigned rex_b = mode == Mode::rip ? 0 : base >> 3;
    if (rex)
        t.bytes.push_back(static_cast<uint8_t>(0x40 | (w ? 8 : 0) | (rex_r << 2) | (rex_x << 1) | rex_b));
    const Bytes& opcode = size == 1 && !form.op8.empty() ? form.op8 : form.op;
    t.bytes.insert(t.bytes.end(), opcode.begin(), opcode.end());
    if (form.special == Special::setcc)
        t.bytes.back() = static_cast<uint8_t>(t.bytes.back() + rng() % 16);

    unsigned mod = 0;
    int64_t disp = 0;
    unsigned disp_size = 0;
    switch (mode) {
        case Mode::direct:
            mod = 3;
            break;
        case Mode::base:
        case Mode::sib:
            mod = (base & 7) == 5 ? 1 : 0;  // [rbp]/[r13] need a disp8 of 0
            disp_size = mod == 1 ? 1 : 0;
            if (mode == Mode::sib && coin(rng, 2)) {
                mod = coin(rng, 2) ? 1 : 2;
                disp_size = mod == 1 ? 1 : 4;
                disp = mod == 1 ? static_cast<int8_t>(rng()) : static_cast<int32_t>(rng());
            }
            break;
        case Mode::base_disp8:
            mod = 1;
            disp_size = 1;
            disp = static_cast<int8_t>(rng());
            break;
        case Mode::base_disp32:
            mod = 2;
            disp_size = 4;
            disp = static_cast<int32_t>(rng());
            break;
        case Mode::rip:
            disp_size = 4;
            break;
    }
    const bool has_sib = mode == Mode::sib || (memory && mode != Mode::rip && (base & 7) == 4);
    const unsigned sib_index = mode == Mode::sib ? index : 4;
    const unsigned rm = mode == Mode::rip ? 5 : has_sib ? 4 : (base & 7);
    t.bytes.push_back(static_cast<uint8_t>((mod << 6) | ((r & 7) << 3) | rm));
    if (has_sib)
        t.bytes.push_back(static_cast<uint8_t>((scale << 6) | ((sib_index & 7) << 3) | (base & 7)));
    const size_t disp_at = t.bytes.size();
    push_le(t.bytes, static_cast<uint64_t>(disp), disp_size);
    const unsigned imm = form.imm < 0 ? (size == 8 ? 4 : size) : static_cast<unsigned>(form.imm);
    push_le(t.bytes, edge_or_random(rng), imm);

    switch (mode) {
        case Mode::direct:
            break;
        case Mode::rip: {
            const uint64_t next = sb.code_addr() + t.bytes.size();
            const auto d = static_cast<int32_t>(static_cast<int64_t>(target - next));
            for (unsigned i = 0; i < 4; ++i)
                t.bytes[disp_at + i] = static_cast<uint8_t>(static_cast<uint32_t>(d) >> (8 * i));
            break;
        }
        case Mode::sib:
            t.regs.r[base] = target - t.regs.r[index] * (uint64_t{1} << scale) - static_cast<uint64_t>(disp);
            break;
        case Mode::base:
        case Mode::base_disp8:
        case Mode::base_disp32:
            t.regs.r[base] = target - static_cast<uint64_t>(disp);
            break;
    }

    if (bt_moves) {
        // A signed bit offset within +-8000 bits (+-1000 bytes) of the
        // operand, with random bits above the operand width (ignored).
        const int64_t off = static_cast<int64_t>(rng() % 16001) - 8000;
        const uint64_t above = size == 8 ? 0 : rng() & ~((uint64_t{1} << (size * 8)) - 1);
        t.regs.r[r] = (static_cast<uint64_t>(off) & (size == 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1)) | above;
    }

    if (memory) {
        t.memory = true;
        t.reads = form.reads;
        t.writes = form.writes;
        t.poke_at = target - sb.data_addr();
        if (form.special == Special::cmpxchg && coin(rng, 2)) {
            push_le(t.poke, t.regs.r[reg::rax], rm_size);  // the comparison succeeds
        } else if (!bt_moves && coin(rng, 4)) {
            push_le(t.poke, edge_or_random(rng), std::min(rm_size, 8u));
        }
    } else if (form.special == Special::cmpxchg && coin(rng, 2)) {
        // Register destination equal to the accumulator's low bytes.
        if (rm_size == 1) {
            unsigned shift = 0;
            uint64_t& home = byte_reg_home(t.regs, base, rex, &shift);
            home = (home & ~(uint64_t{0xff} << shift)) | ((t.regs.r[reg::rax] & 0xff) << shift);
        } else {
            t.regs.r[base] = t.regs.r[reg::rax];
        }
    }
    return t;
}

std::string describe(const Trial& t) {
    std::string s = fmt::format("bytes [{:02x}]\n", fmt::join(t.bytes, " "));
    for (unsigned i = 0; i < nr_regs; ++i)
        s += fmt::format("  r{} = {:#x}\n", i, t.regs.r[i]);
    return s;
}

// Runs one trial both ways and compares.
void compare(const Trial& t, Rng& rng, Sandbox& sb, Isa& isa) {
    for (size_t i = 0; i < data_size; i += 8) {
        const uint64_t v = rng();
        std::memcpy(sb.data() + i, &v, 8);
    }
    if (!t.poke.empty())
        std::memcpy(sb.data() + t.poke_at, t.poke.data(), t.poke.size());

    BufferPort port(sb.data_addr(), std::vector<uint8_t>(sb.data(), sb.data() + data_size));
    RegFile emulated = t.regs;
    const ExecResult r = isa.execute(emulated, t.bytes, port);

    NativeState native = to_native(t.regs, nr_gprs);
    sb.load_code(t.bytes);
    hvcore_x86_test_native_run(&native, reinterpret_cast<const void*>(sb.code_addr()));

    INFO(describe(t));
    REQUIRE_MESSAGE(r.status == MemStatus::ok, r.detail);
    CHECK(emulated.r[reg::rip] == sb.code_addr() + t.bytes.size());
    for (unsigned i = 0; i < nr_gprs; ++i) {
        if (i == reg::rsp)
            continue;
        CHECK_MESSAGE(emulated.r[i] == native.gpr[i],
                      fmt::format("r{}: executor {:#x}, host {:#x}", i, emulated.r[i], native.gpr[i]));
    }
    const uint64_t compared = (status_flags & ~t.undefined) | flag_df;
    CHECK_MESSAGE((emulated.r[reg::rflags] & compared) == (native.rflags & compared),
                  fmt::format("rflags: executor {:#x}, host {:#x}", emulated.r[reg::rflags], native.rflags));
    for (unsigned i = 0; i < 16; ++i) {
        const Vec128 n = native_xmm(native, i);
        CHECK_MESSAGE(emulated.v[i] == n, fmt::format("xmm{}: executor {:#x}:{:#x}, host {:#x}:{:#x}", i,
                                                      emulated.v[i].hi, emulated.v[i].lo, n.hi, n.lo));
    }
    CHECK(std::memcmp(port.mem.data(), sb.data(), data_size) == 0);
    CHECK(port.reads == (t.memory ? t.reads : 0u));
    CHECK(port.writes == (t.memory ? t.writes : 0u));
}

unsigned run_form(const Form& form, unsigned seed) {
    Rng rng(0x0d1f'f000 + seed);
    Sandbox sb;
    auto isa = make_x86_isa(host_vendor());
    unsigned done = 0;
    for (unsigned attempts = 0; done < trials_per_form && attempts < 20 * trials_per_form; ++attempts) {
        std::optional<Trial> t = make_trial(form, rng, sb);
        if (!t)
            continue;  // drew an encoding the harness cannot run (RSP, ...)
        ++done;
        compare(*t, rng, sb, *isa);
    }
    return done;
}

// MOVS/STOS: prefixes, size, DF, counts and addresses drawn per trial.
std::optional<Trial> make_string_trial(bool movs, Rng& rng, const Sandbox& sb) {
    Trial t;
    for (unsigned i = 0; i < nr_gprs; ++i)
        t.regs.r[i] = edge_or_random(rng);
    t.regs.r[reg::rsp] = 0;
    t.regs.r[reg::rip] = sb.code_addr();
    const bool df = coin(rng, 2);
    t.regs.r[reg::rflags] = (rng() & status_flags) | flags_reserved_one | (df ? flag_df : 0);
    constexpr std::array<unsigned, 4> sizes = {1, 2, 4, 8};
    const unsigned size = sizes[rng() % 4];
    const unsigned rep = static_cast<unsigned>(rng() % 3);  // none, F3, F2
    const bool addr32 = coin(rng, 2);
    const uint64_t count = rep != 0 ? rng() % 41 : 1;
    const uint64_t span = count * size;

    auto place = [&](uint64_t* reg_value) {
        // Elements from the start walk up (or down) `span` bytes, inside.
        const uint64_t room = data_size - std::max<uint64_t>(span, size);
        uint64_t start = sb.data_addr() + rng() % (room + 1);
        if (df)
            start += std::max<uint64_t>(span, size) - size;  // the first element is the highest
        // With 67h only the low 32 bits count: put junk above them.
        *reg_value = addr32 ? (start & 0xffff'ffff) | (rng() << 32) : start;
    };
    place(&t.regs.r[reg::rdi]);
    if (movs)
        place(&t.regs.r[reg::rsi]);
    if (rep != 0)
        t.regs.r[reg::rcx] = addr32 ? (rng() << 32) | count : count;

    if (addr32)
        t.bytes.push_back(0x67);
    if (size == 2)
        t.bytes.push_back(0x66);
    if (rep == 1)
        t.bytes.push_back(0xf3);
    if (rep == 2)
        t.bytes.push_back(0xf2);
    if (size == 8)
        t.bytes.push_back(0x48);
    t.bytes.push_back(static_cast<uint8_t>((movs ? 0xa4 : 0xaa) + (size == 1 ? 0 : 1)));
    t.memory = true;
    t.reads = movs ? static_cast<unsigned>(count) : 0;
    t.writes = static_cast<unsigned>(count);
    return t;
}

unsigned run_strings(bool movs, unsigned trials) {
    Rng rng(movs ? 0x5717'0001 : 0x5717'0002);
    Sandbox sb;
    auto isa = make_x86_isa(host_vendor());
    for (unsigned i = 0; i < trials; ++i) {
        std::optional<Trial> t = make_string_trial(movs, rng, sb);
        REQUIRE(t);
        compare(*t, rng, sb, *isa);
    }
    return trials;
}

void run_forms_named(std::initializer_list<std::string_view> names) {
    const std::vector<Form> forms = make_forms();
    unsigned seed = 0;
    for (const Form& form : forms) {
        ++seed;
        if (std::find(names.begin(), names.end(), form.name) == names.end())
            continue;
        CAPTURE(form.name);
        CHECK(run_form(form, seed) == trials_per_form);
    }
}

}  // namespace

TEST_CASE("alu_read_modify_write_forms_match_the_host_cpu") {
    run_forms_named({"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test"});
}

TEST_CASE("inc_dec_not_neg_match_the_host_cpu") { run_forms_named({"inc", "dec", "not", "neg"}); }

TEST_CASE("xchg_xadd_cmpxchg_match_the_host_cpu") { run_forms_named({"xchg", "xadd", "cmpxchg"}); }

TEST_CASE("bt_bts_btr_btc_match_the_host_cpu_with_register_offsets_beyond_the_operand") {
    run_forms_named({"bt", "bts", "btr", "btc"});
}

TEST_CASE("setcc_movzx_movsx_movsxd_movnti_match_the_host_cpu") {
    run_forms_named({"setcc", "movzx", "movsx", "movsxd", "movnti"});
}

TEST_CASE("sse_moves_match_the_host_cpu") {
    run_forms_named({"movd/movq xmm, r/m", "movd/movq r/m, xmm", "movq xmm, xmm/m64", "movq xmm/m64, xmm",
                     "movdqa", "movdqu", "movaps", "movups", "movapd", "movupd", "movntdq", "movntps", "movntpd",
                     "movntdqa"});
}

TEST_CASE("movs_with_rep_df_and_address_size_matches_the_host_cpu") { CHECK(run_strings(true, 5000) == 5000); }

TEST_CASE("stos_with_rep_df_and_address_size_matches_the_host_cpu") { CHECK(run_strings(false, 5000) == 5000); }
