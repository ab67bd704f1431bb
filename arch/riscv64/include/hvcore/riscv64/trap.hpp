// SPDX-License-Identifier: MIT
// What a G-stage guest-page fault writes, as the RISC-V privileged spec
// (Volume II) defines it, and how hvcore keeps it in the neutral
// FaultRecord. Sections are cited by name: in "Supervisor-Level ISA",
// "Supervisor Cause (scause) Register" and "Supervisor Trap Value (stval)
// Register"; in "Hypervisor Extension", "Hypervisor Trap Value (htval)
// Register", "Hypervisor Trap Instruction (htinst) Register", "Trap Cause
// Codes", "Guest-Page Faults" (under "Two-Stage Address Translation"),
// "Trap Entry" and "Transformed Instruction or Pseudoinstruction for
// mtinst or htinst".
//
// A guest-page fault taken into HS-mode writes (Trap Entry: "A trap into
// HS-mode also writes ... CSRs sepc, scause, stval, htval, and htinst"):
//   scause  20 instruction, 21 load, 23 store/AMO guest-page fault;
//   stval   "the faulting guest virtual address as usual";
//   htval   "either zero or the faulting guest physical address, shifted
//           right by 2 bits" (the model always writes the address);
//   htinst  zero, or for a load or store the *transformed* instruction:
//           the trapping instruction with its immediate zeroed and rs1
//           (bits 19:15) replaced by the Addr. Offset ("the positive
//           difference between the faulting virtual address ... and the
//           original virtual address", non-zero only for a misaligned
//           access), bit 1 cleared when the instruction was compressed.
//           Always zero for an instruction guest-page fault (the table
//           "Values that may be automatically written to the trap
//           instruction register": no transformed instruction for it).
//
// hvcore::FaultRecord for Arch::riscv64 (hv.h, hv_fault_record):
//   kind = scause, syndrome = htinst, gpa = htval, gva = stval,
//   insn_len = 0, insn = {}.
// The two low bits of the guest-physical address: "these bits are
// ordinarily the same as the least-significant two bits of the faulting
// virtual address in stval" (htval register note), so the address is
// htval << 2 | stval[1:0].
#pragma once

#include <cstdint>
#include <optional>

#include "hvcore/core/fault.hpp"

