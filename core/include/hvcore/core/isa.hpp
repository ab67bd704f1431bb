// SPDX-License-Identifier: MIT
// The contract between the core and an instruction-set executor (x86 on
// Zydis in arch/x86_common, A64 in arch/arm64, RV64 in arch/riscv64). One
// executor runs a guest instruction against a MemPort; the core supplies
// two ports: the model MMU (the hardware, which faults into the backend's
// record) and the emulation port (the hypervisor after a fault, which
// routes accesses to RAM or to a device model).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hvcore/core/fault.hpp"

namespace hvcore {

// One 128-bit vector register as two little-endian halves.
struct Vec128 {
    uint64_t lo = 0;  // bits 63:0
    uint64_t hi = 0;  // bits 127:64
    bool operator==(const Vec128&) const = default;
};

// Register file in the ABI's numbering (hv.h): x86 RAX..R15 = 0..15,
// RIP 16, RFLAGS 17; Arm64 X0..X30 = 0..30, SP 31, PC 32; RV64 x0..x31 =
// 0..31, PC 32.
//
// The vector registers (x86 XMM0-15 for SSE moves, Arm64 V0-V31; none on
// RV64) live in
// their own array: an instruction that never names one pays nothing but
// the copy. ABI ids: vec_reg_base + 2n is bits 63:0 of register n,
// vec_reg_base + 2n + 1 bits 127:64 (hv.h HV_REG_XMM*).
struct RegFile {
    static constexpr unsigned count = 34;
    static constexpr unsigned vec_count = 32;
    static constexpr unsigned vec_reg_base = 64;
    std::array<uint64_t, count> r{};
    std::array<Vec128, vec_count> v{};
};
static_assert(RegFile::count <= RegFile::vec_reg_base, "vector ids follow the scalar ones");

enum class MemStatus : uint8_t {
    ok,           // the access happened
    exit,         // the MMU faulted: the instruction is abandoned, the record is in the vCPU
    pending,      // sent to a device model; re-execute once it answers
    retry,        // the guest must re-execute the instruction later; nothing happened
    guest_fault,  // the guest takes an exception
    stopped,      // the domain was stopped (protocol violation)
};

// Extra facts about an access that an architecture's fault record carries.
struct AccessInfo {
    // Arm64: the ESR_EL2 ISS bits the instruction contributes to a data
    // abort, in their ESR positions: ISS[24:14] when the access is
    // ISV-describable, CM (bit 8) for cache maintenance. 0 otherwise.
    uint64_t isa_syndrome = 0;
    // A write that stores back, unchanged, the value the instruction has
    // just read from the same place: x86 CMPXCHG when the comparison fails
    // ("the destination operand is written back", SDM Vol. 2A "CMPXCHG").
    // The hardware performs it, so it faults like any write; a hypervisor
    // emulating the instruction may drop it, as Xen does (a device model
    // never sees a write that changes nothing).
    //
    // Arm64 CAS whose comparison fails is the same case: no data is
    // written, but the permission check is a write's (Arm ARM DDI 0487,
    // CAS pseudocode: the translation is for a read-and-write access), so
    // the hardware faults on a read-only page either way.
    bool rewrites_read_value = false;
    // The access is translated, and may fault, like any other, but moves
    // no data: an Arm64 data-cache maintenance instruction by address (DC
    // CIVAC, ...), or the footprint of an instruction the executor does not
    // perform (it probes where the hardware would fault, then declines).
    // For a write, `in` may be null; for a read, `out` is left as it was.
    // The model MMU checks it; the hypervisor's port completes it without
    // touching RAM or a device model (Xen ignores cache maintenance on
    // emulated regions: INSTR_CACHE in try_decode_instruction).
    bool no_data = false;
    // The read of a read-modify-write: the instruction writes the same
    // bytes afterwards (x86 ADD OR ADC SBB AND SUB XOR, INC DEC NOT NEG,
    // XCHG, CMPXCHG, XADD, BTS BTR BTC with a memory destination; Arm64
    // LD<op>/ST<op>, SWP, CAS, CASP). The model MMU passes it on as
    // AccessContext::rmw and each backend reports a fault of this read as
    // its manual says: x86 as a write, Arm64 as a read (stage2.hpp). The
    // hypervisor's port serves it like any read.
    bool rmw_read = false;
    // The virtual address a fault of this access reports, when the
    // architecture names another than the first byte the access touches:
    // Arm64 DC ZVA zeroes the aligned block but reports the register
    // operand (Arm ARM DDI 0487 M.a.a, J1.1.3.20 AArch64.DataMemZero: on a
    // fault "memaddrdesc.fault.vaddress = regval"). nullopt: the access's
    // own address.
    std::optional<uint64_t> fault_va = std::nullopt;
};

// The memory side of a repeated string instruction (x86 REP MOVS / REP
// STOS): `count` elements of `size` bytes, element i at dst + i*size (and
// src + i*size for a copy), or at dst - i*size when df (EFLAGS.DF = 1).
// The caller keeps every element inside the address space (no wrap).
struct RepAccess {
    enum class Kind : uint8_t {
        copy,  // MOVS: element i of src to element i of dst, read before write
        fill,  // STOS: `value` (its low `size` bytes) to every element of dst
    };
    Kind kind = Kind::copy;
    uint64_t dst = 0;
    uint64_t src = 0;    // copy only
    uint64_t value = 0;  // fill only
    unsigned size = 0;   // 1, 2, 4 or 8
    uint64_t count = 0;  // >= 1
    bool df = false;
};

struct RepResult {
    MemStatus status = MemStatus::ok;
    // Elements completed, in order from the first. With ok it may be less
    // than count (the hypervisor stops at a page boundary, as Xen truncates
    // a rep ioreq); with any other status, the elements completed before
    // the one that ended it (the hardware keeps them).
    uint64_t done = 0;
};

class MemPort {
public:
    virtual MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) = 0;
    virtual MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) = 0;
    // Port I/O (x86 only: Arm64 and RV64 have no port space). value: in for
    // writes, out for reads.
    virtual MemStatus pio(uint16_t port, unsigned size, bool is_write, uint64_t* value) = 0;
    // A repeated string operation. The default is the hardware's: element
    // by element through read() and write(), stopping at the first access
    // that is not ok. The hypervisor's port overrides it to hand a device
    // model one ioreq with count, df and data_is_ptr.
    virtual RepResult rep(const RepAccess& a, const AccessInfo& info) {
        std::array<std::byte, 8> buf{};
        // String elements are 1, 2, 4 or 8 bytes; anything else is a caller bug
        // (and bounding it lets the compiler see buf is never overrun).
        if (a.size == 0 || a.size > buf.size()) return {MemStatus::guest_fault, 0};
        for (uint64_t i = 0; i < a.count; ++i) {
            const uint64_t step = i * a.size;
            const uint64_t dst = a.df ? a.dst - step : a.dst + step;
            MemStatus st = MemStatus::ok;
            if (a.kind == RepAccess::Kind::copy) {
                st = read(a.df ? a.src - step : a.src + step, a.size, buf.data(), info);
            } else {
                for (unsigned b = 0; b < a.size; ++b)
                    buf[b] = static_cast<std::byte>(a.value >> (8 * b));  // little-endian
            }
            if (st == MemStatus::ok) st = write(dst, a.size, buf.data(), info);
            if (st != MemStatus::ok) return {st, i};
        }
        return {MemStatus::ok, a.count};
    }

