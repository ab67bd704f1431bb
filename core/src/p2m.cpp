// SPDX-License-Identifier: MIT
#include "hvcore/core/p2m.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <new>
#include <span>
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
    l.type = p2m_recalc_type(l.recalc_pending, l.type, live, logdirty_at(gfn.raw(), l.order));
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
    const P2mType now = p2m_recalc_type(true, stored, stored == P2mType::ioreq_server && claimed(stored_owner),
                                        logdirty_at(first.raw(), order));
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
    // A page left writable while it is tracked is dirty from now on (the
    // bound [lo, hi] may take in a few pages more: a page too many is
    // copied again, a page too few would be lost).
    if (d.to == P2mType::ram_rw && d.added != 0 && tracking())
        mark_dirty_range(Gfn{d.base.raw() + d.lo}, uint64_t{d.hi} - d.lo + 1);
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
        if (allow_p2m_type_change(p2m_recalc_type(true, t, true, ld_on_ && wp_), to))
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

// --- log-dirty -----------------------------------------------------------------------------

namespace {
constexpr uint64_t words_for(uint64_t bits) noexcept { return (bits + 63) / 64; }
inline void set_bit(std::vector<uint64_t>& w, uint64_t i) noexcept { w[i / 64] |= uint64_t{1} << (i % 64); }
inline bool test_bit(const std::vector<uint64_t>& w, uint64_t i) noexcept {
    return ((w[i / 64] >> (i % 64)) & 1) != 0;
}
// Bits [from, from+nr) of w into out (LSB first), cleared after when clear.
// Word by word where from is aligned (the bitmap of a range read in full).
void extract(std::vector<uint64_t>& w, uint64_t from, uint64_t nr, std::span<uint8_t> out, bool clear) {
    std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>((nr + 7) / 8), uint8_t{0});
    uint64_t i = 0;
    if (from % 64 == 0) {
        for (; i + 64 <= nr; i += 64) {
            uint64_t& word = w[(from + i) / 64];
            for (unsigned b = 0; b < 8; ++b) out[i / 8 + b] = static_cast<uint8_t>(word >> (8 * b));
            if (clear) word = 0;
        }
    }
    for (; i < nr; ++i) {
        const uint64_t g = from + i;
        if (!test_bit(w, g)) continue;
        out[i / 8] = static_cast<uint8_t>(out[i / 8] | (1U << (i % 8)));
        if (clear) w[g / 64] &= ~(uint64_t{1} << (g % 64));
    }
}
// The set bits of [from, from+nr) of w, as the gfns base+bit.
void collect(const std::vector<uint64_t>& w, uint64_t from, uint64_t nr, uint64_t base,
             std::vector<uint64_t>& out) {
    for (uint64_t i = from; i < from + nr;) {
        const uint64_t word = w[i / 64] >> (i % 64);
        if (word == 0) {
            i = (i / 64 + 1) * 64;
            continue;
        }
        const auto skip = static_cast<unsigned>(std::countr_zero(word));
        i += skip;
        if (i >= from + nr) break;
        out.push_back(base + i);
        ++i;
    }
}
}  // namespace

bool P2m::logdirty_at(uint64_t first, unsigned order) const noexcept {
    if (!wp_) return false;
    if (ld_on_) return true;
    // The leaf [first, first + 2^order) meets the VRAM range: a superpage
    // partly in it is write-protected whole (a write outside the range
    // only makes it writable again).
    const uint64_t end = first + (uint64_t{1} << order);
    return first < vram_end_ && vram_first_ < end;
}

void P2m::mark_dirty(Gfn gfn) noexcept {
    const uint64_t g = gfn.raw();
    if (ld_on_ && g < mem_.ram_frames()) set_bit(dirty_, g);
    if (g >= vram_first_ && g < vram_end_ && g < mem_.ram_frames()) set_bit(vram_dirty_, g - vram_first_);
}

void P2m::mark_dirty_range(Gfn first, uint64_t nr) noexcept {
    for (uint64_t i = 0; i < nr; ++i) mark_dirty(Gfn{first.raw() + i});
}

Status P2m::enable_log_dirty() {
    if (ld_on_) return Status::err(-EINVAL);
    try {
        dirty_.assign(words_for(mem_.ram_frames()), 0);
    } catch (const std::bad_alloc&) {
        return Status::err(-ENOMEM);
    }
    ld_on_ = true;
    if (wp_) {
        // A reset may not drop a table's mark without marking its leaves
        // from now on (the recalculation makes ram_logdirty).
        logdirty_written_ = true;
        mark_recalc_all();
    }
    return Status::ok();
}