namespace hvcore::riscv64 {

// scause exception codes ("Trap Cause Codes", table "Machine and
// supervisor cause register values when the hypervisor extension is
// implemented"; Interrupt = 0).
inline constexpr uint32_t cause_fetch_guest_page_fault = 20;  // Instruction guest-page fault
inline constexpr uint32_t cause_load_guest_page_fault = 21;   // Load guest-page fault
inline constexpr uint32_t cause_store_guest_page_fault = 23;  // Store/AMO guest-page fault

[[nodiscard]] constexpr uint32_t guest_page_fault_cause(AccessType a) noexcept {
    switch (a) {
    case AccessType::read: return cause_load_guest_page_fault;
    case AccessType::write: return cause_store_guest_page_fault;
    case AccessType::fetch: return cause_fetch_guest_page_fault;
    }
    return cause_load_guest_page_fault;
}
[[nodiscard]] constexpr std::optional<AccessType> access_of_cause(uint32_t cause) noexcept {
    switch (cause) {
    case cause_load_guest_page_fault: return AccessType::read;
    case cause_store_guest_page_fault: return AccessType::write;
    case cause_fetch_guest_page_fault: return AccessType::fetch;
    default: return std::nullopt;
    }
}

// htval: the guest-physical address shifted right by 2 ("Hypervisor Trap
// Value (htval) Register"); back, with stval's two low bits.
[[nodiscard]] constexpr uint64_t htval_of(uint64_t gpa) noexcept { return gpa >> 2; }
[[nodiscard]] constexpr uint64_t fault_gpa(uint64_t htval, uint64_t stval) noexcept {
    return (htval << 2) | (stval & 3);
}

// RV64I load/store fields (Volume I, "RV32I Base Integer Instruction Set",
// "Load and Store Instructions"; RV64I adds LWU, LD, SD).
namespace insn {
inline constexpr uint32_t opcode_mask = 0x7f;   // bits 6:0
inline constexpr uint32_t opcode_load = 0x03;   // LOAD, 0000011
inline constexpr uint32_t opcode_store = 0x23;  // STORE, 0100011
inline constexpr unsigned rd_shift = 7;         // rd, bits 11:7
inline constexpr unsigned funct3_shift = 12;    // funct3, bits 14:12
inline constexpr unsigned rs1_shift = 15;       // rs1, bits 19:15 (Addr. Offset in a transformed instruction)
inline constexpr unsigned rs2_shift = 20;       // rs2, bits 24:20
inline constexpr uint32_t reg_mask = 0x1f;
inline constexpr uint32_t funct3_mask = 0x7;
// Bits 1:0 of a 32-bit instruction are 11; a transformed compressed one
// has bit 1 = 0 ("Replace bit 1 with a 0").
inline constexpr uint32_t not_compressed = 0x2;

// The transformed load (figure "Transformed noncompressed load
// instruction"): imm[11:0] = 0, Addr. Offset in 19:15, funct3, rd and
// opcode kept.
[[nodiscard]] constexpr uint32_t transform_load(uint32_t word, unsigned addr_offset) noexcept {
    return (word & ((funct3_mask << funct3_shift) | (reg_mask << rd_shift) | opcode_mask)) |
           ((addr_offset & reg_mask) << rs1_shift);
}
// The transformed store (figure "Transformed noncompressed store
// instruction"): imm[11:5] and imm[4:0] = 0, Addr. Offset in 19:15, rs2,
// funct3 and opcode kept.
[[nodiscard]] constexpr uint32_t transform_store(uint32_t word, unsigned addr_offset) noexcept {
    return (word & ((reg_mask << rs2_shift) | (funct3_mask << funct3_shift) | opcode_mask)) |
           ((addr_offset & reg_mask) << rs1_shift);
}
// `lw x5, 12(x10)` = imm 12, rs1 10, funct3 010, rd 5, LOAD: 0x00C52283;
// transformed: 0x00002283. `sd x6, 8(x10)`: imm[11:5] 0, rs2 6, rs1 10,
// funct3 011, imm[4:0] 8, STORE: 0x00653423; transformed: 0x00603023.
static_assert(transform_load(0x00C52283, 0) == 0x00002283);
static_assert(transform_store(0x00653423, 0) == 0x00603023);
}  // namespace insn

// What the RV64 executor hands the walker for a load or store
// (AccessContext::isa_syndrome; isa_rv64.hpp): bits 31:0 the transformed
// instruction with Addr. Offset 0, bits 43:32 the page offset of the
// access's first byte. The walker turns it into htinst.
inline constexpr uint64_t syndrome_insn_mask = 0xffff'ffff;
inline constexpr unsigned syndrome_offset_shift = 32;
inline constexpr uint64_t syndrome_offset_mask = uint64_t{0xfff} << syndrome_offset_shift;

// htinst for a load/store fault at guest virtual address `va` (stval):
// the transformation with Addr. Offset = va - the access's first byte
// ("the positive difference between the faulting virtual address ... and
// the original virtual address"), non-zero only on a later page of a
// misaligned access. 0 stays 0 (no information).
[[nodiscard]] constexpr uint64_t htinst_of(uint64_t isa_syndrome, uint64_t va) noexcept {
    if (isa_syndrome == 0) return 0;
    const uint64_t first = (isa_syndrome & syndrome_offset_mask) >> syndrome_offset_shift;
    const uint64_t offset = ((va & (page_size - 1)) - first) & (page_size - 1);
    return (isa_syndrome & syndrome_insn_mask) | ((offset & insn::reg_mask) << insn::rs1_shift);
}
// A 4-byte store at page offset 0xffe faulting on the next page: Addr.
// Offset 2 in bits 19:15.
static_assert(htinst_of(0x0000'0FFE'0060'3023, 0x1000) == 0x0061'3023);

}  // namespace hvcore::riscv64
