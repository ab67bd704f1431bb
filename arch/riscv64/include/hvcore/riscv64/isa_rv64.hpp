// SPDX-License-Identifier: MIT
// A minimal RV64 instruction executor (hvcore::Isa) for the riscv64
// backend: the RV64I loads and stores, nothing else. The guest runs in
// VS-mode with its own translation off (vsatp.MODE = Bare: a guest
// virtual address is its guest-physical address), little-endian.
//
// Registers (hv.h enum hv_reg_riscv64): x0..x31 are ids 0..31, the pc is
// 32. x0 reads as 0 and writes to it are dropped (Volume I, "Programmers'
// Model for Base Integer ISA").
//
// Emulated (Volume I, "RV32I Base Integer Instruction Set", "Load and
// Store Instructions", and "RV64I Base Integer Instruction Set"): LB LH LW
// LD LBU LHU LWU, SB SH SW SD, 32-bit encodings only; the address is
// x[rs1] + the sign-extended 12-bit immediate, modulo 2^64. Misaligned
// accesses are performed (the execution environment may do so, Volume I
// "Load and Store Instructions"), byte-exact, split by the MMU at pages.
// Anything else, compressed instructions included, is a guest fault with
// ExecResult::undecoded: no other instruction is decoded yet.
//
// What the trap gives instead of a decode (trap.hpp): a load/store
// guest-page fault writes htinst with the transformed instruction, which
// names the access whole (size, sign extension, register, direction), so
// execute_from_record() emulates it from the record with no read of guest
// memory, and reports nullopt (the core decodes the instruction) when
// htinst is zero, not a transformed basic load/store, or has a non-zero
// Addr. Offset (a fault on a later page of a misaligned access: the
// record does not say where the access began). As hardware, the
// executor hands the walker the instruction's transformation in
// AccessInfo::isa_syndrome: bits 31:0 the transformed instruction with
// Addr. Offset 0, bits 43:32 the page offset of the access's first byte,
// from which the walker computes the Addr. Offset of a fault on a later
// page (walk.cpp); bits 43:32 never reach htinst.
#pragma once

#include <memory>

#include "hvcore/core/isa.hpp"
#include "hvcore/riscv64/trap.hpp"

namespace hvcore::riscv64 {

namespace reg {
inline constexpr unsigned x0 = 0;
inline constexpr unsigned a0 = 10;  // x10: the address of the typed vCPU calls
inline constexpr unsigned a1 = 11;  // x11: their data
inline constexpr unsigned pc = 32;
}  // namespace reg

inline constexpr unsigned nr_gprs = 32;
inline constexpr unsigned nr_regs = 33;  // x0..x31, pc
static_assert(nr_regs <= RegFile::count, "the RV64 registers must fit the neutral register file");

// Thread-safe: execute() may run concurrently for different vCPUs.
[[nodiscard]] std::unique_ptr<Isa> make_rv64_isa();

}  // namespace hvcore::riscv64
