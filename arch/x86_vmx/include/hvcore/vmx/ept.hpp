// SPDX-License-Identifier: MIT
// Intel EPT: the paging-structure entry format and the VM-exit record of
// EPT violations and misconfigurations, as constexpr masks with pure
// encode/decode functions between an entry and the neutral (mfn, P2mType,
// Perm, MemClass). No table walking here: that is ept_stage2.hpp.
//
// References are to the Intel SDM Vol. 3C, chapter 29 "VMX Support for
// Address Translation", using the table numbers of the editions that
// include 5-level EPT (Table 29-1 is the PML5E, 29-2 the PML4E ... 29-7 the
// 4 KiB PTE). Older editions number the chapter 28 and the tables one
// lower, so each citation also names the table. The exit qualification is
// §28.2.1, Table 28-7 "Exit Qualification for EPT Violations".
//
// Layout choices of hvcore (bits the hardware ignores):
//   57:52  p2m type, 6 bits, Xen's ept_entry_t.sa_p2mt layout (bit 57 is
//          "verify guest paging" only with HLAT, which is off, as in Xen);
//   11     lazy-recalculation mark (Xen uses bit 10, which is the
//          user-execute bit under MBEC; bit 11 is ignored in every mode);
//   60:58  owner of an ioreq_server leaf (the ioreq server id, 0..7; 0 in
//          every other leaf). Xen keeps its p2m_access_t in 61:58
//          (ept_entry_t.access); hvcore has no mem_access and uses three
//          of those bits: 58 is "paging-write access" only with the
//          "EPT paging-write control" (tertiary control 3) set, 59 is
//          ignored, 60 is "supervisor shadow stack" only with EPTP bit 7
//          set; hvcore sets neither (Tables 29-3/29-5/29-7), so all three
//          are ignored. Bit 61 (sub-page write permissions, SPP) is left
//          alone.
// Suppress-#VE (63) is set in every entry hvcore writes, as Xen does: #VE
// is not enabled (secondary control 18 = 0), so the bit has no effect, and
// keeping it set means enabling #VE later cannot turn violations into guest
// exceptions by surprise.
#pragma once

#include <cstdint>
#include <optional>

#include <gsl/assert>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/types.hpp"
#include "hvcore/x86/radix_levels.hpp"

namespace hvcore::vmx {

// The 4-level geometry NPT shares (hvcore/x86/radix_levels.hpp); EPTP[5:3]
// = 3 selects it (SDM Vol. 3C §25.6.11).
using x86::bits_per_level;
using x86::entries_per_table;
using x86::level_index;
using x86::level_order;
using x86::level_pages;
using x86::level_pd;
using x86::level_pdpt;
using x86::level_pml4;
using x86::level_pt;
using x86::nr_levels;

// The neutral content of one leaf entry.
struct EptLeafFields {
    Mfn mfn{};                       // first frame of the page (4 KiB, 2 MiB or 1 GiB)
    P2mType type = P2mType::mmio_dm;
    Perm perm{};
    std::optional<MemClass> mem;     // nullopt while the EMT holds the recalc marker
    bool recalc = false;             // bit 11
    constexpr bool operator==(const EptLeafFields&) const noexcept = default;
};

[[nodiscard]] constexpr uint64_t bit(unsigned n) noexcept { return uint64_t{1} << n; }

class EptEntry final {
public:
    EptEntry() = delete;

