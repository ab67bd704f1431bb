// SPDX-License-Identifier: MIT
// RISC-V H-extension G-stage (guest-physical) translation, Sv39x4 and
// Sv48x4: the page-table entry format as constexpr masks with pure
// encode/decode functions between an entry and the neutral (mfn, P2mType,
// Perm), the geometry of each mode, and hgatp. No table walking here.
//
// References are to the RISC-V Instruction Set Manual, Volume II:
// Privileged Architecture (the "privileged spec"), by section name, since
// section numbers move between releases: in "Supervisor-Level ISA",
// "Sv32: Page-Based 32-bit Virtual-Memory Systems" (the PTE fields and
// their meaning), "Sv39: Page-Based 39-bit Virtual-Memory System" and
// "Sv48: Page-Based 48-bit Virtual-Memory System" (the 64-bit PTE),
// "Virtual Address Translation Process", "Svpbmt" and "Svnapot"; in
// "Hypervisor Extension", "Hypervisor Guest Address Translation and
// Protection (hgatp) Register" and, under "Two-Stage Address Translation",
// "Guest Physical Address Translation". The same bit positions are Linux's
// (arch/riscv/include/asm/pgtable-bits.h, arch/riscv/kvm/gstage.c) and
// QEMU's (target/riscv/cpu_bits.h PTE_*, cpu_helper.c
// get_physical_address).
//
// G-stage rules the format follows ("Guest Physical Address
// Translation"):
// - the root table is 2048 entries (16 KiB, 16 KiB aligned): the guest
//   physical address is 2 bits wider than Sv39's / Sv48's virtual address
//   (41 / 50 bits), the 2 extra bits index the root only; every table
//   below it is a 4 KiB table of 512 entries;
// - "all memory accesses ... are considered to be user-level accesses":
//   a leaf with U = 0 faults, so every leaf hvcore writes has U = 1;
// - the G bit "is reserved for future standard use ... should be cleared
//   by software": always 0;
// - leaves may sit at every level, root included (Sv48x4: 512 GiB).
//
// A and D: the model CPU has Svade, not Svadu (the walk's step "If pte.a =
// 0, or if the original memory access is a store and pte.d = 0, raise a
// page-fault exception"). hvcore writes A = 1 in every leaf and D = 1 in
// every leaf it makes writable, so a table hvcore built never faults for
// A/D; tests craft A = 0 / D = 0 to see the fault.
//
// PBMT (Svpbmt) is 0 ("PMA": the platform's physical memory attributes of
// the frame decide, so a device frame is I/O and RAM is main memory with
// no bit of the entry saying so) and N (Svnapot) is 0. The model CPU has
// neither extension, so a 1 in either is a reserved encoding and faults.
//
// Where the p2m type lives (the entry has only two software bits, RSW
// 9:8). A present leaf (V = 1) can be one of five types: ram_rw,
// ram_logdirty, ram_ro, mmio_direct, ioreq_server. RSW holds a code, and
// the one code two types share is told apart by X, which p2m_type_perm
// fixes for both of them (ram_ro is always executable, mmio_direct never):
//   RSW 0  ram_rw        any rights
//   RSW 1  ram_logdirty  any rights
//   RSW 2  ioreq_server  any rights (R-- claimed, RW- unclaimed)
//   RSW 3  X = 1: ram_ro; X = 0: mmio_direct
// so every (type, p2m_entry_perm(type, restrictions)) the core asks for
// decodes back; encodable(t, p) refuses ram_ro without X and mmio_direct
// with X (they would read back as each other) and W without R (a reserved
// encoding, "Encoding of PTE R/W/X fields"). A not-present entry (V = 0)
// has every other bit free for software ("If V=0, all other bits in the
// PTE are don't-cares and may be used freely by software", Sv32 section),
// so, as on Arm64, the type of a not-present leaf (a typed hole: invalid,
// mmio_dm, or a rightless leaf) is stored whole, in bits 57:54, and the
// lazy-recalculation mark is bit 58. Both lie in bits 60:54, which are
// reserved (must be 0) in a valid PTE: they are only ever non-zero while
// V = 0. Marking keeps the whole entry and clears V only, so unmarking
// restores it exactly; a marked present leaf keeps its RSW code and X.
//
// How software reads an entry hvcore wrote: 0 is absent; V = 1 with R = W
// = X = 0 is a table pointer; V = 0 with the mark and R = W = X = 0 is a
// marked table pointer; anything else non-zero is a leaf (every leaf has U
// and A set, so none is 0).
#pragma once

