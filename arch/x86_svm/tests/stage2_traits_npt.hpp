// SPDX-License-Identifier: MIT
// AMD NPT in the stage-2 conformance suite: what is NPT's own in each
// scenario. References are to the AMD APM Vol. 2: §5.4.1 "Field
// Definitions" (the long-mode PML4E/PDPE/PDE/PTE figures, used for nested
// tables by §15.25.5 "Nested Table Walk"), §7.8 for the PAT index,
// §8.4.2 "Page-Fault Error Code" and §15.25.6 for the #NPF record, §15.33
// "Decode Assists", Appendix C for the exit code. The constants below are
// written from the manual, not taken from npt.hpp, so a wrong mask there
// fails here.
#pragma once

#include <algorithm>

#include "stage2_traits_x86.hpp"

#include "hvcore/svm/npt.hpp"
#include "hvcore/svm/npt_stage2.hpp"

namespace conformance::stage2 {

// Pieces of NPT golden entries, each named after its APM field (§5.4.1).
namespace npt_bits {
inline constexpr uint64_t nx = uint64_t{1} << 63;  // No Execute, bit 63
inline constexpr uint64_t rw_leaf = 0x67;          // D (6) A (5) U/S (2) R/W (1) P (0)
inline constexpr uint64_t ro_leaf = 0x65;          // D A U/S P: no R/W
inline constexpr uint64_t uc = 0x18;               // PCD (4) PWT (3): PAT entry 3, UC at reset (§7.8)
inline constexpr uint64_t ps = 0x80;               // bit 7: the PDE/PDPE maps a page
inline constexpr uint64_t frame_1234 = 0x1234000;  // mfn 0x1234 in bits 51:12
inline constexpr uint64_t type(uint64_t v) { return v << 52; }  // p2m type in 55:52 (AVL, hvcore's choice; the owner above it, 58:56)

// mfn 0x1234, 4 KiB leaf. Rights from p2m_entry_perm; RAM is WB (PAT
// entry 0: PCD = PWT = 0), holes and devices UC (p2m_mem_class).
inline constexpr Golden goldens[] = {
    // ram_rw (0): present, writable, executable
    {P2mType::ram_rw, false, type(0) | frame_1234 | rw_leaf},
    {P2mType::ram_rw, true, type(0) | frame_1234 | rw_leaf},
    // invalid (1): not present (P = 0), still typed, NX as for every hole
    {P2mType::invalid, false, nx | type(1) | frame_1234 | uc},
    {P2mType::invalid, true, nx | type(1) | frame_1234 | uc},
    // ram_logdirty (2): read-only and executable, writes fault for tracking
    {P2mType::ram_logdirty, false, type(2) | frame_1234 | ro_leaf},
    {P2mType::ram_logdirty, true, type(2) | frame_1234 | ro_leaf},
    // ram_ro (3): read-only and executable
    {P2mType::ram_ro, false, type(3) | frame_1234 | ro_leaf},
    {P2mType::ram_ro, true, type(3) | frame_1234 | ro_leaf},
    // mmio_dm (4): not present, every access exits to the device model
    {P2mType::mmio_dm, false, nx | type(4) | frame_1234 | uc},
    {P2mType::mmio_dm, true, nx | type(4) | frame_1234 | uc},
    // mmio_direct (5): writable, NX, UC
    {P2mType::mmio_direct, false, nx | type(5) | frame_1234 | uc | rw_leaf},
    {P2mType::mmio_direct, true, nx | type(5) | frame_1234 | uc | rw_leaf},
    // ioreq_server (15): writable + NX unclaimed
    {P2mType::ioreq_server, false, nx | type(15) | frame_1234 | rw_leaf},
    // claimed: P (0), U/S (2), A (5), D (6), no R/W (1), NX (63), frame
    // 0x1234 (51:12), type 15 in AVL 55:52: the same flags as Xen's
    // p2m-pt for a claimed p2m_ioreq_server ("4-Kbyte PTE—Long Mode")
    {P2mType::ioreq_server, true, 0x80F0'0000'0123'4065},
};
}  // namespace npt_bits

// EXITINFO1 of #NPF (§8.4.2, §15.25.6) and the exit code (Appendix C).
namespace npt_exit {
inline constexpr uint64_t i_p = 1 << 0;                // a present entry refused (0: not present)
inline constexpr uint64_t i_rw = 1 << 1;               // the access was a write
inline constexpr uint64_t i_us = 1 << 2;               // user access: every nested access is one (§15.25.5)
inline constexpr uint64_t i_rsv = 1 << 3;              // reserved bit set in a nested entry
inline constexpr uint64_t i_id = 1 << 4;               // the access was an instruction fetch
inline constexpr uint64_t i_final = uint64_t{1} << 32;  // fault on the final guest-physical translation
inline constexpr uint64_t i_gpt = uint64_t{1} << 33;    // fault on a guest page-table access (not in the model)
inline constexpr uint32_t npf = 0x400;                 // VMEXIT_NPF
inline constexpr unsigned max_insn_bytes = 15;         // VMCB 0D1h-0DFh (§15.33)

// The access part of the error code: U/S always, R/W for a write, I/D for
// a fetch; and bit 32, as the model has no guest paging.
inline uint64_t i_access(AccessType a) {
    switch (a) {
    case AccessType::read: return i_us | i_final;
    case AccessType::write: return i_rw | i_us | i_final;
    case AccessType::fetch: return i_id | i_us | i_final;
    }
    return 0;
}
}  // namespace npt_exit

struct NptTraits : X86RadixTraits {
    using Table = svm::Npt;
    static constexpr Arch arch = Arch::x86_svm;

