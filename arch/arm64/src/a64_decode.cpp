#include "a64_decode.hpp"

#include <fmt/format.h>

#include <string_view>

#include "hvcore/arm64/esr.hpp"

namespace hvcore::arm64::detail {

namespace {

[[nodiscard]] constexpr uint32_t field(uint32_t w, unsigned lo, unsigned width) noexcept {
    return (w >> lo) & ((uint32_t{1} << width) - 1);
}
[[nodiscard]] constexpr bool matches(uint32_t w, uint32_t mask, uint32_t value) noexcept { return (w & mask) == value; }

// Group masks (C4.1, "Loads and Stores"): fixed bits of each encoding class.
constexpr uint32_t mask_unsigned_offset = 0x3B00'0000;  // size 111 V 01 opc imm12 Rn Rt
constexpr uint32_t value_unsigned_offset = 0x3900'0000;
constexpr uint32_t mask_reg_group = 0x3B20'0C00;        // size 111 V 00 opc b21 ... b11:10 Rn Rt
constexpr uint32_t value_unscaled = 0x3800'0000;        // b21 = 0, 00: LDUR/STUR
constexpr uint32_t value_post_index = 0x3800'0400;      // b21 = 0, 01
constexpr uint32_t value_unprivileged = 0x3800'0800;    // b21 = 0, 10: LDTR/STTR
constexpr uint32_t value_pre_index = 0x3800'0C00;       // b21 = 0, 11
constexpr uint32_t value_atomic = 0x3820'0000;          // b21 = 1, 00: LDADD, SWP, ... (FEAT_LSE)
constexpr uint32_t value_register_offset = 0x3820'0800; // b21 = 1, 10
constexpr uint32_t mask_pac = 0x3B20'0400;              // b21 = 1, b10 = 1: LDRAA/LDRAB (FEAT_PAuth)
constexpr uint32_t value_pac = 0x3820'0400;
constexpr uint32_t mask_literal = 0x3B00'0000;          // opc 011 V 00 imm19 Rt
constexpr uint32_t value_literal = 0x1800'0000;
constexpr uint32_t mask_pair = 0x3A00'0000;             // opc 101 V 0 mode L imm7 Rt2 Rn Rt
constexpr uint32_t value_pair = 0x2800'0000;
constexpr uint32_t mask_excl = 0x3F00'0000;             // size 001000 o2 L o1 Rs o0 Rt2 Rn Rt
constexpr uint32_t value_excl = 0x0800'0000;
constexpr uint32_t mask_mte = 0xFF20'0000;              // 11011001 opc 1 ...: LDG/STG (FEAT_MTE)
constexpr uint32_t value_mte = 0xD920'0000;
constexpr uint32_t mask_rcpc = 0x3F20'0C00;             // size 011001 opc 0 imm9 00: LDAPUR/STLUR (FEAT_LRCPC2)
constexpr uint32_t value_rcpc = 0x1900'0000;
constexpr uint32_t mask_simd_struct = 0xBE00'0000;      // 0 Q 00110 ...: LD1..LD4/ST1..ST4
constexpr uint32_t value_simd_struct = 0x0C00'0000;
constexpr uint32_t mask_ldst = 0x0A00'0000;             // op0 x1x0: the Loads and Stores class
constexpr uint32_t value_ldst = 0x0800'0000;

// size (31:30), V (26), opc (23:22) of the register classes.
struct Fields {
    unsigned size;
    bool v;
    unsigned opc;
};
[[nodiscard]] constexpr Fields fields(uint32_t w) noexcept {
    return {field(w, 30, 2), field(w, 26, 1) != 0, field(w, 22, 2)};
}

// The mnemonic of a general-purpose register load/store by size and opc
// (C6.2, "Load/store register" opc table), "" when unallocated, "PRFM"
// for the prefetch slot.
[[nodiscard]] constexpr std::string_view gpr_mnemonic(unsigned size, unsigned opc) noexcept {
    constexpr std::string_view names[4][4] = {
        {"STRB", "LDRB", "LDRSB", "LDRSB"},
        {"STRH", "LDRH", "LDRSH", "LDRSH"},
        {"STR", "LDR", "LDRSW", ""},
        {"STR", "LDR", "PRFM", ""},
    };
    return names[size & 3][opc & 3];
}

[[nodiscard]] std::string name_of_reg_class(uint32_t w, std::string_view form) {
    const Fields f = fields(w);
    if (f.v) return fmt::format("{} (SIMD&FP{})", (f.opc & 1) != 0 ? "LDR" : "STR", form);
    const std::string_view mn = gpr_mnemonic(f.size, f.opc);
    if (mn.empty()) return "unallocated load/store register encoding";
    if (form.empty()) return std::string{mn};
    return fmt::format("{} ({})", mn, form.substr(2));  // form is ", xxx": drop the separator
}

[[nodiscard]] std::string name_of_pair(uint32_t w) {
    const unsigned opc = field(w, 30, 2);
    const bool v = field(w, 26, 1) != 0;
    const bool load = field(w, 22, 1) != 0;
    const bool non_temporal = field(w, 23, 2) == 0;
    if (v) return fmt::format("{} (SIMD&FP)", load ? (non_temporal ? "LDNP" : "LDP") : (non_temporal ? "STNP" : "STP"));
    if (opc == 1) return load ? "LDPSW" : "STGP";
    return std::string{load ? (non_temporal ? "LDNP" : "LDP") : (non_temporal ? "STNP" : "STP")};
}

[[nodiscard]] std::string name_of_exclusive(uint32_t w) {
    const bool o2 = field(w, 23, 1) != 0;
    const bool load = field(w, 22, 1) != 0;
    const bool o1 = field(w, 21, 1) != 0;
    if (!o2) return load ? "LDXR/LDAXR/LDXP (load exclusive)" : "STXR/STLXR/STXP (store exclusive)";
    if (o1) return "CAS (compare and swap)";
    return load ? "LDAR (load-acquire)" : "STLR (store-release)";
}

[[nodiscard]] std::string name_other(uint32_t w) {
    if (matches(w, mask_reg_group, value_post_index)) return name_of_reg_class(w, ", immediate, post-index");
    if (matches(w, mask_reg_group, value_pre_index)) return name_of_reg_class(w, ", immediate, pre-index");
    if (matches(w, mask_reg_group, value_unprivileged))
        return field(w, 26, 1) != 0 ? "unallocated load/store encoding" : "LDTR/STTR (unprivileged)";
    if (matches(w, mask_reg_group, value_atomic)) return "LDADD/SWP/... (atomic memory operation)";
    if (matches(w, mask_pac, value_pac)) return "LDRAA/LDRAB (pointer authentication)";
    if (matches(w, mask_literal, value_literal)) {
        if (field(w, 26, 1) != 0) return "LDR (literal, SIMD&FP)";
        switch (field(w, 30, 2)) {
        case 0:
        case 1: return "LDR (literal)";
        case 2: return "LDRSW (literal)";
        default: return "PRFM (literal)";
        }
    }
    if (matches(w, mask_pair, value_pair)) return name_of_pair(w);
    if (matches(w, mask_excl, value_excl)) return name_of_exclusive(w);
    if (matches(w, mask_mte, value_mte)) return "LDG/STG (memory tagging)";
    if (matches(w, mask_rcpc, value_rcpc)) return "LDAPUR/STLUR (RCpc, unscaled)";
    if (matches(w, mask_simd_struct, value_simd_struct)) return "LD1/ST1 family (SIMD structures)";
    if (matches(w, mask_ldst, value_ldst)) return "load/store (other form)";
    return "not a load/store instruction";
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

[[nodiscard]] constexpr int64_t sign_extend(uint64_t v, unsigned bits) noexcept {
    const unsigned spare = 64 - bits;
    return static_cast<int64_t>(v << spare) >> spare;
}

[[nodiscard]] std::string gpr_name(unsigned r, bool x) {
    if (r == 31) return x ? "xzr" : "wzr";
    return fmt::format("{}{}", x ? 'x' : 'w', r);
}

}  // namespace

Decoded decode(uint32_t w) {
    const bool unsigned_offset = matches(w, mask_unsigned_offset, value_unsigned_offset);
    const bool unscaled = matches(w, mask_reg_group, value_unscaled);
    const bool register_offset = matches(w, mask_reg_group, value_register_offset);
    if (!unsigned_offset && !unscaled && !register_offset) return {std::nullopt, name_other(w)};

    const std::string_view form = unsigned_offset ? ", immediate" : unscaled ? ", unscaled" : ", register";
    const Fields f = fields(w);
    const std::optional<Kind> k = kind_of(f.size, f.opc);
    if (f.v || !k) {
        // SIMD&FP registers, prefetches (PRFM, and PRFUM in the unscaled
        // class) and unallocated size/opc combinations.
        const bool prefetch = !f.v && gpr_mnemonic(f.size, f.opc) == "PRFM";
        if (prefetch && unscaled) return {std::nullopt, "PRFUM"};
        if (f.v && unscaled) return {std::nullopt, (f.opc & 1) != 0 ? "LDUR (SIMD&FP)" : "STUR (SIMD&FP)"};
        return {std::nullopt, name_of_reg_class(w, f.v || prefetch ? form : "")};
    }

    LoadStore ls;
    ls.word = w;
    ls.load = k->load;
    ls.size_log2 = f.size;
    ls.sign_extend = k->sign_extend;
    ls.reg64 = k->reg64;
    ls.rt = field(w, 0, 5);
    ls.rn = field(w, 5, 5);
    if (unsigned_offset) {
        ls.mode = Addressing::unsigned_offset;
        ls.offset = int64_t{field(w, 10, 12)} << f.size;  // imm12 scaled by the access size
    } else if (unscaled) {
        ls.mode = Addressing::unscaled;
        ls.offset = sign_extend(field(w, 12, 9), 9);
    } else {
        const unsigned option = field(w, 13, 3);
        if ((option & 0b010) == 0) return {std::nullopt, "unallocated load/store register (register offset) option"};
        ls.mode = Addressing::register_offset;
        ls.rm = field(w, 16, 5);
        ls.extend = static_cast<Extend>(option);
        ls.amount = field(w, 12, 1) != 0 ? f.size : 0;  // S: shift by log2(size), else 0
    }
    return {ls, {}};
}

uint64_t insn_syndrome(const LoadStore& ls) noexcept {
    return Esr::insn_syndrome(ls.size_log2, ls.sign_extend, ls.rt, ls.reg64, false);
}

std::string text(const LoadStore& ls) {
    // Mnemonic: STUR/LDUR for the unscaled class (C6.2 "LDUR", "STURB", ...).
    std::string mn{gpr_mnemonic(ls.size_log2, ls.load ? (ls.sign_extend ? (ls.reg64 ? 2U : 3U) : 1U) : 0U)};
    for (char& c : mn) c = static_cast<char>(c - 'A' + 'a');
    if (ls.mode == Addressing::unscaled) mn.replace(0, 3, mn.substr(0, 2) + "ur");
    const std::string rt = gpr_name(ls.rt, ls.reg64);
    const std::string rn = ls.rn == 31 ? "sp" : fmt::format("x{}", ls.rn);
    switch (ls.mode) {
    case Addressing::unsigned_offset:
    case Addressing::unscaled:
        if (ls.offset == 0) return fmt::format("{} {}, [{}]", mn, rt, rn);
        return fmt::format("{} {}, [{}, #{}]", mn, rt, rn, ls.offset);
    case Addressing::register_offset: {
        const bool rm_x = ls.extend == Extend::lsl || ls.extend == Extend::sxtx;
        const std::string rm = gpr_name(ls.rm, rm_x);
        const bool s = field(ls.word, 12, 1) != 0;
        std::string ext;
        switch (ls.extend) {
        case Extend::lsl: ext = s ? fmt::format(", lsl #{}", ls.amount) : ""; break;
        case Extend::uxtw: ext = s ? fmt::format(", uxtw #{}", ls.amount) : ", uxtw"; break;
        case Extend::sxtw: ext = s ? fmt::format(", sxtw #{}", ls.amount) : ", sxtw"; break;
        case Extend::sxtx: ext = s ? fmt::format(", sxtx #{}", ls.amount) : ", sxtx"; break;
        }
        return fmt::format("{} {}, [{}, {}{}]", mn, rt, rn, rm, ext);
    }
    }
    return mn;
}

}  // namespace hvcore::arm64::detail
