// SPDX-License-Identifier: MIT
#include "hvcore/core/p2m.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace hvcore {

namespace {
constexpr uint32_t access_write = 2;  // XEN_DMOP_IOREQ_MEM_ACCESS_WRITE
}

Status P2m::build_ram() {
    const P2mType t = P2mType::ram_rw;
    return s2_.map_range(Gfn{0}, mem_.ram_mfn(Gfn{0}), mem_.ram_frames(), t,
                         p2m_entry_perm(t, restrictions()));
}

Restrictions P2m::restrictions() const noexcept {
    return {.ioreq_write_claimed = owner_.has_value() && (flags_ & access_write) != 0};
}

Stage2Leaf P2m::peek(Gfn gfn) const {
    Stage2Leaf l = s2_.lookup(gfn);
    l.type = p2m_recalc_type(l.recalc_pending, l.type, owner_.has_value());
    return l;
}

Stage2Leaf P2m::lookup(Gfn gfn) {
    Stage2Leaf l = s2_.lookup(gfn);
    if (l.recalc_pending) {
        s2_.resolve(gfn, *this);
        l = s2_.lookup(gfn);
        Ensures(!l.recalc_pending);
    }
    return l;
}

RecalcPolicy::Update P2m::recalc(Gfn first, unsigned order, P2mType stored) {
    const P2mType now = p2m_recalc_type(true, stored, owner_.has_value());
    // ioreq_server is only ever stored in 4 KiB leaves.
    Expects(order == 0 || (stored != P2mType::ioreq_server && now != P2mType::ioreq_server));
    if (order == 0) account(first, stored, now);
    return {now, p2m_entry_perm(now, restrictions())};
}

void P2m::account(Gfn gfn, P2mType from, P2mType to) {
    if (from == to) return;
    if (from == P2mType::ioreq_server) outstanding_.erase(gfn.raw());
    if (to == P2mType::ioreq_server) outstanding_.insert(gfn.raw());
}

std::optional<Gfn> P2m::first_refused(Gfn first, uint64_t nr, P2mType to) const {
    const uint64_t end = first.raw() + nr;
    for (uint64_t g = first.raw(); g < end;) {
        const Stage2Leaf l = peek(Gfn{g});
        if (!allow_p2m_type_change(l.type, to)) return Gfn{g};
        // Every 4 KiB page of a leaf has its type: skip to the leaf's end.
        const uint64_t leaf_pages = uint64_t{1} << l.order;
        g = std::min(end, (g & ~(leaf_pages - 1)) + leaf_pages);
    }
    return std::nullopt;
}

Status P2m::set_type_range(Gfn first, uint64_t nr, P2mType to) {
    // Validate everything first.
    if (nr == 0 || first.raw() + nr < first.raw() || first.raw() + nr > s2_.gfn_limit())
        return Status::err(-EINVAL);
    if (first_refused(first, nr, to)) return Status::err(-EINVAL);
    // Prepare: reserve every table frame the commit may take.
    if (Status s = mem_.reserve_tables(s2_.tables_needed_4k(first, nr)); !s) return s;
    // Commit: cannot fail.
    const Perm perm = p2m_entry_perm(to, restrictions());
    for (uint64_t g = first.raw(); g < first.raw() + nr; ++g) {
        const Stage2Leaf l = lookup(Gfn{g});  // carry out pending changes first
        if (l.type == to) continue;
        // A hole keeps no frame; RAM keeps its frame across RAM types.
        const Mfn mfn = p2m_has_frame(to) && p2m_has_frame(l.type) ? l.mfn : Mfn{0};
        s2_.set_4k(Gfn{g}, mfn, to, perm);
        account(Gfn{g}, l.type, to);
    }
    mem_.release_reservation();
    return Status::ok();
}

uint64_t P2m::sweep(uint64_t budget) {
    while (budget > 0 && !outstanding_.empty()) {
        const uint64_t g = *outstanding_.begin();
        const bool pending = s2_.resolve(Gfn{g}, *this);
        // mark_recalc_all covers every entry, so resolving an outstanding
        // gfn must convert it; anything else is a backend bug, and looping
        // on it would hang the caller.
        Expects(pending && !outstanding_.contains(g));
        --budget;
    }
    return outstanding_.size();
}

}  // namespace hvcore
