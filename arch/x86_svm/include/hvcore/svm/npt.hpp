// SPDX-License-Identifier: MIT
// AMD NPT: the nested page-table entry format and the #NPF VMEXIT record,
// as constexpr masks with pure encode/decode functions between an entry and
// the neutral (mfn, P2mType, Perm, MemClass). No table walking here: that is
// npt_stage2.hpp.
//
// References are to the AMD64 Architecture Programmer's Manual Vol. 2,
// "System Programming" (rev. 3.4x). Each citation names the section title
// as well as its number, so it survives renumbering:
//   §15.25   "Nested Paging"; §15.25.5 "Nested Table Walk" (the nested walk
//            uses the host's paging mode: long-mode 4-level tables for a
//            64-bit host, every access a user access); §15.25.6 "Nested
//            versus Guest Page Faults, Fault Ordering" (#NPF, EXITINFO1/2);
//   §5.3     "Long-Mode Page Translation" and §5.4.1 "Field Definitions",
//            with the figures "4-Kbyte PML4E/PDPE/PDE/PTE—Long Mode",
//            "2-Mbyte PDE—Long Mode" and "1-Gbyte PDPE—Long Mode";
//   §5.6     "Page-Protection Checks"; §8.4.2 "Page-Fault Error Code";
//   §7.8     "Page-Attribute Table Mechanism" (PAT index = PAT:PCD:PWT);
//   §15.33   "Decode Assists" (instruction bytes on #NPF);
//   Appendix C "SVM Intercept Exit Codes" (VMEXIT_NPF = 400h).
//
// The model CPU: a 64-bit host, so nested tables are 4-level long mode
// (§15.25.5); EFER.NXE = 1 at VMRUN, so bit 63 is NX and not reserved;
// MAXPHYADDR = 48 (CPUID Fn8000_0008_EAX[7:0]; QEMU TCG defaults to 40);
// 1 GiB pages (CPUID Fn8000_0001_EDX[26]); decode assists (CPUID
// Fn8000_000A_EDX[7]); the host PAT at its power-on value, so PAT entry 0 is
// WB and entry 3 is UC (§7.8, "PAT Register" reset value).
//
// Layout choices of hvcore (bits the processor ignores, "AVL" in §5.4.1):
//   55:52  p2m type, 4 bits: the low bits of Xen's 7-bit p2m-pt field 58:52
//          (p2m_type_to_flags); every type value is at most 15.
//   58:56  owner of an ioreq_server leaf (the ioreq server id, 0..7; 0 in
//          every other leaf): the high bits of Xen's type field, which no
//          hvcore type needs. A Xen-style dump of an owned leaf reads type
//          15 + 16 x owner where Xen's field is read whole (README.md,
//          "Where hvcore differs from Xen").
//          Like Xen, 11:9 and 62:59 are kept free: the AMD IOMMU gives them
//          meaning when it shares the table (Next Level; U, FC, IR, IW), and
//          62:59 are a leaf's protection key in host paging with CR4.PKE.
//   11     lazy-recalculation mark. The type and owner have 58:52; of the other AVL
//          bits, 62:59 would collide with protection keys in a leaf and bit
//          11 only with an IOMMU sharing the table, which hvcore never does.
//          Bit 11 is also the EPT backend's mark, so dumps read alike.
//
// Every nested access is a user access (§15.25.5: "treated as a user access
// at the nested page table level"; QEMU and Bochs walk with a user index),
// so U/S is set at every level of every present entry, and clearing it is
// the recalculation mark, as in Xen (RECALC_FLAGS = U/S | A): the next
// access through the entry is a #NPF with P = 1 (§5.6.1 "User/Supervisor
// (U/S) Bit").
//
// A is preset in every present entry and D in every present leaf, as Xen's
// P2M_BASE_FLAGS does, so the walker never needs to write them (§5.4.2
// "Notes on Accessed and Dirty Bits"). Only a marked entry lacks A (Xen's
// set_recalc clears it); hardware may set it again while walking to the
// #NPF, which is harmless: the mark is bit 11 plus U/S = 0, never A.
#pragma once

#include <cstdint>
#include <optional>

#include <gsl/assert>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/types.hpp"
#include "hvcore/x86/radix_levels.hpp"

