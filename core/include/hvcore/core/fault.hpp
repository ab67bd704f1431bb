// SPDX-License-Identifier: MIT
// The neutral description of a stage-2 fault, and the opaque container for
// the hardware's own record of it. The core never interprets the record's
// fields: only the backend that produced it decodes it (README.md, "Layout":
// core/ has "no PTE bit, no fault format").
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "hvcore/core/types.hpp"

namespace hvcore {

enum class Arch : uint32_t { x86_vmx = 1, x86_svm = 2, arm64 = 3, riscv64 = 4 };

enum class AccessType : uint8_t { read, write, fetch };

enum class FaultCause : uint8_t {
    permission,   // the entry is present but forbids this access
    not_present,  // no valid entry maps the address
    recalc,       // a lazy type change is pending on the walk
};

struct Fault {
    Gpa gpa;
    AccessType access = AccessType::read;
    FaultCause cause = FaultCause::not_present;
    std::optional<uint64_t> gla;  // guest-linear / virtual address when the record has it
};

// Mirrors hv_fault_record (dm_api/include/hvcore/hv.h); filled by a backend's walker.
struct FaultRecord {
    Arch arch = Arch::x86_vmx;
    uint32_t kind = 0;      // VMX exit reason; SVM exit code; ESR_EL2.EC; RISC-V scause
    uint64_t syndrome = 0;  // exit qualification; EXITINFO1; ESR_EL2; RISC-V htinst
    uint64_t gpa = 0;       // guest-physical address; EXITINFO2; HPFAR_EL2; RISC-V htval (gpa >> 2)
    uint64_t gva = 0;       // guest-linear address (if valid); FAR_EL2; RISC-V stval
    uint32_t insn_len = 0;  // SVM decode-assist bytes provided
    std::array<uint8_t, 16> insn{};
};

}  // namespace hvcore
