// The A64 instruction executor (hvcore::Isa) for the Arm64 backend. It runs
// one guest instruction (a 32-bit little-endian word) against a MemPort,
// with the guest's stage 1 off (virtual address == IPA, data accesses
// Normal memory with SCTLR_EL1.A = 0: no alignment checks). The same
// executor plays the hardware (against the model MMU, to which it hands
// the ESR instruction syndrome of each access) and the hypervisor's
// emulator (against the device-model port); DESIGN.md, "The path of one
// guest write".
//
// Emulated today, the single-register loads and stores without writeback
// (Arm ARM DDI 0487 C6.2, each "... (immediate)" unsigned-offset form, the
// unscaled LDUR/STUR forms and the "... (register)" forms with extend and
// shift): STRB STRH STR(W, X), LDRB LDRH LDR(W, X), LDRSB LDRSH (to W and
// X), LDRSW. Rn = 31 is SP, Rt/Rm = 31 is XZR/WZR. The SP alignment check
// (SCTLR_EL1.SA) is not modelled: an SP-based access is never an SP
// alignment fault here. Every other instruction (pre/post-index, pairs,
// SIMD&FP, exclusives, atomics, literal, unprivileged, PRFM, ...) is a
// guest fault whose detail names it: "0xa94107e0 (LDP): not emulated".
//
// execute_from_record() emulates a stage-2 data abort with ESR_EL2.ISV = 1
// from the syndrome alone (SAS, SSE, SRT, SF, WnR), as KVM and Xen do, and
// declines (nullopt) when ISV = 0 so the core decodes the instruction.
#pragma once

#include <memory>

#include "hvcore/core/isa.hpp"

namespace hvcore::arm64 {

// Register numbers in hvcore::RegFile (the ABI's numbering, hv.h).
namespace reg {
inline constexpr unsigned x0 = 0;
inline constexpr unsigned x1 = 1;
inline constexpr unsigned x30 = 30;
inline constexpr unsigned sp = 31;
inline constexpr unsigned pc = 32;
}  // namespace reg

inline constexpr unsigned nr_gprs = 31;  // X0..X30; encoding 31 is SP or XZR by context
inline constexpr unsigned nr_regs = 33;  // X0..X30, SP, PC
static_assert(nr_regs <= RegFile::count, "the Arm64 registers must fit the neutral register file");

// The model CPU's physical address size (ID_AA64MMFR0_EL1.PARange = 48
// bits). With the stage-1 MMU off, a virtual address at or above it is a
// stage-1 Address size fault at level 0, taken by the guest (Arm ARM
// pseudocode AArch64.S1DisabledOutput; my reading, not checked by a run):
// the executor reports guest_fault.
inline constexpr unsigned pa_range_bits = 48;

// A64 instructions are 4 bytes (Arm ARM C1.1); bytes after the first
// instruction in the buffer are ignored, as the x86 executor does.
inline constexpr unsigned insn_bytes = 4;

// Thread-safe: execute() may run concurrently for different vCPUs.
[[nodiscard]] std::unique_ptr<Isa> make_a64_isa();

}  // namespace hvcore::arm64
