// SPDX-License-Identifier: MIT
// The Intel EPT stage-2 backend: the shared 4-level table
// (hvcore/x86/radix_table.hpp) in the EPT entry format (ept.hpp), the model
// MMU that walks it as the processor does (SDM Vol. 3C §29.3.3), and the
// decoder of the VM-exit record that walk produces (exit reasons 48 and
// 49). The p2m type lives in each leaf's bits 57:52 (ept.hpp), so this
// table is the p2m.
//
// Lazy recalculation follows Xen's p2m-ept.c: mark_recalc_all() marks the
// PML4 entries with a reserved memory type, the next access through them is
// an EPT misconfiguration, and resolve() pushes the mark one level down per
// table on the walk until it reaches the leaves, which the core recalculates.
//
// Accessed/dirty flags are off (EPTP[6] = 0, Eptp in ept.hpp): the model
// never writes A/D, and no entry hvcore writes sets them.
//
// Not thread-safe: the owning domain's p2m lock serialises every call, as
// it does for MachineMemory.
#pragma once

#include <memory>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/vmx/ept.hpp"
#include "hvcore/x86/radix_table.hpp"

// Instantiated once, in ept_stage2.cpp.
namespace hvcore::x86 {
extern template class RadixTable4<vmx::EptEntry>;
}  // namespace hvcore::x86

namespace hvcore::vmx {

class Ept final : public x86::RadixTable4<EptEntry> {
public:
    // Allocates the PML4 (-ENOMEM when the pool is exhausted). mem must
    // outlive the Ept; the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Ept>> create(MachineMemory& mem);

    [[nodiscard]] Arch arch() const noexcept override { return Arch::x86_vmx; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    // The EPTP a VMCS would hold for this table.
    [[nodiscard]] uint64_t eptp() const noexcept { return Eptp::encode(root()); }

private:
    [[nodiscard]] uint64_t root_register() const noexcept override { return eptp(); }
    Ept(MachineMemory& mem, Mfn root) noexcept : RadixTable4(mem, root) {}
};

// The backend's make_stage2.
[[nodiscard]] Result<std::unique_ptr<Stage2>> make_ept_stage2(MachineMemory& mem);

}  // namespace hvcore::vmx
