// SPDX-License-Identifier: MIT
// The AMD NPT stage-2 backend: the shared 4-level table
// (hvcore/x86/radix_table.hpp) in the long-mode nested entry format
// (npt.hpp), the model MMU that walks it as the processor walks nested
// tables for a guest access (APM Vol. 2 §15.25.5 "Nested Table Walk"), and
// the decoder of the #NPF record that walk produces (exit code 400h,
// §15.25.6). The p2m type lives in each leaf's bits 58:52 (npt.hpp), so this
// table is the p2m.
//
// Lazy recalculation follows Xen's p2m-pt.c: mark_recalc_all() clears U/S
// (and A) on the PML4 entries and sets bit 11; the next access through them
// is a #NPF with P = 1 (a present entry denying the user access), and
// resolve() pushes the mark one level down per table on the walk until it
// reaches the leaves, which the core recalculates (Xen's do_recalc).
//
// Accessed/dirty flags: preset in every entry hvcore writes (npt.hpp); the
// model walker writes none.
//
// Not thread-safe: the owning domain's p2m lock serialises every call, as
// it does for MachineMemory.
#pragma once

#include <memory>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/svm/npt.hpp"
#include "hvcore/x86/radix_table.hpp"

// Instantiated once, in npt_stage2.cpp.
namespace hvcore::x86 {
extern template class RadixTable4<svm::NptEntry>;
}  // namespace hvcore::x86

namespace hvcore::svm {

class Npt final : public x86::RadixTable4<NptEntry> {
public:
    // Allocates the PML4 (-ENOMEM when the pool is exhausted). mem must
    // outlive the Npt; the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Npt>> create(MachineMemory& mem);

    [[nodiscard]] Arch arch() const noexcept override { return Arch::x86_svm; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    // The nCR3 a VMCB would hold for this table.
    [[nodiscard]] uint64_t ncr3() const noexcept { return NestedCr3::encode(root()); }

private:
    [[nodiscard]] uint64_t root_register() const noexcept override { return ncr3(); }
    Npt(MachineMemory& mem, Mfn root) noexcept : RadixTable4(mem, root) {}
};

// The backend's make_stage2.
[[nodiscard]] Result<std::unique_ptr<Stage2>> make_npt_stage2(MachineMemory& mem);

}  // namespace hvcore::svm
