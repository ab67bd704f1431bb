// SPDX-License-Identifier: MIT
// The contract between the core and a stage-2 backend (EPT, NPT, Arm64
// stage 2, RISC-V G-stage).
// A backend is a format (encode/decode of entries), a walker (the model
// MMU) and a fault decoder; it knows nothing of ioreq servers. The p2m type
// of every entry lives in the entry's software bits, so the backend's table
// is the single source of truth for gfn -> (mfn, type).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "hvcore/core/fault.hpp"
#include "hvcore/core/machine_memory.hpp"
#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/status.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore {

// What the table holds for one gfn.
struct Stage2Leaf {
    bool mapped = false;          // an entry exists (present, or not present carrying a type)
    Mfn mfn{};                    // the frame for this gfn (base + offset in a superpage)
    P2mType type = P2mType::mmio_dm;  // stored type; an absent entry reads as mmio_dm (as in Xen)
    unsigned order = 0;           // leaf size: 0 = 4 KiB, 9 = 2 MiB, 18 = 1 GiB
    bool recalc_pending = false;  // a lazy recalculation mark lies on the walk to this gfn
    uint8_t owner = 0;            // an ioreq_server leaf: its owner's server id (0..7); 0 for other types
};

// The owners an ioreq_server leaf can have: the ids of the ioreq servers
// (0..7), each a bit of TypeChange::ioreq_owners and stale_owners.
inline constexpr unsigned ioreq_owner_count = 8;

// The entries a walk to one gfn reads, root first, exactly as stored
// (hv_p2m_read_walk). The values are the format's own; the core passes them on
// without reading a bit of them.
struct Stage2Walk {
    static constexpr unsigned max_levels = 5;
    struct Level {
        uint64_t entry = 0;  // the raw entry
        Mfn table{};         // the table frame that holds it (the first frame of a concatenated root)
        unsigned index = 0;  // its index in that table
        int level = 0;       // the architecture's own number for the level
    };
    Arch arch = Arch::x86_vmx;
    std::array<Level, max_levels> level{};
    unsigned count = 0;        // levels filled, root first
    Mfn root{};                // the root table (its first frame)
    unsigned root_frames = 1;  // frames of the root table (Arm64 concatenation; RISC-V's 16 KiB root: 4)
    uint64_t config = 0;       // the register that points the hardware at the table: EPTP, nCR3, VTCR_EL2, hgatp
};

// Supplied by the core when a backend resolves pending marks: for each leaf
// reached, the type it must have now and the rights to encode. The core
// does its entry accounting inside this call.
class RecalcPolicy {
public:
    struct Update {
        P2mType type;
        Perm perm;
    };
    // stored_owner: the leaf's owner when stored is ioreq_server (else 0);
    // a leaf that stays ioreq_server keeps it.
    virtual Update recalc(Gfn first, unsigned order, P2mType stored, uint8_t stored_owner) = 0;

protected:
    ~RecalcPolicy() = default;
};

// A type change over a range of gfns, as the core validates and commits it
// (Stage2::first_refused, Stage2::retype_range). The masks are indexed by a
// P2mType's value (0..15), so the backend checks a leaf with one bit test
// and never calls back per page.
struct TypeChange {
    P2mType to = P2mType::ram_rw;
    Perm perm{};                  // the rights a leaf of type `to` gets
    uint16_t allowed = 0;         // bit t: a leaf stored as t may change to `to`
    uint16_t allowed_marked = 0;  // the same for a leaf under a pending recalculation mark
    uint16_t has_frame = 0;       // bit t: type t maps a frame (p2m_has_frame); a change keeps the
                                  // frame only between two such types
    uint8_t owner = 0;            // written into every leaf that becomes ioreq_server (0..7)
    // Bit k: an ioreq_server leaf owned by k may change (as `allowed` says);
    // a leaf of another owner is refused.
    uint8_t ioreq_owners = 0xff;
    // Bit k: k's claim ended, so an ioreq_server leaf it owns is ram_rw to
    // everyone (checked with ram_rw's bits of `allowed` and
    // `allowed_marked`, whatever ioreq_owners says) until it is reset.
    uint8_t stale_owners = 0;
};

// Per-leaf-table accounting: what a range operation changed in one 4 KiB
// leaf table (512 leaves, the first at gfn `base`), reported once per table
// instead of once per leaf.
class TypeCounter {
public:
    struct Delta {
        Gfn base;                          // first gfn the leaf table maps
        std::array<uint16_t, 16> removed;  // leaves that left each type (by P2mType value)
        uint16_t added;                    // leaves that became `to`
        P2mType to;
        uint16_t lo;  // the added leaves lie at indices [lo, hi] of the table
        uint16_t hi;
        // The table was made in this change by splitting one unmarked leaf
        // (Stage2::retype_range): before the change its 512 leaves were
        // exactly that leaf's children.
        bool split = false;
        uint8_t owner = 0;  // the owner of the added leaves when `to` is ioreq_server
        // Of removed[ioreq_server], how many each owner lost (a leaf that
        // stays ioreq_server with another owner counts as removed and
        // added).
        std::array<uint16_t, ioreq_owner_count> removed_owner{};
    };
    virtual void counted(const Delta& d) = 0;

protected:
    ~TypeCounter() = default;
};

