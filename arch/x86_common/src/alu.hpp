// SPDX-License-Identifier: MIT
// The arithmetic status flags, computed in software so the executor gives
// the same answer on any host (SDM Vol. 1 §3.4.3.1 and Appendix A, "EFLAGS
// Cross-Reference"; each instruction's page in Vol. 2 says which flags it
// writes). Operands and results are the low `size` bytes, zero-extended.
#pragma once

#include <bit>
#include <cstdint>

#include "machine.hpp"

namespace hvcore::x86::detail {

[[nodiscard]] constexpr uint64_t size_mask(unsigned size) noexcept { return low_bytes(~uint64_t{0}, size); }
[[nodiscard]] constexpr uint64_t sign_bit(unsigned size) noexcept { return uint64_t{1} << (size * 8 - 1); }
[[nodiscard]] constexpr uint64_t sign_extend(uint64_t v, unsigned size) noexcept {
    const uint64_t s = sign_bit(size);
    return size >= 8 ? v : ((low_bytes(v, size) ^ s) - s);
}

// ZF, SF and PF of a result (PF: even parity of the low byte only).
[[nodiscard]] constexpr uint64_t szp_flags(uint64_t res, unsigned size) noexcept {
    uint64_t f = 0;
    if (low_bytes(res, size) == 0)
        f |= flag::zf;
    if ((res & sign_bit(size)) != 0)
        f |= flag::sf;
    if (std::popcount(res & 0xff) % 2 == 0)
        f |= flag::pf;
    return f;
}

// res = a + b + carry (ADD, ADC, INC, XADD).
[[nodiscard]] constexpr uint64_t add_flags(uint64_t a, uint64_t b, bool carry, uint64_t res, unsigned size) noexcept {
    uint64_t f = szp_flags(res, size);
    if (res < a || (carry && res == a))
        f |= flag::cf;
    if (((a ^ res) & (b ^ res) & sign_bit(size)) != 0)
        f |= flag::of;
    if (((a ^ b ^ res) & 0x10) != 0)
        f |= flag::af;
    return f;
}

// res = a - b - borrow (SUB, SBB, CMP, DEC, NEG as 0 - b, CMPXCHG).
[[nodiscard]] constexpr uint64_t sub_flags(uint64_t a, uint64_t b, bool borrow, uint64_t res, unsigned size) noexcept {
    uint64_t f = szp_flags(res, size);
    if (a < b || (borrow && a == b))
        f |= flag::cf;
    if (((a ^ b) & (a ^ res) & sign_bit(size)) != 0)
        f |= flag::of;
    if (((a ^ b ^ res) & 0x10) != 0)
        f |= flag::af;
    return f;
}

// AND, OR, XOR, TEST: OF = CF = 0, SF ZF PF by the result; AF is
// undefined and left 0, as the CPUs hvcore was checked on leave it.
[[nodiscard]] constexpr uint64_t logic_flags(uint64_t res, unsigned size) noexcept { return szp_flags(res, size); }

// Condition code cc (the low nibble of Jcc/SETcc/CMOVcc opcodes), SDM
// Vol. 1 Appendix B, Table B-1.
[[nodiscard]] constexpr bool condition(unsigned cc, uint64_t rflags) noexcept {
    const bool cf = (rflags & flag::cf) != 0;
    const bool zf = (rflags & flag::zf) != 0;
    const bool sf = (rflags & flag::sf) != 0;
    const bool of = (rflags & flag::of) != 0;
    const bool pf = (rflags & flag::pf) != 0;
    bool r = false;
    switch (cc >> 1) {
        case 0: r = of; break;              // O / NO
        case 1: r = cf; break;              // B / AE
        case 2: r = zf; break;              // E / NE
        case 3: r = cf || zf; break;        // BE / A
        case 4: r = sf; break;              // S / NS
        case 5: r = pf; break;              // P / NP
        case 6: r = sf != of; break;        // L / GE
        default: r = zf || sf != of; break;  // LE / G (cc >> 1 == 7)
    }
    return (cc & 1) != 0 ? !r : r;
}

}  // namespace hvcore::x86::detail
