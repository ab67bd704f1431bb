// SPDX-License-Identifier: MIT
// The p2m: gfn -> (mfn, type), held only in the backend's stage-2 table.
// This class adds what is arch-neutral: the legal changes, the claims of
// the ioreq_server type (one per ioreq server, each the owner of its
// entries) that decide their permissions, entry accounting by owner and the
// lazy and synchronous reset of the entries of an owner whose claim ended.
//
// Not thread-safe by itself: the owning Domain's lock serialises every call.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore {

// The per-leaf-table counts of the p2m: for each 4 KiB leaf table (512
// gfns) that holds an ioreq_server leaf, how many it holds, the index
// range they lie in and the owners they may have. An open-addressing
// hash table keyed by the table's first gfn / 512, 16 bytes a slot (the
// owner mask fills what was padding), at most 7/8 full: at most ~37 bytes
// per counted table of 4,096 bytes (< 1%), whatever the number of entries
// or owners in it. It is also the list the disclaim's reset walks: only the
// slots in use, and of those only the ones whose mask names an owner whose
// claim ended.
class LeafTableCounts {
public:
    struct Slot {
        uint64_t key = empty;
        uint16_t ioreq = 0;   // ioreq_server leaves
        uint16_t lo = 0;      // ioreq_server leaves lie at indices [lo, hi] (a bound, not exact)
        uint16_t hi = 0;
        // Every other leaf of the table is still what splitting one ram_rw
        // leaf gave (the table entered the map in the change that split it,
        // and nothing but ram_rw <-> ioreq_server was written since): reset,
        // it is that leaf's split again and merges without being read.
        bool uniform = false;
        // Bit k: the table may hold ioreq_server leaves of owner k. Exact
        // when set (a leaf of k was added); cleared when the table leaves
        // the map or a reset of k's leaves covers [lo, hi], so a bit can
        // outlive k's last leaf there until then (a reset finds nothing of
        // k in it, at the cost of one walk).
        uint8_t owners = 0;
    };
    static_assert(sizeof(Slot) == 16);
    static constexpr uint64_t empty = ~uint64_t{0};

    // Adds n (may be negative) to a count of the table `key`; the added
    // leaves lie at [lo, hi]. A table whose counts reach 0 leaves the map.
    // split: the table enters the map in the change that split it
    // (Slot::uniform).
    // owner: of the added leaves (n > 0).
    void add_ioreq(uint64_t key, int n, unsigned lo, unsigned hi, bool split = false, uint8_t owner = 0);
    // The leaves of the owners `mask` are gone from the table `key`.
    void clear_owners(uint64_t key, uint8_t mask) noexcept;
    // A leaf of the table `key` became something else than ram_rw or
    // ioreq_server: it is not uniform any more (if counted at all).
    void spoil(uint64_t key) noexcept;
    // The keys of every counted table whose owner mask meets `owners`,
    // ascending.
    void keys(std::vector<uint64_t>& out, uint8_t owners = 0xff) const;
    [[nodiscard]] const Slot* find(uint64_t key) const noexcept;
    [[nodiscard]] uint64_t ioreq_total() const noexcept { return ioreq_total_; }
    [[nodiscard]] uint64_t tables() const noexcept { return used_; }
    [[nodiscard]] uint64_t bytes() const noexcept { return slots_.capacity() * sizeof(Slot); }
    // A table with ioreq_server leaves, scanning on from where the last
    // call stopped (nullptr when there is none).
    [[nodiscard]] const Slot* next_ioreq() noexcept;

private:
    Slot& insert(uint64_t key);
    [[nodiscard]] size_t home(uint64_t key) const noexcept;
    void erase_at(size_t i) noexcept;
    void grow();

    std::vector<Slot> slots_;  // empty, or a power of two
    uint64_t used_ = 0;
    uint64_t ioreq_total_ = 0;
    size_t cursor_ = 0;
};

class P2m final : private RecalcPolicy, private TypeCounter {
public:
    P2m(Stage2& s2, MachineMemory& mem) noexcept : s2_(s2), mem_(mem) {}

    // Map guest RAM [0, ram_frames) as ram_rw with the largest leaves.
    [[nodiscard]] Status build_ram();