    // --- hardware bits ------------------------------------------------------
    static constexpr uint64_t r = bit(0);  // Read access        SDM Vol. 3C §29.3.2, Tables 29-2..29-7 bit 0
    static constexpr uint64_t w = bit(1);  // Write access       SDM Vol. 3C §29.3.2, Tables 29-2..29-7 bit 1
    static constexpr uint64_t x = bit(2);  // Execute access     SDM Vol. 3C §29.3.2, Tables 29-2..29-7 bit 2 (supervisor-X under MBEC; MBEC is off)
    static constexpr uint64_t rwx = r | w | x;  // 000 = not present  SDM Vol. 3C §29.3.2 ("if bits 2:0 are 0 ... not present")
    static constexpr unsigned emt_shift = 3;
    static constexpr uint64_t emt_mask = uint64_t{7} << emt_shift;  // EPT memory type, leaves    SDM Vol. 3C §29.3.7.2, Tables 29-3/29-5/29-7 bits 5:3; reserved in non-leaves (Tables 29-2/29-4/29-6)
    static constexpr uint64_t ipat = bit(6);   // Ignore PAT, leaves     SDM Vol. 3C §29.3.7.2, Tables 29-3/29-5/29-7 bit 6; reserved in non-leaves
    static constexpr uint64_t large = bit(7);  // Page size: maps a page SDM Vol. 3C §29.3.2, Tables 29-3 (1 GiB), 29-5 (2 MiB); reserved in a PML4E (Table 29-2), ignored in a PTE (Table 29-7)
    static constexpr uint64_t accessed = bit(8);  // Accessed            SDM Vol. 3C §29.3.5; only with EPTP[6]=1, which hvcore leaves 0
    static constexpr uint64_t dirty = bit(9);     // Dirty, leaves       SDM Vol. 3C §29.3.5; only with EPTP[6]=1
    static constexpr uint64_t frame_mask = 0x000F'FFFF'FFFF'F000;  // Physical address 51:12 (M-1:12 + reserved 51:M)  SDM Vol. 3C §29.3.2, Tables 29-2..29-7
    static constexpr uint64_t suppress_ve = bit(63);  // Suppress #VE, leaves  SDM Vol. 3C §29.3.2, Tables 29-3/29-5/29-7 bit 63; ignored without "EPT-violation #VE" (§26.5.7)

    // Memory types (MTRR encoding, SDM Vol. 3C §29.3.7.2).
    static constexpr uint64_t emt_uc = 0;  // Uncacheable: devices
    static constexpr uint64_t emt_wb = 6;  // Write-back: RAM
    // 2, 3 and 7 are reserved: a present leaf with one of them is an EPT
    // misconfiguration (SDM Vol. 3C §29.3.3.1). Xen writes 7
    // (MTRR_NUM_TYPES) on purpose to make the next access exit.
    static constexpr uint64_t emt_recalc_marker = 7;

    // The physical-address width hvcore's model CPU reports (CPUID
    // 80000008H:EAX[7:0]); frame bits 51:46 are reserved (SDM Vol. 3C
    // §29.3.3.1 "bits 51:M").
    static constexpr unsigned maxphyaddr = 46;
    static constexpr uint64_t reserved_pa_mask = frame_mask & ~((bit(maxphyaddr) - 1));

    // --- software bits (ignored by hardware; "Ignored" in Tables 29-2..29-7) --
    static constexpr uint64_t recalc = bit(11);  // lazy type recalculation pending (Xen: ept_entry_t.recalc)
    static constexpr unsigned p2mt_shift = 52;
    static constexpr uint64_t p2mt_mask = uint64_t{0x3f} << p2mt_shift;  // p2m type, bits 57:52 (Xen: sa_p2mt)
    // Owner of an ioreq_server leaf, bits 60:58: SDM Vol. 3C §29.3.2, Tables
    // 29-3/29-5/29-7: bit 58 "paging-write access" if the "EPT paging-write
    // control" is 1, else ignored; bit 59 ignored; bit 60 "supervisor shadow
    // stack" if EPTP bit 7 is 1, else ignored. Xen: ept_entry_t.access, 61:58.
    static constexpr unsigned owner_shift = 58;
    static constexpr uint64_t owner_mask = uint64_t{7} << owner_shift;

    // --- encode ----------------------------------------------------------------

    // W without R is a misconfiguration (SDM Vol. 3C §29.3.3.1): no type's
    // rights have it. Execute-only is legal (the model CPU reports it, see
    // ept_misconfigured).
    [[nodiscard]] static constexpr bool encodable(Perm p) noexcept { return p.r || !p.w; }

    // A leaf at `level` (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB) mapping mfn with the
    // given rights and memory class. Perm{} gives a not-present entry that
    // still carries the type (and the frame, so a later grant of rights keeps
    // it); bits 2:0 = 0 make the hardware ignore the rest.
    [[nodiscard]] static constexpr uint64_t encode_leaf(Mfn mfn, P2mType t, Perm p, MemClass mc,
                                                        unsigned level) noexcept {
        Expects(level <= level_pdpt);
        Expects(encodable(p));  // a policy asking for W without R is a bug
        const uint64_t frame = mfn.raw() << page_shift;
        Expects((frame & ~frame_mask) == 0 && (frame & reserved_pa_mask) == 0);
        Expects((mfn.raw() & (level_pages(level) - 1)) == 0);  // large pages are aligned
        return (p.r ? r : 0) | (p.w ? w : 0) | (p.x ? x : 0) | emt_for(mc) | ipat |
               (level > level_pt ? large : 0) | frame | type_bits(t) | suppress_ve;
    }

