// SPDX-License-Identifier: MIT
// a64_diff_gen SEED TRIALS_PER_FORM OUT.S: the cases of the A64
// differential test as an assembly file. Each case is the instruction as
// assembly text (GNU as encodes it; hvcore never supplies an encoding),
// followed by its form, seed and fixups (a64_diff_case.hpp, CaseRecord),
// and its text as a string. The instructions are random over registers,
// sizes, orderings, extends, shifts and immediates; their effective
// addresses are random inside the data window, often across its middle
// page boundary, aligned where the architecture requires it. Cases are
// kept clear of CONSTRAINED UNPREDICTABLE operand overlaps (writeback with
// Rt == Rn, LDP with Rt == Rt2), which hvcore deliberately treats as
// UNDEFINED and the unit tests cover.
//
// Built for the host with no dependency but the C++ library.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "a64_diff_case.hpp"

using namespace a64diff;

namespace {

struct Case {
    Form form;
    std::string text;
    std::vector<Fixup> fix;
};

std::string fmt_hex(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}
std::string fmt_int(int64_t v) { return std::to_string(v); }

std::string xreg(unsigned r) { return r == 31 ? "xzr" : "x" + std::to_string(r); }
std::string wreg(unsigned r) { return r == 31 ? "wzr" : "w" + std::to_string(r); }
std::string gpr(unsigned r, bool x) { return x ? xreg(r) : wreg(r); }
std::string base(unsigned r) { return r == 31 ? "sp" : "x" + std::to_string(r); }
std::string vreg(char c, unsigned r) { return std::string(1, c) + std::to_string(r); }

class Gen {
public:
    explicit Gen(uint64_t seed) : r_{seed} {}