    [[nodiscard]] uint64_t max_gfn() const noexcept { return mem_.ram_frames() - 1; }
    [[nodiscard]] uint64_t gfn_limit() const noexcept { return s2_.gfn_limit(); }

    // The claims of the ioreq_server type, one per ioreq server (Xen has
    // one per domain: p2m->ioreq.server/flags). flags are the
    // HVDM_IOREQ_MEM_ACCESS_* bits (ioreq_claim_read, ioreq_claim_write,
    // ioreq_claim_write_posted); 0 ends the server's claim, and its entries are
    // then stale: ram_rw to everyone (peek, lookup) until sweep() or
    // reset_stale() rewrites them. The entries already written are not
    // rewritten by a claim: the caller claims for a server with no entries
    // (ioreq_entry_count(id) == 0, Xen's -EBUSY), so stale entries never
    // come back to life. id < 8.
    void set_claim(IoservId id, uint32_t flags);
    [[nodiscard]] uint32_t claim_flags(IoservId id) const noexcept;  // 0: no claim
    // The lowest id with a claim (a single-claim domain: the claimant).
    [[nodiscard]] std::optional<IoservId> any_claimant() const noexcept;

    // The entry for gfn with the type it has once any pending
    // recalculation is applied, without writing anything.
    [[nodiscard]] Stage2Leaf peek(Gfn gfn) const;
    [[nodiscard]] P2mType peek_type(Gfn gfn) const { return peek(gfn).type; }
    // The entry for gfn after resolving any pending recalculation on its
    // walk ("the next access or lookup resolves them").
    [[nodiscard]] Stage2Leaf lookup(Gfn gfn);

    // Validates every page, reserves every table, then commits: all or
    // nothing. The pages that become ioreq_server are owner's (its claim's
    // rights, p2m_entry_perm). A page of an owner whose claim stands is
    // ioreq_server and so changes only to ram_rw (allow_p2m_type_change);
    // a stale owner's page is ram_rw and may become another's.
    // @retval -EINVAL a change allow_p2m_type_change refuses (an
    //         ioreq_server page of an owner whose claim ended is ram_rw),
    //         or to is ioreq_server and owner >= 8 (an owner without a
    //         claim is allowed: its pages are stale at once)
    // @retval -ENOSPC to is ioreq_server and the owners kept beside the
    //         table (RISC-V G-stage, Stage2::owners_fit) would pass their
    //         bound of 1% of the table frames
    // @retval -ENOMEM the tables for splitting cannot be reserved
    [[nodiscard]] Status set_type_range(Gfn first, uint64_t nr, P2mType to, IoservId owner = IoservId{0});
    // The first gfn of [first, first+nr) whose change to `to` is refused;
    // ioreq_owners: bit k, an ioreq_server page owned by k may change (one
    // of another owner is refused).
    [[nodiscard]] std::optional<Gfn> first_refused(Gfn first, uint64_t nr, P2mType to,
                                                   uint8_t ioreq_owners = 0xff) const;
    // The same over a list of scattered gfns (strictly increasing, each
    // below gfn_limit()), with one descent per leaf table that holds a
    // listed gfn and a loop over its listed leaves (Stage2::retype_list).
    // A gfn not above the one before it, or beyond the table's reach, is
    // refused like a change allow_p2m_type_change refuses; an empty list
    // is -EINVAL for set_type_list and refuses nothing.
    // The same errnos as set_type_range.
    [[nodiscard]] Status set_type_list(std::span<const uint64_t> gfns, P2mType to, IoservId owner = IoservId{0});
    [[nodiscard]] std::optional<Gfn> first_refused_list(std::span<const uint64_t> gfns, P2mType to,
                                                        uint8_t ioreq_owners = 0xff) const;

    // 4 KiB leaves of type ioreq_server (Xen's entry_count), of every owner
    // (stale ones included) or of one.
    [[nodiscard]] uint64_t ioreq_entry_count() const noexcept { return counts_.ioreq_total(); }
    [[nodiscard]] uint64_t ioreq_entry_count(IoservId owner) const noexcept;
    // Memory of every side structure of the p2m, bytes: the per-leaf-table
    // counts, the sweep's order and batch, and the owners the backend keeps
    // beside its table (Stage2::side_bytes).
    [[nodiscard]] uint64_t side_bytes() const noexcept {
        return counts_.bytes() + order_.capacity() * sizeof(uint64_t) +
               batch_.capacity() * sizeof(Stage2::ResetTable) + s2_.side_bytes();
    }
    // Leaf tables holding an ioreq_server leaf.
    [[nodiscard]] uint64_t ioreq_tables() const noexcept;