// Context of one guest access, as the executing instruction gives it to the
// MMU: what a backend may need to fill its fault record.
//
// An access that crosses a page boundary is translated page by page, and
// each page's walk gets the guest-linear address that translated to the
// guest-physical address walked: the access's first byte in that page.
// That is what the hardware reports for a fault on the second page: the
// EPT guest-linear address "may translate to the guest-physical address
// whose access caused the EPT violation" (Intel SDM Vol. 3C §28.2.1
// "Basic VM-Exit Information", guest-linear address), and Arm64 FAR_EL2 is
// the address of the byte that faulted (Arm ARM DDI 0487 M.a.a, J1.1.3
// pseudocode Mem[]: an unaligned access not within one single-copy-atomic
// quantity is made byte by byte, AArch64.MemSingle[address + i, 1], each
// aborting with its own address). Bochs (a page-crossing access is
// translated page by page) and QEMU (the second page probed at its first
// byte) report the same.
struct AccessContext {
    uint64_t gla = 0;         // guest-linear (virtual) address of the access's first byte in this page
    bool gla_valid = false;
    unsigned size = 0;        // bytes of the whole access
    std::span<const uint8_t> insn;  // the instruction's bytes (SVM decode assist)
    // ISA-provided syndrome bits (Arm64: ISS[24:14] when ISV applies;
    // RISC-V: the transformed load/store htinst reports, with the access's
    // first page offset, riscv64/trap.hpp).
    uint64_t isa_syndrome = 0;
    // The read of a read-modify-write instruction (AccessInfo::rmw_read).
    // x86 reports a fault of it as a write: "An EPT violation that occurs
    // as a result of execution of a read-modify-write operation sets bit 1
    // (data write)" (SDM Vol. 3C §28.2.1, the note to the table "Exit
    // Qualification for EPT Violations"); the #NPF error code is the
    // page-fault error code (APM Vol. 2 §15.25.6), whose R/W is 1 for the
    // read of a read-modify-write on real hardware (Linux commit
    // c205fb7d7d4f, x86_emulate_insn: a fault on the destination read of
    // an instruction that writes it gets PFERR_WRITE_MASK); both
    // emulators check it as a write (Bochs BX_RW, rw & 1). Arm64 reports
    // it as a read: ESR_EL2.WnR "is set to 0 if a read of the address
    // specified by the instruction would have generated the fault" (Arm
    // ARM DDI 0487 M.a.a, D24.2.46 ESR_EL2, WnR).
    bool rmw = false;
};

struct Translation {
    bool ok = false;
    Mfn mfn{};           // frame the access reaches, when ok
    FaultRecord record;  // the hardware's record, when !ok
};

class Stage2 {
public:
    virtual ~Stage2() = default;

    [[nodiscard]] virtual Arch arch() const noexcept = 0;
    // One past the largest gfn the configured format can map.
    [[nodiscard]] virtual uint64_t gfn_limit() const noexcept = 0;