    static Result<std::unique_ptr<Table>> create(MachineMemory& mem) { return svm::Npt::create(mem); }

    // The model CPU's MAXPHYADDR is 48 (CPUID Fn8000_0008_EAX): bits 51:48 MBZ.
    static constexpr uint64_t mfn_limit = uint64_t{1} << 36;

    // The golden 4 KiB leaf of every type, claimed and not (above).
    static constexpr std::span<const Golden> goldens = npt_bits::goldens;
    // An ioreq_server leaf at mfn 0x1234 whose owner (5) claims reads: P =
    // 0 (§5.4.1: the processor ignores the rest), NX, the type 15 in AVL
    // 55:52 and the owner in AVL 58:56. Every access is a #NPF with P = 0.
    static constexpr uint64_t read_trapped_owner5 =
        npt_bits::nx | (uint64_t{5} << 56) | npt_bits::type(15) | npt_bits::frame_1234;
    static constexpr FaultCause read_trap_cause = FaultCause::not_present;
    static constexpr bool owner_in_entry = true;

    // P grants reads: there is no execute-only or write-only entry.
    static bool encodable(Perm p) { return p.r || (!p.w && !p.x); }
    static uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned order) {
        return svm::NptEntry::encode_leaf(m, t, p, mc, level_of(order));
    }
    static uint64_t encode_table(Mfn m) { return svm::NptEntry::encode_table(m); }
    static DecodedLeaf decode_leaf(uint64_t e, unsigned order) {
        const svm::NptLeafFields f = svm::NptEntry::decode_leaf(e, level_of(order));
        return {f.mfn, f.type, f.perm, f.mem, svm::NptEntry::present(e), f.recalc};
    }
    static bool is_leaf(uint64_t e, unsigned order) { return svm::NptEntry::is_leaf(e, level_of(order)); }
    static bool present(uint64_t e) { return svm::NptEntry::present(e); }
    static Mfn frame(uint64_t e) { return svm::NptEntry::frame(e); }
    // The recalculation mark, Xen's set_recalc: U/S (bit 2) and A (bit 5)
    // cleared, so the next access is a #NPF with P = 1; plus AVL bit 11.
    static uint64_t mark(uint64_t e) { return svm::NptEntry::mark(e); }
    static bool carries_mark(uint64_t e) { return e != 0 && (e & 0x824) == 0x800; }

    // A refused access: #NPF, EXITINFO1 = P (a present entry refused: a
    // permission, or the mark's U/S = 0) | the access bits, EXITINFO2 = the
    // GPA, no linear address; a data access carries up to 15 instruction
    // bytes. No level is recorded.
    static FaultRecord expected_record(const FaultSpec& s) {
        using namespace npt_exit;
        FaultRecord r;
        r.arch = Arch::x86_svm;
        r.kind = npf;
        r.syndrome = (s.cause == FaultCause::not_present ? 0 : i_p) | i_access(s.access);
        r.gpa = s.gpa.raw();
        if (s.access != AccessType::fetch) {
            r.insn_len = static_cast<uint32_t>(std::min<size_t>(max_insn_bytes, s.ctx.insn.size()));
            std::copy_n(s.ctx.insn.begin(), r.insn_len, r.insn.begin());
        }
        return r;
    }
    // #NPF has no linear address, whatever the access had.
    static std::optional<uint64_t> decoded_gla(const FaultSpec& /*s*/) { return std::nullopt; }
    static constexpr bool recalc_record_has_access = true;
    // EXITINFO1 is a page-fault error code (§15.25.6), whose R/W real
    // hardware sets for the read of a read-modify-write (Linux commit
    // c205fb7d7d4f); Bochs checks and reports it as a write (BX_RW).
    static constexpr AccessType rmw_read_faults_as = AccessType::write;
    // Bit 32 (final guest-physical translation) | U/S (2) | R/W (1), P = 0.
    static constexpr uint64_t rmw_hole_syndrome = 0x1'0000'0006;
};
static_assert(Stage2Traits<NptTraits>);

}  // namespace conformance::stage2

TYPE_TO_STRING_AS("npt", conformance::stage2::NptTraits);