#include <cstdint>
#include <optional>

#include <gsl/assert>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/types.hpp"
#include "hvcore/s2/engine.hpp"

namespace hvcore::riscv64 {

[[nodiscard]] constexpr uint64_t bit(unsigned n) noexcept { return uint64_t{1} << n; }

// --- geometry ------------------------------------------------------------------
// Levels are the privileged spec's i in the translation process: level 0
// holds 4 KiB pages, level i a 2^(9 i) page "superpage" (1 = 2 MiB
// megapage, 2 = 1 GiB gigapage, 3 = 512 GiB terapage); the walk starts at
// LEVELS - 1 (Sv39: 3 levels, Sv48: 4). That is how the stage-2 engine
// counts (hvcore/s2/engine.hpp): its level_order / level_pages, 9-bit
// VPN[i] ("Sv39" / "Sv48" virtual address figures) and 512-entry tables
// are the G-stage's.
using s2::bits_per_level;
using s2::entries_per_table;
using s2::level_order;
using s2::level_pages;
inline constexpr unsigned root_extra_bits = 2;                    // "the size of the incoming address is widened by 2 bits"  Guest Physical Address Translation
inline constexpr unsigned root_entries = entries_per_table << root_extra_bits;  // 2048: "the root page table ... 16 KiB instead of the usual 4 KiB"
inline constexpr unsigned root_frames = root_entries / entries_per_table;       // 4 frames, "aligned to a 16 KiB boundary"
inline constexpr unsigned pa_bits = 56;                           // PPN 53:10 + 12: the Sv39/Sv48 56-bit physical address

// hgatp.MODE values ("Encoding of hgatp MODE field", HSXLEN=64).
enum class Mode : uint8_t {
    sv39x4 = 8,  // "Page-based 41-bit virtual addressing (2-bit extension of Sv39)"
    sv48x4 = 9,  // "Page-based 50-bit virtual addressing (2-bit extension of Sv48)"
};

// The table of a mode, as the engine describes a table: LEVELS (3 for
// Sv39x4, 4 for Sv48x4), the 2048-entry root, the guest-physical width
// ("Address bits 63:41 [63:50] must all be zeros, or else a guest-page-fault
// exception occurs"), the 56-bit output, leaves at every level.
[[nodiscard]] constexpr s2::Geometry geometry(Mode m) noexcept {
    const unsigned levels = m == Mode::sv48x4 ? 4 : 3;
    return {.levels = levels,
            .root_entries = root_entries,
            .ia_bits = page_shift + levels * bits_per_level + root_extra_bits,  // 41 or 50
            .oa_bits = pa_bits,
            .leaf_levels = (1U << levels) - 1};
}
static_assert(geometry(Mode::sv39x4).ia_bits == 41 && geometry(Mode::sv48x4).ia_bits == 50);
static_assert(geometry(Mode::sv39x4).valid() && geometry(Mode::sv48x4).valid());

// hgatp, HSXLEN = 64 ("Hypervisor Guest Address Translation and
// Protection (hgatp) Register"): MODE 63:60, VMID 57:44, PPN 43:0.
class Hgatp final {
public:
    Hgatp() = delete;
    static constexpr unsigned mode_shift = 60;
    static constexpr uint64_t mode_mask = uint64_t{0xf} << mode_shift;  // MODE, bits 63:60
    static constexpr unsigned vmid_shift = 44;
    static constexpr uint64_t vmid_mask = uint64_t{0x3fff} << vmid_shift;  // VMID, bits 57:44 (VMIDMAX = 14)
    static constexpr uint64_t ppn_mask = (uint64_t{1} << 44) - 1;          // PPN, bits 43:0
    // "the lowest two bits of the physical page number (PPN) in hgatp always
    // read as zeros": the root is 16 KiB aligned.
    static constexpr uint64_t ppn_align = root_frames;