namespace hvcore::svm {

// The 4-level geometry EPT shares (hvcore/x86/radix_levels.hpp): §5.3.3,
// "4-Kbyte Page Translation", PML4 -> PDP -> PD -> PT, 9 address bits per
// level; the nested walk of a 64-bit host uses it (§15.25.5).
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
struct NptLeafFields {
    Mfn mfn{};                       // first frame of the page (4 KiB, 2 MiB or 1 GiB)
    P2mType type = P2mType::mmio_dm;
    Perm perm{};                     // as encoded; a mark does not change it (it removes U/S)
    std::optional<MemClass> mem;     // nullopt for a PAT index hvcore never writes
    bool recalc = false;             // bit 11
    constexpr bool operator==(const NptLeafFields&) const noexcept = default;
};

[[nodiscard]] constexpr uint64_t bit(unsigned n) noexcept { return uint64_t{1} << n; }

class NptEntry final {
public:
    NptEntry() = delete;

    // --- hardware bits (APM Vol. 2 §5.4.1 "Field Definitions", all levels) ---
    static constexpr uint64_t p = bit(0);         // Present                   §5.4.1
    static constexpr uint64_t rw = bit(1);        // Read/Write (0: read-only)  §5.4.1, §5.6.2; hCR0.WP ignored (§15.25.5)
    static constexpr uint64_t us = bit(2);        // User/Supervisor (1: user)  §5.4.1, §5.6.1; nested = user (§15.25.5)
    static constexpr uint64_t pwt = bit(3);       // Page writethrough          §5.4.1; PAT index bit 0 (§7.8)
    static constexpr uint64_t pcd = bit(4);       // Page cache disable         §5.4.1; PAT index bit 1 (§7.8)
    static constexpr uint64_t accessed = bit(5);  // Accessed                   §5.4.1, §5.4.2
    static constexpr uint64_t dirty = bit(6);     // Dirty, leaves              §5.4.1; ignored in non-leaf entries
    // Page size: a 2 MiB PDE / 1 GiB PDPE maps a page (§5.4.1); MBZ in a
    // PML4E ("4-Kbyte PML4E—Long Mode"); PAT index bit 2 in a PTE (pat_4k).
    static constexpr uint64_t ps = bit(7);
    static constexpr uint64_t pat_4k = bit(7);    // PAT index bit 2 in a PTE   §5.4.1, §7.8
    static constexpr uint64_t global = bit(8);    // Global, leaves             §5.4.1; hvcore leaves it 0
    static constexpr uint64_t pat_large = bit(12);  // PAT index bit 2, 2 MiB PDE / 1 GiB PDPE  §5.4.1, §7.8
    static constexpr uint64_t frame_mask = 0x000F'FFFF'FFFF'F000;  // address 51:12 (M-1:12 + MBZ 51:M)  §5.4.1
    // No Execute, every level (§5.4.1, §5.6 "No Execute (NX) Bit"); MBZ
    // when EFER.NXE = 0, and the model has NXE = 1.
    static constexpr uint64_t nx = bit(63);

    // The physical-address width of the model CPU (CPUID Fn8000_0008_EAX[7:0]
    // = 48): frame bits 51:48 are reserved (MBZ) in every entry (§5.4.1).
    static constexpr unsigned maxphyaddr = 48;
    static constexpr uint64_t reserved_pa_mask = frame_mask & ~(bit(maxphyaddr) - 1);

    // Every present entry hvcore writes: P, U/S (a nested access is a user
    // access), A (preset, so the walker never writes it).
    static constexpr uint64_t base = p | us | accessed;

    // --- software bits (AVL: 11:9 and 62:52, ignored by the processor) ---------
    static constexpr uint64_t recalc = bit(11);  // lazy type recalculation pending (with U/S and A cleared)
    static constexpr unsigned p2mt_shift = 52;
    static constexpr uint64_t p2mt_mask = uint64_t{0xf} << p2mt_shift;  // p2m type, bits 55:52 (Xen's p2m-pt: 58:52)
    static constexpr unsigned owner_shift = 56;
    static constexpr uint64_t owner_mask = uint64_t{7} << owner_shift;  // owner of an ioreq_server leaf, bits 58:56 (AVL, §5.4.1)

    // --- encode -----------------------------------------------------------------

    // The rights encode_leaf can express: with r, any; without r, none
    // (no read bit to clear, see encode_leaf).
    [[nodiscard]] static constexpr bool encodable(Perm perm) noexcept { return perm.r || (!perm.w && !perm.x); }