    // A non-leaf entry pointing at the next table. Full rights: the leaf
    // alone decides, so bits 5:3 of the exit qualification equal the leaf's
    // rights. Bits 6:3 stay 0 (reserved in non-leaves).
    [[nodiscard]] static constexpr uint64_t encode_table(Mfn table) noexcept {
        const uint64_t frame = table.raw() << page_shift;
        Expects((frame & ~frame_mask) == 0 && (frame & reserved_pa_mask) == 0);
        return rwx | frame | suppress_ve;
    }

    // The lazy-recalculation mark: bits 5:3 = 7 plus bit 11. In a leaf 7 is
    // a reserved memory type, in a non-leaf bits 5:3 are reserved: either
    // way the next access through a present entry is an EPT
    // misconfiguration (exit 49), as Xen's ept_invalidate_emt_subtree does.
    [[nodiscard]] static constexpr uint64_t mark(uint64_t e) noexcept {
        return (e & ~emt_mask) | (emt_recalc_marker << emt_shift) | recalc;
    }
    // Clears the mark of a non-leaf entry (bits 5:3 back to the required 0).
    [[nodiscard]] static constexpr uint64_t unmark(uint64_t e) noexcept {
        return e & ~(emt_mask | recalc);
    }

    // What each of the 512 children of a split superpage leaf keeps besides
    // its frame: rights, memory type (or recalc mark), IPAT, type and
    // suppress-#VE. 2 MiB children of a 1 GiB page keep bit 7; 4 KiB
    // children drop it (ignored by hardware in a PTE, Table 29-7, cleared
    // so every PTE hvcore holds looks the same).
    [[nodiscard]] static constexpr uint64_t split_attrs(uint64_t parent, unsigned child_level) noexcept {
        return parent & ~frame_mask & ~(child_level == level_pt ? large : 0);
    }

    // --- decode ----------------------------------------------------------------

    [[nodiscard]] static constexpr bool present(uint64_t e) noexcept { return (e & rwx) != 0; }
    [[nodiscard]] static constexpr bool marked(uint64_t e) noexcept { return (e & recalc) != 0; }
    [[nodiscard]] static constexpr Mfn frame(uint64_t e) noexcept {
        return Mfn{(e & frame_mask) >> page_shift};
    }
    // The first frame of a leaf: the whole address field at every level.
    // The address bits of a large leaf below its size are reserved, not
    // reused (a leaf with them set is a misconfiguration, ept_misconfigured),
    // so unlike NPT there is nothing to strip.
    [[nodiscard]] static constexpr Mfn leaf_frame(uint64_t e, unsigned /*level*/) noexcept { return frame(e); }
    // Whether a written (non-zero) entry at `level` is a leaf. hvcore never
    // writes a not-present table pointer, and writes bit 7 in not-present
    // superpage leaves too, so bit 7 tells them apart at levels 1 and 2.
    [[nodiscard]] static constexpr bool is_leaf(uint64_t e, unsigned level) noexcept {
        return level == level_pt || (level != level_pml4 && (e & large) != 0);
    }
    [[nodiscard]] static constexpr bool is_table(uint64_t e, unsigned level) noexcept {
        return e != 0 && !is_leaf(e, level);
    }

    // The type stored in bits 57:52; an all-zero entry is absent and reads
    // as mmio_dm, as in Xen. Any other value no type has means the entry was
    // not written by encode_leaf: a corrupted table.
    [[nodiscard]] static constexpr P2mType type_of(uint64_t e) noexcept {
        if (e == 0) return P2mType::mmio_dm;
        const auto t = p2m_type_from_raw(static_cast<uint8_t>((e & p2mt_mask) >> p2mt_shift));
        Expects(t.has_value());
        return *t;
    }

    // The owner of an ioreq_server leaf, and that leaf owned by o.
    [[nodiscard]] static constexpr uint8_t owner_of(uint64_t e) noexcept {
        return static_cast<uint8_t>((e & owner_mask) >> owner_shift);
    }
    [[nodiscard]] static constexpr uint64_t with_owner(uint64_t e, uint8_t o) noexcept {
        Expects(o < 8 && type_of(e) == P2mType::ioreq_server);
        return (e & ~owner_mask) | (uint64_t{o} << owner_shift);
    }

