// SPDX-License-Identifier: MIT
// The AMD NPT stage-2 backend: the stage-2 table engine
// (hvcore/s2/engine.hpp) in the long-mode nested entry format (npt.hpp)
// over the x86 4-level geometry (s2::x86_4level), the model MMU that walks it as the processor walks nested
// tables for a guest access (APM Vol. 2 §15.25.5 "Nested Table Walk"), and
// the decoder of the #NPF record that walk produces (exit code 400h,
// §15.25.6). The p2m type lives in each leaf's bits 55:52 (npt.hpp; an
// ioreq_server leaf's owner in 58:56), so this table is the p2m.
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

#include <array>
#include <memory>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/svm/npt.hpp"
#include "hvcore/s2/engine.hpp"

// Instantiated once, in npt_stage2.cpp.
static_assert(hvcore::s2::OwnerBits<hvcore::svm::NptEntry>);  // the owner lives in the entry (npt.hpp)
extern template class hvcore::s2::Table<hvcore::svm::NptEntry>;

namespace hvcore::svm {

class Npt final : public s2::Table<NptEntry> {
public:
    // The long-mode 4-level walk of a 64-bit host (§15.25.5) translates a
    // 48-bit guest-physical address; frames reach MAXPHYADDR.
    static constexpr s2::Geometry geometry_4level = s2::x86_4level(NptEntry::maxphyaddr);
    static constexpr unsigned gpa_bits = geometry_4level.ia_bits;

    // Allocates the PML4 (-ENOMEM when the pool is exhausted). mem must
    // outlive the Npt; the destructor returns every table frame to it.
    [[nodiscard]] static Result<std::unique_ptr<Npt>> create(MachineMemory& mem) {
        return s2::create<Npt>(mem, geometry_4level);
    }
    explicit Npt(const s2::Placement& p) noexcept : Table(p) {}

    [[nodiscard]] Arch arch() const noexcept override { return Arch::x86_svm; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    // The nCR3 a VMCB would hold for this table.
    [[nodiscard]] uint64_t ncr3() const noexcept { return NestedCr3::encode(root()); }

private:
    [[nodiscard]] uint64_t root_register() const noexcept override { return ncr3(); }
    // Levels numbered as the APM names the entries: PML4E 4, PDPE 3, PDE
    // 2, PTE 1 (hv.h hv_p2m_walk_level).
    [[nodiscard]] int arch_level(unsigned level) const noexcept override { return static_cast<int>(level) + 1; }

    // Whether a recalculation mark lies on the walk to gfn: the last
    // walk's answer when it was to gfn and every entry it read still holds
    // the value read (the walk from the same root then reads the same
    // entries), else a walk (marked_on_walk).
    [[nodiscard]] bool marked_on(uint64_t gfn) const;

    // The walk of the last #NPF with P = 1 (translate), so that its decode
    // (decode_fault: recalculation or permission, which only the walk
    // tells) does not walk the table a second time. Table frames stay
    // mapped while the MachineMemory lives (a freed one returns to its
    // pool), so the slots may be read at any time.
    struct LastWalk {
        uint64_t gfn = ~uint64_t{0};
        std::array<const uint64_t*, 4> slot{};
        std::array<uint64_t, 4> entry{};
        unsigned count = 0;
        bool marked = false;
    };
    LastWalk last_walk_;
};

// The backend's make_stage2.
[[nodiscard]] inline Result<std::unique_ptr<Stage2>> make_npt_stage2(MachineMemory& mem) {
    return s2::make_stage2<Npt>(mem);
}

}  // namespace hvcore::svm
