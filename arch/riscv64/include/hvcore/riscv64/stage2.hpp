// SPDX-License-Identifier: MIT
// The RISC-V G-stage backend: the shared stage-2 engine (hvcore/s2/
// engine.hpp) instantiated for the G-stage entry format (gstage.hpp) in
// an Sv39x4 or Sv48x4 geometry, plus what is RISC-V's own: the walk the
// hardware does and the guest-page fault record it raises (walk.hpp), the
// decoder of that record, hgatp, and the level numbers of Stage2Walk (the
// translation process's i: 0 = 4 KiB, as the engine counts).
//
// Geometry ("Guest Physical Address Translation"): Sv39x4 is 3 levels
// with a 2048-entry (16 KiB, 16 KiB aligned) root and a 41-bit guest-
// physical space; Sv48x4 4 levels and 50 bits; leaves at every level; the
// output address is 56 bits (PPN 53:10).
//
// Lazy recalculation: mark_recalc_all() clears V in every valid root entry
// and sets the mark (bit 58); an access through it takes a guest-page
// fault, which decode_fault() reports as recalc because the walk shows the
// mark.
//
// Not thread-safe: the owning domain's p2m lock serialises every call.
#pragma once

#include <memory>

#include "hvcore/riscv64/gstage.hpp"
#include "hvcore/riscv64/walk.hpp"
#include "hvcore/s2/engine.hpp"

namespace hvcore::riscv64 {

class GStage final : public s2::Table<Pte> {
public:
    // make_stage2's configuration: Sv39x4 (hgatp.MODE 8), VMID 0.
    [[nodiscard]] static Result<std::unique_ptr<GStage>> create(MachineMemory& mem);
    [[nodiscard]] static Result<std::unique_ptr<GStage>> create(MachineMemory& mem, Mode mode);

    [[nodiscard]] Arch arch() const noexcept override { return Arch::riscv64; }
    [[nodiscard]] Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) override;
    [[nodiscard]] Fault decode_fault(const FaultRecord& record) const override;

    [[nodiscard]] Mode mode() const noexcept { return mode_; }
    // hgatp for VMID 0: MODE, and the PPN of the 16 KiB root.
    [[nodiscard]] uint64_t hgatp() const noexcept { return Hgatp::encode(mode_, 0, root()); }

    GStage(const s2::Placement& p, Mode mode) noexcept : s2::Table<Pte>(p), mode_(mode) {}

protected:
    [[nodiscard]] uint64_t root_register() const noexcept override { return hgatp(); }
    [[nodiscard]] int arch_level(unsigned level) const noexcept override { return static_cast<int>(level); }

private:
    Mode mode_;
};

// The backend's make_stage2 (default configuration).
[[nodiscard]] Result<std::unique_ptr<Stage2>> make_riscv64_stage2(MachineMemory& mem);

}  // namespace hvcore::riscv64

// RSW is full: the owners of ioreq_server leaves live in s2::OwnerSide.
static_assert(!hvcore::s2::OwnerBits<hvcore::riscv64::Pte>);
extern template class hvcore::s2::Table<hvcore::riscv64::Pte>;
