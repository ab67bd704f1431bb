// SPDX-License-Identifier: MIT
// The A64 instruction executor (hvcore::Isa) for the Arm64 backend. It runs
// one guest instruction (a 32-bit little-endian word) against a MemPort,
// with the guest at EL1 and its stage 1 off (virtual address == IPA; data
// accesses Normal memory as with HCR_EL2.DC = 1, SCTLR_EL1.A = 0: no
// alignment checks beyond the architecture's own). The same executor plays
// the hardware (against the model MMU, to which it hands the ESR
// instruction syndrome of each access) and the hypervisor's emulator
// (against the device-model port, after an abort with ESR_EL2.ISV = 0);
// README.md, "The path of one guest write".
//
// Emulated (Arm ARM DDI 0487 C6.2 and C7.2 for each form), Rn = 31 as SP,
// Rt/Rs/Rm = 31 as XZR/WZR:
// - LDR/STR of a general-purpose register, B/H/W/X, zero- and
//   sign-extending (LDRB ... LDRSW): unsigned offset, unscaled (LDUR/STUR),
//   register offset with extend and shift, pre- and post-index with base
//   writeback, literal; LDTR/STTR (unprivileged: with stage 1 off there is
//   no EL0/EL1 permission difference, so they are the unscaled forms);
//   LDAR/STLR/LDAPR (B/H/W/X; ordering has no effect on one model vCPU).
// - LDR/STR of a SIMD&FP register B/H/S/D/Q (V0-V31 in RegFile::v) in the
//   same addressing modes (no unprivileged form exists); a scalar load
//   clears the rest of the 128-bit register.
// - LDP/STP (W, X, and S/D/Q), LDNP/STNP, LDPSW: signed offset, pre- and
//   post-index; two element accesses in address order.
// - LD<op>/ST<op> for ADD, CLR, EOR, SET, SMAX, SMIN, UMAX, UMIN, and SWP,
//   CAS, CASP (every size, acquire/release variants): a read, then one
//   write with the final value (CAS: only when the comparison succeeds;
//   AccessInfo::rewrites_read_value otherwise). On an ioreq_server page
//   the core serves the read from RAM and forwards the one write.
// - PRFM/PRFUM (a hint: no access), DC ZVA (a 64-byte store of zeros,
//   DCZID_EL0.BS = 4), DC IVAC/CVAC/CVAU/CVAP/CVADP/CIVAC and IC IVAU
//   (translated as reads for their faults, CM = 1; no data:
//   AccessInfo::no_data).
// Atomics, CAS, LDAR/STLR/LDAPR and exclusives must be aligned to their
// access (no FEAT_LSE2); otherwise a guest Alignment fault. Where the Arm
// ARM allows several behaviors (writeback with Rt == Rn, LDP with Rt ==
// Rt2) the model takes the UNDEFINED option. The SP alignment check
// (SCTLR_EL1.SA) is not modelled.
//
// Not emulated, a guest fault whose detail names the word and what it is
// (ExecResult::undecoded): exclusives (LDXR/STXR family: their access is
// checked where the hardware checks it, so a stage-2 abort is taken with
// its ISV = 0 record, then they are declined), LD1..LD4/ST1..ST4
// structures, LDRAA/LDRAB, LDAPUR/STLUR, memory tagging, LD64B/ST64B.
//
// execute_from_record() emulates a stage-2 data abort with ESR_EL2.ISV = 1
// from the syndrome alone (SAS, SSE, SRT, SF, WnR), as KVM and Xen do;
// completes a cache-maintenance abort (CM = 1) without any access, as Xen
// does; and declines (nullopt) otherwise, so the core decodes the
// instruction.
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
inline constexpr unsigned nr_vregs = 32;  // V0..V31 (RegFile::v; ABI ids 64 + 2n, 65 + 2n)
static_assert(nr_vregs <= RegFile::vec_count, "V0-V31 must fit the neutral register file");
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