    // A leaf at `level` (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB) mapping mfn with
    // the given rights and memory class. r -> P (with U/S, A, D), w -> R/W,
    // !x -> NX. NPT has no execute-only or write-only entry (there is no
    // read-permission bit: P grants reads), so rights without r must be
    // none: Perm{} gives a not-present entry that still carries the type (and
    // the frame, so a later grant of rights keeps it); P = 0 makes the
    // processor ignore every other bit (§5.4.1). NX is set in it too, as
    // Xen's p2m_type_to_flags does for holes, which also keeps it non-zero.
    [[nodiscard]] static constexpr uint64_t encode_leaf(Mfn mfn, P2mType t, Perm perm, MemClass mc,
                                                        unsigned level) noexcept {
        Expects(level <= level_pdpt);
        Expects(encodable(perm));
        const uint64_t frame = mfn.raw() << page_shift;
        Expects((frame & ~frame_mask) == 0 && (frame & reserved_pa_mask) == 0);
        Expects((mfn.raw() & (level_pages(level) - 1)) == 0);  // large pages are aligned
        uint64_t e = frame | type_bits(t) | cache_bits(mc) | (level > level_pt ? ps : 0) | (perm.x ? 0 : nx);
        if (perm.r) e |= base | dirty | (perm.w ? rw : 0);
        return e;
    }

    // A non-leaf entry pointing at the next table: P, R/W, U/S, A, no NX.
    // The leaf alone decides the rights (R/W is ANDed and NX ORed over the
    // walk, §5.6), and the table itself is read write-back (PCD = PWT = 0).
    [[nodiscard]] static constexpr uint64_t encode_table(Mfn table) noexcept {
        const uint64_t frame = table.raw() << page_shift;
        Expects((frame & ~frame_mask) == 0 && (frame & reserved_pa_mask) == 0);
        return base | rw | frame;
    }

    // The lazy-recalculation mark, Xen's set_recalc: U/S and A cleared, bit
    // 11 set. A present entry without U/S denies the user access every
    // nested access is, at any level, so the next access through it is a
    // #NPF with P = 1 (§5.6.1, §15.25.6).
    [[nodiscard]] static constexpr uint64_t mark(uint64_t e) noexcept {
        return (e & ~(us | accessed)) | recalc;
    }
    // Clears the mark of a non-leaf entry (Xen's clear_recalc): U/S and A back.
    [[nodiscard]] static constexpr uint64_t unmark(uint64_t e) noexcept {
        return (e & ~recalc) | us | accessed;
    }

    // What each of the 512 children of a split superpage leaf keeps besides
    // its frame: rights, A/D, cache bits, type, NX and recalc mark. 2 MiB
    // children of a 1 GiB page keep PS; 4 KiB children must drop it,
    // because bit 7 of a PTE is PAT and would change the memory type
    // (§5.4.1, §7.8). hvcore never sets PAT (bit 12 of a large leaf), so
    // there is no PAT bit to move to bit 7.
    [[nodiscard]] static constexpr uint64_t split_attrs(uint64_t parent, unsigned child_level) noexcept {
        Expects((parent & pat_large) == 0);
        return parent & ~frame_mask & ~(child_level == level_pt ? ps : 0);
    }

    // --- decode -----------------------------------------------------------------

    [[nodiscard]] static constexpr bool present(uint64_t e) noexcept { return (e & p) != 0; }
    [[nodiscard]] static constexpr bool marked(uint64_t e) noexcept { return (e & recalc) != 0; }
    // The frame a table pointer (or a 4 KiB leaf) holds.
    [[nodiscard]] static constexpr Mfn frame(uint64_t e) noexcept {
        return Mfn{(e & frame_mask) >> page_shift};
    }
    // The first frame of a leaf at `level`: in a 2 MiB or 1 GiB leaf bit 12
    // is PAT and the bits up to the page size are reserved, not address.
    [[nodiscard]] static constexpr Mfn leaf_frame(uint64_t e, unsigned level) noexcept {
        return Mfn{(e & frame_mask & ~((page_size << level_order(level)) - 1)) >> page_shift};
    }
    // Whether a written (non-zero) entry at `level` is a leaf. hvcore never
    // writes a not-present table pointer, and writes PS in not-present
    // superpage leaves too, so PS tells them apart at levels 1 and 2 (in a
    // PTE the same bit is PAT, and a PML4E is always a pointer).
    [[nodiscard]] static constexpr bool is_leaf(uint64_t e, unsigned level) noexcept {
        return level == level_pt || (level != level_pml4 && (e & ps) != 0);
    }
    [[nodiscard]] static constexpr bool is_table(uint64_t e, unsigned level) noexcept {
        return e != 0 && !is_leaf(e, level);
    }

