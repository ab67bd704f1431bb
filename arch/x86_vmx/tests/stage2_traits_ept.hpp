// SPDX-License-Identifier: MIT
// Intel EPT in the stage-2 conformance suite: what is EPT's own in each
// scenario. References are to the Intel SDM Vol. 3C: §29.3.2 and Tables
// 29-2 (PML4E) to 29-7 (PTE) for the entry bits, §29.3.7.2 for the memory
// type, §28.2.1 Table 28-7 for the exit qualification, §29.3.3.1 for
// misconfigurations, Appendix C for the exit reasons. The constants below
// are written from the manual, not taken from ept.hpp, so a wrong mask
// there fails here.
#pragma once

#include "stage2_traits_x86.hpp"

#include "hvcore/vmx/ept.hpp"
#include "hvcore/vmx/ept_stage2.hpp"

namespace conformance::stage2 {

// Pieces of EPT golden entries, each named after its SDM field.
namespace ept_bits {
inline constexpr uint64_t sve = uint64_t{1} << 63;  // suppress #VE, bit 63 (Tables 29-3/29-5/29-7)
inline constexpr uint64_t wb_ipat = 0x70;           // EMT 6 (WB) in 5:3 = 0x30, IPAT bit 6 = 0x40 (§29.3.7.2)
inline constexpr uint64_t uc_ipat = 0x40;           // EMT 0 (UC), IPAT
inline constexpr uint64_t ps = 0x80;                // bit 7: this entry maps a page (Tables 29-3, 29-5)
inline constexpr uint64_t frame_1234 = 0x1234000;   // mfn 0x1234 in bits 51:12
inline constexpr uint64_t type(uint64_t v) { return v << 52; }  // p2m type in 57:52 (ignored bits, hvcore's choice)

// mfn 0x1234, 4 KiB leaf. Rights from p2m_entry_perm; RAM is WB, holes
// and devices UC (p2m_mem_class); IPAT always.
inline constexpr Golden goldens[] = {
    // ram_rw (0): RWX = 7
    {P2mType::ram_rw, false, sve | type(0) | frame_1234 | wb_ipat | 0x7},
    {P2mType::ram_rw, true, sve | type(0) | frame_1234 | wb_ipat | 0x7},
    // invalid (1): not present (2:0 = 0), still typed
    {P2mType::invalid, false, sve | type(1) | frame_1234 | uc_ipat},
    {P2mType::invalid, true, sve | type(1) | frame_1234 | uc_ipat},
    // ram_logdirty (2): R-X = 5, writes fault for tracking
    {P2mType::ram_logdirty, false, sve | type(2) | frame_1234 | wb_ipat | 0x5},
    {P2mType::ram_logdirty, true, sve | type(2) | frame_1234 | wb_ipat | 0x5},
    // ram_ro (3): R-X = 5
    {P2mType::ram_ro, false, sve | type(3) | frame_1234 | wb_ipat | 0x5},
    {P2mType::ram_ro, true, sve | type(3) | frame_1234 | wb_ipat | 0x5},
    // mmio_dm (4): not present, every access exits to the device model
    {P2mType::mmio_dm, false, sve | type(4) | frame_1234 | uc_ipat},
    {P2mType::mmio_dm, true, sve | type(4) | frame_1234 | uc_ipat},
    // mmio_direct (5): RW- = 3, UC
    {P2mType::mmio_direct, false, sve | type(5) | frame_1234 | uc_ipat | 0x3},
    {P2mType::mmio_direct, true, sve | type(5) | frame_1234 | uc_ipat | 0x3},
    // ioreq_server (15): RW- = 3 unclaimed, WB
    {P2mType::ioreq_server, false, sve | type(15) | frame_1234 | wb_ipat | 0x3},
    // claimed: R (bit 0), EMT WB 6 (5:3), IPAT (6), frame 0x1234
    // (51:12), type 15 in 57:52, suppress #VE (63) (Table 29-7)
    {P2mType::ioreq_server, true, 0x80F0'0000'0123'4071},
};
}  // namespace ept_bits

// The exit qualification of an EPT violation (Table 28-7) and the exit
// reasons (Appendix C).
namespace ept_exit {
inline constexpr uint64_t q_read = 1 << 0;   // the access was a data read
inline constexpr uint64_t q_write = 1 << 1;  // the access was a data write (alone, even for a read-modify-write)
inline constexpr uint64_t q_fetch = 1 << 2;  // the access was an instruction fetch
inline constexpr uint64_t q_r = 1 << 3;      // AND of bit 0 (R) over the entries walked
inline constexpr uint64_t q_w = 1 << 4;      // AND of bit 1 (W)
inline constexpr uint64_t q_x = 1 << 5;      // AND of bit 2 (X)
inline constexpr uint64_t q_gla = 1 << 7;    // guest-linear address valid
inline constexpr uint64_t q_final = 1 << 8;  // to the final translation (with bit 7: the model has no guest paging)
inline constexpr uint32_t violation = 48;    // EPT violation
inline constexpr uint32_t misconfig = 49;    // EPT misconfiguration (no qualification defined: 0)

inline uint64_t q_access(AccessType a) {
    switch (a) {
    case AccessType::read: return q_read;
    case AccessType::write: return q_write;
    case AccessType::fetch: return q_fetch;
    }
    return 0;
}
inline uint64_t q_rights(Perm p) { return (p.r ? q_r : 0) | (p.w ? q_w : 0) | (p.x ? q_x : 0); }
}  // namespace ept_exit

struct EptTraits : X86RadixTraits {
    using Table = vmx::Ept;
    static constexpr Arch arch = Arch::x86_vmx;

