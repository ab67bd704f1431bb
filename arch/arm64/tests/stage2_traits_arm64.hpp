// SPDX-License-Identifier: MIT
// Arm64 (VMSAv8-64 stage 2, 4 KiB granule) in the stage-2 conformance
// suite, in the backend's default configuration (KVM's: 40-bit IPA, start
// at level 1 with 2 concatenated level-1 tables, 48-bit PA); the other
// VTCR configurations are arm64's own tests. References are to the Arm
// ARM DDI 0487: D8.3 (block/page/table descriptors), D8.4 (S2AP, XN, AF),
// D8.5 (MemAttr, SH), ESR_EL2 "ISS encoding for an exception from a Data
// Abort / an Instruction Abort", HPFAR_EL2 and FAR_EL2. The constants
// below are written from the manual, not taken from descriptor.hpp or
// esr.hpp, so a wrong mask there fails here.
#pragma once

#include "stage2_traits.hpp"

#include "hvcore/arm64/descriptor.hpp"
#include "hvcore/arm64/stage2.hpp"

namespace conformance::stage2 {

// Pieces of stage-2 golden descriptors, each named after its Arm ARM field.
namespace arm64_bits {
inline constexpr uint64_t valid = 1 << 0;            // bit 0: valid
inline constexpr uint64_t page = 1 << 1;             // bit 1: page (level 3) / table; 0 = block
inline constexpr uint64_t normal_wb = 0xf << 2;      // MemAttr[3:0] = 0b1111: Normal, Write-Back (bits 5:2)
inline constexpr uint64_t device_ngnrne = 0x0 << 2;  // MemAttr = 0b0000: Device-nGnRnE
inline constexpr uint64_t s2ap_r = 1 << 6;           // S2AP[0]: read
inline constexpr uint64_t s2ap_w = 1 << 7;           // S2AP[1]: write
inline constexpr uint64_t sh_inner = 0x3 << 8;       // SH = 0b11: Inner Shareable (bits 9:8)
inline constexpr uint64_t sh_outer = 0x2 << 8;       // SH = 0b10: Outer Shareable
inline constexpr uint64_t af = 1 << 10;              // AF: access flag
inline constexpr uint64_t xn = uint64_t{1} << 54;    // XN[1:0] = 0b10: no execution at EL1/EL0 (bits 54:53)
// hvcore's recalculation mark, only in an invalid descriptor (whose bits
// 63:1 are IGNORED, D8.3).
inline constexpr uint64_t recalc = uint64_t{1} << 59;
inline constexpr uint64_t frame_1234 = 0x1234000;    // mfn 0x1234 in bits 47:12
inline constexpr uint64_t type(uint64_t v) { return v << 55; }  // p2m type in bits 58:55 (software, hvcore's choice)
inline constexpr uint64_t normal = normal_wb | sh_inner;
inline constexpr uint64_t device = device_ngnrne | sh_outer;

// mfn 0x1234, level-3 page. Rights from p2m_entry_perm; RAM is Normal
// WB inner shareable, holes and devices Device-nGnRnE outer shareable
// (p2m_mem_class); AF always.
inline constexpr Golden goldens[] = {
    // ram_rw (0): S2AP = 11, executable
    {P2mType::ram_rw, false, type(0) | frame_1234 | af | sh_inner | s2ap_w | s2ap_r | normal_wb | page | valid},
    {P2mType::ram_rw, true, type(0) | frame_1234 | af | normal | s2ap_w | s2ap_r | page | valid},
    // invalid (1): bit 0 = 0 (translation fault), still typed; S2AP 00, XN
    {P2mType::invalid, false, type(1) | xn | frame_1234 | af | device | page},
    {P2mType::invalid, true, type(1) | xn | frame_1234 | af | device | page},
    // ram_logdirty (2): S2AP = 01, executable: writes fault for tracking
    {P2mType::ram_logdirty, false, type(2) | frame_1234 | af | normal | s2ap_r | page | valid},
    {P2mType::ram_logdirty, true, type(2) | frame_1234 | af | normal | s2ap_r | page | valid},
    // ram_ro (3): S2AP = 01, executable
    {P2mType::ram_ro, false, type(3) | frame_1234 | af | normal | s2ap_r | page | valid},
    {P2mType::ram_ro, true, type(3) | frame_1234 | af | normal | s2ap_r | page | valid},
    // mmio_dm (4): invalid, every access faults to the device model
    {P2mType::mmio_dm, false, type(4) | xn | frame_1234 | af | device | page},
    {P2mType::mmio_dm, true, type(4) | xn | frame_1234 | af | device | page},
    // mmio_direct (5): S2AP = 11, XN, Device-nGnRnE
    {P2mType::mmio_direct, false, type(5) | xn | frame_1234 | af | device | s2ap_w | s2ap_r | page | valid},
    {P2mType::mmio_direct, true, type(5) | xn | frame_1234 | af | device | s2ap_w | s2ap_r | page | valid},
    // ioreq_server (15): S2AP = 11 unclaimed, XN, Normal WB
    {P2mType::ioreq_server, false, type(15) | xn | frame_1234 | af | normal | s2ap_w | s2ap_r | page | valid},
    // claimed: bits 1:0 = 11, MemAttr 0b1111, S2AP 01 (read only), SH 11,
    // AF 1, OA 0x1234000, XN 0b10, software bits 58:55 = 15
    {P2mType::ioreq_server, true, 0x07C0'0000'0123'477F},
};
}  // namespace arm64_bits

// ESR_EL2 / HPFAR_EL2 of a stage-2 abort.
namespace arm64_abort {
inline constexpr uint32_t ec_dabt = 0x24;           // Data Abort from a lower EL
inline constexpr uint32_t ec_iabt = 0x20;           // Instruction Abort from a lower EL
inline constexpr unsigned ec_shift = 26;            // EC, bits 31:26
inline constexpr uint64_t il = uint64_t{1} << 25;   // 32-bit instruction
inline constexpr uint64_t isv = uint64_t{1} << 24;  // ISS[23:14] valid
inline constexpr uint64_t iss_insn = 0x01ff'c000;   // ISS[24:14]: ISV, SAS, SSE, SRT, SF, AR (the executor's)
inline constexpr uint64_t wnr = uint64_t{1} << 6;   // write, not read
// Fault status codes: kind + level (0b0001LL translation, 0b0011LL permission).
inline constexpr uint64_t translation(unsigned level) { return 0x04 + level; }
inline constexpr uint64_t permission(unsigned level) { return 0x0c + level; }
// HPFAR_EL2.FIPA, bits 39:4 = IPA[47:12].
inline constexpr uint64_t hpfar(uint64_t ipa) { return (ipa >> 12) << 4; }
// `str w5, [xN]`: ISV, SAS = 0b10 (word, bits 23:22), SRT = 5 (bits 20:16).
inline constexpr uint64_t str_w5 = isv | (uint64_t{2} << 22) | (uint64_t{5} << 16);
}  // namespace arm64_abort

struct Arm64Traits {
    using Table = arm64::Arm64Stage2;
    static constexpr Arch arch = Arch::arm64;