    [[nodiscard]] static constexpr uint64_t encode(Mode m, uint16_t vmid, Mfn root) noexcept {
        Expects((root.raw() & (ppn_align - 1)) == 0 && (root.raw() & ~ppn_mask) == 0 && vmid < (1U << 14));
        return (uint64_t{static_cast<uint8_t>(m)} << mode_shift) | (uint64_t{vmid} << vmid_shift) | root.raw();
    }
    [[nodiscard]] static constexpr Mfn root(uint64_t hgatp) noexcept { return Mfn{hgatp & ppn_mask}; }
    [[nodiscard]] static constexpr std::optional<Mode> mode(uint64_t hgatp) noexcept {
        switch ((hgatp & mode_mask) >> mode_shift) {
        case 8: return Mode::sv39x4;
        case 9: return Mode::sv48x4;
        default: return std::nullopt;
        }
    }
};

// The neutral content of one leaf entry.
struct LeafFields {
    Mfn mfn{};                        // first frame of the page or superpage
    P2mType type = P2mType::mmio_dm;
    Perm perm{};                      // R/W/X (restored ones, for a marked leaf)
    bool valid = false;               // V: the hardware uses the entry
    bool recalc = false;              // bit 58 (only with V = 0)
    constexpr bool operator==(const LeafFields&) const noexcept = default;
};

class Pte final {
public:
    Pte() = delete;

    // --- hardware bits (Sv39/Sv48 page table entry figures; meanings in the Sv32 section) --------
    static constexpr uint64_t v = bit(0);  // Valid: 0 = guest-page fault, other bits free for software   Sv32 "the V bit indicates whether the PTE is valid"
    static constexpr uint64_t r = bit(1);  // Readable                                                    Sv32, "Encoding of PTE R/W/X fields"
    static constexpr uint64_t w = bit(2);  // Writable (W without R is reserved)                          Sv32, "Encoding of PTE R/W/X fields"
    static constexpr uint64_t x = bit(3);  // Executable; R = W = X = 0: pointer to the next level         Sv32, "Encoding of PTE R/W/X fields"
    static constexpr uint64_t u = bit(4);  // User: G-stage accesses are user-level, U = 0 leaves fault    Guest Physical Address Translation
    static constexpr uint64_t g = bit(5);  // Global: "reserved for future standard use" in G-stage PTEs   Guest Physical Address Translation
    static constexpr uint64_t a = bit(6);  // Accessed: 0 faults (Svade)                                  Sv32, A and D bits; Virtual Address Translation Process
    static constexpr uint64_t d = bit(7);  // Dirty: 0 faults on a store (Svade)                          Sv32, A and D bits
    static constexpr unsigned rsw_shift = 8;
    static constexpr uint64_t rsw_mask = uint64_t{3} << rsw_shift;  // RSW, bits 9:8: "reserved for use by supervisor software"  Sv32
    static constexpr unsigned ppn_shift = 10;
    static constexpr uint64_t ppn_mask = ((uint64_t{1} << 44) - 1) << ppn_shift;  // PPN, bits 53:10 (44 bits: a 56-bit PA)  Sv39/Sv48 PTE figures
    static constexpr uint64_t reserved_mask = uint64_t{0x7f} << 54;  // bits 60:54 "reserved for future use and must be zeroed"  Sv39 PTE figure
    static constexpr unsigned pbmt_shift = 61;
    static constexpr uint64_t pbmt_mask = uint64_t{3} << pbmt_shift;  // PBMT, bits 62:61 (Svpbmt); 0 = PMA                        Svpbmt
    static constexpr uint64_t n = bit(63);                              // N (Svnapot); 0                                             Svnapot
    static constexpr uint64_t rwx = r | w | x;
    // "For non-leaf PTEs, the D, A, and U bits are reserved for future
    // standard use" (Sv32): they, PBMT and N fault in a pointer.
    static constexpr uint64_t nonleaf_reserved = d | a | u | pbmt_mask | n;

