// SPDX-License-Identifier: MIT
#include "a64_decode.hpp"

#include <fmt/format.h>

#include <gsl/assert>
#include <string_view>

#include "hvcore/arm64/esr.hpp"

namespace hvcore::arm64::detail {

namespace {

[[nodiscard]] constexpr uint32_t field(uint32_t w, unsigned lo, unsigned width) noexcept {
    return (w >> lo) & ((uint32_t{1} << width) - 1);
}
[[nodiscard]] constexpr bool bit(uint32_t w, unsigned n) noexcept { return ((w >> n) & 1) != 0; }
[[nodiscard]] constexpr bool matches(uint32_t w, uint32_t mask, uint32_t value) noexcept { return (w & mask) == value; }

// Class masks (DDI 0487, C4.1 "A64 instruction set encoding", "Loads and
// Stores"): the fixed bits of each encoding class, its fields in the comment.
constexpr uint32_t mask_ldst = 0x0A00'0000;             // op0 x1x0: the Loads and Stores group
constexpr uint32_t value_ldst = 0x0800'0000;
// "Load/store register (unsigned immediate)": size 111 V 01 opc imm12 Rn Rt
constexpr uint32_t mask_unsigned_offset = 0x3B00'0000;
constexpr uint32_t value_unsigned_offset = 0x3900'0000;
// size 111 V 00 opc b21 ... op4(11:10) Rn Rt: the imm9 classes (b21 = 0)
// "Load/store register (unscaled immediate)" op4 00, "(immediate
// post-indexed)" 01, "(unprivileged)" 10, "(immediate pre-indexed)" 11;
// with b21 = 1, "Atomic memory operations" op4 00 and "Load/store
// register (register offset)" op4 10.
constexpr uint32_t mask_reg_group = 0x3B20'0C00;
constexpr uint32_t value_unscaled = 0x3800'0000;
constexpr uint32_t value_post_index = 0x3800'0400;
constexpr uint32_t value_unprivileged = 0x3800'0800;
constexpr uint32_t value_pre_index = 0x3800'0C00;
constexpr uint32_t value_atomic = 0x3820'0000;
constexpr uint32_t value_register_offset = 0x3820'0800;
// "Load/store register (pac)": size 111 V 00 M S 1 imm9 W 1 Rn Rt (FEAT_PAuth)
constexpr uint32_t mask_pac = 0x3B20'0400;
constexpr uint32_t value_pac = 0x3820'0400;
// "Load register (literal)": opc 011 V 00 imm19 Rt
constexpr uint32_t mask_literal = 0x3B00'0000;
constexpr uint32_t value_literal = 0x1800'0000;
// "Load/store register pair (...)" and "no-allocate pair (offset)":
// opc 101 V 0 mode(24:23) L imm7 Rt2 Rn Rt, mode 00 no-allocate, 01
// post-indexed, 10 offset, 11 pre-indexed.
constexpr uint32_t mask_pair = 0x3A00'0000;
constexpr uint32_t value_pair = 0x2800'0000;
// "Load/store exclusive register", "... exclusive pair", "Load/store
// ordered", "Compare and swap", "Compare and swap pair": size 001000 o2(23)
// L(22) o1(21) Rs o0(15) Rt2 Rn Rt.
constexpr uint32_t mask_excl = 0x3F00'0000;
constexpr uint32_t value_excl = 0x0800'0000;
// Named only, for the refusal: "Load/store memory tags" (FEAT_MTE)
// 11011001 opc 1 ...; "LDAPR/STLR (unscaled immediate)" (FEAT_LRCPC2)
// size 011001 opc 0 imm9 00; "Advanced SIMD load/store multiple/single
// structures" 0 Q 00110 ...
constexpr uint32_t mask_mte = 0xFF20'0000;
constexpr uint32_t value_mte = 0xD920'0000;
constexpr uint32_t mask_rcpc = 0x3F20'0C00;
constexpr uint32_t value_rcpc = 0x1900'0000;
constexpr uint32_t mask_simd_struct = 0xBE00'0000;
constexpr uint32_t value_simd_struct = 0x0C00'0000;
// "System instructions" SYS: 1101010100 L=0 01 op1 CRn CRm op2 Rt (C5.1
// "The System instruction class encoding space"); DC and IC are aliases of
// SYS (C6.2 "DC", "IC").
constexpr uint32_t mask_sys = 0xFFF8'0000;
constexpr uint32_t value_sys = 0xD508'0000;

// op1:CRn:CRm:op2 of a SYS instruction (bits 18:5), as DC/IC name them
// (C5.3 "A64 System instructions for cache maintenance", encoding tables).
[[nodiscard]] constexpr uint32_t sysop(uint32_t op1, uint32_t crn, uint32_t crm, uint32_t op2) noexcept {
    return (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5);
}
constexpr uint32_t mask_sysop = sysop(7, 15, 15, 7);
constexpr uint32_t dc_zva = sysop(3, 7, 4, 1);
constexpr uint32_t dc_ivac = sysop(0, 7, 6, 1);
constexpr uint32_t dc_cvac = sysop(3, 7, 10, 1);
constexpr uint32_t dc_cvau = sysop(3, 7, 11, 1);
constexpr uint32_t dc_cvap = sysop(3, 7, 12, 1);    // FEAT_DPB
constexpr uint32_t dc_cvadp = sysop(3, 7, 13, 1);   // FEAT_DPB2
constexpr uint32_t dc_civac = sysop(3, 7, 14, 1);
constexpr uint32_t ic_ivau = sysop(3, 7, 5, 1);
// Encodings GNU as 2.40 gives for "dc zva, x1", "dc civac, x1", "dc ivac, x1", "ic ivau, x1".
static_assert((value_sys | dc_zva | 1) == 0xd50b'7421 && (value_sys | dc_civac | 1) == 0xd50b'7e21 &&
              (value_sys | dc_ivac | 1) == 0xd508'7621 && (value_sys | ic_ivau | 1) == 0xd50b'7521);

[[nodiscard]] constexpr int64_t sign_extend(uint64_t v, unsigned bits) noexcept {
    const unsigned spare = 64 - bits;
    return static_cast<int64_t>(v << spare) >> spare;
}

// The mnemonic of a general-purpose register load/store by size and opc
// (C6.2, "Load/store register" opc tables, e.g. LDRB (immediate)), ""
// when unallocated, "PRFM" for the prefetch slot.
[[nodiscard]] constexpr std::string_view gpr_mnemonic(unsigned size, unsigned opc) noexcept {
    constexpr std::string_view names[4][4] = {
        {"STRB", "LDRB", "LDRSB", "LDRSB"},
        {"STRH", "LDRH", "LDRSH", "LDRSH"},
        {"STR", "LDR", "LDRSW", ""},
        {"STR", "LDR", "PRFM", ""},
    };
    return names[size & 3][opc & 3];
}

// Size, direction and sign extension from size/opc; nullopt for PRFM and
// unallocated combinations (C6.2 opc tables).
struct Kind {
    bool load;
    bool sign_extend;
    bool reg64;
};
[[nodiscard]] constexpr std::optional<Kind> kind_of(unsigned size, unsigned opc) noexcept {
    switch (opc) {
    case 0: return Kind{false, false, size == 3};  // STRB/STRH/STR: W source, X for size 3
    case 1: return Kind{true, false, size == 3};   // LDRB/LDRH/LDR: zero-extends
    case 2:
        if (size == 3) return std::nullopt;        // PRFM / PRFUM
        return Kind{true, true, true};             // LDRSB/LDRSH/LDRSW to X
    case 3:
        if (size >= 2) return std::nullopt;        // unallocated
        return Kind{true, true, false};            // LDRSB/LDRSH to W
    default: return std::nullopt;
    }
}

[[nodiscard]] Decoded refuse(std::string name) { return Decoded{std::nullopt, std::move(name), false}; }
[[nodiscard]] Decoded undefined(std::string name) { return Decoded{std::nullopt, std::move(name), true}; }
[[nodiscard]] Decoded accept(const MemInsn& m) { return Decoded{m, {}, false}; }

// The choice the model makes where the Arm ARM allows several
// (ConstrainUnpredictable in the instruction's pseudocode; DDI 0487
// appendix K1, "Architectural Constraints on UNPREDICTABLE Behaviors",
// lists UNDEFINED among the permitted behaviors of each case used here).
[[nodiscard]] Decoded unpredictable(std::string_view what, std::string_view which, std::string_view constraint) {
    return undefined(
        fmt::format("{} with {}: CONSTRAINED UNPREDICTABLE ({}), the model is UNDEFINED", what, which, constraint));
}

// The scale of a register-class access: log2 of its bytes. SIMD&FP: size
// with opc<1> selecting Q (C7.2 "LDR (immediate, SIMD&FP)": size 00, opc
// 1x is the 128-bit form; 1x with another size is unallocated).
[[nodiscard]] constexpr std::optional<unsigned> simd_scale(unsigned size, unsigned opc) noexcept {
    if ((opc & 2) == 0) return size;
    if (size == 0) return 4U;
    return std::nullopt;
}

// "Load/store register" classes (unsigned immediate, unscaled, pre/post
// index, unprivileged, register offset): they share the size/V/opc table.
[[nodiscard]] Decoded decode_register_class(uint32_t w, Addressing mode, bool unpriv) {
    const unsigned size = field(w, 30, 2);
    const bool v = bit(w, 26);
    const unsigned opc = field(w, 22, 2);
    MemInsn m;
    m.word = w;
    m.mode = mode;
    m.rt = field(w, 0, 5);
    m.rn = field(w, 5, 5);
    m.unprivileged = unpriv;
    if (v) {
        const std::optional<unsigned> scale = simd_scale(size, opc);
        // There is no unprivileged SIMD&FP load/store (the class is
        // unallocated for V = 1).
        if (!scale || unpriv) return undefined("unallocated load/store register (SIMD&FP) encoding");
        m.simd = true;
        m.size_log2 = *scale;
        m.op = (opc & 1) != 0 ? Op::load : Op::store;
    } else {
        const std::optional<Kind> k = kind_of(size, opc);
        if (!k) {
            // PRFM (immediate, register) and PRFUM; no prefetch has writeback
            // or an unprivileged form.
            const bool prefetch_slot = size == 3 && opc == 2;
            if (!prefetch_slot || unpriv || m.writeback()) return undefined("unallocated load/store register encoding");
            m.op = Op::prefetch;
            m.size_log2 = 3;
        } else {
            m.op = k->load ? Op::load : Op::store;
            m.size_log2 = size;
            m.sign_extend = k->sign_extend;
            m.reg64 = k->reg64;
        }
    }
    switch (mode) {
    case Addressing::unsigned_offset: m.offset = int64_t{field(w, 10, 12)} << m.size_log2; break;  // imm12, scaled
    case Addressing::unscaled:
    case Addressing::pre_index:
    case Addressing::post_index: m.offset = sign_extend(field(w, 12, 9), 9); break;  // simm9, in bytes
    case Addressing::register_offset: {
        const unsigned option = field(w, 13, 3);
        if ((option & 0b010) == 0) return undefined("unallocated load/store register (register offset) option");
        m.rm = field(w, 16, 5);
        m.extend = static_cast<Extend>(option);
        m.shift_bit = bit(w, 12);
        m.amount = m.shift_bit ? m.size_log2 : 0;  // S: shift by log2(size), else 0
        break;
    }
    case Addressing::signed_offset:
    case Addressing::base_only:
    case Addressing::literal:
    case Addressing::register_only: Expects(false); break;
    }
    // C6.2 LDR (immediate): "if wback && n == t && n != 31 then
    // ConstrainUnpredictable(Unpredictable_WBOVERLAPLD)", ..._WBOVERLAPST
    // for stores. SIMD&FP registers never overlap the base.
    if (!m.simd && m.writeback() && m.rn == m.rt && m.rn != 31 && m.op != Op::prefetch)
        return m.op == Op::load ? unpredictable("a load with writeback", "Rt == Rn", "Unpredictable_WBOVERLAPLD")
                                : unpredictable("a store with writeback", "Rt == Rn", "Unpredictable_WBOVERLAPST");
    return accept(m);
}

// "Load/store register pair" classes and "no-allocate pair (offset)".
[[nodiscard]] Decoded decode_pair(uint32_t w) {
    const unsigned opc = field(w, 30, 2);
    const bool v = bit(w, 26);
    const unsigned mode = field(w, 23, 2);
    const bool load = bit(w, 22);
    MemInsn m;
    m.word = w;
    m.op = load ? Op::load_pair : Op::store_pair;
    m.rt = field(w, 0, 5);
    m.rn = field(w, 5, 5);
    m.rt2 = field(w, 10, 5);
    m.simd = v;
    if (v) {
        // C7.2 LDP (SIMD&FP): opc 00 S, 01 D, 10 Q.
        if (opc == 3) return undefined("unallocated load/store pair (SIMD&FP) encoding");
        m.size_log2 = 2 + opc;
    } else {
        switch (opc) {
        case 0: m.size_log2 = 2; break;  // W
        case 1:
            // LDPSW (C6.2); with L = 0 the slot is STGP (FEAT_MTE), and the
            // no-allocate mode has neither.
            if (!load) return refuse("STGP (store allocation tag and pair)");
            if (mode == 0) return undefined("unallocated load/store no-allocate pair encoding");
            m.size_log2 = 2;
            m.sign_extend = true;
            m.reg64 = true;
            break;
        case 2: m.size_log2 = 3; m.reg64 = true; break;  // X
        default: return undefined("unallocated load/store pair encoding");
        }
    }
    m.offset = sign_extend(field(w, 15, 7), 7) << m.size_log2;  // imm7, scaled by the element size
    switch (mode) {
    case 0: m.mode = Addressing::signed_offset; m.non_temporal = true; break;
    case 1: m.mode = Addressing::post_index; break;
    case 2: m.mode = Addressing::signed_offset; break;
    default: m.mode = Addressing::pre_index; break;
    }
    const std::string_view what = load ? "a load pair" : "a store pair";
    // C6.2 LDP: "if t == t2 then ConstrainUnpredictable(Unpredictable_LDPOVERLAP)"
    // (C7.2 LDP (SIMD&FP) too); "if wback && (t == n || t2 == n) && n != 31"
    // then Unpredictable_WBOVERLAPLD (loads) or _WBOVERLAPST (STP).
    if (load && m.rt == m.rt2) return unpredictable(what, "Rt == Rt2", "Unpredictable_LDPOVERLAP");
    if (!v && m.writeback() && m.rn != 31 && (m.rt == m.rn || m.rt2 == m.rn))
        return unpredictable(what, "Rt or Rt2 == Rn", load ? "Unpredictable_WBOVERLAPLD" : "Unpredictable_WBOVERLAPST");
    return accept(m);
}

// "Atomic memory operations" (FEAT_LSE, and LDAPR from FEAT_LRCPC).
[[nodiscard]] Decoded decode_atomic(uint32_t w) {
    const unsigned size = field(w, 30, 2);
    const bool v = bit(w, 26);
    const bool a = bit(w, 23);
    const bool r = bit(w, 22);
    const unsigned rs = field(w, 16, 5);
    const bool o3 = bit(w, 15);
    const unsigned opc = field(w, 12, 3);
    if (v) return undefined("unallocated atomic memory operation (V = 1)");
    MemInsn m;
    m.word = w;
    m.mode = Addressing::base_only;
    m.size_log2 = size;
    m.reg64 = size == 3;
    m.rt = field(w, 0, 5);
    m.rn = field(w, 5, 5);
    m.rs = rs;
    m.acquire = a;
    m.release = r;
    if (!o3) {
        m.op = Op::atomic;
        m.atomic = static_cast<AtomicOp>(opc);  // 000 ADD .. 111 UMIN, in AtomicOp's order
        return accept(m);
    }
    if (opc == 0) {
        m.op = Op::atomic;
        m.atomic = AtomicOp::swp;
        return accept(m);
    }
    // C6.2 LDAPR: size 111000 1 0 1 11111 1 100 00 Rn Rt.
    if (opc == 4 && a && !r && rs == 31) {
        m.op = Op::load;
        m.release = false;
        return accept(m);
    }
    if (size == 3 && (opc == 1 || opc == 2 || opc == 3 || opc == 5)) return refuse("LD64B/ST64B (FEAT_LS64)");
    return undefined("unallocated atomic memory operation");
}

// "Load/store exclusive", "ordered", "compare and swap (pair)".
[[nodiscard]] Decoded decode_excl(uint32_t w) {
    const unsigned size = field(w, 30, 2);
    const bool o2 = bit(w, 23);
    const bool l = bit(w, 22);
    const bool o1 = bit(w, 21);
    const bool o0 = bit(w, 15);
    MemInsn m;
    m.word = w;
    m.mode = Addressing::base_only;
    m.rt = field(w, 0, 5);
    m.rn = field(w, 5, 5);
    m.rs = field(w, 16, 5);
    m.rt2 = field(w, 10, 5);
    m.size_log2 = size;
    m.reg64 = size == 3;
    if (o2 && o1) {
        // C6.2 CAS, CASA, CASAL, CASL (and B/H): L acquire, o0 release.
        m.op = Op::compare_swap;
        m.acquire = l;
        m.release = o0;
        return accept(m);
    }
    if (o2) {
        // C6.2 LDAR/STLR (o0 = 1); LDLAR/STLLR (o0 = 0) are FEAT_LOR.
        if (!o0) return refuse(l ? "LDLAR (load LOAcquire)" : "STLLR (store LORelease)");
        m.op = l ? Op::load : Op::store;
        m.acquire = l;
        m.release = !l;
        return accept(m);
    }
    if (o1 && size < 2) {
        // C6.2 CASP: 0 sz 001000 0 L 1 Rs o0 11111 Rn Rt; "if Rs<0> == '1'
        // then UNDEFINED; if Rt<0> == '1' then UNDEFINED".
        if ((m.rs & 1) != 0 || (m.rt & 1) != 0) return undefined("CASP with an odd register: UNDEFINED");
        m.op = Op::compare_swap;
        m.pair = true;
        m.size_log2 = 2 + (size & 1);
        m.reg64 = (size & 1) != 0;
        m.acquire = l;
        m.release = o0;
        return accept(m);
    }
    // LDXR/LDAXR/STXR/STLXR, and the pairs LDXP/LDAXP/STXP/STLXP (sz =
    // bit 30): the executor knows their footprint only.
    m.op = l ? Op::load_exclusive : Op::store_exclusive;
    m.pair = o1;
    if (o1) {
        m.size_log2 = 2 + (size & 1);
        m.reg64 = (size & 1) != 0;
    }
    m.acquire = l && o0;
    m.release = !l && o0;
    return accept(m);
}

[[nodiscard]] Decoded decode_literal(uint32_t w) {
    const unsigned opc = field(w, 30, 2);
    MemInsn m;
    m.word = w;
    m.mode = Addressing::literal;
    m.rt = field(w, 0, 5);
    m.offset = sign_extend(field(w, 5, 19), 19) * 4;  // imm19 words from the PC
    m.op = Op::load;
    if (bit(w, 26)) {
        // C7.2 LDR (literal, SIMD&FP): opc 00 S, 01 D, 10 Q.
        if (opc == 3) return undefined("unallocated load register (literal) encoding");
        m.simd = true;
        m.size_log2 = 2 + opc;
        return accept(m);
    }
    switch (opc) {
    case 0: m.size_log2 = 2; break;                                  // LDR Wt
    case 1: m.size_log2 = 3; m.reg64 = true; break;                  // LDR Xt
    case 2: m.size_log2 = 2; m.sign_extend = true; m.reg64 = true; break;  // LDRSW
    default: m.op = Op::prefetch; m.size_log2 = 3; break;            // PRFM (literal)
    }
    return accept(m);
}

[[nodiscard]] Decoded decode_sys(uint32_t w) {
    MemInsn m;
    m.word = w;
    m.mode = Addressing::register_only;
    m.rt = field(w, 0, 5);
    m.size_log2 = 0;
    const uint32_t op = w & mask_sysop;
    if (op == dc_zva) {
        m.op = Op::zero_block;
        return accept(m);
    }
    m.op = Op::cache_maintenance;
    switch (op) {
    case dc_ivac: m.maintenance = Maintenance::dc_ivac; break;
    case dc_cvac: m.maintenance = Maintenance::dc_cvac; break;
    case dc_cvau: m.maintenance = Maintenance::dc_cvau; break;
    case dc_cvap: m.maintenance = Maintenance::dc_cvap; break;
    case dc_cvadp: m.maintenance = Maintenance::dc_cvadp; break;
    case dc_civac: m.maintenance = Maintenance::dc_civac; break;
    case ic_ivau: m.maintenance = Maintenance::ic_ivau; break;
    default:
        return refuse(fmt::format("SYS #{}, C{}, C{}, #{} (not a cache maintenance by address)", field(w, 16, 3),
                                  field(w, 12, 4), field(w, 8, 4), field(w, 5, 3)));
    }
    return accept(m);
}

// Names of the load/store classes the executor does not run.
[[nodiscard]] Decoded decode_other(uint32_t w) {
    if (matches(w, mask_pac, value_pac)) {
        if (field(w, 30, 2) == 3 && !bit(w, 26)) return refuse("LDRAA/LDRAB (pointer authentication)");
        return undefined("unallocated load/store register (pac) encoding");
    }
    if (matches(w, mask_mte, value_mte)) return refuse("LDG/STG (memory tagging)");
    if (matches(w, mask_rcpc, value_rcpc)) return refuse("LDAPUR/STLUR (RCpc, unscaled)");
    if (matches(w, mask_simd_struct, value_simd_struct)) return refuse("LD1/ST1 family (SIMD structures)");
    return refuse("load/store (other form)");
}

[[nodiscard]] std::string lower(std::string_view s) {
    std::string out{s};
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

[[nodiscard]] std::string gpr_name(unsigned r, bool x) {
    if (r == 31) return x ? "xzr" : "wzr";
    return fmt::format("{}{}", x ? 'x' : 'w', r);
}
[[nodiscard]] std::string base_name(unsigned r) { return r == 31 ? "sp" : fmt::format("x{}", r); }
[[nodiscard]] std::string simd_name(unsigned r, unsigned size_log2) {
    constexpr std::string_view prefix = "bhsdq";
    return fmt::format("{}{}", prefix[size_log2], r);
}
[[nodiscard]] std::string rt_name(const MemInsn& m, unsigned r) {
    return m.simd ? simd_name(r, m.size_log2) : gpr_name(r, m.reg64);
}

// The prefetch operation's name (C6.2 PRFM: prfop = type(4:3) PLD, PLI,
// PST; target(2:1) L1, L2, L3; policy(0) KEEP, STRM); other values print
// as "#0x.." (objdump).
[[nodiscard]] std::string prfop(unsigned v) {
    constexpr std::string_view type[] = {"pld", "pli", "pst"};
    const unsigned t = v >> 3;
    const unsigned target = (v >> 1) & 3;
    if (t > 2 || target > 2) return fmt::format("#{:#04x}", v);
    return fmt::format("{}l{}{}", type[t], target + 1, (v & 1) != 0 ? "strm" : "keep");
}

// The mnemonic of a single-register load/store.
[[nodiscard]] std::string single_mnemonic(const MemInsn& m) {
    if (m.acquire || m.release) {
        // LDAR/STLR/LDAPR and their B/H forms.
        const std::string_view suffix = m.size_log2 == 0 ? "b" : m.size_log2 == 1 ? "h" : "";
        const bool ldapr = m.op == Op::load && field(m.word, 24, 6) == 0b111000;
        return fmt::format("{}{}", m.op == Op::load ? (ldapr ? "ldapr" : "ldar") : "stlr", suffix);
    }
    std::string mn;
    if (m.simd) {
        mn = m.op == Op::load ? "ldr" : "str";
    } else if (m.op == Op::prefetch) {
        mn = "prfm";
    } else {
        const unsigned opc = m.op == Op::store ? 0 : !m.sign_extend ? 1 : m.reg64 ? 2 : 3;
        mn = lower(gpr_mnemonic(m.size_log2, opc));
    }
    // Unscaled: "ldr" -> "ldur" (LDURSB, STURH, ...), PRFM -> PRFUM;
    // unprivileged: "ldr" -> "ldtr" (LDTRSB, STTRH, ...).
    // A new string rather than mn.insert(2, ...): GCC 12's inlined
    // basic_string::_M_replace draws a false -Wrestrict at -O3 (GCC PRs
    // 105651 and 105329, fixed in GCC 13), and every mnemonic here starts
    // with its two-letter "ld"/"st".
    if (m.op == Op::prefetch && m.mode == Addressing::unscaled) return "prfum";
    const std::string_view v = mn;
    if (m.unprivileged) return fmt::format("{}t{}", v.substr(0, 2), v.substr(2));
    if (m.mode == Addressing::unscaled) return fmt::format("{}u{}", v.substr(0, 2), v.substr(2));
    return mn;
}

[[nodiscard]] std::string address_text(const MemInsn& m) {
    const std::string rn = base_name(m.rn);
    switch (m.mode) {
    case Addressing::unsigned_offset:
    case Addressing::unscaled:
    case Addressing::signed_offset:
        if (m.offset == 0) return fmt::format("[{}]", rn);
        return fmt::format("[{}, #{}]", rn, m.offset);
    case Addressing::pre_index: return fmt::format("[{}, #{}]!", rn, m.offset);
    case Addressing::post_index: return fmt::format("[{}], #{}", rn, m.offset);
    case Addressing::base_only: return fmt::format("[{}]", rn);
    case Addressing::literal: return fmt::format(".{:+}", m.offset);
    case Addressing::register_only: return gpr_name(m.rt, true);
    case Addressing::register_offset: {
        const bool rm_x = m.extend == Extend::lsl || m.extend == Extend::sxtx;
        const std::string rm = gpr_name(m.rm, rm_x);
        std::string ext;
        switch (m.extend) {
        case Extend::lsl: ext = m.shift_bit ? fmt::format(", lsl #{}", m.amount) : ""; break;
        case Extend::uxtw: ext = m.shift_bit ? fmt::format(", uxtw #{}", m.amount) : ", uxtw"; break;
        case Extend::sxtw: ext = m.shift_bit ? fmt::format(", sxtw #{}", m.amount) : ", sxtw"; break;
        case Extend::sxtx: ext = m.shift_bit ? fmt::format(", sxtx #{}", m.amount) : ", sxtx"; break;
        }
        return fmt::format("[{}, {}{}]", rn, rm, ext);
    }
    }
    return {};
}

[[nodiscard]] std::string_view atomic_name(AtomicOp op) noexcept {
    switch (op) {
    case AtomicOp::add: return "add";
    case AtomicOp::clr: return "clr";
    case AtomicOp::eor: return "eor";
    case AtomicOp::set: return "set";
    case AtomicOp::smax: return "smax";
    case AtomicOp::smin: return "smin";
    case AtomicOp::umax: return "umax";
    case AtomicOp::umin: return "umin";
    case AtomicOp::swp: return "swp";
    }
    return "?";
}

[[nodiscard]] std::string_view maintenance_name(Maintenance op) noexcept {
    switch (op) {
    case Maintenance::dc_ivac: return "dc ivac";
    case Maintenance::dc_cvac: return "dc cvac";
    case Maintenance::dc_cvau: return "dc cvau";
    case Maintenance::dc_cvap: return "dc cvap";
    case Maintenance::dc_cvadp: return "dc cvadp";
    case Maintenance::dc_civac: return "dc civac";
    case Maintenance::ic_ivau: return "ic ivau";
    }
    return "?";
}

}  // namespace

Decoded decode(uint32_t w) {
    if (matches(w, mask_sys, value_sys)) return decode_sys(w);
    if (!matches(w, mask_ldst, value_ldst)) return refuse("not a load/store instruction");
    if (matches(w, mask_unsigned_offset, value_unsigned_offset))
        return decode_register_class(w, Addressing::unsigned_offset, false);
    switch (w & mask_reg_group) {
    case value_unscaled: return decode_register_class(w, Addressing::unscaled, false);
    case value_post_index: return decode_register_class(w, Addressing::post_index, false);
    case value_unprivileged: return decode_register_class(w, Addressing::unscaled, true);
    case value_pre_index: return decode_register_class(w, Addressing::pre_index, false);
    case value_atomic: return decode_atomic(w);
    case value_register_offset: return decode_register_class(w, Addressing::register_offset, false);
    default: break;
    }
    if (matches(w, mask_literal, value_literal)) return decode_literal(w);
    if (matches(w, mask_pair, value_pair)) return decode_pair(w);
    if (matches(w, mask_excl, value_excl)) return decode_excl(w);
    return decode_other(w);
}

uint64_t insn_syndrome(const MemInsn& m) noexcept {
    switch (m.op) {
    case Op::load:
    case Op::store:
        // ISV = 1: a general-purpose register, no writeback (Arm ARM
        // D24.2.46, ISV; QEMU target/arm/translate-a64.c disas_ldst_reg_imm9:
        // iss_valid = !is_vector && !writeback). AR for LDAR/STLR/LDAPR.
        if (m.simd || m.writeback()) return 0;
        return Esr::insn_syndrome(m.size_log2, m.sign_extend, m.rt, m.reg64, m.acquire || m.release);
    case Op::cache_maintenance: return Esr::cm;
    case Op::load_pair:
    case Op::store_pair:
    case Op::atomic:
    case Op::compare_swap:
    case Op::prefetch:
    case Op::zero_block:  // "DC ZVA ... not classified as cache maintenance" (ESR CM): CM = 0, ISV = 0
    case Op::load_exclusive:
    case Op::store_exclusive: return 0;
    }
    return 0;
}

std::string text(const MemInsn& m) {
    switch (m.op) {
    case Op::load:
    case Op::store: return fmt::format("{} {}, {}", single_mnemonic(m), rt_name(m, m.rt), address_text(m));
    case Op::prefetch: return fmt::format("{} {}, {}", single_mnemonic(m), prfop(m.rt), address_text(m));
    case Op::load_pair:
    case Op::store_pair: {
        const std::string mn = m.sign_extend ? "ldpsw"
                               : m.non_temporal ? (m.op == Op::load_pair ? "ldnp" : "stnp")
                                                : (m.op == Op::load_pair ? "ldp" : "stp");
        return fmt::format("{} {}, {}, {}", mn, rt_name(m, m.rt), rt_name(m, m.rt2), address_text(m));
    }
    case Op::atomic: {
        const std::string_view sz = m.size_log2 == 0 ? "b" : m.size_log2 == 1 ? "h" : "";
        const std::string ord = fmt::format("{}{}", m.acquire ? "a" : "", m.release ? "l" : "");
        // ST<op>: the alias of LD<op> with Rt = XZR and no acquire (C6.2 STADD ...).
        if (m.atomic != AtomicOp::swp && m.rt == 31 && !m.acquire)
            return fmt::format("st{}{}{} {}, [{}]", atomic_name(m.atomic), ord, sz, gpr_name(m.rs, m.reg64),
                               base_name(m.rn));
        const std::string mn = m.atomic == AtomicOp::swp ? fmt::format("swp{}{}", ord, sz)
                                                         : fmt::format("ld{}{}{}", atomic_name(m.atomic), ord, sz);
        return fmt::format("{} {}, {}, [{}]", mn, gpr_name(m.rs, m.reg64), gpr_name(m.rt, m.reg64), base_name(m.rn));
    }
    case Op::compare_swap: {
        const std::string ord = fmt::format("{}{}", m.acquire ? "a" : "", m.release ? "l" : "");
        if (m.pair)
            return fmt::format("casp{} {}, {}, {}, {}, [{}]", ord, gpr_name(m.rs, m.reg64), gpr_name(m.rs + 1, m.reg64),
                               gpr_name(m.rt, m.reg64), gpr_name(m.rt + 1, m.reg64), base_name(m.rn));
        const std::string_view sz = m.size_log2 == 0 ? "b" : m.size_log2 == 1 ? "h" : "";
        return fmt::format("cas{}{} {}, {}, [{}]", ord, sz, gpr_name(m.rs, m.reg64), gpr_name(m.rt, m.reg64),
                           base_name(m.rn));
    }
    case Op::zero_block: return fmt::format("dc zva, {}", gpr_name(m.rt, true));
    case Op::cache_maintenance: return fmt::format("{}, {}", maintenance_name(m.maintenance), gpr_name(m.rt, true));
    case Op::load_exclusive:
    case Op::store_exclusive: {
        const bool load = m.op == Op::load_exclusive;
        const std::string_view sz = m.pair ? "p" : m.size_log2 == 0 ? "rb" : m.size_log2 == 1 ? "rh" : "r";
        const std::string mn = fmt::format("{}{}x{}", load ? "ld" : "st", m.acquire ? "a" : m.release ? "l" : "", sz);
        std::string regs = load ? "" : fmt::format("{}, ", gpr_name(m.rs, false));
        regs += gpr_name(m.rt, m.reg64);
        if (m.pair) regs += fmt::format(", {}", gpr_name(m.rt2, m.reg64));
        return fmt::format("{} {}, [{}]", mn, regs, base_name(m.rn));
    }
    }
    return {};
}

}  // namespace hvcore::arm64::detail