void P2m::disable_log_dirty() {
    if (!ld_on_) return;
    ld_on_ = false;
    std::vector<uint64_t>().swap(dirty_);
    // ram_logdirty leaves return to ram_rw at their next walk; those of a
    // tracked VRAM range stay (logdirty_at).
    if (wp_) mark_recalc_all();
}

Status P2m::protect(std::vector<uint64_t>& gfns) {
    // Only what is writable now: a claimed ioreq_server page stays trapped,
    // a ram_ro page stays what it is.
    std::erase_if(gfns, [&](uint64_t g) { return peek_type(Gfn{g}) != P2mType::ram_rw; });
    if (gfns.empty()) return Status::ok();
    return set_type_list(gfns, P2mType::ram_logdirty);
}

Status P2m::log_dirty_fault(Gfn gfn) {
    mark_dirty(gfn);
    return set_type_range(gfn, 1, P2mType::ram_rw);
}

Status P2m::read_dirty(Gfn first, uint64_t nr, std::span<uint8_t> out, bool clean) {
    const uint64_t ram = mem_.ram_frames();
    if (!ld_on_ || nr == 0 || first.raw() >= ram || nr > ram - first.raw()) return Status::err(-EINVAL);
    Expects(out.size() >= (nr + 7) / 8);
    if (clean && wp_) {
        // Re-protect first: the only step that can fail, before any bit
        // is cleared.
        std::vector<uint64_t> gfns;
        collect(dirty_, first.raw(), nr, 0, gfns);
        if (Status s = protect(gfns); !s) return s;
    }
    extract(dirty_, first.raw(), nr, out, clean);
    return Status::ok();
}

Status P2m::track_vram(Gfn first, uint32_t nr, std::span<uint8_t> out) {
    const uint64_t ram = mem_.ram_frames();
    const uint64_t begin = first.raw();
    const uint64_t end = begin + nr;
    if (nr != 0 && begin == vram_first_ && end == vram_end_) {
        // The same range: what was written since the last call.
        if (wp_) {
            std::vector<uint64_t> gfns;
            collect(vram_dirty_, 0, std::min(end, ram) > begin ? std::min(end, ram) - begin : 0, begin, gfns);
            if (Status s = protect(gfns); !s) return s;
        }
        extract(vram_dirty_, 0, nr, out, true);
        return Status::ok();
    }
    // A new range (or none): the old one's pages are writable again
    // (Xen: p2m_change_type_range(ostart, oend, ram_logdirty, ram_rw))
    // unless log-dirty keeps them; the new one is write-protected
    // (p2m_change_type_range(begin, end, ram_rw, ram_logdirty)).
    std::vector<uint64_t> bits;
    std::vector<uint64_t> old_rw;
    std::vector<uint64_t> new_ro;
    try {
        bits.assign(words_for(nr), 0);
        if (wp_ && !ld_on_)
            for (uint64_t g = vram_first_; g < std::min(vram_end_, ram); ++g)
                if ((g < begin || g >= end) && peek_type(Gfn{g}) == P2mType::ram_logdirty) old_rw.push_back(g);
        if (wp_)
            for (uint64_t g = begin; g < std::min(end, ram); ++g)
                if (peek_type(Gfn{g}) == P2mType::ram_rw) new_ro.push_back(g);
    } catch (const std::bad_alloc&) {
        return Status::err(-ENOMEM);
    }
    // Both changes reserved before either is made: all or nothing.
    const uint64_t need = (old_rw.empty() ? 0 : s2_.tables_needed_4k_list(old_rw)) +
                          (new_ro.empty() ? 0 : s2_.tables_needed_4k_list(new_ro));
    if (Status s = mem_.reserve_tables(need); !s) return s;
    mem_.release_reservation();
    vram_first_ = nr != 0 ? begin : 0;
    vram_end_ = nr != 0 ? end : 0;
    vram_dirty_.swap(bits);
    if (!old_rw.empty()) (void)set_type_list(old_rw, P2mType::ram_rw);
    if (!new_ro.empty()) (void)set_type_list(new_ro, P2mType::ram_logdirty);
    // Xen's hap_track_dirty_vram: "consider all pages dirty".
    if (nr != 0) std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>((uint64_t{nr} + 7) / 8), uint8_t{0xff});
    return Status::ok();
}

}  // namespace hvcore