    // --- software layout of hvcore (RSW, and the bits of a V = 0 entry) ----------------
    // Present-leaf type codes in RSW (see the file comment).
    static constexpr uint64_t code_ram_rw = 0;
    static constexpr uint64_t code_ram_logdirty = 1;
    static constexpr uint64_t code_ioreq_server = 2;
    static constexpr uint64_t code_ro_or_direct = 3;  // X = 1: ram_ro; X = 0: mmio_direct
    // Only while V = 0 (bits 60:54 are reserved in a valid PTE):
    static constexpr unsigned hole_type_shift = 54;
    static constexpr uint64_t hole_type_mask = uint64_t{0xf} << hole_type_shift;  // the p2m type of a not-present leaf, bits 57:54
    static constexpr uint64_t recalc = bit(58);                                    // lazy-recalculation mark, bit 58

    // --- encode ----------------------------------------------------------------------

    // Whether a leaf of type t with rights p decodes back to (t, p).
    [[nodiscard]] static constexpr bool encodable(P2mType t, Perm p) noexcept {
        if (p == Perm{}) return true;    // not present: the whole type is stored
        if (p.w && !p.r) return false;  // W without R: "Reserved for future use"
        switch (t) {
        case P2mType::ram_rw:
        case P2mType::ram_logdirty:
        case P2mType::ioreq_server: return true;
        case P2mType::ram_ro: return p.x;
        case P2mType::mmio_direct: return !p.x;
        case P2mType::invalid:
        case P2mType::mmio_dm: return false;  // no frame: never present
        }
        return false;
    }

    // A leaf at `level` (0 = 4 KiB ... 3 = 512 GiB) mapping mfn. Perm{}
    // gives a not-present leaf (V = 0) that still carries the frame, U and
    // A, and the whole type in bits 57:54.
    [[nodiscard]] static constexpr uint64_t encode_leaf(Mfn mfn, P2mType t, Perm p, unsigned level) noexcept {
        Expects(encodable(t, p));
        Expects((mfn.raw() & (level_pages(level) - 1)) == 0);  // a superpage's low PPN bits must be 0 (misaligned superpage)
        const uint64_t frame = mfn.raw() << ppn_shift;
        Expects((frame & ~ppn_mask) == 0);
        const uint64_t common = frame | u | a;
        if (p == Perm{}) return common | (uint64_t{static_cast<uint8_t>(t)} << hole_type_shift);
        return common | v | (p.r ? r : 0) | (p.w ? w | d : 0) | (p.x ? x : 0) | (code_of(t) << rsw_shift);
    }

    // The stage-2 engine's entry points (hvcore/s2/engine.hpp, EntryFormat).
    // The memory class is not in the entry: PBMT = 0 leaves it to the
    // PMAs of the frame (see the file comment).
    [[nodiscard]] static constexpr uint64_t encode_leaf(Mfn mfn, P2mType t, Perm p, MemClass /*mc*/,
                                                        unsigned level) noexcept {
        return encode_leaf(mfn, t, p, level);
    }
    // The hardware's own rule (W without R is reserved); the type-aware
    // one is encodable(t, p).
    [[nodiscard]] static constexpr bool encodable(Perm p) noexcept { return p.r || !p.w; }
    // Children of a split leaf keep every bit but the PPN: a G-stage leaf
    // has the same format at every level (Sv39 PTE figure).
    [[nodiscard]] static constexpr uint64_t split_attrs(uint64_t e, unsigned /*level*/) noexcept {
        return e & ~ppn_mask;
    }
    // attrs (split_attrs' result) with leaf frame m in the PPN field.
    [[nodiscard]] static constexpr uint64_t with_frame(uint64_t attrs, Mfn m) noexcept {
        return (attrs & ~ppn_mask) | (m.raw() << ppn_shift);
    }
    [[nodiscard]] static constexpr bool present(uint64_t e) noexcept { return is_valid(e); }
    [[nodiscard]] static constexpr Mfn leaf_frame(uint64_t e, unsigned /*level*/) noexcept { return frame(e); }