    // The default configuration (make_stage2's).
    static Result<std::unique_ptr<Table>> create(MachineMemory& mem) { return arm64::Arm64Stage2::create(mem); }

    // 40-bit IPA (T0SZ 24); PA 48 bits (VTCR.PS = 0b101).
    static constexpr uint64_t gfn_limit = uint64_t{1} << 28;
    static constexpr uint64_t mfn_limit = uint64_t{1} << 36;
    // Start at level 1 with 2 concatenated tables (SL0 = 01: 10 IPA bits
    // at level 1): 1024 root descriptors of 1 GiB, which may be blocks.
    static constexpr unsigned root_frames = 2;
    static constexpr unsigned root_entry_order = 18;
    // Level-3 pages, level-2 and level-1 blocks (D8.3).
    static constexpr unsigned leaf_orders[] = {0, 9, 18};
    // Arm levels count from the top of a 48-bit walk: level 3 holds pages.
    static unsigned order_of_level(unsigned level) { return (3 - level) * order_step; }
    static unsigned level_of(unsigned order) { return 3 - order / order_step; }

    // The golden 4 KiB leaf of every type, claimed and not (above).
    static constexpr std::span<const Golden> goldens = arm64_bits::goldens;
    // An ioreq_server page at mfn 0x1234 whose owner (5) claims reads: a
    // valid page descriptor with S2AP = 00 and XN (D8.4: no data access, no
    // execution), Normal WB, AF, and code 12 (7 + owner) in bits 58:55.
    // Every access is a permission fault at level 3, not a translation
    // fault.
    static constexpr uint64_t read_trapped_owner5 = arm64_bits::type(12) | arm64_bits::xn | arm64_bits::frame_1234 |
                                                    arm64_bits::af | arm64_bits::normal | arm64_bits::page |
                                                    arm64_bits::valid;
    static constexpr FaultCause read_trap_cause = FaultCause::permission;
    static constexpr bool owner_in_entry = true;

