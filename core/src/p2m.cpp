// SPDX-License-Identifier: MIT
#include "hvcore/core/p2m.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <utility>
#include <vector>

namespace hvcore {

namespace {
constexpr unsigned table_shift = 9;   // 512 leaves per leaf table
constexpr unsigned table_entries = 1U << table_shift;
constexpr unsigned bit(P2mType t) noexcept { return 1U << static_cast<unsigned>(t); }
}  // namespace

// --- LeafTableCounts ----------------------------------------------------------------

size_t LeafTableCounts::home(uint64_t key) const noexcept {
    // Fibonacci hashing: consecutive tables spread over the slots.
    const unsigned bits = static_cast<unsigned>(std::countr_zero(slots_.size()));
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

const LeafTableCounts::Slot* LeafTableCounts::find(uint64_t key) const noexcept {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = home(key);; i = (i + 1) & mask) {
        if (slots_[i].key == key) return &slots_[i];
        if (slots_[i].key == empty) return nullptr;
    }
}

void LeafTableCounts::grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    slots_.shrink_to_fit();
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
        if (s.key == empty) continue;
        size_t i = home(s.key);
        while (slots_[i].key != empty) i = (i + 1) & mask;
        slots_[i] = s;
    }
    cursor_ = 0;
}

LeafTableCounts::Slot& LeafTableCounts::insert(uint64_t key) {
    // At most 7/8 full.
    if ((used_ + 1) * 8 > slots_.size() * 7) grow();
    const size_t mask = slots_.size() - 1;
    size_t i = home(key);
    for (; slots_[i].key != empty; i = (i + 1) & mask)
        if (slots_[i].key == key) return slots_[i];
    slots_[i] = Slot{.key = key, .ioreq = 0, .lo = table_entries - 1, .hi = 0, .uniform = false, .owners = 0};
    ++used_;
    return slots_[i];
}

void LeafTableCounts::erase_at(size_t i) noexcept {
    // Backward-shift deletion (linear probing, no tombstones): pull each
    // following entry of the cluster into the hole unless its home lies
    // cyclically in (hole, its slot].
    const size_t mask = slots_.size() - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; slots_[j].key != empty; j = (j + 1) & mask) {
        const size_t h = home(slots_[j].key);
        const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (stays) continue;
        slots_[hole] = slots_[j];
        hole = j;
    }
    slots_[hole] = Slot{};
    --used_;
    if (used_ == 0) {
        slots_.clear();
        slots_.shrink_to_fit();
        cursor_ = 0;
    }
}

void LeafTableCounts::add_ioreq(uint64_t key, int n, unsigned lo, unsigned hi, bool split, uint8_t owner) {
    if (n == 0) return;
    if (n > 0) {
        Expects(owner < ioreq_owner_count);
        Slot& s = insert(key);
        if (s.ioreq == 0) s.uniform = split;  // new in the map
        s.owners = static_cast<uint8_t>(s.owners | (1U << owner));
        s.ioreq = static_cast<uint16_t>(s.ioreq + n);
        Ensures(s.ioreq <= table_entries);
        s.lo = static_cast<uint16_t>(std::min<unsigned>(s.lo, lo));
        s.hi = static_cast<uint16_t>(std::max<unsigned>(s.hi, hi));
        ioreq_total_ += static_cast<uint64_t>(n);
        return;
    }
    Slot* s = const_cast<Slot*>(find(key));
    Expects(s != nullptr && s->ioreq >= static_cast<unsigned>(-n));
    s->ioreq = static_cast<uint16_t>(s->ioreq + n);
    ioreq_total_ -= static_cast<uint64_t>(-n);
    if (s->ioreq == 0) erase_at(static_cast<size_t>(s - slots_.data()));
}

void LeafTableCounts::spoil(uint64_t key) noexcept {
    if (Slot* s = const_cast<Slot*>(find(key))) s->uniform = false;
}

void LeafTableCounts::clear_owners(uint64_t key, uint8_t mask) noexcept {
    if (Slot* s = const_cast<Slot*>(find(key))) s->owners = static_cast<uint8_t>(s->owners & ~mask);
}

