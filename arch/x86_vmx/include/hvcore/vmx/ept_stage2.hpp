// SPDX-License-Identifier: MIT
// The Intel EPT stage-2 backend: the stage-2 table engine
// (hvcore/s2/engine.hpp) in the EPT entry format (ept.hpp) over the x86
// 4-level geometry (s2::x86_4level, MAXPHYADDR 46), the model
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
#include "hvcore/s2/engine.hpp"

// Instantiated once, in ept_stage2.cpp.
static_assert(hvcore::s2::OwnerBits<hvcore::vmx::EptEntry>);  // the owner lives in the entry (ept.hpp)
extern template class hvcore::s2::Table<hvcore::vmx::EptEntry>;

namespace hvcore::vmx {

class Ept final : public s2::Table<EptEntry> {
public:
    // A 4-level walk (EPTP[5:3] = 3, SDM Vol. 3C §25.6.11) translates a
    // 48-bit guest-physical address; frames reach MAXPHYADDR.
    static constexpr s2::Geometry geometry_4level = s2::x86_4level(EptEntry::maxphyaddr);
    static constexpr unsigned gpa_bits = geometry_4level.ia_bits;

    // Allocates the PML4 (-ENOMEM when the pool is exhausted). mem must
    // outlive the Ept; the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Ept>> create(MachineMemory& mem) {
        return s2::create<Ept>(mem, geometry_4level);
    }
    explicit Ept(const s2::Placement& p) noexcept : Table(p) {}

    [[nodiscard]] Arch arch() const noexcept override { return Arch::x86_vmx; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    // The EPTP a VMCS would hold for this table.
    [[nodiscard]] uint64_t eptp() const noexcept { return Eptp::encode(root()); }

private:
    [[nodiscard]] uint64_t root_register() const noexcept override { return eptp(); }
    // Levels numbered as the SDM names the entries: PML4E 4, PDPTE 3, PDE
    // 2, PTE 1 (hv.h hv_p2m_walk_level).
    [[nodiscard]] int arch_level(unsigned level) const noexcept override { return static_cast<int>(level) + 1; }
};

// The backend's make_stage2.
[[nodiscard]] inline Result<std::unique_ptr<Stage2>> make_ept_stage2(MachineMemory& mem) {
    return s2::make_stage2<Ept>(mem);
}

}  // namespace hvcore::vmx