    // A pointer to the next-level table: V = 1, R = W = X = 0, and D, A, U
    // clear ("must be cleared by software for forward compatibility").
    [[nodiscard]] static constexpr uint64_t encode_table(Mfn table) noexcept {
        const uint64_t frame = table.raw() << ppn_shift;
        Expects((frame & ~ppn_mask) == 0);
        return frame | v;
    }

    // The lazy-recalculation mark: V cleared (an access through the entry
    // takes a guest-page fault at it), bit 58 set, everything else kept.
    [[nodiscard]] static constexpr uint64_t mark(uint64_t e) noexcept {
        Expects((e & v) != 0);
        return (e & ~v) | recalc;
    }
    [[nodiscard]] static constexpr uint64_t unmark(uint64_t e) noexcept {
        Expects(marked(e));
        return (e & ~recalc) | v;
    }

    // --- decode ----------------------------------------------------------------------

    [[nodiscard]] static constexpr bool is_valid(uint64_t e) noexcept { return (e & v) != 0; }
    [[nodiscard]] static constexpr bool marked(uint64_t e) noexcept { return !is_valid(e) && (e & recalc) != 0; }
    [[nodiscard]] static constexpr Mfn frame(uint64_t e) noexcept { return Mfn{(e & ppn_mask) >> ppn_shift}; }

    [[nodiscard]] static constexpr bool is_table(uint64_t e, unsigned level) noexcept {
        return level > 0 && (is_valid(e) || marked(e)) && (e & rwx) == 0;
    }
    [[nodiscard]] static constexpr bool is_leaf(uint64_t e, unsigned level) noexcept {
        return e != 0 && !is_table(e, level);
    }

    // The type of a leaf; 0 (absent) reads as mmio_dm, as in Xen. A value no
    // type has means the entry was not written by encode_leaf.
    [[nodiscard]] static constexpr P2mType type_of(uint64_t e) noexcept {
        if (e == 0) return P2mType::mmio_dm;
        if (is_valid(e) || marked(e)) {
            switch ((e & rsw_mask) >> rsw_shift) {
            case code_ram_rw: return P2mType::ram_rw;
            case code_ram_logdirty: return P2mType::ram_logdirty;
            case code_ioreq_server: return P2mType::ioreq_server;
            default: return (e & x) != 0 ? P2mType::ram_ro : P2mType::mmio_direct;
            }
        }
        const auto t = p2m_type_from_raw(static_cast<uint8_t>((e & hole_type_mask) >> hole_type_shift));
        Expects(t.has_value());
        return *t;
    }

    [[nodiscard]] static constexpr LeafFields decode_leaf(uint64_t e) noexcept {
        LeafFields f;
        f.mfn = frame(e);
        f.type = type_of(e);
        f.perm = Perm{.r = (e & r) != 0, .w = (e & w) != 0, .x = (e & x) != 0};
        f.valid = is_valid(e);
        f.recalc = marked(e);
        return f;
    }