    // Domain build: map [gfn, gfn+nr) to [mfn, mfn+nr) with the largest
    // leaves the alignment allows. All or nothing (-ENOMEM leaves the table
    // as it was); -EINVAL beyond gfn_limit().
    virtual Status map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) = 0;

    [[nodiscard]] virtual Stage2Leaf lookup(Gfn gfn) const = 0;

    // Table frames that set_4k on every gfn of [first, first+nr) would
    // allocate (missing tables, superpage splits). The core reserves them
    // in MachineMemory before committing, so set_4k cannot fail.
    [[nodiscard]] virtual uint64_t tables_needed_4k(Gfn first, uint64_t nr) const = 0;
    // Write one 4 KiB leaf; a superpage covering gfn is split first (the
    // other 511 children keep the parent's mapping, type and rights).
    // Tables come from MachineMemory::take_reserved().
    virtual void set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) = 0;

    // Range type change. first_refused: the first gfn of [first, first+nr)
    // whose leaf (its type once a pending mark is applied) may not change
    // to c.to, in one read-only pass. retype_range: the commit, after
    // tables_needed_4k() frames were reserved: one descent per leaf table,
    // a superpage in the range split as by set_4k, marked leaves met on the
    // way recalculated through `policy` first, then every leaf of the range
    // whose type is not c.to rewritten (frame kept between two types with a
    // frame, else 0). Counts go to `counter`, one Delta per leaf table.
    [[nodiscard]] virtual std::optional<Gfn> first_refused(Gfn first, uint64_t nr, const TypeChange& c) const = 0;
    virtual void retype_range(Gfn first, uint64_t nr, const TypeChange& c, RecalcPolicy& policy,
                              TypeCounter& counter) = 0;
    // The same three over a list of gfns (strictly increasing, each below
    // gfn_limit(), at least one), for scattered pages: one descent per leaf
    // table that holds a listed gfn, then a loop over the listed leaves of
    // that table only; entries the list does not reach are neither read
    // nor split. tables_needed_4k_list: the frames retype_list may take
    // (as tables_needed_4k of each gfn, a table counted once).
    [[nodiscard]] virtual std::optional<Gfn> first_refused_list(std::span<const uint64_t> gfns,
                                                                const TypeChange& c) const = 0;
    [[nodiscard]] virtual uint64_t tables_needed_4k_list(std::span<const uint64_t> gfns) const = 0;
    virtual void retype_list(std::span<const uint64_t> gfns, const TypeChange& c, RecalcPolicy& policy,
                             TypeCounter& counter) = 0;
    // Rewrites in place the leaves of type `from` at indices [lo, hi] of the
    // 4 KiB leaf table that maps gfn `base` (a multiple of 512) to c.to and
    // c.perm, unmarked: a reset without a walk per entry. Marks on the walk
    // above that table are pushed one level down as resolve() does; the mark
    // on the table's own entry is removed without marking its 512 leaves
    // when clear_parent_mark (the caller knows no other leaf of the table
    // would change on recalculation), else pushed into them. Returns the
    // leaves rewritten (reported to `counter`); 0 if no leaf table maps base.
    virtual uint64_t reset_leaves(Gfn base, unsigned lo, unsigned hi, P2mType from, const TypeChange& c,
                                  bool clear_parent_mark, TypeCounter& counter) = 0;
    // The reset of a disclaim over many leaf tables, in one call: for each
    // table (bases ascending, each a multiple of 512), what reset_leaves
    // does, then, when `merge`, what merge(base, c.to, c.perm) does. The
    // walks are made in address order with the next tables' lines
    // prefetched; the merge of a level-1 table (and above) is tried once,
    // when the sweep leaves it, not after each of its leaf tables.
    // `uniform` is the caller's word that every leaf of the table outside
    // [lo, hi] is still what splitting one unmarked leaf gave (TypeCounter::
    // Delta::split, and nothing but `from` and c.to written since): its 512
    // leaves are then not read again to merge it (checked in debug builds).
    // Returns the leaf tables merged.
    struct ResetTable {
        Gfn base;
        uint16_t lo;
        uint16_t hi;
        bool uniform;
    };
    virtual uint64_t reset_tables(std::span<const ResetTable> tables, P2mType from, const TypeChange& c,
                                  bool clear_parent_mark, bool merge, TypeCounter& counter) = 0;
    // Merges the 4 KiB leaf table that maps gfn `base` back into one leaf
    // of the next level when its 512 entries are exactly what splitting
    // that leaf would give (the same type t, rights p and attributes,
    // consecutive frames from an aligned first frame, no mark) and the
    // format allows a leaf there; then the level above, and so on. Frees
    // the merged tables; returns how many.
    virtual unsigned merge(Gfn base, P2mType t, Perm p) = 0;

    // Lazy global recalculation: mark the whole table, O(root entries).
    virtual void mark_recalc_all() = 0;
    // Resolve the marks on the walk to gfn: push them one level down at each
    // table on the way, and recalculate (via policy) every marked leaf of
    // the last table reached. Returns true if anything was pending.
    virtual bool resolve(Gfn gfn, RecalcPolicy& policy) = 0;

    // The architectural entry that decides gfn: the leaf, or the entry at
    // which the walk stops (0 when a table is missing).
    [[nodiscard]] virtual uint64_t raw_entry(Gfn gfn) const = 0;
    // Every entry on the walk to gfn, root first, down to the leaf or the
    // first entry that is absent or not present. A table entry carrying a
    // lazy-recalculation mark is followed (the hardware stops at it; the
    // entries below are what it reaches once the mark is resolved).
    // Read-only: no mark is resolved, no A/D bit set. gfn < gfn_limit().
    [[nodiscard]] virtual Stage2Walk walk_entries(Gfn gfn) const = 0;
    // Every leaf entry (present or carrying a type), in gfn order.
    virtual void for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const = 0;

    // The owners of ioreq_server leaves live in the entry where the format
    // has room (EPT, NPT, Arm64); RISC-V G-stage keeps them beside the
    // table, within 1% of the table frames' bytes (s2::OwnerSide).
    // side_bytes: that structure's memory. owners_fit(_list): whether the
    // change c (first_refused passed) keeps it within that bound; a change
    // that would not is refused before anything changes.
    [[nodiscard]] virtual uint64_t side_bytes() const noexcept = 0;
    [[nodiscard]] virtual bool owners_fit(Gfn first, uint64_t nr, const TypeChange& c) const = 0;
    [[nodiscard]] virtual bool owners_fit_list(std::span<const uint64_t> gfns, const TypeChange& c) const = 0;

    // The model MMU: the access as the hardware walks it. Sets A/D only if
    // the format enables it.
    [[nodiscard]] virtual Translation translate(Gpa gpa, AccessType access, const AccessContext& ctx) = 0;
    // The hardware record back to the neutral fault.
    [[nodiscard]] virtual Fault decode_fault(const FaultRecord& record) const = 0;
};

}  // namespace hvcore