    [[nodiscard]] static constexpr EptLeafFields decode_leaf(uint64_t e) noexcept {
        EptLeafFields f;
        f.mfn = frame(e);
        f.type = type_of(e);
        f.perm = Perm{.r = (e & r) != 0, .w = (e & w) != 0, .x = (e & x) != 0};
        f.mem = mem_class_of_emt((e & emt_mask) >> emt_shift);
        f.recalc = marked(e);
        return f;
    }

    [[nodiscard]] static constexpr uint64_t emt_for(MemClass mc) noexcept {
        // IPAT is set in both cases (encode_leaf): the guest PAT can neither
        // make RAM uncacheable behind our back (WB, as Xen does for RAM) nor
        // combine a device's UC into WC (Xen: UC + IPAT for non-RAM frames).
        switch (mc) {
        case MemClass::normal: return emt_wb << emt_shift;
        case MemClass::device: return emt_uc << emt_shift;
        }
        return emt_uc << emt_shift;
    }
    [[nodiscard]] static constexpr std::optional<MemClass> mem_class_of_emt(uint64_t emt) noexcept {
        if (emt == emt_wb) return MemClass::normal;
        if (emt == emt_uc) return MemClass::device;
        return std::nullopt;  // the recalc marker (or a type hvcore never writes)
    }

    [[nodiscard]] static constexpr uint64_t type_bits(P2mType t) noexcept {
        return static_cast<uint64_t>(t) << p2mt_shift;
    }
};

// Why a present entry on the walk makes the access an EPT misconfiguration
// (SDM Vol. 3C §29.3.3.1). The model CPU reports execute-only support
// (IA32_VMX_EPT_VPID_CAP bit 0, as Bochs does) and 1 GiB pages (bit 17), so
// RWX = 100 and a PDPTE with bit 7 are legal.
[[nodiscard]] constexpr bool ept_misconfigured(uint64_t e, unsigned level) noexcept {
    using E = EptEntry;
    if ((e & (E::r | E::w)) == E::w) return true;  // write without read
    if ((e & E::reserved_pa_mask) != 0) return true;  // bits 51:MAXPHYADDR
    if (level == level_pml4 && (e & E::large) != 0) return true;  // bit 7 reserved in a PML4E
    if (!E::is_leaf(e, level)) return (e & (E::emt_mask | E::ipat)) != 0;  // bits 6:3 reserved in non-leaves
    const uint64_t emt = (e & E::emt_mask) >> E::emt_shift;
    if (emt == 2 || emt == 3 || emt == 7) return true;  // reserved memory types
    // A large page's frame must be aligned to its size (address bits 20:12
    // or 29:12 are reserved in Tables 29-3 and 29-5).
    return level > level_pt && (E::frame(e).raw() & (level_pages(level) - 1)) != 0;
}

// EPTP (VMCS field 0x201A), SDM Vol. 3C §25.6.11.
class Eptp final {
public:
    Eptp() = delete;
    static constexpr uint64_t memtype_wb = 6;                       // bits 2:0: WB for walking the tables (cap bit 14)
    static constexpr uint64_t walk_length_4 = uint64_t{nr_levels - 1} << 3;  // bits 5:3: page-walk length - 1
    static constexpr uint64_t enable_ad = uint64_t{1} << 6;         // bit 6: A/D flags. hvcore keeps it 0: the model never sets A/D
    [[nodiscard]] static constexpr uint64_t encode(Mfn pml4) noexcept {
        return memtype_wb | walk_length_4 | (pml4.raw() << page_shift);
    }
};

// The VM-exit record of EPT-induced exits.
class EptExit final {
public:
    EptExit() = delete;
    static constexpr uint32_t reason_violation = 48;      // SDM Vol. 3C Appendix C, "EPT violation"
    static constexpr uint32_t reason_misconfig = 49;      // SDM Vol. 3C Appendix C, "EPT misconfiguration"

