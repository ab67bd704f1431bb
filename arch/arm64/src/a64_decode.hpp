// SPDX-License-Identifier: MIT
// A64 decoding of the load/store forms the executor runs, as pure functions
// of the instruction word: the access it describes, the ESR_EL2 syndrome
// the hardware reports for it, its disassembly text (as GNU objdump prints
// it), and the name of any other instruction, for the guest fault that
// refuses it.
//
// Encodings: Arm ARM DDI 0487, C4.1 "A64 instruction set encoding", the
// "Loads and Stores" group and its classes, each named beside its mask in
// a64_decode.cpp; the instruction pages of C6.2 (base) and C7.2 (SIMD&FP)
// for each form's fields and pseudocode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hvcore::arm64::detail {

enum class Addressing : uint8_t {
    unsigned_offset,  // [Xn|SP, #imm12 << scale]
    unscaled,         // [Xn|SP, #simm9]              (LDUR/STUR, LDTR/STTR)
    register_offset,  // [Xn|SP, Rm{, extend {#amount}}]
    pre_index,        // [Xn|SP, #simm]!  access at base + simm, base := base + simm
    post_index,       // [Xn|SP], #simm   access at base, base := base + simm
    signed_offset,    // [Xn|SP, #simm7 << scale]     (pairs without writeback)
    base_only,        // [Xn|SP]                      (atomics, CAS, LDAR/STLR, exclusives)
    literal,          // PC + simm19 * 4              (LDR (literal))
    register_only,    // Xt                           (DC by address: the register holds it)
};

// "Load/store register (register offset)" option field, bits 15:13
// (C6.2, e.g. LDR (register)): 010 UXTW, 011 LSL (UXTX), 110 SXTW, 111
// SXTX; x0x is unallocated.
enum class Extend : uint8_t { uxtw = 0b010, lsl = 0b011, sxtw = 0b110, sxtx = 0b111 };

enum class Op : uint8_t {
    load,               // one register, GPR or SIMD&FP
    store,
    load_pair,          // two registers from consecutive elements
    store_pair,
    atomic,             // LD<op>/ST<op> and SWP: read, combine with Rs, write
    compare_swap,       // CAS, CASP: read, compare with Rs, write Rt if equal
    prefetch,           // PRFM/PRFUM: a hint, no access
    zero_block,         // DC ZVA: a store of zeros to the aligned block
    cache_maintenance,  // DC CIVAC, DC CVAC, ..., IC IVAU: translated, no data
    load_exclusive,     // LDXR/LDAXR/LDXP/LDAXP: footprint only, not performed
    store_exclusive,    // STXR/STLXR/STXP/STLXP: footprint only, not performed
};

// The combining operation of an atomic memory operation (C6.2 LDADD,
// LDCLR, LDEOR, LDSET, LDSMAX, LDSMIN, LDUMAX, LDUMIN, SWP): opc, bits
// 14:12, with o3 (bit 15) = 1 for SWP.
enum class AtomicOp : uint8_t { add, clr, eor, set, smax, smin, umax, umin, swp };

// Cache maintenance by address (C5.3 "A64 System instructions for cache
// maintenance"); DC ZVA is a store (Op::zero_block), not one of these.
enum class Maintenance : uint8_t { dc_ivac, dc_cvac, dc_cvau, dc_cvap, dc_cvadp, dc_civac, ic_ivau };