    // The type stored in bits 55:52; an all-zero entry is absent and reads
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

    [[nodiscard]] static constexpr NptLeafFields decode_leaf(uint64_t e, unsigned level) noexcept {
        NptLeafFields f;
        f.mfn = leaf_frame(e, level);
        f.type = type_of(e);
        if (present(e)) f.perm = Perm{.r = true, .w = (e & rw) != 0, .x = (e & nx) == 0};
        f.mem = mem_class_of(e, level);
        f.recalc = marked(e);
        return f;
    }

    // PAT index 0 (WB) for RAM, index 3 (UC) for devices and holes, chosen
    // by PCD/PWT with the PAT bit clear (§7.8). Under nested paging the guest's own
    // PAT combines with this type (§15.25, "Combining Memory Types, MTRRs");
    // UC here wins over any guest type, as a device needs.
    [[nodiscard]] static constexpr uint64_t cache_bits(MemClass mc) noexcept {
        switch (mc) {
        case MemClass::normal: return 0;
        case MemClass::device: return pcd | pwt;
        }
        return pcd | pwt;
    }
    [[nodiscard]] static constexpr std::optional<MemClass> mem_class_of(uint64_t e, unsigned level) noexcept {
        const uint64_t pat = level == level_pt ? pat_4k : pat_large;
        if ((e & (pat | pcd | pwt)) == 0) return MemClass::normal;
        if ((e & (pat | pcd | pwt)) == (pcd | pwt)) return MemClass::device;
        return std::nullopt;  // a PAT index hvcore never writes
    }

    [[nodiscard]] static constexpr uint64_t type_bits(P2mType t) noexcept {
        return static_cast<uint64_t>(t) << p2mt_shift;
    }
};

// Whether a present entry at `level` has a reserved bit set, which makes
// the access a #NPF with P = 1 and RSV = 1 (§5.4.1 "MBZ" fields, §8.4.2
// "RSV"): frame bits 51:MAXPHYADDR at any level; PS in a PML4E; in a 2 MiB
// or 1 GiB leaf the address bits below the page size, except bit 12 (PAT).
// NX is not reserved (EFER.NXE = 1); AVL, G and D bits never are.
[[nodiscard]] constexpr bool npt_reserved(uint64_t e, unsigned level) noexcept {
    using E = NptEntry;
    if ((e & E::reserved_pa_mask) != 0) return true;
    if (level == level_pml4 && (e & E::ps) != 0) return true;
    if (level > level_pt && E::is_leaf(e, level))
        return (e & E::frame_mask & ((page_size << level_order(level)) - 1) & ~E::pat_large) != 0;
    return false;
}

// nCR3, VMCB control offset 0B0h (§15.25, "Nested Paging and VMRUN/#VMEXIT"): the
// PML4 frame, with PWT = PCD = 0 so the nested tables are read write-back.
class NestedCr3 final {
public:
    NestedCr3() = delete;
    [[nodiscard]] static constexpr uint64_t encode(Mfn pml4) noexcept { return pml4.raw() << page_shift; }
};

// The #NPF VMEXIT record (§15.25.6 "Nested versus Guest Page Faults, Fault
// Ordering"): EXITCODE, EXITINFO1 (a page-fault error code, §8.4.2, plus
// bits 32/33) and EXITINFO2 (the guest-physical address).
class Npf final {
public:
    Npf() = delete;
    static constexpr uint32_t exit_code = 0x400;  // VMEXIT_NPF, Appendix C "SVM Intercept Exit Codes"