    // Effective address of an access of `bytes` aligned to `align`: often
    // near the trapped page's start (splits and both sides of it), else
    // anywhere in the window.
    uint64_t ea(unsigned bytes, unsigned align) {
        const uint64_t hi = window + window_bytes - bytes;
        uint64_t a = 0;
        if (r_.below(5) < 2) {
            a = trapped_page - 40 + r_.below(80);
        } else {
            a = window + r_.below(window_bytes - bytes + 1);
        }
        if (a > hi) a = hi;
        a &= ~uint64_t{align - 1};
        if (a < window) a = window;
        return a;
    }
    unsigned reg(unsigned hi = 30) { return static_cast<unsigned>(r_.below(hi + 1)); }
    unsigned reg_except(std::initializer_list<unsigned> no, unsigned hi = 30) {
        for (;;) {
            const unsigned r = reg(hi);
            bool ok = true;
            for (unsigned n : no) ok = ok && r != n;
            if (ok) return r;
        }
    }
    // A base register: SP one time in four.
    unsigned base_reg() { return r_.below(4) == 0 ? 31 : reg(); }
    bool coin() { return r_.below(2) == 0; }
    uint64_t below(uint64_t n) { return r_.below(n); }
    int64_t simm(unsigned bits) {
        const int64_t span = int64_t{1} << bits;
        return static_cast<int64_t>(r_.below(static_cast<uint64_t>(span))) - span / 2;
    }
    uint64_t seed() { return r_.next(); }

private:
    Rng r_;
};

// A general-purpose single-register load/store kind (C6.2 opc tables).
struct GprKind {
    const char* mn;  // immediate mnemonic
    const char* ur;  // unscaled
    const char* tr;  // unprivileged
    unsigned size_log2;
    bool x;  // X register
};
constexpr GprKind gpr_kinds[] = {
    {"strb", "sturb", "sttrb", 0, false},   {"ldrb", "ldurb", "ldtrb", 0, false},
    {"ldrsb", "ldursb", "ldtrsb", 0, true}, {"ldrsb", "ldursb", "ldtrsb", 0, false},
    {"strh", "sturh", "sttrh", 1, false},   {"ldrh", "ldurh", "ldtrh", 1, false},
    {"ldrsh", "ldursh", "ldtrsh", 1, true}, {"ldrsh", "ldursh", "ldtrsh", 1, false},
    {"str", "stur", "sttr", 2, false},      {"ldr", "ldur", "ldtr", 2, false},
    {"ldrsw", "ldursw", "ldtrsw", 2, true}, {"str", "stur", "sttr", 3, true},
    {"ldr", "ldur", "ldtr", 3, true},
};

// SIMD&FP register kinds: B H S D Q.
constexpr char simd_letter[] = {'b', 'h', 's', 'd', 'q'};

// "[base, #off]" with "#0" left out, as objdump prints it.
std::string offset_addr(unsigned rn, int64_t off) {
    if (off == 0) return "[" + base(rn) + "]";
    return "[" + base(rn) + ", #" + fmt_int(off) + "]";
}

Fixup set(unsigned r, uint64_t v) { return Fixup{Fixup::set_x, r, v, 0}; }

// The prefetch operation's name, or "#0x.." (as objdump prints them).
std::string prfop(unsigned v) {
    static const char* type[] = {"pld", "pli", "pst"};
    const unsigned t = v >> 3;
    const unsigned target = (v >> 1) & 3;
    if (t > 2 || target > 2) {
        char b[16];
        std::snprintf(b, sizeof b, "#0x%02x", v & 0x1f);
        return b;
    }
    return std::string(type[t]) + "l" + std::to_string(target + 1) + ((v & 1) != 0 ? "strm" : "keep");
}

// Register-offset operand: extend and S chosen at random, Rm aimed so the
// address lands at ea. Rm is never the base (the two would be tied).
std::string register_offset(Gen& g, Case& c, unsigned rn, unsigned size_log2, uint64_t ea) {
    const unsigned rm = g.below(8) == 0 ? 31 : g.reg_except({rn});
    const unsigned which = static_cast<unsigned>(g.below(4));  // lsl uxtw sxtw sxtx
    const bool s = g.coin();
    const unsigned amount = s ? size_log2 : 0;
    // The index value: small, sometimes negative (where an extend keeps the
    // sign), with random upper bits under UXTW/SXTW to show they are ignored.
    int64_t idx = static_cast<int64_t>(g.below(512)) - (which == 1 ? 0 : 256);
    uint64_t raw = static_cast<uint64_t>(idx);
    if (which == 1 || which == 2) raw = (g.seed() << 32) | (static_cast<uint64_t>(idx) & 0xffff'ffff);
    if (rm == 31) {
        idx = 0;
        raw = 0;
    }
    const uint64_t off = static_cast<uint64_t>(idx) << amount;
    c.fix.push_back(set(rn, ea - off));
    if (rm != 31) c.fix.push_back(set(rm, raw));
    static const char* ext[] = {"lsl", "uxtw", "sxtw", "sxtx"};
    const bool rm_x = which == 0 || which == 3;
    std::string t = "[" + base(rn) + ", " + gpr(rm, rm_x);
    if (which == 0) {
        if (s) t += ", lsl #" + std::to_string(amount);
    } else {
        t += std::string(", ") + ext[which];
        if (s) t += " #" + std::to_string(amount);
    }
    return t + "]";
}

Case gen_gpr_single(Gen& g, Form f) {
    Case c{f, {}, {}};
    const GprKind& k = gpr_kinds[g.below(std::size(gpr_kinds))];
    const unsigned n = 1U << k.size_log2;
    const uint64_t a = g.ea(n, 1);
    const unsigned rn = g.base_reg();
    const bool wb = f == Form::ldst_pre || f == Form::ldst_post;
    // Writeback with Rt == Rn is CONSTRAINED UNPREDICTABLE: kept out.
    const unsigned rt = wb && rn != 31 ? g.reg_except({rn}, 31) : g.reg(31);
    const std::string rts = gpr(rt, k.x);
    if (f == Form::ldst_unsigned) {
        const int64_t off = static_cast<int64_t>(g.below(4096)) << k.size_log2;
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = std::string(k.mn) + " " + rts + ", " + offset_addr(rn, off);
    } else if (f == Form::ldst_unscaled || f == Form::ldst_unpriv) {
        const int64_t off = g.simm(9);
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = std::string(f == Form::ldst_unscaled ? k.ur : k.tr) + " " + rts + ", " + offset_addr(rn, off);
    } else if (f == Form::ldst_register) {
        c.text = std::string(k.mn) + " " + rts + ", " + register_offset(g, c, rn, k.size_log2, a);
    } else if (f == Form::ldst_pre) {
        const int64_t off = g.simm(9);
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = std::string(k.mn) + " " + rts + ", [" + base(rn) + ", #" + fmt_int(off) + "]!";
    } else {  // ldst_post
        const int64_t off = g.simm(9);
        c.fix.push_back(set(rn, a));
        c.text = std::string(k.mn) + " " + rts + ", [" + base(rn) + "], #" + fmt_int(off);
    }
    return c;
}

Case gen_simd_single(Gen& g, Form f) {
    Case c{f, {}, {}};
    const unsigned sl = static_cast<unsigned>(g.below(5));  // B H S D Q
    const unsigned n = 1U << sl;
    const uint64_t a = g.ea(n, 1);
    const unsigned rn = g.base_reg();
    const unsigned rt = g.reg(30);  // V31 is the oracle's scratch
    const bool load = g.coin();
    const std::string rts = vreg(simd_letter[sl], rt);
    const std::string mn = load ? "ldr " : "str ";
    if (f == Form::simd_unsigned) {
        const int64_t off = static_cast<int64_t>(g.below(4096)) << sl;
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = mn + rts + ", " + offset_addr(rn, off);
    } else if (f == Form::simd_unscaled) {
        const int64_t off = g.simm(9);
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = std::string(load ? "ldur " : "stur ") + rts + ", " + offset_addr(rn, off);
    } else if (f == Form::simd_register) {
        c.text = mn + rts + ", " + register_offset(g, c, rn, sl, a);
    } else {  // simd_pre_post
        const int64_t off = g.simm(9);
        if (g.coin()) {
            c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
            c.text = mn + rts + ", [" + base(rn) + ", #" + fmt_int(off) + "]!";
        } else {
            c.fix.push_back(set(rn, a));
            c.text = mn + rts + ", [" + base(rn) + "], #" + fmt_int(off);
        }
    }
    return c;
}

Case gen_literal(Gen& g) {
    Case c{Form::ld_literal, {}, {}};
    const unsigned kind = static_cast<unsigned>(g.below(7));  // w x sw s d q prfm
    static const unsigned bytes[] = {4, 8, 4, 4, 8, 16, 8};
    const uint64_t a = g.ea(bytes[kind], 4);  // imm19 counts words
    const int64_t off = static_cast<int64_t>(a) - static_cast<int64_t>(code_page);
    const unsigned rt = kind >= 3 && kind <= 5 ? g.reg(30) : g.reg(31);
    const std::string target = ".-" + std::to_string(-off);
    switch (kind) {
    case 0: c.text = "ldr " + wreg(rt) + ", " + target; break;
    case 1: c.text = "ldr " + xreg(rt) + ", " + target; break;
    case 2: c.text = "ldrsw " + xreg(rt) + ", " + target; break;
    case 3: c.text = "ldr " + vreg('s', rt) + ", " + target; break;
    case 4: c.text = "ldr " + vreg('d', rt) + ", " + target; break;
    case 5: c.text = "ldr " + vreg('q', rt) + ", " + target; break;
    default: c.text = "prfm " + prfop(rt) + ", " + target; break;
    }
    return c;
}

Case gen_ordered(Gen& g) {
    Case c{Form::ldar_stlr, {}, {}};
    const unsigned sl = static_cast<unsigned>(g.below(4));
    const unsigned kind = static_cast<unsigned>(g.below(3));  // ldar stlr ldapr
    const uint64_t a = g.ea(1U << sl, 1U << sl);
    const unsigned rn = g.base_reg();
    const unsigned rt = g.reg(31);
    static const char* mn[] = {"ldar", "stlr", "ldapr"};
    const char* suffix = sl == 0 ? "b" : sl == 1 ? "h" : "";
    c.fix.push_back(set(rn, a));
    c.text = std::string(mn[kind]) + suffix + " " + gpr(rt, sl == 3) + ", [" + base(rn) + "]";
    return c;
}

Case gen_pair(Gen& g, Form f) {
    Case c{f, {}, {}};
    const bool simd = f == Form::pair_simd;
    // GPR: 0 W, 1 X, 2 LDPSW; SIMD: 0 S, 1 D, 2 Q.
    const unsigned kind = static_cast<unsigned>(g.below(3));
    const unsigned sl = simd ? 2 + kind : kind == 1 ? 3 : 2;
    const unsigned n = 1U << sl;
    const bool ldpsw = !simd && kind == 2;
    const bool load = ldpsw || g.coin();
    // 0 signed offset, 1 pre, 2 post, 3 no-allocate (not for LDPSW).
    const unsigned mode = static_cast<unsigned>(g.below(ldpsw ? 3 : 4));
    const bool wb = mode == 1 || mode == 2;
    const uint64_t a = g.ea(2 * n, 1);
    const unsigned rn = g.base_reg();
    const unsigned hi = simd ? 30 : 31;
    unsigned rt = 0;
    unsigned rt2 = 0;
    for (;;) {
        rt = g.reg(hi);
        rt2 = g.reg(hi);
        if (load && rt == rt2) continue;                                  // LDPOVERLAP
        if (!simd && wb && rn != 31 && (rt == rn || rt2 == rn)) continue;  // WBOVERLAP
        break;
    }
    const int64_t off = g.simm(7) * static_cast<int64_t>(n);
    const auto name = [&](unsigned r) { return simd ? vreg(simd_letter[sl], r) : gpr(r, kind != 0); };
    std::string mn = ldpsw ? "ldpsw" : mode == 3 ? (load ? "ldnp" : "stnp") : (load ? "ldp" : "stp");
    std::string addr;
    switch (mode) {
    case 1:
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        addr = "[" + base(rn) + ", #" + fmt_int(off) + "]!";
        break;
    case 2:
        c.fix.push_back(set(rn, a));
        addr = "[" + base(rn) + "], #" + fmt_int(off);
        break;
    default:
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        addr = offset_addr(rn, off);
        break;
    }
    c.text = mn + " " + name(rt) + ", " + name(rt2) + ", " + addr;
    return c;
}

const char* order(unsigned o) {
    static const char* names[] = {"", "a", "l", "al"};
    return names[o & 3];
}
const char* size_suffix(unsigned sl) { return sl == 0 ? "b" : sl == 1 ? "h" : ""; }

Case gen_atomic(Gen& g, Form f) {
    Case c{f, {}, {}};
    const unsigned sl = static_cast<unsigned>(g.below(4));
    const uint64_t a = g.ea(1U << sl, 1U << sl);
    const unsigned rn = g.base_reg();
    const unsigned rs = g.reg(31);
    const unsigned rt = g.below(5) == 0 ? 31 : g.reg(31);
    const unsigned o = static_cast<unsigned>(g.below(4));
    const bool x = sl == 3;
    c.fix.push_back(set(rn, a));
    if (f == Form::swp) {
        c.text = std::string("swp") + order(o) + size_suffix(sl) + " " + gpr(rs, x) + ", " + gpr(rt, x) + ", [" +
                 base(rn) + "]";
        return c;
    }
    static const char* ops[] = {"add", "clr", "eor", "set", "smax", "smin", "umax", "umin"};
    const char* op = ops[g.below(8)];
    // ST<op>: the preferred text of LD<op> with Rt = XZR and no acquire.
    if (rt == 31 && (o & 1) == 0)
        c.text = std::string("st") + op + order(o) + size_suffix(sl) + " " + gpr(rs, x) + ", [" + base(rn) + "]";
    else
        c.text = std::string("ld") + op + order(o) + size_suffix(sl) + " " + gpr(rs, x) + ", " + gpr(rt, x) + ", [" +
                 base(rn) + "]";
    return c;
}

Case gen_cas(Gen& g) {
    Case c{Form::cas, {}, {}};
    const unsigned sl = static_cast<unsigned>(g.below(4));
    const unsigned n = 1U << sl;
    const uint64_t a = g.ea(n, n);
    const unsigned rn = g.base_reg();
    const unsigned rs = g.reg_except({rn}, 31);  // Rs is aimed at memory below: not the base
    const unsigned rt = g.reg(31);
    const unsigned o = static_cast<unsigned>(g.below(4));
    const bool x = sl == 3;
    c.fix.push_back(set(rn, a));
    if (g.coin() && rs != 31) c.fix.push_back(Fixup{Fixup::x_from_mem, rs, a, n});  // the comparison succeeds
    c.text = std::string("cas") + order(o) + size_suffix(sl) + " " + gpr(rs, x) + ", " + gpr(rt, x) + ", [" +
             base(rn) + "]";
    return c;
}

Case gen_casp(Gen& g) {
    Case c{Form::casp, {}, {}};
    const bool x = g.coin();
    const unsigned n = x ? 8 : 4;
    const uint64_t a = g.ea(2 * n, 2 * n);
    const unsigned rn = g.base_reg();
    unsigned rs = 0;
    do rs = 2 * static_cast<unsigned>(g.below(16));
    while (rs == rn || rs + 1 == rn);
    const unsigned rt = 2 * static_cast<unsigned>(g.below(16));
    const unsigned o = static_cast<unsigned>(g.below(4));
    c.fix.push_back(set(rn, a));
    if (g.coin()) {
        c.fix.push_back(Fixup{Fixup::x_from_mem, rs, a, n});
        c.fix.push_back(Fixup{Fixup::x_from_mem, rs + 1, a + n, n});  // rs + 1 = 31 (XZR) is skipped
    }
    c.text = std::string("casp") + order(o) + " " + gpr(rs, x) + ", " + gpr(rs + 1, x) + ", " + gpr(rt, x) + ", " +
             gpr(rt + 1, x) + ", [" + base(rn) + "]";
    return c;
}

Case gen_prefetch(Gen& g) {
    Case c{Form::prefetch, {}, {}};
    const unsigned op = static_cast<unsigned>(g.below(32));
    const unsigned rn = g.base_reg();
    const uint64_t a = g.ea(8, 1);
    switch (g.below(3)) {
    case 0: {
        const int64_t off = static_cast<int64_t>(g.below(4096)) << 3;
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = "prfm " + prfop(op) + ", " + offset_addr(rn, off);
        break;
    }
    case 1: c.text = "prfm " + prfop(op) + ", " + register_offset(g, c, rn, 3, a); break;
    default: {
        const int64_t off = g.simm(9);
        c.fix.push_back(set(rn, a - static_cast<uint64_t>(off)));
        c.text = "prfum " + prfop(op) + ", " + offset_addr(rn, off);
        break;
    }
    }
    return c;
}

Case gen_dc(Gen& g, Form f) {
    Case c{f, {}, {}};
    const unsigned rt = g.reg(30);
    c.fix.push_back(set(rt, g.ea(1, 1)));
    // DC CVAP is left out: QEMU 7.2's user mode raises SIGILL for it on
    // every CPU model, although ID_AA64ISAR1_EL1.DPB says it exists.
    static const char* ops[] = {"civac", "cvac", "cvau"};
    c.text = std::string("dc ") + (f == Form::dc_zva ? "zva" : ops[g.below(3)]) + ", " + xreg(rt);
    return c;
}

Case generate(Gen& g, Form f) {
    switch (f) {
    case Form::ldst_unsigned:
    case Form::ldst_unscaled:
    case Form::ldst_register:
    case Form::ldst_pre:
    case Form::ldst_post:
    case Form::ldst_unpriv: return gen_gpr_single(g, f);
    case Form::ld_literal: return gen_literal(g);
    case Form::ldar_stlr: return gen_ordered(g);
    case Form::simd_unsigned:
    case Form::simd_unscaled:
    case Form::simd_register:
    case Form::simd_pre_post: return gen_simd_single(g, f);
    case Form::pair_gpr:
    case Form::pair_simd: return gen_pair(g, f);
    case Form::atomic_op:
    case Form::swp: return gen_atomic(g, f);
    case Form::cas: return gen_cas(g);
    case Form::casp: return gen_casp(g);
    case Form::prefetch: return gen_prefetch(g);
    case Form::dc_zva:
    case Form::dc_maintain: return gen_dc(g, f);
    case Form::count: break;
    }
    std::abort();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s SEED TRIALS_PER_FORM OUT.S\n", argv[0]);
        return 2;
    }
    const uint64_t seed = std::strtoull(argv[1], nullptr, 0);
    const unsigned trials = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 0));
    Gen g(seed);
    std::string cases;
    std::string texts;
    unsigned n = 0;
    for (uint32_t f = 0; f < static_cast<uint32_t>(Form::count); ++f) {
        for (unsigned t = 0; t < trials; ++t, ++n) {
            const Case c = generate(g, static_cast<Form>(f));
            cases += "\t.balign 8\n\t" + c.text + "\n";
            cases += "\t.word " + std::to_string(f) + "\n";
            cases += "\t.quad " + fmt_hex(g.seed()) + "\n";
            cases += "\t.word " + std::to_string(c.fix.size()) + ", 0\n";
            for (unsigned i = 0; i < max_fixups; ++i) {
                const Fixup x = i < c.fix.size() ? c.fix[i] : Fixup{};
                cases += "\t.word " + std::to_string(x.kind) + ", " + std::to_string(x.reg) + "\n";
                cases += "\t.quad " + fmt_hex(x.value) + ", " + fmt_hex(x.size) + "\n";
            }
            cases += "\t.quad .Ltext" + std::to_string(n) + "\n";
            texts += ".Ltext" + std::to_string(n) + ":\t.asciz \"" + c.text + "\"\n";
        }
    }
    FILE* out = std::fopen(argv[3], "w");
    if (out == nullptr) {
        std::perror(argv[3]);
        return 1;
    }
    std::fprintf(out,
                 "// Generated by a64_diff_gen %s %u: do not edit.\n"
                 "\t.arch armv8.2-a+rcpc\n"
                 "\t.section .rodata.a64d_cases, \"a\"\n"
                 "\t.balign 8\n"
                 "\t.global a64d_cases\n"
                 "a64d_cases:\n%s"
                 "\t.balign 8\n"
                 "\t.global a64d_ncases\n"
                 "a64d_ncases:\t.quad %u\n"
                 "\t.section .rodata.a64d_text, \"a\"\n%s",
                 argv[1], trials, cases.c_str(), n, texts.c_str());
    return std::fclose(out) == 0 ? 0 : 1;
}