void LeafTableCounts::keys(std::vector<uint64_t>& out, uint8_t owners) const {
    out.clear();
    out.reserve(used_);
    uint64_t all = 0;
    for (const Slot& s : slots_)
        if (s.key != empty && (s.owners & owners) != 0) {
            out.push_back(s.key);
            all |= s.key;
        }
    // LSD radix sort, 11 bits a pass (a key is a gfn / 512: 3 passes
    // below 2^33 keys), a few times faster than std::sort on 4,096 keys.
    constexpr unsigned digit = 11;
    constexpr size_t buckets = size_t{1} << digit;
    std::vector<uint64_t> tmp(out.size());
    std::vector<uint32_t> count(buckets);
    for (unsigned shift = 0; shift < 64 && (all >> shift) != 0; shift += digit) {
        std::fill(count.begin(), count.end(), 0);
        for (uint64_t k : out) ++count[(k >> shift) & (buckets - 1)];
        uint32_t sum = 0;
        for (uint32_t& c : count) sum += std::exchange(c, sum);
        for (uint64_t k : out) tmp[count[(k >> shift) & (buckets - 1)]++] = k;
        out.swap(tmp);
    }
}

const LeafTableCounts::Slot* LeafTableCounts::next_ioreq() noexcept {
    if (used_ == 0) return nullptr;
    const size_t n = slots_.size();
    for (size_t k = 0; k < n; ++k) {
        const size_t i = (cursor_ + k) & (n - 1);
        if (slots_[i].key != empty) {
            cursor_ = i;
            return &slots_[i];
        }
    }
    return nullptr;
}

// --- P2m ---------------------------------------------------------------------------------

Status P2m::build_ram() {
    const P2mType t = P2mType::ram_rw;
    return s2_.map_range(Gfn{0}, mem_.ram_mfn(Gfn{0}), mem_.ram_frames(), t, p2m_entry_perm(t, 0));
}

void P2m::set_claim(IoservId id, uint32_t flags) {
    Expects(id.raw() < ioreq_owner_count);
    claims_[id.raw()] = flags;
}

uint32_t P2m::claim_flags(IoservId id) const noexcept {
    return id.raw() < ioreq_owner_count ? claims_[id.raw()] : 0;
}

std::optional<IoservId> P2m::any_claimant() const noexcept {
    for (uint16_t k = 0; k < ioreq_owner_count; ++k)
        if (claims_[k] != 0) return IoservId{k};
    return std::nullopt;
}

uint64_t P2m::ioreq_entry_count(IoservId owner) const noexcept {
    return owner.raw() < ioreq_owner_count ? owner_entries_[owner.raw()] : 0;
}

uint8_t P2m::stale_owners() const noexcept {
    uint8_t m = 0;
    for (unsigned k = 0; k < ioreq_owner_count; ++k)
        if (claims_[k] == 0 && owner_entries_[k] != 0) m = static_cast<uint8_t>(m | (1U << k));
    return m;
}

bool P2m::owner_ok(P2mType to, IoservId owner) const noexcept {
    // An owner without a claim is allowed: its pages are stale at once
    // (what a set_mem_type racing a disclaim writes).
    return to != P2mType::ioreq_server || owner.raw() < ioreq_owner_count;
}

uint64_t P2m::ioreq_tables() const noexcept { return counts_.tables(); }

Stage2Leaf P2m::peek(Gfn gfn) const {
    Stage2Leaf l = s2_.lookup(gfn);
    const bool live = l.type == P2mType::ioreq_server && claimed(l.owner);
    l.type = p2m_recalc_type(l.recalc_pending, l.type, live);
    // Not reset yet since its owner's claim ended: already ram_rw for everyone.
    if (l.type == P2mType::ioreq_server && !live) l.type = P2mType::ram_rw;
    if (l.type != P2mType::ioreq_server) l.owner = 0;
    return l;
}

Stage2Leaf P2m::lookup(Gfn gfn) {
    Stage2Leaf l = s2_.lookup(gfn);
    if (l.recalc_pending) {
        s2_.resolve(gfn, *this);
        l = s2_.lookup(gfn);
        Ensures(!l.recalc_pending);
    }
    if (l.type == P2mType::ioreq_server && !claimed(l.owner) && reset_stale(gfn)) l = s2_.lookup(gfn);
    return l;
}

bool P2m::reset_stale(Gfn gfn) {
    if (gfn.raw() >= s2_.gfn_limit()) return false;
    const uint64_t key = gfn.raw() >> table_shift;
    const LeafTableCounts::Slot* s = counts_.find(key);
    if (s == nullptr) return false;  // no ioreq_server leaf in its table
    const auto i = static_cast<unsigned>(gfn.raw() & (table_entries - 1));
    const uint8_t stale = stale_owners();
    if (i < s->lo || i > s->hi || (s->owners & stale) == 0) return false;
    const Stage2Leaf l = s2_.lookup(gfn);
    if (l.type != P2mType::ioreq_server || claimed(l.owner)) return false;
    const TypeChange c = change_to(P2mType::ram_rw, 0, static_cast<uint8_t>(1U << l.owner));
    return s2_.reset_leaves(Gfn{key << table_shift}, i, i, P2mType::ioreq_server, c, !logdirty_written_, *this) != 0;
}

