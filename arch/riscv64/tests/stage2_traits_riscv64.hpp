// SPDX-License-Identifier: MIT
// RISC-V G-stage (hypervisor extension) in the stage-2 conformance suite,
// in the backend's default configuration: Sv39x4 (hgatp.MODE 8), a 41-bit
// guest-physical space, 3 levels, the 16 KiB root of 2048 entries, 56-bit
// output addresses. Sv48x4 is riscv64's own tests. References are to the
// RISC-V Privileged Architecture (Volume II) by section name: the Sv39 PTE
// figure and the Sv32 text for the fields, "Guest Physical Address
// Translation", "Trap Cause Codes", "Hypervisor Trap Value (htval)
// Register" and "Transformed Instruction or Pseudoinstruction for mtinst
// or htinst". The constants below are written from the manual (and
// hvcore's documented layout of the software bits), not taken from
// gstage.hpp or trap.hpp, so a wrong mask there fails here.
#pragma once

#include "stage2_traits.hpp"

#include "hvcore/riscv64/gstage.hpp"
#include "hvcore/riscv64/stage2.hpp"

namespace conformance::stage2 {

namespace riscv64_bits {
inline constexpr uint64_t v = 1 << 0;  // Valid
inline constexpr uint64_t r = 1 << 1;  // Readable
inline constexpr uint64_t w = 1 << 2;  // Writable
inline constexpr uint64_t x = 1 << 3;  // eXecutable
inline constexpr uint64_t u = 1 << 4;  // User: every G-stage access is user-level, so every leaf has it
inline constexpr uint64_t a = 1 << 6;  // Accessed (Svade: hvcore sets it in every leaf)
inline constexpr uint64_t d = 1 << 7;  // Dirty (set in every writable leaf)
inline constexpr uint64_t rsw(uint64_t code) { return code << 8; }  // RSW 9:8: hvcore's type code of a valid leaf
inline constexpr uint64_t hole_type(uint64_t t) { return t << 54; }  // V = 0: the whole type in 57:54 (hvcore's)
inline constexpr uint64_t recalc = uint64_t{1} << 58;               // V = 0: the recalculation mark (hvcore's)
inline constexpr uint64_t pbmt_mask = uint64_t{3} << 61;             // PBMT (Svpbmt), 0 = PMA
inline constexpr uint64_t frame_1234 = uint64_t{0x1234} << 10;      // PPN 53:10 = 0x1234

// mfn 0x1234, a 4 KiB page. RSW codes: 0 ram_rw, 1 ram_logdirty, 2
// ioreq_server, 3 ram_ro (with X) / mmio_direct (without X).
inline constexpr Golden goldens[] = {
    {P2mType::ram_rw, false, frame_1234 | d | a | u | x | w | r | v},
    {P2mType::ram_rw, true, 0x0000'0000'0048'D0DF},
    {P2mType::invalid, false, hole_type(1) | frame_1234 | a | u},
    {P2mType::invalid, true, hole_type(1) | frame_1234 | a | u},
    {P2mType::ram_logdirty, false, frame_1234 | rsw(1) | a | u | x | r | v},
    {P2mType::ram_logdirty, true, frame_1234 | rsw(1) | a | u | x | r | v},
    {P2mType::ram_ro, false, frame_1234 | rsw(3) | a | u | x | r | v},
    {P2mType::ram_ro, true, frame_1234 | rsw(3) | a | u | x | r | v},
    {P2mType::mmio_dm, false, hole_type(4) | frame_1234 | a | u},
    {P2mType::mmio_dm, true, 0x0100'0000'0048'D050},
    {P2mType::mmio_direct, false, frame_1234 | rsw(3) | d | a | u | w | r | v},
    {P2mType::mmio_direct, true, frame_1234 | rsw(3) | d | a | u | w | r | v},
    {P2mType::ioreq_server, false, frame_1234 | rsw(2) | d | a | u | w | r | v},
    // claimed: PPN 0x1234, RSW 2, A U R V, no W, no D
    {P2mType::ioreq_server, true, 0x0000'0000'0048'D253},
};
}  // namespace riscv64_bits

namespace riscv64_trap {
inline constexpr uint32_t fetch = 20;  // instruction guest-page fault
inline constexpr uint32_t load = 21;   // load guest-page fault
inline constexpr uint32_t store = 23;  // store/AMO guest-page fault
// `sw x5, 0(x10)` transformed: rs2 5, Addr. Offset 0, funct3 010, STORE.
inline constexpr uint64_t sw_x5 = (5 << 20) | (2 << 12) | 0x23;
}  // namespace riscv64_trap

struct Riscv64Traits {
    using Table = riscv64::GStage;
    static constexpr Arch arch = Arch::riscv64;

    static Result<std::unique_ptr<Table>> create(MachineMemory& mem) { return riscv64::GStage::create(mem); }

    // 41-bit guest-physical addresses; 56-bit output (PPN 44 bits).
    static constexpr uint64_t gfn_limit = uint64_t{1} << 29;
    static constexpr uint64_t mfn_limit = uint64_t{1} << 44;
    // The x4 root: 2048 entries over 4 frames, each 1 GiB (level 2), which
    // may be a leaf; leaves at every level.
    static constexpr unsigned root_frames = 4;
    static constexpr unsigned root_entry_order = 18;
    static constexpr unsigned leaf_orders[] = {0, 9, 18};
    // RISC-V numbers the levels of a walk as the engine does: i = 0 holds pages.
    static unsigned order_of_level(unsigned level) { return level * order_step; }

    static constexpr std::span<const Golden> goldens = riscv64_bits::goldens;
    // An ioreq_server page at mfn 0x1234 whose owner claims reads: V = 0
    // (a guest-page fault for every access), U, A, the frame and the type
    // (15) in 57:54. The owner is not in the entry (RSW is full; it lives
    // beside the table, s2::OwnerSide), so the value is the same for every
    // owner.
    static constexpr uint64_t read_trapped_owner5 =
        riscv64_bits::hole_type(15) | riscv64_bits::frame_1234 | riscv64_bits::a | riscv64_bits::u;
    static constexpr FaultCause read_trap_cause = FaultCause::not_present;
    static constexpr bool owner_in_entry = false;

    // For ram_rw (the type the rights scenario maps): every combination
    // but W without R ("Reserved for future use").
    static bool encodable(Perm p) { return p.r || !p.w; }
    static uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned order) {
        return riscv64::Pte::encode_leaf(m, t, p, mc, order / order_step);
    }
    static uint64_t encode_table(Mfn m) { return riscv64::Pte::encode_table(m); }
    // PBMT = 0: the frame's PMAs give the memory class, which is the
    // type's (RAM is main memory, a device frame I/O); another PBMT is no
    // class hvcore writes.
    static DecodedLeaf decode_leaf(uint64_t e, unsigned /*order*/) {
        const riscv64::LeafFields f = riscv64::Pte::decode_leaf(e);
        std::optional<MemClass> mem;
        if ((e & riscv64_bits::pbmt_mask) == 0) mem = p2m_mem_class(f.type);
        return {f.mfn, f.type, f.perm, mem, f.valid, f.recalc};
    }
    static bool is_leaf(uint64_t e, unsigned order) { return riscv64::Pte::is_leaf(e, order / order_step); }
    static bool present(uint64_t e) { return (e & riscv64_bits::v) != 0; }
    static Mfn frame(uint64_t e) { return riscv64::Pte::frame(e); }
    // The mark: V cleared (a guest-page fault at this entry), bit 58 set.
    static uint64_t mark(uint64_t e) { return riscv64::Pte::mark(e); }
    static bool carries_mark(uint64_t e) { return (e & (riscv64_bits::v | riscv64_bits::recalc)) == riscv64_bits::recalc; }

    // The RV64 executor's `sw x5`/`lw x5` at gla: the transformation, and
    // the access's page offset in bits 43:32 (isa_rv64.hpp).
    static AccessContext guest_access(uint64_t gla) {
        return {.gla = gla, .gla_valid = true, .size = 4, .insn = {},
                .isa_syndrome = riscv64_trap::sw_x5 | ((gla & 0xfff) << 32)};
    }
    // scause by the access (the read of an AMO is a store/AMO fault);
    // htinst = the transformed instruction with its Addr. Offset (stval -
    // the access's first byte, in bits 19:15), 0 for a fetch or without
    // one; htval = gpa >> 2; stval = the guest virtual address (the gpa
    // itself without one: vsatp Bare). No level in the record.
    static FaultRecord expected_record(const FaultSpec& s) {
        using namespace riscv64_trap;
        FaultRecord r;
        r.arch = Arch::riscv64;
        const bool as_store = s.access == AccessType::write || (s.ctx.rmw && s.access != AccessType::fetch);
        r.kind = s.access == AccessType::fetch ? fetch : as_store ? store : load;
        r.gpa = s.gpa.raw() >> 2;
        r.gva = s.ctx.gla_valid ? s.ctx.gla : s.gpa.raw();
        if (s.access != AccessType::fetch && s.ctx.isa_syndrome != 0) {
            const uint64_t first = (s.ctx.isa_syndrome >> 32) & 0xfff;
            const uint64_t offset = ((r.gva & 0xfff) - first) & 0xfff;
            r.syndrome = (s.ctx.isa_syndrome & 0xffff'ffff) | (offset << 15);
        }
        return r;
    }
    // stval is written for every guest-page fault.
    static std::optional<uint64_t> decoded_gla(const FaultSpec& s) { return s.ctx.gla_valid ? s.ctx.gla : s.gpa.raw(); }
    static constexpr bool recalc_record_has_access = true;
    // AMOs "raise store/AMO" exceptions (the cause table's "Store/AMO
    // guest-page fault"), and are checked as the store they also are.
    static constexpr AccessType rmw_read_faults_as = AccessType::write;
    // No instruction syndrome: htinst = 0.
    static constexpr uint64_t rmw_hole_syndrome = 0;
    // The record names no level; a gpa beyond 41 bits faults before the
    // root is read (step 0).
    static constexpr unsigned out_of_range_order = 18;
};
static_assert(Stage2Traits<Riscv64Traits>);

}  // namespace conformance::stage2

TYPE_TO_STRING_AS("riscv64", conformance::stage2::Riscv64Traits);
