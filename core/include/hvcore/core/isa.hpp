// The contract between the core and an instruction-set executor (x86 on
// Zydis in arch/x86_common, A64 in arch/arm64). One executor runs a guest
// instruction against a MemPort; the core supplies two ports: the model
// MMU (the hardware, which faults into the backend's record) and the
// emulation port (the hypervisor after a fault, which routes accesses to
// RAM or to a device model).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hvcore/core/fault.hpp"

namespace hvcore {

// Register file in the ABI's numbering (hv.h): x86 RAX..R15 = 0..15,
// RIP 16, RFLAGS 17; Arm64 X0..X30 = 0..30, SP 31, PC 32.
struct RegFile {
    static constexpr unsigned count = 34;
    std::array<uint64_t, count> r{};
};

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
    uint64_t isa_syndrome = 0;  // Arm64 ISS[24:14] when the instruction is ISV-describable
};

class MemPort {
public:
    virtual MemStatus read(uint64_t addr, unsigned size, void* out, const AccessInfo& info) = 0;
    virtual MemStatus write(uint64_t addr, unsigned size, const void* in, const AccessInfo& info) = 0;
    // Port I/O (x86 only). value: in for writes, out for reads.
    virtual MemStatus pio(uint16_t port, unsigned size, bool is_write, uint64_t* value) = 0;

protected:
    ~MemPort() = default;
};

struct ExecResult {
    MemStatus status = MemStatus::ok;
    std::string detail;  // for guest_fault: names the instruction and why
};

// An instruction and the registers that feed it, built for hv_vcpu_store,
// hv_vcpu_load and hv_vcpu_pio.
struct SyntheticInsn {
    std::vector<uint8_t> bytes;
    unsigned addr_reg = 0;  // register holding the address / port
    unsigned data_reg = 0;  // register holding the value stored / receiving the value loaded
};

class Isa {
public:
    virtual ~Isa() = default;
    [[nodiscard]] virtual Arch arch_family() const noexcept = 0;  // x86_vmx stands for x86
    [[nodiscard]] virtual unsigned pc_reg() const noexcept = 0;
    [[nodiscard]] virtual unsigned nr_regs() const noexcept = 0;
    // Execute one instruction. Registers (including the PC) change only when
    // the result is ok; otherwise regs are exactly as they were.
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
    // Port I/O; empty bytes when the ISA has none (Arm64: -EOPNOTSUPP).
    [[nodiscard]] virtual SyntheticInsn make_pio(unsigned size, bool is_write) const = 0;
};

}  // namespace hvcore