RecalcPolicy::Update P2m::recalc(Gfn first, unsigned order, P2mType stored, uint8_t stored_owner) {
    const P2mType now = p2m_recalc_type(true, stored, stored == P2mType::ioreq_server && claimed(stored_owner));
    // ioreq_server is only ever stored in 4 KiB leaves.
    Expects(order == 0 || (stored != P2mType::ioreq_server && now != P2mType::ioreq_server));
    if (order == 0) account(first, stored, now, stored_owner);
    if (order == 0 && !(now == P2mType::ram_rw || now == P2mType::ioreq_server))
        counts_.spoil(first.raw() >> table_shift);
    return {now, p2m_entry_perm(now, now == P2mType::ioreq_server ? claims_[stored_owner] : 0)};
}

void P2m::account(Gfn gfn, P2mType from, P2mType to, uint8_t owner) {
    if (from == to) return;
    const uint64_t key = gfn.raw() >> table_shift;
    const auto i = static_cast<unsigned>(gfn.raw() & (table_entries - 1));
    if (from == P2mType::ioreq_server) {
        counts_.add_ioreq(key, -1, i, i);
        --owner_entries_[owner];
    }
    if (to == P2mType::ioreq_server) {
        counts_.add_ioreq(key, 1, i, i, false, owner);
        ++owner_entries_[owner];
    }
}

void P2m::counted(const Delta& d) {
    const uint64_t key = d.base.raw() >> table_shift;
    const int removed = d.removed[static_cast<unsigned>(P2mType::ioreq_server)];
    if (removed != 0) {
        counts_.add_ioreq(key, -removed, 0, 0);
        for (unsigned k = 0; k < ioreq_owner_count; ++k) {
            Expects(owner_entries_[k] >= d.removed_owner[k]);
            owner_entries_[k] -= d.removed_owner[k];
        }
    }
    if (d.to == P2mType::ioreq_server) {
        counts_.add_ioreq(key, d.added, d.lo, d.hi, d.split, d.owner);
        owner_entries_[d.owner] += d.added;
    } else if (d.to != P2mType::ram_rw) {
        counts_.spoil(key);
    }
}

TypeChange P2m::change_to(P2mType to, uint8_t owner, uint8_t ioreq_owners) const noexcept {
    TypeChange c{.to = to,
                 .perm = p2m_entry_perm(to, to == P2mType::ioreq_server ? claims_[owner] : 0),
                 .owner = to == P2mType::ioreq_server ? owner : uint8_t{0},
                 .ioreq_owners = ioreq_owners,
                 .stale_owners = stale_owners()};
    for (P2mType t : all_p2m_types) {
        // ioreq_server as a live owner's; the backend reads an owner whose
        // claim ended as ram_rw (TypeChange::stale_owners).
        if (allow_p2m_type_change(t, to)) c.allowed = static_cast<uint16_t>(c.allowed | bit(t));
        if (allow_p2m_type_change(p2m_recalc_type(true, t, true), to))
            c.allowed_marked = static_cast<uint16_t>(c.allowed_marked | bit(t));
        if (p2m_has_frame(t)) c.has_frame = static_cast<uint16_t>(c.has_frame | bit(t));
    }
    return c;
}

std::optional<Gfn> P2m::first_refused(Gfn first, uint64_t nr, P2mType to, uint8_t ioreq_owners) const {
    if (nr == 0 || first.raw() >= s2_.gfn_limit()) return std::nullopt;
    return s2_.first_refused(first, std::min(nr, s2_.gfn_limit() - first.raw()), change_to(to, 0, ioreq_owners));
}

Status P2m::set_type_range(Gfn first, uint64_t nr, P2mType to, IoservId owner) {
    // Validate everything first: one read-only pass over the range.
    if (nr == 0 || first.raw() + nr < first.raw() || first.raw() + nr > s2_.gfn_limit() || !owner_ok(to, owner))
        return Status::err(-EINVAL);
    const TypeChange c = change_to(to, static_cast<uint8_t>(owner.raw()));
    if (s2_.first_refused(first, nr, c)) return Status::err(-EINVAL);
    if (!s2_.owners_fit(first, nr, c)) return Status::err(-ENOSPC);
    // Prepare: reserve every table frame the commit may take.
    if (Status s = mem_.reserve_tables(s2_.tables_needed_4k(first, nr)); !s) return s;
    // Commit: cannot fail. One descent per leaf table.
    if (to == P2mType::ram_logdirty) logdirty_written_ = true;
    s2_.retype_range(first, nr, c, *this, *this);
    mem_.release_reservation();
    return Status::ok();
}