struct MemInsn {
    uint32_t word = 0;
    Op op = Op::load;
    Addressing mode = Addressing::unsigned_offset;
    bool simd = false;         // Rt/Rt2 name SIMD&FP registers (V0-V31)
    unsigned size_log2 = 0;    // bytes per element: 1 << size_log2 (4 = Q)
    bool sign_extend = false;  // LDRSB/LDRSH/LDRSW/LDPSW
    bool reg64 = false;        // GPR Rt/Rs are X registers (else W: written zero-extended)
    bool pair = false;         // CASP, LDXP/STXP: two registers per operand
    unsigned rt = 0;           // 31 = XZR/WZR (GPR)
    unsigned rt2 = 0;          // pairs
    unsigned rn = 0;           // base: 31 = SP
    unsigned rs = 0;           // atomics: operand / comparand (31 = XZR); STXR: status
    int64_t offset = 0;        // immediate forms: byte offset (scaled already)
    unsigned rm = 0;           // register offset: 31 = XZR/WZR
    Extend extend = Extend::lsl;
    unsigned amount = 0;       // register offset: shift after extension (0 or size_log2)
    bool shift_bit = false;    // register offset: S, bit 12 (the text shows "#0" for it)
    AtomicOp atomic = AtomicOp::add;
    bool acquire = false;      // ordering only: no effect on a single model vCPU
    bool release = false;
    bool unprivileged = false;  // LDTR/STTR
    bool non_temporal = false;  // LDNP/STNP
    Maintenance maintenance = Maintenance::dc_civac;

    [[nodiscard]] unsigned size() const noexcept { return 1U << size_log2; }
    [[nodiscard]] bool writeback() const noexcept {
        return mode == Addressing::pre_index || mode == Addressing::post_index;
    }
};

struct Decoded {
    std::optional<MemInsn> insn;  // set when the word is one of the forms above
    std::string name;             // otherwise: what the word is ("LD1/ST1 family (SIMD structures)", ...)
    // Without insn: the word is UNDEFINED (unallocated, or a CONSTRAINED
    // UNPREDICTABLE case for which the model takes the UNDEFINED option),
    // rather than an instruction the executor does not emulate.
    bool undefined = false;
};

[[nodiscard]] Decoded decode(uint32_t word);

// ESR_EL2.ISS bits a stage-2 data abort of this instruction's accesses
// reports from the instruction (ESR_EL2, "ISS encoding for an exception
// from a Data Abort", D24.2.46; QEMU translate-a64.c): ISV = 1 with SAS, SSE, SRT, SF, AR
// only for a single general-purpose register load or store without
// writeback (LDR/STR immediate, register, unscaled, literal, LDTR/STTR,
// LDAR/STLR/LDAPR with AR = 1); CM = 1 for cache maintenance; 0 (ISV = 0)
// for writeback, pairs, SIMD&FP, atomics, exclusives and DC ZVA.
[[nodiscard]] uint64_t insn_syndrome(const MemInsn& m) noexcept;

// The instruction as GNU objdump 2.40 prints it ("ldp x1, x2, [sp, #-16]!",
// "ldaddal w3, w4, [x5]", "stadd x1, [x2]"), with one space after the
// mnemonic. A literal load prints its offset from the PC ("ldr x1, .+8").
[[nodiscard]] std::string text(const MemInsn& m);

// STR/LDR (immediate, unsigned offset) with offset 0, the synthetic
// instructions of make_store/make_load.
[[nodiscard]] constexpr uint32_t encode_unsigned_offset(unsigned size_log2, bool load, unsigned rt, unsigned rn) noexcept {
    return (uint32_t{size_log2 & 3} << 30) | 0x3900'0000 | (load ? 0x0040'0000 : 0) | ((rn & 31) << 5) | (rt & 31);
}
// Values llvm-mc -show-encoding gives for these instructions.
static_assert(encode_unsigned_offset(3, false, 1, 0) == 0xf900'0001);  // str x1, [x0]
static_assert(encode_unsigned_offset(0, true, 1, 0) == 0x3940'0001);   // ldrb w1, [x0]
static_assert(encode_unsigned_offset(3, false, 9, 8) == 0xf900'0109);  // str x9, [x8] (esr.hpp's QEMU 7.2 run, case 0)

// The model CPU's DC ZVA block: DCZID_EL0.BS = 4, 4 << 4 = 64 bytes, as
// Cortex-A76 and Neoverse-N1 report (and QEMU for those CPUs).
inline constexpr unsigned dc_zva_bytes = 64;

}  // namespace hvcore::arm64::detail
