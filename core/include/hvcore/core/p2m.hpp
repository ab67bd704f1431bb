// SPDX-License-Identifier: MIT
// The p2m: gfn -> (mfn, type), held only in the backend's stage-2 table.
// This class adds what is arch-neutral: the legal changes, the ioreq_server
// claim that restricts permissions, entry accounting and the lazy and
// synchronous reset of outstanding ioreq_server entries.
//
// Not thread-safe by itself: the owning Domain's lock serialises every call.
#pragma once

#include <cstdint>
#include <optional>
#include <set>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/stage2.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore {

class P2m final : private RecalcPolicy {
public:
    P2m(Stage2& s2, MachineMemory& mem) noexcept : s2_(s2), mem_(mem) {}

    // Map guest RAM [0, ram_frames) as ram_rw with the largest leaves.
    [[nodiscard]] Status build_ram();

    [[nodiscard]] uint64_t max_gfn() const noexcept { return mem_.ram_frames() - 1; }
    [[nodiscard]] uint64_t gfn_limit() const noexcept { return s2_.gfn_limit(); }

    // The claim of the ioreq_server type (Xen's p2m->ioreq.server/flags).
    [[nodiscard]] std::optional<IoservId> ioreq_owner() const noexcept { return owner_; }
    [[nodiscard]] uint32_t ioreq_flags() const noexcept { return flags_; }
    void set_ioreq_owner(std::optional<IoservId> owner, uint32_t flags) noexcept {
        owner_ = owner;
        flags_ = flags;
    }
    [[nodiscard]] Restrictions restrictions() const noexcept;

    // The entry for gfn with the type it has once any pending
    // recalculation is applied, without writing anything.
    [[nodiscard]] Stage2Leaf peek(Gfn gfn) const;
    [[nodiscard]] P2mType peek_type(Gfn gfn) const { return peek(gfn).type; }
    // The entry for gfn after resolving any pending recalculation on its
    // walk ("the next access or lookup resolves them").
    [[nodiscard]] Stage2Leaf lookup(Gfn gfn);

    // Validates every page, reserves every table, then commits: all or
    // nothing. -EINVAL for a change allow_p2m_type_change refuses; -ENOMEM
    // if the tables for splitting cannot be reserved.
    [[nodiscard]] Status set_type_range(Gfn first, uint64_t nr, P2mType to);
    // The first gfn of [first, first+nr) whose change to `to` is refused.
    [[nodiscard]] std::optional<Gfn> first_refused(Gfn first, uint64_t nr, P2mType to) const;

    // 4 KiB leaves of type ioreq_server (Xen's entry_count).
    [[nodiscard]] uint64_t ioreq_entry_count() const noexcept { return outstanding_.size(); }

    // Disclaim: every entry is marked for lazy recalculation (O(root)).
    void mark_recalc_all() { s2_.mark_recalc_all(); }
    // Synchronous reset: resolve up to `budget` outstanding ioreq_server
    // entries. Cost is O(outstanding), never O(guest size). Returns the
    // count still outstanding.
    [[nodiscard]] uint64_t sweep(uint64_t budget);

    [[nodiscard]] Stage2& stage2() noexcept { return s2_; }
    [[nodiscard]] MachineMemory& memory() noexcept { return mem_; }

private:
    Update recalc(Gfn first, unsigned order, P2mType stored) override;
    void account(Gfn gfn, P2mType from, P2mType to);

    Stage2& s2_;
    MachineMemory& mem_;
    std::optional<IoservId> owner_;
    uint32_t flags_ = 0;
    // Index of the 4 KiB leaves of type ioreq_server, kept by the one
    // function every leaf type change passes through (Xen's
    // p2m_entry_modify); it is what makes the sweep O(outstanding).
    std::set<uint64_t> outstanding_;
};

}  // namespace hvcore
