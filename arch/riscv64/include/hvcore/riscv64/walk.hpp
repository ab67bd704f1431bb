// SPDX-License-Identifier: MIT
// The G-stage model MMU and the decoder of its record: the walk the
// hardware does over a table in MachineMemory frames (read only: the
// model CPU has Svade, so it never writes A or D), the guest-page fault it
// raises (trap.hpp) and the way back to the neutral Fault. The table
// itself (building, splitting, marking) is the shared stage-2 engine's;
// this is only what is RISC-V's own.
//
// The walk is the privileged spec's "Virtual Address Translation Process"
// with the changes "Guest Physical Address Translation" lists (hgatp for
// satp, the U check as for U-mode, guest-page faults for page faults):
//   0. address bits above 41 (Sv39x4) / 50 (Sv48x4) not zero: fault;
//   1. a = hgatp.PPN x 4096, i = LEVELS - 1 (the root indexed by 11 bits);
//   2. pte = the entry at a + vpn[i] x 8;
//   3. V = 0, or R = 0 and W = 1, or a reserved bit or encoding set
//      (bits 60:54, PBMT without Svpbmt, N without Svnapot; in a pointer
//      also D, A, U): fault;
//   4. R = X = 0: a pointer; i = i - 1, fault if i < 0, else a = PPN x
//      4096, step 2;
//   5. a leaf at i > 0 whose PPN[i-1:0] is not 0: misaligned superpage,
//      fault;
//   6. U = 0 (every G-stage access is user-level), or the access not
//      allowed by R / W / X (HS-level MXR is 0 in the model): fault;
//   7. A = 0, or a store with D = 0: fault (Svade);
//   8. pa = PPN[LEVELS-1:i] with the address's low bits.
// Steps 5 and 6 are in the order of the current spec (earlier releases
// check the permission before the superpage alignment); every fault here
// is the same guest-page fault, so the order changes no record. QEMU
// (target/riscv/cpu_helper.c get_physical_address, two-stage) raises the
// same exceptions.
#pragma once

#include <cstdint>

#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/riscv64/gstage.hpp"
#include "hvcore/riscv64/trap.hpp"

namespace hvcore::riscv64 {

// Index of gpa's entry in its level-`level` table; the root (level ==
// geo.root_level()) has 2048 entries over 4 consecutive frames.
[[nodiscard]] constexpr unsigned table_index(const Geometry& geo, uint64_t gfn, unsigned level) noexcept {
    const uint64_t n = level == geo.root_level() ? root_entries : entries_per_table;
    return static_cast<unsigned>((gfn >> level_order(level)) & (n - 1));
}

// The record of a guest-page fault of `access` at gpa (trap.hpp):
// scause, htval = gpa >> 2, stval = the guest virtual address (the gpa
// itself when the access has none: VS-stage Bare), htinst = the
// transformed instruction the executor supplies in ctx.isa_syndrome for a
// load or store, 0 for a fetch. The read of an AMO (ctx.rmw) is reported
// as the store/AMO fault: AMOs raise store/AMO exceptions (Volume I, "A"
// extension; the cause table names them "Store/AMO").
[[nodiscard]] FaultRecord guest_page_fault(Gpa gpa, AccessType access, const AccessContext& ctx) noexcept;

// The model MMU: the walk above over the table at root (root_frames
// consecutive frames of mem).
[[nodiscard]] Translation gstage_translate(const MachineMemory& mem, Mfn root, const Geometry& geo, Gpa gpa,
                                           AccessType access, const AccessContext& ctx);

// The record back to the neutral fault: the access from scause, the gpa
// from htval and stval's two low bits, the guest virtual address from
// stval. The cause comes from the table (the record has none): `walk` is
// the software walk to the faulting gfn (Stage2::walk_entries), or null
// when the gpa lies beyond the table: recalc if it passes a
// lazy-recalculation mark, permission if it ends at a valid leaf,
// not_present otherwise.
[[nodiscard]] Fault decode_guest_page_fault(const FaultRecord& record, const Stage2Walk* walk);

}  // namespace hvcore::riscv64