protected:
    ~MemPort() = default;
};

struct ExecResult {
    MemStatus status = MemStatus::ok;
    std::string detail;  // for guest_fault: names the instruction and why
    // With a status other than ok: the instruction had already committed
    // architectural progress that stands. A REP string instruction keeps
    // the iterations it completed before the one that faulted (SDM Vol. 2B
    // "REP/REPE/REPZ/REPNE/REPNZ": the registers are updated per iteration
    // and the instruction restarts where it stopped), so the registers
    // passed to execute() hold RCX/RSI/RDI after them, RIP unchanged.
    bool committed = false;
    // With guest_fault: the executor does not emulate this instruction (as
    // opposed to a fault of one of its accesses). A hypervisor may hand such
    // an instruction to its caller instead of injecting an abort, when a
    // stage-2 fault led to it (Arm64 ISV = 0: HV_DOMAIN_ARM64_REPORT_UNDECODED).
    bool undecoded = false;
};

// An instruction and the registers that feed it, built for hv_vcpu_store,
// hv_vcpu_load and hv_vcpu_pio.
struct SyntheticInsn {
    std::vector<uint8_t> bytes;
    unsigned addr_reg = 0;  // register holding the address / port
    unsigned data_reg = 0;  // register holding the value stored / receiving the value loaded
};

