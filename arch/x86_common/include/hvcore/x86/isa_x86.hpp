// SPDX-License-Identifier: MIT
// The x86-64 instruction executor (hvcore::Isa) on Zydis. It runs one guest
// instruction against a MemPort, in 64-bit mode, with no guest paging
// (linear address == guest-physical address). The same executor plays the
// hardware (against the model MMU) and the hypervisor's emulator (against
// the device-model port); README.md, "The path of one guest write".
//
// Emulated (64-bit mode, general-purpose and XMM registers, memory):
//   moves      MOV (every r/m, imm and moffs form), MOVZX, MOVSX, MOVSXD,
//              MOVNTI; IN/OUT;
//   RMW / ALU  ADD OR ADC SBB AND SUB XOR CMP TEST, INC DEC NOT NEG, XCHG,
//              CMPXCHG, XADD (LOCK where the SDM allows it), BT BTS BTR
//              BTC (register and imm8 offsets), SETcc;
//   SSE        MOVD MOVQ MOVDQA MOVDQU MOVAPS MOVUPS MOVAPD MOVUPD MOVNTDQ
//              MOVNTPS MOVNTPD MOVNTDQA (XMM0-15, legacy encodings);
//   strings    MOVS and STOS, with REP, DF and 67h, through MemPort::rep.
// Every other instruction is a guest fault whose detail names it.
#pragma once

#include <cstdint>
#include <memory>

#include "hvcore/core/isa.hpp"

namespace hvcore::x86 {

// Register numbers in hvcore::RegFile (the ABI's numbering, hv.h): the
// general-purpose registers in the order of their encoding (SDM Vol. 2A
// §2.1.5, Table 2-2: ModRM.reg/rm 0-7, REX.R/B extend to 8-15).
namespace reg {
inline constexpr unsigned rax = 0;
inline constexpr unsigned rcx = 1;
inline constexpr unsigned rdx = 2;
inline constexpr unsigned rbx = 3;
inline constexpr unsigned rsp = 4;
inline constexpr unsigned rbp = 5;
inline constexpr unsigned rsi = 6;
inline constexpr unsigned rdi = 7;
inline constexpr unsigned r8 = 8;
inline constexpr unsigned r9 = 9;
inline constexpr unsigned r10 = 10;
inline constexpr unsigned r11 = 11;
inline constexpr unsigned r12 = 12;
inline constexpr unsigned r13 = 13;
inline constexpr unsigned r14 = 14;
inline constexpr unsigned r15 = 15;
inline constexpr unsigned rip = 16;
inline constexpr unsigned rflags = 17;
}  // namespace reg

inline constexpr unsigned nr_gprs = 16;
inline constexpr unsigned nr_regs = 18;  // RAX..R15, RIP, RFLAGS
static_assert(nr_regs <= RegFile::count, "the x86 registers must fit the neutral register file");
// XMM0-15 in RegFile::v (SDM Vol. 1 §10.2.2: 16 in 64-bit mode).
inline constexpr unsigned nr_xmm_regs = 16;
static_assert(nr_xmm_regs <= RegFile::vec_count, "the XMM registers must fit the neutral register file");

// Linear addresses are canonical when bits 63:47 are all equal (SDM Vol. 1
// §3.3.7.1, 4-level paging; 5-level paging is not modelled). An access to
// a non-canonical address is #GP, which the executor reports as guest_fault.
inline constexpr unsigned linear_address_bits = 48;

// Whose processor the executor behaves as where Intel and AMD differ. It
// follows the guest's vendor, a property of the domain: a VMX (EPT) domain
// runs on Intel processors and emulates Intel, an SVM (NPT) domain AMD.
// The differences in what this executor runs (README "Intel and AMD"):
//  - REP MOVS/STOS with a zero count under a 32-bit address size (67h):
//    Intel writes ECX, ESI and EDI back as 32-bit registers, clearing bits
//    63:32; AMD writes none of them. Neither the SDM (Vol. 2B "REP") nor
//    the APM (Vol. 3 "REP") says what a zero count does to the registers;
//    both behaviours are the processors' (the differential test runs on
//    either host).
// The undefined flags of BT/BTS/BTR/BTC (OF SF AF PF) and the AF of
// AND/OR/XOR/TEST are the same in both modes: left unchanged and cleared,
// as the AMD processors measured do; an Intel host is not compared on them.
enum class Vendor : uint8_t { intel, amd };

// Thread-safe: execute() may run concurrently for different vCPUs.
[[nodiscard]] std::unique_ptr<Isa> make_x86_isa(Vendor vendor);
// The backends' Backend::make_isa: VMX domains are Intel, SVM domains AMD.
[[nodiscard]] std::unique_ptr<Isa> make_intel_isa();
[[nodiscard]] std::unique_ptr<Isa> make_amd_isa();

}  // namespace hvcore::x86
