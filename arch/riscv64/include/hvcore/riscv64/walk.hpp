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
#include "hvcore/s2/engine.hpp"

namespace hvcore::riscv64 {

// The record of a guest-page fault of `access` at gpa (trap.hpp):
// scause, htval = gpa >> 2, stval = the guest virtual address (the gpa
// itself when the access has none: VS-stage Bare), htinst = the
// transformed instruction the executor supplies in ctx.isa_syndrome for a
// load or store, 0 for a fetch. The read of an AMO (ctx.rmw) is reported
// as the store/AMO fault: AMOs raise store/AMO exceptions (Volume I, "A"
// extension; the cause table names them "Store/AMO").
[[nodiscard]] FaultRecord guest_page_fault(Gpa gpa, AccessType access, const AccessContext& ctx) noexcept;

// The model MMU: the walk above over the table at root (geo.root_frames()
// consecutive frames) of geometry geo, whose entries it reads with
// entry(table, level, gfn): gfn's entry in the level-`level` table at
// frame `table` (the engine's s2::Table::entry for GStage).
template <class EntryOf>
[[nodiscard]] Translation gstage_translate(const EntryOf& entry, Mfn root, const s2::Geometry& geo, Gpa gpa,
                                           AccessType access, const AccessContext& ctx) {
    using P = Pte;
    // Step 3's reserved bits and encodings of a leaf (the model has neither
    // Svpbmt nor Svnapot, so PBMT and N are reserved too).
    constexpr uint64_t leaf_reserved = P::reserved_mask | P::pbmt_mask | P::n;
    Translation tr;
    auto fault = [&] {
        tr.record = guest_page_fault(gpa, access, ctx);
        return tr;
    };
    // The access of an AMO is checked as the store it also is.
    const AccessType checked = ctx.rmw && access == AccessType::read ? AccessType::write : access;
    const uint64_t allowed = checked == AccessType::read ? P::r : checked == AccessType::write ? P::w : P::x;
    // Step 0: "Address bits 63:41 [63:50] must all be zeros".
    if ((gpa.raw() >> geo.ia_bits) != 0) return fault();
    const uint64_t gfn = gpa.gfn().raw();
    Mfn table = root;  // step 1
    for (int level = static_cast<int>(geo.root_level()); level >= 0; --level) {
        const auto i = static_cast<unsigned>(level);
        const uint64_t e = entry(table, i, gfn);  // step 2
        // Step 3.
        if (!P::is_valid(e) || ((e & P::r) == 0 && (e & P::w) != 0) || (e & leaf_reserved) != 0) return fault();
        // Step 4: a pointer; D, A and U are reserved in it.
        if ((e & (P::r | P::x)) == 0) {
            if ((e & P::nonleaf_reserved) != 0) return fault();
            table = P::frame(e);
            continue;
        }
        // Step 5: misaligned superpage.
        const uint64_t pages = level_pages(i);
        if ((P::frame(e).raw() & (pages - 1)) != 0) return fault();
        // Step 6: U, then R/W/X.
        if ((e & P::u) == 0 || (e & allowed) == 0) return fault();
        // Step 7: Svade.
        if ((e & P::a) == 0 || (checked == AccessType::write && (e & P::d) == 0)) return fault();
        // Step 8.
        tr.ok = true;
        tr.mfn = P::frame(e) + (gfn & (pages - 1));
        return tr;
    }
    // Step 4: "If i < 0, stop and raise a page-fault exception".
    return fault();
}

// The record back to the neutral fault: the access from scause, the gpa
// from htval and stval's two low bits, the guest virtual address from
// stval. The cause comes from the table (the record has none): `walk` is
// the software walk to the faulting gfn (Stage2::walk_entries), or null
// when the gpa lies beyond the table: recalc if it passes a
// lazy-recalculation mark, permission if it ends at a valid leaf,
// not_present otherwise.
[[nodiscard]] Fault decode_guest_page_fault(const FaultRecord& record, const Stage2Walk* walk);

}  // namespace hvcore::riscv64
