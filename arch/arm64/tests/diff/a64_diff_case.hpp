// SPDX-License-Identifier: MIT
// The A64 differential test's shared facts: the memory layout both sides
// use, the forms, the case record the generator emits, and the seeded
// starting state both the oracle (qemu-aarch64 running the instruction)
// and hvcore rebuild from a case. Dependency-free C++20: compiled for the
// host (generator, comparison test) and for aarch64 (oracle runner).
//
// The flow (built by arch/arm64/tests/diff/diff.cmake): a64_diff_gen writes cases.S (each case's
// instruction as assembly text, so GNU as is the encoder, plus its seed
// and fixups); a64_oracle (cases.S + a64_oracle.cpp, linked statically
// with aarch64-linux-gnu-g++) runs every case natively under qemu-aarch64
// and prints the registers and bytes each one changed; test_a64_diff
// rebuilds each case's state and runs the same word through hvcore, on
// RAM, at a write-trapped (ioreq_server) page and at an MMIO region.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace a64diff {

// The data window: two pages at a fixed address in both worlds (the oracle
// maps it there with MAP_FIXED_NOREPLACE; in hvcore it is guest-physical).
// Every access of every case lies inside it; the second page is the one
// the trapped runs claim, so accesses crossing 0x201000 split RAM and a
// device model.
inline constexpr uint64_t window = 0x20'0000;
inline constexpr unsigned window_bytes = 0x2000;
inline constexpr uint64_t trapped_page = 0x20'1000;
// The instruction's address: the first word of the oracle's code page
// (just above the window, so literal loads reach the window backwards).
inline constexpr uint64_t code_page = 0x20'2000;

enum class Form : uint32_t {
    ldst_unsigned,   // LDR/STR (immediate, unsigned offset), every size and sign extension
    ldst_unscaled,   // LDUR/STUR
    ldst_register,   // LDR/STR (register), every extend and shift
    ldst_pre,        // LDR/STR (immediate, pre-index)
    ldst_post,       // LDR/STR (immediate, post-index)
    ldst_unpriv,     // LDTR/STTR
    ld_literal,      // LDR/LDRSW/LDR (SIMD&FP) (literal), PRFM (literal)
    ldar_stlr,       // LDAR/STLR/LDAPR
    simd_unsigned,   // LDR/STR (SIMD&FP, immediate) B/H/S/D/Q
    simd_unscaled,   // LDUR/STUR (SIMD&FP)
    simd_register,   // LDR/STR (SIMD&FP, register)
    simd_pre_post,   // LDR/STR (SIMD&FP, pre- and post-index)
    pair_gpr,        // LDP/STP/LDNP/STNP/LDPSW, offset, pre, post
    pair_simd,       // LDP/STP/LDNP/STNP of S/D/Q
    atomic_op,       // LDADD ... LDUMIN and the ST<op> aliases, every size and order
    swp,             // SWP
    cas,             // CAS, every size and order
    casp,            // CASP
    prefetch,        // PRFM (immediate, register), PRFUM
    dc_zva,          // DC ZVA
    dc_maintain,     // DC CIVAC/CVAC/CVAU
    count,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(Form::count)> form_names = {
    "ldst_unsigned", "ldst_unscaled", "ldst_register", "ldst_pre",      "ldst_post",   "ldst_unpriv",
    "ld_literal",    "ldar_stlr",     "simd_unsigned", "simd_unscaled", "simd_register", "simd_pre_post",
    "pair_gpr",      "pair_simd",     "atomic_op",     "swp",           "cas",         "casp",
    "prefetch",      "dc_zva",        "dc_maintain",
};

// The registers of one case: X0-X30, SP, and V0-V31 (V31 is the oracle's
// scratch register and never an operand; it is not compared).
struct Regs {
    std::array<uint64_t, 32> x{};  // x[31] is SP
    std::array<std::array<uint64_t, 2>, 32> v{};
};

// A change to the random state a case needs: a base or index register
// aimed at the window, or a comparand equal to memory (CAS that succeeds).
struct Fixup {
    enum Kind : uint32_t {
        set_x = 1,     // X[reg] (31: SP) = value
        x_from_mem = 2,  // X[reg] = the `size` bytes of memory at `value`, zero-extended
    };
    uint32_t kind = 0;
    uint32_t reg = 0;
    uint64_t value = 0;
    uint64_t size = 0;
};
inline constexpr unsigned max_fixups = 4;

// One case as the generator lays it out in cases.S (.rodata) and the
// oracle reads it: 128 bytes on an LP64 target.
struct CaseRecord {
    uint32_t word;  // assembled by GNU as from the text
    uint32_t form;
    uint64_t seed;
    uint32_t nfix;
    uint32_t pad;
    std::array<Fixup, max_fixups> fix;
    const char* text;  // the assembly source line
};
static_assert(sizeof(Fixup) == 24 && sizeof(CaseRecord) == 24 + 4 * sizeof(Fixup) + sizeof(const char*));

// splitmix64 (Steele, Lea, Flood 2014): tiny, and the same on every host.
struct Rng {
    uint64_t s;
    uint64_t next() noexcept {
        uint64_t z = (s += 0x9e37'79b9'7f4a'7c15);
        z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9;
        z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11eb;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) noexcept { return next() % n; }
};

// A register value: mostly random, sometimes an edge that shows sign and
// zero extension and carries.
inline uint64_t random_value(Rng& r) noexcept {
    constexpr std::array<uint64_t, 8> edges = {0, ~uint64_t{0}, 0x8000'0000'0000'0000, 0x7fff'ffff'ffff'ffff,
                                               0xffff'ffff, 0x8000'0000, 0x80, 0xff};
    return r.below(4) == 0 ? edges[r.below(edges.size())] : r.next();
}

// The state a case starts from: random registers and window bytes from
// its seed, SP inside the window (the oracle runs on it), then the fixups.
inline void initial_state(const CaseRecord& c, Regs& regs, std::array<uint8_t, window_bytes>& mem) noexcept {
    Rng r{c.seed};
    for (unsigned i = 0; i < 31; ++i) regs.x[i] = random_value(r);
    regs.x[31] = window + 0x1000;
    for (auto& v : regs.v) {
        v[0] = random_value(r);
        v[1] = random_value(r);
    }
    for (unsigned i = 0; i < window_bytes; i += 8) {
        const uint64_t w = r.next();
        std::memcpy(mem.data() + i, &w, 8);  // both sides little-endian
    }
    for (unsigned i = 0; i < c.nfix && i < max_fixups; ++i) {
        const Fixup& f = c.fix[i];
        if (f.kind == Fixup::set_x) {
            regs.x[f.reg] = f.value;
        } else if (f.kind == Fixup::x_from_mem && f.reg != 31 && f.value >= window &&
                   f.value + f.size <= window + window_bytes && f.size <= 8) {
            uint64_t v = 0;
            std::memcpy(&v, mem.data() + (f.value - window), f.size);
            regs.x[f.reg] = v;
        }
    }
}

}  // namespace a64diff