    // Exit qualification of an EPT violation: SDM Vol. 3C §28.2.1, Table 28-7.
    static constexpr uint64_t qual_read = bit(0);        // the access was a data read
    static constexpr uint64_t qual_write = bit(1);       // the access was a data write
    static constexpr uint64_t qual_fetch = bit(2);       // the access was an instruction fetch
    static constexpr uint64_t qual_readable = bit(3);    // AND of bit 0 over the entries walked
    static constexpr uint64_t qual_writable = bit(4);    // AND of bit 1
    static constexpr uint64_t qual_executable = bit(5);  // AND of bit 2
    static constexpr unsigned qual_rights_shift = 3;               // bits 5:3 mirror entry bits 2:0
    static constexpr uint64_t qual_rights = qual_readable | qual_writable | qual_executable;
    static constexpr uint64_t qual_gla_valid = bit(7);   // guest-linear-address field valid
    static constexpr uint64_t qual_gla_final = bit(8);   // (bit 7 = 1) access to the final translation, not to a guest paging-structure entry
};

// --- sanity checks ---------------------------------------------------------------

static_assert((EptEntry::r | EptEntry::w | EptEntry::x | EptEntry::emt_mask | EptEntry::ipat |
               EptEntry::large | EptEntry::accessed | EptEntry::dirty | EptEntry::recalc) == 0xbff);
static_assert((EptEntry::frame_mask & (EptEntry::p2mt_mask | EptEntry::suppress_ve | 0xfff)) == 0);
static_assert((EptEntry::p2mt_mask & EptEntry::suppress_ve) == 0 && EptEntry::p2mt_mask == 0x03f0'0000'0000'0000);
static_assert(EptEntry::reserved_pa_mask == 0x000F'C000'0000'0000);
static_assert((EptEntry::owner_mask & (EptEntry::p2mt_mask | EptEntry::suppress_ve | EptEntry::frame_mask | 0xfff)) == 0 &&
              EptEntry::owner_mask == 0x1C00'0000'0000'0000);
// The claimed ioreq_server leaf of owner 5; read-trapped (no rights), type and owner kept.
static_assert(EptEntry::with_owner(EptEntry::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true},
                                                         MemClass::normal, level_pt),
                                   5) == 0x94F0'0000'0123'4071);
static_assert(EptEntry::with_owner(EptEntry::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{}, MemClass::normal,
                                                         level_pt),
                                   7) == 0x9CF0'0000'0123'4070);
static_assert(static_cast<uint64_t>(P2mType::ioreq_server) <= (EptEntry::p2mt_mask >> EptEntry::p2mt_shift));
// The golden claimed ioreq_server leaf: R, WB, IPAT, type 15, suppress-#VE.
static_assert(EptEntry::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true}, MemClass::normal,
                                    level_pt) == 0x80F0'0000'0123'4071);
// Every written entry is non-zero, so zero always means absent.
static_assert(EptEntry::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, MemClass::normal, level_pt) != 0);
// The mark makes a present entry misconfigured at every level.
static_assert(ept_misconfigured(EptEntry::mark(EptEntry::encode_table(Mfn{1})), level_pml4));
static_assert(ept_misconfigured(EptEntry::mark(EptEntry::encode_table(Mfn{1})), level_pd));
static_assert(ept_misconfigured(
    EptEntry::mark(EptEntry::encode_leaf(Mfn{512}, P2mType::ram_rw, Perm{.r = true, .w = true, .x = true},
                                              MemClass::normal, level_pd)),
    level_pd));
static_assert(!ept_misconfigured(EptEntry::encode_table(Mfn{1}), level_pml4));
static_assert(EptEntry::decode_leaf(EptEntry::encode_leaf(Mfn{0x40000}, P2mType::ram_ro, Perm{.r = true, .x = true},
                                                          MemClass::normal, level_pdpt)) ==
              EptLeafFields{Mfn{0x40000}, P2mType::ram_ro, Perm{.r = true, .x = true}, MemClass::normal, false});
// A split child is the leaf encode_leaf writes at the child's level.
static_assert(EptEntry::split_attrs(EptEntry::encode_leaf(Mfn{512}, P2mType::ram_rw, Perm{.r = true, .w = true},
                                                          MemClass::normal, level_pd),
                                    level_pt) ==
              EptEntry::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{.r = true, .w = true}, MemClass::normal, level_pt));
static_assert(Eptp::encode(Mfn{0x1000000}) == 0x10'0000'001E);  // WB, 4 levels, A/D off

}  // namespace hvcore::vmx