    [[nodiscard]] static constexpr uint64_t code_of(P2mType t) noexcept {
        switch (t) {
        case P2mType::ram_rw: return code_ram_rw;
        case P2mType::ram_logdirty: return code_ram_logdirty;
        case P2mType::ioreq_server: return code_ioreq_server;
        case P2mType::ram_ro:
        case P2mType::mmio_direct: return code_ro_or_direct;
        case P2mType::invalid:
        case P2mType::mmio_dm: break;
        }
        Expects(false);  // holes are never present (encodable)
        return 0;
    }
};

// --- sanity checks ---------------------------------------------------------------

static_assert(level_pages(1) == 512 && level_pages(2) == 512 * 512 && level_order(3) == 27);
static_assert(root_entries == 2048 && root_frames == 4);
// The hardware fields do not overlap and cover all 64 bits.
static_assert((Pte::v | Pte::r | Pte::w | Pte::x | Pte::u | Pte::g | Pte::a | Pte::d | Pte::rsw_mask) == 0x3ff);
static_assert((Pte::ppn_mask | Pte::reserved_mask | Pte::pbmt_mask | Pte::n | 0x3ff) == ~uint64_t{0});
static_assert((Pte::ppn_mask & (Pte::reserved_mask | Pte::pbmt_mask | Pte::n | 0x3ff)) == 0);
static_assert(Pte::ppn_mask == 0x003F'FFFF'FFFF'FC00 && Pte::reserved_mask == 0x1FC0'0000'0000'0000);
// The V = 0 software fields lie inside the reserved bits 60:54.
static_assert(((Pte::hole_type_mask | Pte::recalc) & ~Pte::reserved_mask) == 0);
static_assert(static_cast<uint64_t>(P2mType::ioreq_server) <= (Pte::hole_type_mask >> Pte::hole_type_shift));
// Golden 4 KiB ram_rw page at mfn 0x1234: PPN 0x1234 << 10 = 0x48D000, D A U
// X W R V = 0xDF, RSW 0.
static_assert(Pte::encode_leaf(Mfn{0x1234}, P2mType::ram_rw, Perm{.r = true, .w = true, .x = true}, 0) ==
              0x0000'0000'0048'D0DF);
// Claimed ioreq_server: A U R V = 0x53, RSW = 2 (0x200).
static_assert(Pte::encode_leaf(Mfn{0x1234}, P2mType::ioreq_server, Perm{.r = true}, 0) == 0x0000'0000'0048'D253);
// mmio_dm hole: V = 0, U A, type 4 in bits 57:54.
static_assert(Pte::encode_leaf(Mfn{0x1234}, P2mType::mmio_dm, Perm{}, 0) == 0x0100'0000'0048'D050);
// Every leaf is non-zero (U, A), so zero always means absent.
static_assert(Pte::encode_leaf(Mfn{0}, P2mType::ram_rw, Perm{}, 0) != 0);
// ram_ro and mmio_direct share RSW 3 and come back apart by X.
static_assert(Pte::type_of(Pte::encode_leaf(Mfn{1}, P2mType::ram_ro, Perm{.r = true, .x = true}, 0)) == P2mType::ram_ro);
static_assert(Pte::type_of(Pte::encode_leaf(Mfn{1}, P2mType::mmio_direct, Perm{.r = true, .w = true}, 0)) ==
              P2mType::mmio_direct);
static_assert(!Pte::encodable(P2mType::ram_ro, Perm{.r = true}) && !Pte::encodable(P2mType::mmio_direct, Perm{.r = true, .x = true}));
static_assert(!Pte::encodable(P2mType::ram_rw, Perm{.w = true}));
// A marked table pointer is not valid, still a table, and comes back unchanged.
static_assert(!Pte::is_valid(Pte::mark(Pte::encode_table(Mfn{0x1000000}))));
static_assert(Pte::is_table(Pte::mark(Pte::encode_table(Mfn{0x1000000})), 1));
static_assert(Pte::unmark(Pte::mark(Pte::encode_table(Mfn{0x1000000}))) == Pte::encode_table(Mfn{0x1000000}));
// A marked leaf keeps its type.
static_assert(Pte::type_of(Pte::mark(Pte::encode_leaf(Mfn{0x200}, P2mType::ram_logdirty, Perm{.r = true, .x = true}, 1))) ==
              P2mType::ram_logdirty);
// hgatp of an Sv48x4 table rooted at host-physical 64 GiB, VMID 1.
static_assert(Hgatp::encode(Mode::sv48x4, 1, Mfn{0x1000000}) == 0x9000'1000'0100'0000);

}  // namespace hvcore::riscv64