    static Result<std::unique_ptr<Table>> create(MachineMemory& mem) { return vmx::Ept::create(mem); }

    // The model CPU's MAXPHYADDR is 46: frame bits 51:46 are reserved.
    static constexpr uint64_t mfn_limit = uint64_t{1} << 34;

    // The golden 4 KiB leaf of every type, claimed and not (above).
    static constexpr std::span<const Golden> goldens = ept_bits::goldens;
    // An ioreq_server leaf at mfn 0x1234 whose owner (5) claims reads: RWX =
    // 000, so not present (§29.3.2: "bits 2:0 are 0"), with WB, IPAT, the
    // type (15 in 57:52), the owner in 60:58 (5: bits 58 and 60, both ignored
    // with paging-write and supervisor shadow stacks off, Tables 29-7) and
    // suppress-#VE. Every access is an EPT violation with rights 000.
    static constexpr uint64_t read_trapped_owner5 =
        ept_bits::sve | (uint64_t{5} << 58) | ept_bits::type(15) | ept_bits::frame_1234 | ept_bits::wb_ipat;
    static constexpr FaultCause read_trap_cause = FaultCause::not_present;
    static constexpr bool owner_in_entry = true;

    // Write without read is a misconfiguration (§29.3.3.1); every other
    // combination is an entry (execute-only: the model reports it, cap bit 0).
    static bool encodable(Perm p) { return p.r || !p.w; }
    static uint64_t encode_leaf(Mfn m, P2mType t, Perm p, MemClass mc, unsigned order) {
        return vmx::EptEntry::encode_leaf(m, t, p, mc, level_of(order));
    }
    static uint64_t encode_table(Mfn m) { return vmx::EptEntry::encode_table(m); }
    static DecodedLeaf decode_leaf(uint64_t e, unsigned /*order*/) {
        const vmx::EptLeafFields f = vmx::EptEntry::decode_leaf(e);
        return {f.mfn, f.type, f.perm, f.mem, vmx::EptEntry::present(e), f.recalc};
    }
    static bool is_leaf(uint64_t e, unsigned order) { return vmx::EptEntry::is_leaf(e, level_of(order)); }
    static bool present(uint64_t e) { return vmx::EptEntry::present(e); }
    static Mfn frame(uint64_t e) { return vmx::EptEntry::frame(e); }
    // The recalculation mark: EMT 7 (reserved, so the next access is a
    // misconfiguration) plus bit 11 (Xen's ept_invalidate_emt_subtree).
    static uint64_t mark(uint64_t e) { return vmx::EptEntry::mark(e); }
    static bool carries_mark(uint64_t e) { return e != 0 && (e & 0x838) == 0x838; }  // bits 5:3 = 7 and bit 11

    // A refused access: EPT violation (48) with the access bit, the rights
    // ANDed over the walk (hvcore's table pointers are RWX, so the leaf's;
    // none when the walk met a not-present entry) and the guest-linear
    // address when there is one. A pending mark: misconfiguration (49),
    // with no qualification and no linear address. No level is recorded.
    static FaultRecord expected_record(const FaultSpec& s) {
        using namespace ept_exit;
        FaultRecord r;
        r.arch = Arch::x86_vmx;
        r.gpa = s.gpa.raw();
        if (s.cause == FaultCause::recalc) {
            r.kind = misconfig;
            return r;
        }
        r.kind = violation;
        r.syndrome = q_access(s.access) | (s.cause == FaultCause::permission ? q_rights(s.rights) : 0) |
                     (s.ctx.gla_valid ? q_gla | q_final : 0);
        r.gva = s.ctx.gla_valid ? s.ctx.gla : 0;
        return r;
    }
    static std::optional<uint64_t> decoded_gla(const FaultSpec& s) {
        if (s.cause == FaultCause::recalc || !s.ctx.gla_valid) return std::nullopt;
        return s.ctx.gla;
    }
    // Exit 49 has no qualification: decode reports the neutral read.
    static constexpr bool recalc_record_has_access = false;
    // "An EPT violation that occurs as a result of execution of a
    // read-modify-write operation sets bit 1 (data write). Whether it also
    // sets bit 0 (data read) is implementation-specific" (§28.2.1, note to
    // Table 28-7): a write, bit 0 clear as Bochs leaves it.
    static constexpr AccessType rmw_read_faults_as = AccessType::write;
    // Bit 1 (write) | bits 5:3 = 0 (not present) | bit 7 (GLA valid) |
    // bit 8 (final translation).
    static constexpr uint64_t rmw_hole_syndrome = 0x182;
};
static_assert(Stage2Traits<EptTraits>);

}  // namespace conformance::stage2

TYPE_TO_STRING_AS("ept", conformance::stage2::EptTraits);