std::optional<Gfn> P2m::first_refused_list(std::span<const uint64_t> gfns, P2mType to, uint8_t ioreq_owners) const {
    // The list itself first: in order and within reach.
    const uint64_t limit = s2_.gfn_limit();
    for (size_t i = 0; i < gfns.size(); ++i)
        if ((i > 0 && gfns[i] <= gfns[i - 1]) || gfns[i] >= limit) return Gfn{gfns[i]};
    return s2_.first_refused_list(gfns, change_to(to, 0, ioreq_owners));
}

Status P2m::set_type_list(std::span<const uint64_t> gfns, P2mType to, IoservId owner) {
    // As set_type_range: validate, reserve, then commit (cannot fail).
    if (gfns.empty() || !owner_ok(to, owner) || first_refused_list(gfns, to)) return Status::err(-EINVAL);
    const TypeChange c = change_to(to, static_cast<uint8_t>(owner.raw()));
    if (!s2_.owners_fit_list(gfns, c)) return Status::err(-ENOSPC);
    if (Status s = mem_.reserve_tables(s2_.tables_needed_4k_list(gfns)); !s) return s;
    if (to == P2mType::ram_logdirty) logdirty_written_ = true;
    s2_.retype_list(gfns, c, *this, *this);
    mem_.release_reservation();
    return Status::ok();
}

uint64_t P2m::sweep(uint64_t budget) {
    // The reset of a disclaim: each leaf table that may hold a stale
    // owner's leaves (its owner mask) is reached with one walk and those
    // leaves rewritten in place; the other leaves of the table, other
    // owners' ioreq_server leaves included, are not touched (without a
    // ram_logdirty leaf, the only type a recalculation changes besides
    // ioreq_server, a mark on the table's own entry can be dropped). The
    // tables are visited in address order (neighbours share the upper
    // levels of their walks, and a level-1 table is merged once, when the
    // sweep leaves it), in chunks of `budget` tables.
    const uint8_t stale = stale_owners();
    auto outstanding = [&] {
        uint64_t n = 0;
        for (unsigned k = 0; k < ioreq_owner_count; ++k)
            if (((stale >> k) & 1U) != 0) n += owner_entries_[k];
        return n;
    };
    if (stale == 0) {
        std::vector<uint64_t>().swap(order_);
        order_next_ = 0;
        std::vector<Stage2::ResetTable>().swap(batch_);
        return 0;
    }
    const TypeChange c = change_to(P2mType::ram_rw, 0, stale);
    batch_.clear();
    // A new sweep (or owners whose claim ended after the last order was
    // taken): the order is taken at the start of a call only, so that no
    // table enters one chunk twice.
    if (order_next_ == order_.size()) {
        counts_.keys(order_, stale);
        order_next_ = 0;
        Ensures(!order_.empty());  // every stale entry is in a table whose mask names its owner
    }
    while (batch_.size() < budget && order_next_ < order_.size()) {
        const uint64_t key = order_[order_next_++];
        const LeafTableCounts::Slot* s = counts_.find(key);
        if (s == nullptr || (s->owners & stale) == 0) continue;  // reset meanwhile (a lookup, a set_mem_type)
        // Uniform only when no other owner's leaf stays behind.
        batch_.push_back({.base = Gfn{key << table_shift},
                          .lo = s->lo,
                          .hi = s->hi,
                          .uniform = s->uniform && !marked_ && (s->owners & ~stale) == 0});
    }
    (void)s2_.reset_tables(batch_, P2mType::ioreq_server, c, !logdirty_written_, merge_on_reset_, *this);
    // Every ioreq_server leaf of a table lies in its [lo, hi]: the chunk's
    // tables hold no stale leaf any more.
    for (const Stage2::ResetTable& r : batch_) counts_.clear_owners(r.base.raw() >> table_shift, stale);
    const uint64_t left = outstanding();
    if (left == 0) {
        std::vector<uint64_t>().swap(order_);  // freed, not only emptied
        order_next_ = 0;
        std::vector<Stage2::ResetTable>().swap(batch_);
    }
    return left;
}

}  // namespace hvcore