    // S2AP and XN are independent: every combination is a descriptor
    // (execute-only and write-only included, D8.4).
    static bool encodable(Perm /*p*/) { return true; }
    static uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned order) {
        return arm64::S2Desc::encode_leaf(m, t, p, mc, level_of(order));
    }
    static uint64_t encode_table(Mfn m) { return arm64::S2Desc::encode_table(m); }
    static DecodedLeaf decode_leaf(uint64_t e, unsigned /*order*/) {
        const arm64::S2LeafFields f = arm64::S2Desc::decode_leaf(e);
        return {f.mfn, f.type, f.perm, f.mem, f.valid, f.recalc};
    }
    static bool is_leaf(uint64_t e, unsigned order) { return arm64::S2Desc::is_leaf(e, level_of(order)); }
    static bool present(uint64_t e) { return arm64::S2Desc::is_valid(e); }
    static Mfn frame(uint64_t e) { return arm64::S2Desc::frame(e); }
    // The recalculation mark: bit 0 cleared (a translation fault at this
    // level), bit 59 set, everything else kept.
    static uint64_t mark(uint64_t e) { return arm64::S2Desc::mark(e); }
    static bool carries_mark(uint64_t e) {
        return (e & (arm64_bits::valid | arm64_bits::recalc)) == arm64_bits::recalc;
    }

    // The A64 executor's `str w5` / `ldr w5` at gla: its syndrome for ISV.
    static AccessContext guest_access(uint64_t gla) {
        return {.gla = gla, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = arm64_abort::str_w5};
    }
    // A refused access: ESR_EL2 with EC 0x24 (data: WnR, and the
    // executor's ISS[24:14] when it gives ISV) or 0x20 (fetch), IL, and the
    // fault status code of the level where the walk stopped: permission at
    // the leaf; translation at an absent or typed-hole entry, and at a
    // marked (invalid) one. HPFAR_EL2 = the IPA page; FAR_EL2 = the virtual
    // address, the IPA itself without stage 1.
    static FaultRecord expected_record(const FaultSpec& s) {
        using namespace arm64_abort;
        const uint64_t ipa = s.gpa.raw();
        const unsigned level = level_of(s.order);
        const bool data = s.access != AccessType::fetch;
        FaultRecord r;
        r.arch = Arch::arm64;
        r.kind = data ? ec_dabt : ec_iabt;
        r.syndrome = (uint64_t{r.kind} << ec_shift) | il |
                     (s.cause == FaultCause::permission ? permission(level) : translation(level));
        if (data && (s.ctx.isa_syndrome & isv) != 0) r.syndrome |= s.ctx.isa_syndrome & iss_insn;
        if (s.access == AccessType::write) r.syndrome |= wnr;
        r.gpa = hpfar(ipa);
        r.gva = s.ctx.gla_valid ? s.ctx.gla : ipa;
        return r;
    }
    // FAR_EL2 is valid for every stage-2 abort: decode reports it.
    static std::optional<uint64_t> decoded_gla(const FaultSpec& s) {
        return s.ctx.gla_valid ? s.ctx.gla : s.gpa.raw();
    }
    static constexpr bool recalc_record_has_access = true;
    // ESR_EL2.WnR of an atomic that reads and writes: "set to 0 if a read
    // of the address specified by the instruction would have generated the
    // fault which is being reported, otherwise it is set to 1" (DDI 0487
    // M.a.a, D24.2.46): the read is checked and reported as a read.
    static constexpr AccessType rmw_read_faults_as = AccessType::read;
    // EC 0x24 (bits 31:26) | IL (25) | DFSC 0b000111 (translation fault,
    // level 3); WnR = 0, ISV = 0.
    static constexpr uint64_t rmw_hole_syndrome = 0x9200'0007;
    // An IPA beyond 64 - T0SZ bits faults at level 0 (order 27) whatever
    // the start level (pseudocode AArch64.IPAIsOutOfRange).
    static constexpr unsigned out_of_range_order = 27;
};
static_assert(Stage2Traits<Arm64Traits>);

}  // namespace conformance::stage2

TYPE_TO_STRING_AS("arm64", conformance::stage2::Arm64Traits);