    // Every entry marked for lazy recalculation (O(root)): Xen's
    // change_entry_type_global. A disclaim does not need it (hvcore
    // differs from Xen here: README.md, "Where hvcore differs from Xen"):
    // every outstanding entry is counted and reset by sweep(), and until
    // then an ioreq_server leaf whose owner's claim ended reads as ram_rw (peek,
    // lookup, reset_stale). Kept for Xen's baseline (bench_p2m) and the
    // tables' conformance tests.
    void mark_recalc_all() {
        marked_ = true;
        s2_.mark_recalc_all();
    }
    // Synchronous reset: up to `budget` leaf tables holding stale entries
    // (ioreq_server leaves whose owner's claim ended) are reset in place
    // (those leaves rewritten to ram_rw, the others, other owners'
    // ioreq_server leaves included, untouched), in address order, then
    // merged back into a large leaf where they are uniform again. Only the
    // tables whose owner mask names a stale owner are visited: the cost is
    // O(the stale owners' tables + walks), never O(guest size), nor the
    // tables of owners whose claim stands. Returns the count of stale
    // entries still outstanding.
    [[nodiscard]] uint64_t sweep(uint64_t budget);
    // The leaf at gfn is an ioreq_server leaf whose owner has no claim (an
    // entry the sweep has not reached yet): it is reset to ram_rw now, true.
    // What a stage-2 fault on such a page does before the access is made
    // again (the role Xen's recalculation mark plays there).
    bool reset_stale(Gfn gfn);
    // Whether sweep() merges the tables it resets (default true). Off, the
    // reset alone is measured (bench_p2m) and split tables stay split.
    void set_merge_on_reset(bool on) noexcept { merge_on_reset_ = on; }

    [[nodiscard]] Stage2& stage2() noexcept { return s2_; }
    [[nodiscard]] MachineMemory& memory() noexcept { return mem_; }

private:
    Update recalc(Gfn first, unsigned order, P2mType stored, uint8_t stored_owner) override;
    void counted(const Delta& d) override;
    void account(Gfn gfn, P2mType from, P2mType to, uint8_t owner);
    [[nodiscard]] TypeChange change_to(P2mType to, uint8_t owner = 0, uint8_t ioreq_owners = 0xff) const noexcept;
    // Bit k: k has ioreq_server entries and no claim.
    [[nodiscard]] uint8_t stale_owners() const noexcept;
    [[nodiscard]] bool claimed(uint8_t owner) const noexcept { return claims_[owner] != 0; }
    // Whether `to` owned by `owner` may be written at all (owner < 8).
    [[nodiscard]] bool owner_ok(P2mType to, IoservId owner) const noexcept;

    Stage2& s2_;
    MachineMemory& mem_;
    std::array<uint32_t, ioreq_owner_count> claims_{};
    std::array<uint64_t, ioreq_owner_count> owner_entries_{};
    // Counts of ioreq_server (and ram_logdirty) 4 KiB leaves per leaf
    // table, kept by the two functions every leaf type change passes
    // through (recalc and counted: Xen's p2m_entry_modify); they are what
    // make the sweep visit only the tables that hold outstanding entries.
    LeafTableCounts counts_;
    // A ram_logdirty leaf was written through this p2m: a reset may then not
    // drop a table's mark without marking its leaves (a recalculation
    // changes ram_logdirty too, p2m_recalc_type).
    bool logdirty_written_ = false;
    bool merge_on_reset_ = true;
    // mark_recalc_all() was called: marks may lie anywhere, so no table is
    // taken to be uniform without reading it.
    bool marked_ = false;
    // The sweep's order: the counted tables' keys, ascending, taken at the
    // first chunk of a sweep; each is looked up again when its turn comes
    // (a hint, never trusted: the counts are what is swept). Freed when
    // no entry is left.
    std::vector<uint64_t> order_;
    size_t order_next_ = 0;
    std::vector<Stage2::ResetTable> batch_;
};

}  // namespace hvcore
