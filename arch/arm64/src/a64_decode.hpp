// A64 decoding of the single-register load/store forms the executor runs,
// as pure functions of the instruction word: the access it describes, the
// ESR_EL2 instruction syndrome the hardware reports for it, its
// disassembly text (as llvm-mc / objdump print it), and the name of any
// other instruction, for the guest fault that refuses it.
//
// Encodings: Arm ARM DDI 0487 C4.1 "A64 instruction set encoding", the
// "Loads and Stores" group (C4.1.66 onwards in recent editions): "Load/store
// register (unsigned immediate)", "(unscaled immediate)", "(register
// offset)", and the groups around them that are only named here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace hvcore::arm64::detail {

enum class Addressing : uint8_t {
    unsigned_offset,  // [Xn|SP, #imm12 << size]
    unscaled,         // [Xn|SP, #simm9]           (LDUR/STUR)
    register_offset,  // [Xn|SP, Rm{, extend {#amount}}]
};

// "Load/store register (register offset)" option field, bits 15:13
// (C6.2, e.g. LDR (register)): 010 UXTW, 011 LSL (UXTX), 110 SXTW, 111
// SXTX; x0x is unallocated.
enum class Extend : uint8_t { uxtw = 0b010, lsl = 0b011, sxtw = 0b110, sxtx = 0b111 };

struct LoadStore {
    uint32_t word = 0;
    Addressing mode = Addressing::unsigned_offset;
    bool load = false;
    unsigned size_log2 = 0;    // access size: 1 << size_log2 bytes
    bool sign_extend = false;  // LDRSB/LDRSH/LDRSW
    bool reg64 = false;        // Rt is an X register (else W: written zero-extended)
    unsigned rt = 0;           // 31 = XZR/WZR
    unsigned rn = 0;           // 31 = SP
    int64_t offset = 0;        // immediate forms: byte offset
    unsigned rm = 0;           // register form: 31 = XZR/WZR
    Extend extend = Extend::lsl;
    unsigned amount = 0;       // register form: left shift after extension (0 or size_log2)

    [[nodiscard]] unsigned size() const noexcept { return 1U << size_log2; }
};

struct Decoded {
    std::optional<LoadStore> access;  // set when the executor runs the word
    std::string name;                 // otherwise: what the word is ("LDP", "STR (immediate, post-index)", ...)
};

[[nodiscard]] Decoded decode(uint32_t word);

// ESR_EL2.ISS[24:14] a stage-2 data abort of this access reports: ISV = 1
// (single general-purpose register, no writeback), SAS, SSE, SRT, SF
// (64-bit register: X destinations, and stores of X), AR = 0.
[[nodiscard]] uint64_t insn_syndrome(const LoadStore& ls) noexcept;

// "ldrsb w3, [sp, #-5]" is printed "ldursb w3, [sp, #-5]": the text names
// the encoding (as llvm-mc prints it), not the assembler alias typed.
[[nodiscard]] std::string text(const LoadStore& ls);

// STR/LDR (immediate, unsigned offset) with offset 0, the synthetic
// instructions of make_store/make_load.
[[nodiscard]] constexpr uint32_t encode_unsigned_offset(unsigned size_log2, bool load, unsigned rt, unsigned rn) noexcept {
    return (uint32_t{size_log2 & 3} << 30) | 0x3900'0000 | (load ? 0x0040'0000 : 0) | ((rn & 31) << 5) | (rt & 31);
}
// Values llvm-mc -show-encoding gives for these instructions.
static_assert(encode_unsigned_offset(3, false, 1, 0) == 0xf900'0001);  // str x1, [x0]
static_assert(encode_unsigned_offset(0, true, 1, 0) == 0x3940'0001);   // ldrb w1, [x0]
static_assert(encode_unsigned_offset(3, false, 9, 8) == 0xf900'0109);  // str x9, [x8] (reference §C.9 case 0)

}  // namespace hvcore::arm64::detail