// The instruction set an executor runs, independent of the stage-2 format
// (x86 VMX and SVM share x86_64; rv64 is RISC-V RV64I's loads and stores).
enum class IsaKind : uint8_t { x86_64, a64, rv64 };

class Isa {
public:
    virtual ~Isa() = default;
    [[nodiscard]] virtual IsaKind kind() const noexcept = 0;
    // The longest instruction the ISA encodes: x86 15 bytes (SDM Vol. 2A
    // 2.3.11 "AVX Instruction Length": "the maximum length of an Intel 64 and
    // IA-32 instruction remains 15 bytes"), A64 4 (every instruction is one
    // 32-bit word, Arm ARM DDI 0487 C1.1), RV64 4 (the base and standard
    // extensions' longest, RISC-V Volume I "Base Instruction-Length
    // Encoding"). Longer buffers are refused.
    [[nodiscard]] virtual unsigned max_insn_bytes() const noexcept = 0;
    // The ISA has a port I/O space (x86 IN/OUT); make_pio() encodes nothing
    // when it has not.
    [[nodiscard]] virtual bool has_port_io() const noexcept = 0;
    [[nodiscard]] virtual unsigned pc_reg() const noexcept = 0;
    [[nodiscard]] virtual unsigned nr_regs() const noexcept = 0;
    // Vector registers the ISA exposes (RegFile::v[0 .. n)); none by default.
    [[nodiscard]] virtual unsigned nr_vec_regs() const noexcept { return 0; }
    // Execute one instruction. Registers (including the PC) change only when
    // the result is ok or says `committed`; otherwise regs are exactly as
    // they were. An ok result may leave the PC at the instruction: a REP
    // string instruction that did only part of its count (the guest
    // re-executes it for the rest, as after an interrupt between iterations).
    [[nodiscard]] virtual ExecResult execute(RegFile& regs, std::span<const uint8_t> insn, MemPort& mem) = 0;

    // Emulate a faulting access from the hardware's record alone, when the
    // architecture's record describes it completely (Arm64 ESR_EL2.ISV = 1:
    // size, register, sign extension, direction). Same contract as
    // execute(): registers change (PC included) only when ok. nullopt means
    // the record is not enough: the core decodes the instruction instead.
    [[nodiscard]] virtual std::optional<ExecResult> execute_from_record(RegFile& regs,
                                                                        const FaultRecord& record,
                                                                        MemPort& mem) {
        (void)regs;
        (void)record;
        (void)mem;
        return std::nullopt;
    }

    // Instructions for the typed vCPU calls; size in bytes (1, 2, 4, 8).
    // An empty `bytes` means the size is not encodable (-EINVAL to callers).
    [[nodiscard]] virtual SyntheticInsn make_store(unsigned size) const = 0;
    [[nodiscard]] virtual SyntheticInsn make_load(unsigned size) const = 0;
    // Port I/O; empty bytes when the ISA has none (!has_port_io(): -EOPNOTSUPP)
    // or the width is not encodable (-EINVAL).
    [[nodiscard]] virtual SyntheticInsn make_pio(unsigned size, bool is_write) const = 0;
};

// The 64-bit register behind ABI register id `id` (hv_vcpu_get_reg /
// hv_vcpu_set_reg), or nullptr when the ISA has none with that id.
[[nodiscard]] inline uint64_t* reg_slot(RegFile& regs, const Isa& isa, unsigned id) noexcept {
    if (id < isa.nr_regs()) return &regs.r[id];
    if (id < RegFile::vec_reg_base) return nullptr;
    const unsigned rel = id - RegFile::vec_reg_base;
    if (rel >= 2 * isa.nr_vec_regs() || rel >= 2 * RegFile::vec_count) return nullptr;
    Vec128& v = regs.v[rel / 2];
    return (rel & 1) != 0 ? &v.hi : &v.lo;
}

}  // namespace hvcore