    static constexpr uint64_t info1_p = bit(0);    // 1: a present entry refused (or had a reserved bit); 0: not present
    static constexpr uint64_t info1_rw = bit(1);   // the access was a write
    static constexpr uint64_t info1_us = bit(2);   // user access: always 1 for nested faults (§15.25.5)
    static constexpr uint64_t info1_rsv = bit(3);  // a reserved bit was set in a nested entry
    static constexpr uint64_t info1_id = bit(4);   // the access was an instruction fetch
    static constexpr uint64_t info1_final = bit(32);  // fault on the final guest-physical translation
    static constexpr uint64_t info1_gpt = bit(33);    // fault on a guest page-table access (not modelled: no guest paging)

    // Decode assists (§15.33 "Decode Assists"): VMCB 0D0h holds how many
    // bytes were fetched from guest CS:RIP (0-15), 0D1h-0DFh the bytes; 0 for
    // an instruction-fetch fault.
    static constexpr unsigned max_insn_bytes = 15;
};

// --- sanity checks ---------------------------------------------------------------

static_assert((NptEntry::p | NptEntry::rw | NptEntry::us | NptEntry::pwt | NptEntry::pcd | NptEntry::accessed |
               NptEntry::dirty | NptEntry::ps | NptEntry::global | NptEntry::recalc) == 0x9ff);
static_assert((NptEntry::frame_mask & (NptEntry::p2mt_mask | NptEntry::nx | 0xfff)) == 0);
// The type stays clear of bits 62:59 and 11:9 (IOMMU, protection keys).
static_assert(NptEntry::p2mt_mask == 0x00f0'0000'0000'0000 && (NptEntry::p2mt_mask & 0x7800'0000'0000'0e00) == 0);
static_assert(NptEntry::owner_mask == 0x0700'0000'0000'0000 &&
              ((NptEntry::owner_mask | NptEntry::p2mt_mask) & 0x7800'0000'0000'0e00) == 0);
static_assert(static_cast<uint64_t>(P2mType::ioreq_server) <= (NptEntry::p2mt_mask >> NptEntry::p2mt_shift));
static_assert(NptEntry::reserved_pa_mask == 0x000F'0000'0000'0000);
// The golden claimed ioreq_server leaf (Xen's p2m-pt: P, U, A, D, NX, not
// R/W, type 15 in 55:52): NX, type 15, frame 0x1234, D A U P.
static_assert(NptEntry::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true}, MemClass::normal,
                                    level_pt) == 0x80F0'0000'0123'4065);
// Every written entry is non-zero, so zero always means absent.
static_assert(NptEntry::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, MemClass::normal, level_pt) != 0);
// Owned by 5; and read-trapped (P = 0, type and owner kept) owned by 7.
static_assert(NptEntry::with_owner(NptEntry::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true},
                                                         MemClass::normal, level_pt),
                                   5) == 0x85F0'0000'0123'4065);
static_assert(NptEntry::with_owner(NptEntry::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{}, MemClass::normal,
                                                         level_pt),
                                   7) == 0x87F0'0000'0123'4000);
// The mark removes U/S (what makes the access fault) and A, and nothing else
// a walk checks; clearing it restores the pointer.
static_assert(NptEntry::mark(NptEntry::encode_table(Mfn{1})) == 0x1803);
static_assert(NptEntry::unmark(NptEntry::mark(NptEntry::encode_table(Mfn{1}))) ==
              NptEntry::encode_table(Mfn{1}));
static_assert(!npt_reserved(NptEntry::mark(NptEntry::encode_table(Mfn{1})), level_pml4));
static_assert(NptEntry::decode_leaf(NptEntry::encode_leaf(Mfn{0x40000}, P2mType::ram_ro, Perm{.r = true, .x = true},
                                                          MemClass::normal, level_pdpt),
                                    level_pdpt) ==
              NptLeafFields{Mfn{0x40000}, P2mType::ram_ro, Perm{.r = true, .x = true}, MemClass::normal, false});
// A split child is the leaf encode_leaf writes at the child's level (PS
// gone, so no PAT bit appears in the PTE).
static_assert(NptEntry::split_attrs(NptEntry::encode_leaf(Mfn{512}, P2mType::mmio_direct, Perm{.r = true, .w = true},
                                                          MemClass::device, level_pd),
                                    level_pt) ==
              NptEntry::encode_leaf(Mfn{0}, P2mType::mmio_direct, Perm{.r = true, .w = true}, MemClass::device,
                                    level_pt));
static_assert(NestedCr3::encode(Mfn{0x1000000}) == 0x10'0000'0000);

}  // namespace hvcore::svm
