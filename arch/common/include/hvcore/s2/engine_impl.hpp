// SPDX-License-Identifier: MIT
// The member definitions of s2::Table (engine.hpp). Included only by the
// source of a backend, which instantiates the engine for its format once:
//   template class hvcore::s2::Table<Format>;
// Every other user sees the declarations and the backend's extern template.
#pragma once

#include <algorithm>
#include <vector>

#include <gsl/assert>

#include "hvcore/s2/engine.hpp"

namespace hvcore::s2 {

template <EntryFormat F>
bool Table<F>::Path::any_marked() const noexcept {
    for (unsigned i = 0; i < count; ++i)
        if (F::marked(step[i].entry)) return true;
    return false;
}

// Inlined into every walk (out of line it costs a call per level).
template <EntryFormat F>
[[gnu::always_inline]] inline uint64_t& Table<F>::slot(Mfn t, unsigned level, unsigned index) const noexcept {
    Expects(index < geo_.entries_at(level));
    const Mfn frame = t + index / entries_per_table;
    // Only table frames hold tables: a pointer elsewhere is a bug of the
    // table code, never something a guest can cause.
    return reinterpret_cast<uint64_t*>(mem_.table_frame(frame))[index % entries_per_table];
}

// --- owners of ioreq_server leaves -------------------------------------------------

template <EntryFormat F>
uint64_t Table<F>::encode(Mfn m, P2mType t, Perm p, unsigned level, uint8_t owner) noexcept {
    const uint64_t e = F::encode_leaf(m, t, p, p2m_mem_class(t), level);
    if constexpr (OwnerBits<F>) {
        if (t == P2mType::ioreq_server) return F::with_owner(e, owner);
    }
    return e;
}

template <EntryFormat F>
uint8_t Table<F>::owner_at(uint64_t e, uint64_t gfn, unsigned level) const noexcept {
    if (e == 0 || F::type_of(e) != P2mType::ioreq_server) return 0;
    if constexpr (OwnerBits<F>) {
        return F::owner_of(e);
    } else {
        // Records are per 4 KiB leaf table; a large ioreq_server leaf (only
        // map_range writes one) is owned by 0.
        if (level != 0) return 0;
        return side_.get(gfn >> bits_per_level, static_cast<unsigned>(gfn & (entries_per_table - 1)));
    }
}

template <EntryFormat F>
bool Table<F>::leaf_allowed(uint64_t e, uint8_t owner, unsigned ok, const TypeChange& c) noexcept {
    const P2mType t = e == 0 ? P2mType::mmio_dm : F::type_of(e);
    unsigned ti = static_cast<unsigned>(t);
    if (t == P2mType::ioreq_server) {
        if (((c.stale_owners >> owner) & 1U) != 0)
            ti = static_cast<unsigned>(P2mType::ram_rw);  // its claim ended: ram_rw to everyone
        else if (((c.ioreq_owners >> owner) & 1U) == 0)
            return false;
    }
    return ((ok >> ti) & 1U) != 0;
}

template <EntryFormat F>
void Table<F>::store_owners(const uint64_t* t, uint64_t key, OwnerSide::Owners& own) const {
    for (unsigned i = 0; i < entries_per_table; ++i)
        if (t[i] == 0 || F::type_of(t[i]) != P2mType::ioreq_server) own[i] = OwnerSide::none;
    side_.store(key, own);
}

template <EntryFormat F>
void Table<F>::owners_needed(const uint64_t* t, uint64_t key, const std::array<uint64_t, 8>& changed,
                             const TypeChange& c, uint64_t& records, uint64_t& mixed) const {
    // No record and owner 0, or a record of this one owner: the table's
    // ioreq_server leaves keep one owner, and the record (or none) stands.
    const uint8_t now = side_.single(key);
    if (now == c.owner && (c.owner != 0 || !side_.has(key))) return;
    // The owners the table's ioreq_server leaves have after the change.
    uint8_t seen = 0;  // bit k: a leaf of owner k
    for (unsigned i = 0; i < entries_per_table; ++i) {
        if (((changed[i / 64] >> (i % 64)) & 1U) != 0) {
            seen = static_cast<uint8_t>(seen | (1U << c.owner));
            continue;
        }
        const uint64_t e = t[i];
        if (e == 0 || F::type_of(e) != P2mType::ioreq_server) continue;
        seen = static_cast<uint8_t>(seen | (1U << side_.get(key, i)));
    }
    if (seen == 0 || seen == 1) return;  // owner 0 only: no record
    if (!side_.has(key)) ++records;
    if ((seen & (seen - 1)) != 0 && now != OwnerSide::mixed) ++mixed;
}

template <EntryFormat F>
uint64_t Table<F>::side_bytes() const noexcept {
    return side_.bytes();
}

template <EntryFormat F>
bool Table<F>::owners_fit(Gfn first, uint64_t nr, const TypeChange& c) const {
    if constexpr (OwnerBits<F>) {
        return true;
    } else {
        if (c.to != P2mType::ioreq_server || nr == 0) return true;
        Expects(first.raw() <= geo_.gfn_count() && nr <= geo_.gfn_count() - first.raw());
        uint64_t records = 0, mixed = 0;
        // Leaf tables the change creates hold only the new owner's leaves
        // among their ioreq_server leaves: one record each at most.
        const uint64_t end = first.raw() + nr;
        for (uint64_t b = first.raw() & ~uint64_t{entries_per_table - 1}; b < end; b += entries_per_table) {
            const uint64_t lo = std::max(b, first.raw()), hi = std::min(b + entries_per_table, end);
            const Path w = path(b);
            std::array<uint64_t, 8> changed{};
            for (uint64_t g = lo; g < hi; ++g) changed[(g - b) / 64] |= uint64_t{1} << ((g - b) % 64);
            if (w.last().level == 0 && geo_.root_level() > 0)
                owners_needed(leaves(F::frame(w.step[w.count - 2].entry)), b >> bits_per_level, changed, c, records,
                              mixed);
            else if (c.owner != 0)
                ++records;
        }
        // The bound counts the leaf tables the change itself will add.
        return side_.fits(records, mixed, side_frames() + tables_needed_4k(first, nr));
    }
}

template <EntryFormat F>
bool Table<F>::owners_fit_list(std::span<const uint64_t> gfns, const TypeChange& c) const {
    if constexpr (OwnerBits<F>) {
        return true;
    } else {
        if (c.to != P2mType::ioreq_server || gfns.empty()) return true;
        uint64_t records = 0, mixed = 0;
        for (size_t i = 0; i < gfns.size();) {
            const uint64_t b = gfns[i] & ~uint64_t{entries_per_table - 1};
            std::array<uint64_t, 8> changed{};
            for (; i < gfns.size() && gfns[i] < b + entries_per_table; ++i)
                changed[(gfns[i] - b) / 64] |= uint64_t{1} << ((gfns[i] - b) % 64);
            const Path w = path(b);
            if (w.last().level == 0 && geo_.root_level() > 0)
                owners_needed(leaves(F::frame(w.step[w.count - 2].entry)), b >> bits_per_level, changed, c, records,
                              mixed);
            else if (c.owner != 0)
                ++records;
        }
        return side_.fits(records, mixed, side_frames() + tables_needed_4k_list(gfns));
    }
}

// --- the walker ----------------------------------------------------------------

template <EntryFormat F>
template <class Visitor>
int Table<F>::walk_table(Mfn t, unsigned level, uint64_t gfn, uint64_t end, unsigned flags, Visitor& v) const {
    while (gfn < end) {
        const unsigned i = geo_.index(gfn, level);
        uint64_t& s = slot(t, level, i);
        const uint64_t first = gfn & ~(level_pages(level) - 1);
        const uint64_t stop = std::min(end, first + level_pages(level));
        const WalkCtx ctx{.level = level,
                          .index = i,
                          .slot = &s,
                          .table = t + i / entries_per_table,
                          .first = first,
                          .start = gfn,
                          .end = stop};
        const bool was_table = F::is_table(s, level);
        const unsigned which = was_table ? visit_table_pre : visit_leaf;
        int r = 0;
        if ((flags & which) != 0) {
            r = v(static_cast<const WalkCtx&>(ctx), static_cast<Visit>(which));
            if (r < 0) return r;
        }
        // Re-read: the visitor may have installed a table (a split, a new
        // level) or replaced one by a leaf.
        const uint64_t e = s;
        // Level-0 tables hold only leaves: without leaf visits there is
        // nothing to do in them.
        if (F::is_table(e, level) && r != walk_skip) {
            if (level > 1 || (flags & visit_leaf) != 0) {
                r = walk_table(F::frame(e), level - 1, gfn, stop, flags, v);
                if (r < 0) return r;
            }
            if ((flags & visit_table_post) != 0) {
                r = v(static_cast<const WalkCtx&>(ctx), visit_table_post);
                if (r < 0) return r;
            }
        }
        gfn = stop;
    }
    return 0;
}

template <EntryFormat F>
template <class Visitor>
Status Table<F>::walk(uint64_t first, uint64_t end, unsigned flags, Visitor&& visitor) {
    Expects(first <= end && end <= geo_.gfn_count());
    const int r = walk_table(root_, geo_.root_level(), first, end, flags, visitor);
    return r < 0 ? Status::err(r) : Status::ok();
}

template <EntryFormat F>
auto Table<F>::path(uint64_t gfn) const -> Path {
    Path p;
    Mfn t = root_;
    for (unsigned level = geo_.root_level();; --level) {
        const unsigned i = geo_.index(gfn, level);
        const uint64_t e = slot(t, level, i);
        p.step[p.count++] = {.entry = e, .table = t, .index = i, .level = level};
        if (!F::is_table(e, level) || !(F::present(e) || F::marked(e))) return p;
        t = F::frame(e);
    }
}

// --- building blocks -----------------------------------------------------------

template <EntryFormat F>
Table<F>::~Table() {
    for (unsigned i = 0; i < geo_.root_entries; ++i)
        if (const uint64_t e = slot(root_, geo_.root_level(), i); F::is_table(e, geo_.root_level()))
            free_subtree(F::frame(e), geo_.root_level() - 1);
    for (unsigned k = 0; k < geo_.root_frames(); ++k) mem_.free_table(root_ + k);
}

// Frees the level-`level` table t and every table below it (post-order, as
// Linux's stage2 free walker does).
template <EntryFormat F>
void Table<F>::free_subtree(Mfn t, unsigned level) noexcept {
    auto free_child = [this](const WalkCtx& c, Visit) {
        mem_.free_table(F::frame(*c.slot));
        return 0;
    };
    if (level > 0) {
        const int r = walk_table(t, level, 0, level_pages(level + 1), visit_table_post, free_child);
        Ensures(r == 0);
    }
    mem_.free_table(t);
}

// The 512 children of a leaf keep what the format says they keep
// (F::split_attrs: rights, memory type, type, mark); only the frame
// advances.
template <EntryFormat F>
void Table<F>::fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept {
    Expects(parent_level > 0 && F::is_leaf(parent, parent_level));
    const unsigned level = parent_level - 1;
    const uint64_t keep = F::split_attrs(parent, level);
    const uint64_t base = F::leaf_frame(parent, parent_level).raw();
    for (unsigned i = 0; i < entries_per_table; ++i)
        slot(child, level, i) = s2::with_frame<F>(keep, Mfn{base + i * level_pages(level)});
}

// One level of Xen's recalculation (ept_invalidate_emt_subtree, p2m-pt's
// do_recalc): mark every present entry of the child table. A not-present
// entry faults anyway and its type (a hole) is not changeable, so a mark
// on it would never be seen.
template <EntryFormat F>
void Table<F>::push_marks(Mfn child) const noexcept {
    Expects(mem_.is_table_frame(child));
    uint64_t* t = reinterpret_cast<uint64_t*>(mem_.frame(child));
    for (unsigned i = 0; i < entries_per_table; ++i)
        if (F::present(t[i])) t[i] = F::mark(t[i]);
}

template <EntryFormat F>
bool Table<F>::marked_on_walk(uint64_t gfn) const {
    return gfn < geo_.gfn_count() && path(gfn).any_marked();
}

// --- map_range: all or nothing ---------------------------------------------------

template <EntryFormat F>
Status Table<F>::map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) {
    if (nr == 0) return Status::ok();
    const uint64_t gfns = geo_.gfn_count();
    if (gfn.raw() >= gfns || nr > gfns - gfn.raw()) return Status::err(-EINVAL);
    // Frames beyond the output width cannot be encoded (EPT: a
    // misconfiguration; NPT: reserved bits; Arm64: an Address size fault),
    // nor can rights the format has no entry for.
    const uint64_t mfns = geo_.mfn_limit();
    if (mfn.raw() >= mfns || nr > mfns - mfn.raw()) return Status::err(-EINVAL);
    if (!s2::encodable<F>(t, p)) return Status::err(-EINVAL);

    // The undo log. Writes into tables this map_range allocated are not
    // logged: freeing the table undoes them. fresh_below[L] says whether
    // the table the walk is in below the last level-L entry visited is one
    // of them (the walk is depth first, so the last visit one level up is
    // the parent of every entry now visited).
    struct Write {
        uint64_t* slot;
        uint64_t old;
    };
    struct Subtree {
        Mfn table;
        unsigned level;
    };
    std::vector<Write> writes;
    std::vector<Mfn> fresh;          // tables allocated, freed on failure
    std::vector<Subtree> replaced;   // subtrees cut off by a new large leaf, freed on success
    std::array<bool, max_levels + 1> fresh_below{};
    const MemClass mc = p2m_mem_class(t);

    auto visitor = [&](const WalkCtx& c, Visit which) -> int {
        const unsigned level = c.level;
        const bool in_fresh = fresh_below[level + 1];
        fresh_below[level] = false;
        auto write = [&](uint64_t* s, bool logged, uint64_t value) {
            if (logged) writes.push_back({s, *s});
            *s = value;
        };
        const uint64_t e = *c.slot;
        const uint64_t m = mfn.raw() + (c.start - gfn.raw());
        // The largest leaf alignment allows. A subtree it replaces is freed
        // only once the whole range has succeeded.
        if (geo_.may_leaf(level) && c.whole() && (m & (c.pages() - 1)) == 0) {
            if (which == visit_table_pre) replaced.push_back({F::frame(e), level - 1});
            write(c.slot, !in_fresh, F::encode_leaf(Mfn{m}, t, p, mc, level));
            return 0;
        }
        if (which == visit_table_pre) {
            // Carry out a pending recalculation mark first, so it cannot
            // later be applied to the leaves written now (Xen's
            // ept_set_entry and p2m_pt_set_entry resolve the walk before
            // writing).
            if (F::marked(e)) {
                const Mfn child = F::frame(e);
                for (unsigned i = 0; i < entries_per_table; ++i)
                    if (uint64_t& cs = slot(child, level - 1, i); F::present(cs)) write(&cs, true, F::mark(cs));
                write(c.slot, !in_fresh, F::unmark(e));
            }
            return 0;
        }
        Expects(level > 0);  // every 4 KiB leaf fits
        // Absent, or a leaf to split: a new table, which the walk enters.
        auto child = mem_.alloc_table();
        if (!child) return child.status().code();
        fresh.push_back(*child);
        if (e != 0) fill_split(*child, e, level);
        write(c.slot, !in_fresh, F::encode_table(*child));
        fresh_below[level] = true;
        return 0;
    };
    if (Status s = walk(gfn.raw(), gfn.raw() + nr, visit_leaf | visit_table_pre, visitor); !s) {
        for (auto it = writes.rbegin(); it != writes.rend(); ++it) *it->slot = it->old;
        for (Mfn f : fresh) mem_.free_table(f);
        return s;
    }
    for (const Subtree& st : replaced) free_subtree(st.table, st.level);
    if constexpr (!OwnerBits<F>) {
        // The leaves written are owned by 0: their records go.
        if (side_.records() != 0) {
            const uint64_t end = gfn.raw() + nr;
            for (uint64_t b = gfn.raw() & ~uint64_t{entries_per_table - 1}; b < end; b += entries_per_table) {
                const uint64_t key = b >> bits_per_level;
                if (!side_.has(key)) continue;
                if (b >= gfn.raw() && b + entries_per_table <= end) {
                    side_.erase(key);
                    continue;
                }
                const Path w = path(b);
                if (w.last().level != 0) {  // no leaf table any more
                    side_.erase(key);
                    continue;
                }
                OwnerSide::Owners own;
                side_.load(key, own);
                for (uint64_t g = std::max(b, gfn.raw()); g < std::min(b + entries_per_table, end); ++g) own[g - b] = 0;
                store_owners(leaves(F::frame(w.step[w.count - 2].entry)), key, own);
            }
        }
    }
    return Status::ok();
}

// --- 4 KiB updates ----------------------------------------------------------------

template <EntryFormat F>
uint64_t Table<F>::tables_needed_4k(Gfn first, uint64_t nr) const {
    Expects(first.raw() <= geo_.gfn_count() && nr <= geo_.gfn_count() - first.raw());
    if (nr == 0) return 0;
    uint64_t n = 0;
    auto count = [&n](const WalkCtx& c, Visit which) -> int {
        // Below a level-1 table there are only leaves: nothing to count.
        if (which == visit_table_pre) return c.level == 1 ? walk_skip : 0;
        // Absent, or a leaf to split: one new table below this entry, and
        // below it only fresh tables.
        if (c.level > 0) n += 1 + tables_below_fresh(c.level - 1, c.start, c.end);
        return 0;
    };
    const int r = walk_table(root_, geo_.root_level(), first.raw(), first.raw() + nr, visit_leaf | visit_table_pre,
                             count);
    Ensures(r == 0);
    return n;
}

template <EntryFormat F>
void Table<F>::set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) {
    Expects(gfn.raw() < geo_.gfn_count() && mfn.raw() < geo_.mfn_limit());
    auto visitor = [&](const WalkCtx& c, Visit which) -> int {
        const uint64_t e = *c.slot;
        if (which == visit_table_pre) {
            if (F::marked(e)) {  // as in map_range: pending marks go down first
                push_marks(F::frame(e));
                *c.slot = F::unmark(e);
            }
            return 0;
        }
        if (c.level == 0) {
            *c.slot = encode(mfn, t, p, 0, 0);
            if constexpr (!OwnerBits<F>) {
                // Owned by 0: its record, if any, says so.
                const uint64_t key = gfn.raw() >> bits_per_level;
                if (side_.has(key)) {
                    OwnerSide::Owners own;
                    side_.load(key, own);
                    own[c.index % entries_per_table] = 0;
                    store_owners(c.slot - c.index % entries_per_table, key, own);
                }
            }
            return 0;
        }
        // The core reserved tables_needed_4k() frames: this cannot fail.
        const Mfn child = mem_.take_reserved();
        if (e != 0) fill_split(child, e, c.level);
        *c.slot = F::encode_table(child);
        return 0;
    };
    const Status s = walk(gfn.raw(), gfn.raw() + 1, visit_leaf | visit_table_pre, visitor);
    Ensures(s.is_ok());
}

// --- range type changes -------------------------------------------------------------
//
// One descent per 4 KiB leaf table: the walker stops at each level-1 table
// entry (walk_skip) and the run of leaves below it is checked, or rewritten,
// in a loop over the table's 512-entry array, with one bit test per leaf
// against the masks the core computed once (TypeChange). That replaces the
// three walks from the root per page of a lookup / set_4k loop (Xen's
// p2m_set_mem_type loop: one p2m_get_entry and one p2m_set_entry per gfn,
// xen/arch/x86/hvm/dm.c set_mem_type -> p2m_change_type_one).

template <EntryFormat F>
uint64_t* Table<F>::leaves(Mfn t) const noexcept {
    return &slot(t, 0, 0);
}

namespace detail {
[[nodiscard]] constexpr unsigned type_index(P2mType t) noexcept { return static_cast<unsigned>(t); }
// The gfns [b, e) as a range for retype_each / refused_each (what
// std::views::iota(b, e) would be; clang 14 cannot use libstdc++ 12's
// ranges).
struct GfnSpan {
    uint64_t b, e;
    struct It {
        uint64_t g;
        uint64_t operator*() const noexcept { return g; }
        It& operator++() noexcept { return ++g, *this; }
        bool operator!=(const It& o) const noexcept { return g != o.g; }
    };
    [[nodiscard]] It begin() const noexcept { return {b}; }
    [[nodiscard]] It end() const noexcept { return {e}; }
};
}  // namespace detail

template <EntryFormat F>
uint64_t Table<F>::frame_bits() const noexcept {
    return s2::with_frame<F>(0, Mfn{geo_.mfn_limit() - 1});
}

// A run of leaves mostly shares its type, rights and mark: everything but
// the frame. The loops below decode an entry's type only when those bits
// differ from the previous entry's (one AND and one compare a leaf).
template <EntryFormat F>
template <class Gfns>
uint64_t Table<F>::refused_each(const uint64_t* t, uint64_t base, const Gfns& gfns, const TypeChange& c,
                                bool marked_above) const noexcept {
    const unsigned ok_here = marked_above ? c.allowed_marked : c.allowed;
    const uint64_t attrs_mask = ~frame_bits();
    uint64_t last = 0;  // attributes of the last entry decoded (0: none yet)
    for (const uint64_t g : gfns) {
        const uint64_t e = t[g - base];
        const uint64_t a = e & attrs_mask;
        if (a == last && a != 0) continue;  // as the previous leaf: allowed
        if (e == 0) {  // absent: reads as mmio_dm
            if (((ok_here >> detail::type_index(P2mType::mmio_dm)) & 1U) == 0) return g;
            continue;
        }
        const unsigned ok = F::marked(e) ? c.allowed_marked : ok_here;
        if (!leaf_allowed(e, owner_at(e, g), ok, c)) return g;
        // A run shares its owner only where the entry holds it.
        last = !OwnerBits<F> && F::type_of(e) == P2mType::ioreq_server ? 0 : a;
    }
    return no_gfn;
}

template <EntryFormat F>
uint64_t Table<F>::refused_in(const uint64_t* t, uint64_t base, uint64_t start, uint64_t end, const TypeChange& c,
                              bool marked_above) const noexcept {
    const uint64_t g = refused_each(t, base, detail::GfnSpan{start, end}, c, marked_above);
    return g == no_gfn ? end : g;
}

template <EntryFormat F>
std::optional<Gfn> Table<F>::first_refused(Gfn first, uint64_t nr, const TypeChange& c) const {
    Expects(first.raw() <= geo_.gfn_count() && nr <= geo_.gfn_count() - first.raw());
    if (nr == 0) return std::nullopt;
    // marked_above[L]: a mark lies on the walk above the level-(L-1)
    // entries now visited (as in for_each_leaf).
    std::array<bool, max_levels + 1> marked_above{};
    uint64_t refused = 0;
    constexpr int stop = -1;
    auto check = [&](const WalkCtx& x, Visit which) -> int {
        const uint64_t e = *x.slot;
        const bool above = marked_above[x.level + 1];
        if (which == visit_table_pre) {
            marked_above[x.level] = above || F::marked(e);
            if (x.level != 1) return 0;
            const uint64_t g = refused_in(leaves(F::frame(e)), x.first, x.start, x.end, c, marked_above[1]);
            if (g == x.end) return walk_skip;
            refused = g;
            return stop;
        }
        if (x.level == 0) {  // a root of leaves (a one-level table)
            const uint64_t g = refused_in(x.slot, x.start, x.start, x.end, c, above);
            if (g == x.end) return 0;
            refused = g;
            return stop;
        }
        // A superpage, or an absent entry: every page of it has its type.
        const bool pending = above || F::marked(e);
        if (leaf_allowed(e, owner_at(e, x.first, x.level), pending ? c.allowed_marked : c.allowed, c)) return 0;
        refused = x.start;
        return stop;
    };
    const int r = walk_table(root_, geo_.root_level(), first.raw(), first.raw() + nr, visit_leaf | visit_table_pre,
                             check);
    if (r == stop) return Gfn{refused};
    Ensures(r == 0);
    return std::nullopt;
}

template <EntryFormat F>
template <class Gfns>
void Table<F>::retype_each(uint64_t* t, uint64_t base, const Gfns& gfns, const TypeChange& c, RecalcPolicy& policy,
                           TypeCounter& counter, bool split) const {
    const uint64_t tbase = base & ~uint64_t{entries_per_table - 1};
    TypeCounter::Delta d{.base = Gfn{tbase},
                         .removed = {},
                         .added = 0,
                         .to = c.to,
                         .lo = entries_per_table,
                         .hi = 0,
                         .split = split,
                         .owner = c.to == P2mType::ioreq_server ? c.owner : uint8_t{0},
                         .removed_owner = {}};
    const MemClass mc = p2m_mem_class(c.to);
    const bool to_frame = ((c.has_frame >> detail::type_index(c.to)) & 1U) != 0;
    const bool to_ioreq = c.to == P2mType::ioreq_server;
    // The new leaf is encoded once: its attributes, to which each leaf's
    // frame is added, when the format's leaf is exactly that (checked here
    // on a sample frame; otherwise every leaf is encoded on its own).
    const uint64_t fbits = frame_bits();
    const uint64_t to_attrs = encode(Mfn{0}, c.to, c.perm, 0, d.owner);
    const Mfn sample{(geo_.mfn_limit() - 1) & 0x5a5a5a5a5ULL};
    const bool fast = (to_attrs & fbits) == 0 &&
                      (to_attrs | s2::with_frame<F>(0, sample)) == encode(sample, c.to, c.perm, 0, d.owner) &&
                      s2::with_frame<F>(0, sample) == (s2::with_frame<F>(0, sample) & fbits);
    (void)mc;
    // Without room in the entry, the table's owners are read and written
    // beside it (OwnerSide), and a run of equal entries may still mix
    // owners: each ioreq_server leaf is looked at on its own.
    constexpr bool side = !OwnerBits<F>;
    const uint64_t key = tbase >> bits_per_level;
    OwnerSide::Owners own{};
    bool side_used = false;
    if constexpr (side) {
        side_used = to_ioreq || side_.has(key);
        if (side_used) side_.load(key, own);
    }
    uint64_t last = 0;  // attributes of the last entry decoded (0: none yet)
    bool last_skip = false;
    bool last_keep = false;
    unsigned last_from = 0;
    uint8_t last_owner = 0;
    for (const uint64_t g : gfns) {
        uint64_t& s = t[g - base];
        const auto i = static_cast<uint16_t>(g & (entries_per_table - 1));
        uint64_t e = s;
        uint64_t a = e & ~fbits;
        if (a != last || a == 0) {
            uint8_t owner = 0;
            if (e != 0 && F::type_of(e) == P2mType::ioreq_server) {
                if constexpr (side)
                    owner = own[i];
                else
                    owner = F::owner_of(e);
            }
            if (e != 0 && F::marked(e)) {
                // Pending: recalculated first, as a lookup would (the core
                // accounts for it in the policy).
                const RecalcPolicy::Update u = policy.recalc(Gfn{g}, 0, F::type_of(e), owner);
                if (u.type != P2mType::ioreq_server) owner = 0;
                e = encode(F::leaf_frame(e, 0), u.type, u.perm, 0, owner);
                s = e;
                a = e & ~fbits;
            }
            const P2mType from = e == 0 ? P2mType::mmio_dm : F::type_of(e);
            last_from = detail::type_index(from);
            last_owner = owner;
            last_skip = from == c.to && (!to_ioreq || owner == c.owner);
            last_keep = to_frame && e != 0 && ((c.has_frame >> last_from) & 1U) != 0;
            last = e == 0 || F::marked(e) || (side && from == P2mType::ioreq_server) ? 0 : a;
        }
        if (last_skip) continue;
        if (fast)
            s = to_attrs | (last_keep ? e & fbits : 0);
        else
            s = encode(last_keep ? F::leaf_frame(e, 0) : Mfn{0}, c.to, c.perm, 0, d.owner);
        if constexpr (side) {
            if (side_used) own[i] = d.owner;
        }
        ++d.removed[last_from];
        if (last_from == detail::type_index(P2mType::ioreq_server)) ++d.removed_owner[last_owner];
        ++d.added;
        d.lo = std::min(d.lo, i);
        d.hi = std::max(d.hi, i);
    }
    if constexpr (side) {
        if (side_used && d.added != 0) store_owners(t - (base - tbase), key, own);
    }
    if (d.added != 0) counter.counted(d);
}

template <EntryFormat F>
void Table<F>::retype_leaves(uint64_t* t, uint64_t base, uint64_t start, uint64_t end, const TypeChange& c,
                             RecalcPolicy& policy, TypeCounter& counter, bool split) const {
    retype_each(t, base, detail::GfnSpan{start, end}, c, policy, counter, split);
}

template <EntryFormat F>
void Table<F>::retype_range(Gfn first, uint64_t nr, const TypeChange& c, RecalcPolicy& policy, TypeCounter& counter) {
    Expects(first.raw() <= geo_.gfn_count() && nr <= geo_.gfn_count() - first.raw());
    if (nr == 0) return;
    auto visitor = [&](const WalkCtx& x, Visit which) -> int {
        uint64_t e = *x.slot;
        if (which == visit_table_pre) {
            if (F::marked(e)) {  // as in set_4k: pending marks go down first
                push_marks(F::frame(e));
                e = F::unmark(e);
                *x.slot = e;
            }
            if (x.level != 1) return 0;
            retype_leaves(leaves(F::frame(e)), x.first, x.start, x.end, c, policy, counter);
            return walk_skip;
        }
        if (x.level == 0) {  // a root of leaves
            retype_leaves(x.slot, x.start, x.start, x.end, c, policy, counter);
            return 0;
        }
        // A superpage or an absent entry. A marked superpage is
        // recalculated first; one that has the type already stays whole.
        if (F::marked(e)) {
            const uint8_t owner = owner_at(e, x.first, x.level);
            const RecalcPolicy::Update u = policy.recalc(Gfn{x.first}, level_order(x.level), F::type_of(e), owner);
            e = encode(F::leaf_frame(e, x.level), u.type, u.perm, x.level, owner);
            *x.slot = e;
        }
        if ((e == 0 ? P2mType::mmio_dm : F::type_of(e)) == c.to &&
            (c.to != P2mType::ioreq_server || owner_at(e, x.first, x.level) == c.owner))
            return 0;
        // Split (the core reserved tables_needed_4k() frames: this cannot
        // fail); above level 1 the walk enters the new table.
        const Mfn child = mem_.take_reserved();
        if (e != 0) fill_split(child, e, x.level);
        *x.slot = F::encode_table(child);
        if (x.level != 1) return 0;
        // The counter learns that the table is a fresh split (e is unmarked
        // here): a later reset may merge it without reading it whole.
        retype_leaves(leaves(child), x.first, x.start, x.end, c, policy, counter, e != 0);
        return walk_skip;
    };
    const Status s = walk(first.raw(), first.raw() + nr, visit_leaf | visit_table_pre, visitor);
    Ensures(s.is_ok());
}

// --- list type changes ----------------------------------------------------------------
//
// The same over a sorted list of scattered gfns: one walk over the list's
// span, which skips (walk_skip) every entry below which no listed gfn lies,
// so each leaf table holding listed gfns is reached with one descent and
// only its listed leaves are read or written; a large leaf with no listed
// gfn is never split. `i` is the walk's cursor in the list: every listed
// gfn before the entry being visited is done (the walk is in gfn order).

namespace detail {
// The index of the first gfn of `gfns` at or above `end`, from index i on.
[[nodiscard]] inline size_t listed_below(std::span<const uint64_t> gfns, size_t i, uint64_t end) noexcept {
    return static_cast<size_t>(std::lower_bound(gfns.begin() + static_cast<std::ptrdiff_t>(i), gfns.end(), end) -
                               gfns.begin());
}
}  // namespace detail

template <EntryFormat F>
std::optional<Gfn> Table<F>::first_refused_list(std::span<const uint64_t> gfns, const TypeChange& c) const {
    if (gfns.empty()) return std::nullopt;
    Expects(gfns.back() < geo_.gfn_count());
    std::array<bool, max_levels + 1> marked_above{};  // as in first_refused
    size_t i = 0;
    uint64_t refused = 0;
    constexpr int stop = -1;
    auto check = [&](const WalkCtx& x, Visit which) -> int {
        if (i == gfns.size() || gfns[i] >= x.end) return walk_skip;  // nothing listed below this entry
        const uint64_t e = *x.slot;
        const bool above = marked_above[x.level + 1];
        if (which == visit_table_pre) {
            marked_above[x.level] = above || F::marked(e);
            if (x.level != 1) return 0;
            const size_t j = detail::listed_below(gfns, i, x.end);
            const uint64_t g = refused_each(leaves(F::frame(e)), x.first, gfns.subspan(i, j - i), c, marked_above[1]);
            if (g != no_gfn) {
                refused = g;
                return stop;
            }
            i = j;
            return walk_skip;
        }
        if (x.level == 0) {  // a root of leaves: this entry is gfns[i]'s
            const uint64_t g = refused_each(x.slot, x.start, gfns.subspan(i, 1), c, above);
            if (g != no_gfn) {
                refused = g;
                return stop;
            }
            ++i;
            return 0;
        }
        // A superpage, or an absent entry: every listed page of it has its type.
        const bool pending = above || F::marked(e);
        if (!leaf_allowed(e, owner_at(e, x.first, x.level), pending ? c.allowed_marked : c.allowed, c)) {
            refused = gfns[i];
            return stop;
        }
        i = detail::listed_below(gfns, i, x.end);
        return 0;
    };
    const int r = walk_table(root_, geo_.root_level(), gfns.front(), gfns.back() + 1, visit_leaf | visit_table_pre,
                             check);
    if (r == stop) return Gfn{refused};
    Ensures(r == 0 && i == gfns.size());
    return std::nullopt;
}

template <EntryFormat F>
uint64_t Table<F>::tables_needed_4k_list(std::span<const uint64_t> gfns) const {
    if (gfns.empty()) return 0;
    Expects(gfns.back() < geo_.gfn_count());
    uint64_t n = 0;
    size_t i = 0;
    auto count = [&](const WalkCtx& x, Visit which) -> int {
        if (i == gfns.size() || gfns[i] >= x.end) return walk_skip;
        const size_t j = detail::listed_below(gfns, i, x.end);
        if (which == visit_table_pre) {
            // Below a level-1 table there are only leaves: nothing to count.
            if (x.level != 1) return 0;
            i = j;
            return walk_skip;
        }
        // Absent, or a leaf to split: one new table below this entry, and
        // below it fresh tables, one per distinct entry the listed gfns
        // reach at each level.
        if (x.level > 0) n += 1 + tables_below_fresh_list(x.level - 1, gfns.subspan(i, j - i));
        i = j;
        return 0;
    };
    const int r = walk_table(root_, geo_.root_level(), gfns.front(), gfns.back() + 1, visit_leaf | visit_table_pre,
                             count);
    Ensures(r == 0);
    return n;
}

template <EntryFormat F>
void Table<F>::retype_list(std::span<const uint64_t> gfns, const TypeChange& c, RecalcPolicy& policy,
                           TypeCounter& counter) {
    if (gfns.empty()) return;
    Expects(gfns.back() < geo_.gfn_count());
    size_t i = 0;
    auto visitor = [&](const WalkCtx& x, Visit which) -> int {
        if (i == gfns.size() || gfns[i] >= x.end) return walk_skip;  // nothing listed below: not split, not read
        uint64_t e = *x.slot;
        if (which == visit_table_pre) {
            if (F::marked(e)) {  // as in retype_range
                push_marks(F::frame(e));
                e = F::unmark(e);
                *x.slot = e;
            }
            if (x.level != 1) return 0;
            const size_t j = detail::listed_below(gfns, i, x.end);
            retype_each(leaves(F::frame(e)), x.first, gfns.subspan(i, j - i), c, policy, counter);
            i = j;
            return walk_skip;
        }
        if (x.level == 0) {  // a root of leaves: this entry is gfns[i]'s
            retype_each(x.slot, x.start, gfns.subspan(i, 1), c, policy, counter);
            ++i;
            return 0;
        }
        // A superpage or an absent entry, as in retype_range.
        if (F::marked(e)) {
            const uint8_t owner = owner_at(e, x.first, x.level);
            const RecalcPolicy::Update u = policy.recalc(Gfn{x.first}, level_order(x.level), F::type_of(e), owner);
            e = encode(F::leaf_frame(e, x.level), u.type, u.perm, x.level, owner);
            *x.slot = e;
        }
        if ((e == 0 ? P2mType::mmio_dm : F::type_of(e)) == c.to &&
            (c.to != P2mType::ioreq_server || owner_at(e, x.first, x.level) == c.owner)) {
            i = detail::listed_below(gfns, i, x.end);
            return 0;
        }
        const Mfn child = mem_.take_reserved();
        if (e != 0) fill_split(child, e, x.level);
        *x.slot = F::encode_table(child);
        if (x.level != 1) return 0;  // the walk enters the new table
        const size_t j = detail::listed_below(gfns, i, x.end);
        // A fresh split, as in retype_range (e is unmarked here).
        retype_each(leaves(child), x.first, gfns.subspan(i, j - i), c, policy, counter, e != 0);
        i = j;
        return walk_skip;
    };
    const Status s = walk(gfns.front(), gfns.back() + 1, visit_leaf | visit_table_pre, visitor);
    Ensures(s.is_ok() && i == gfns.size());
}

template <EntryFormat F>
uint64_t Table<F>::reset_leaves(Gfn base, unsigned lo, unsigned hi, P2mType from, const TypeChange& c,
                                bool clear_parent_mark, TypeCounter& counter) {
    Expects(base.raw() % entries_per_table == 0 && base.raw() < geo_.gfn_count());
    Expects(lo <= hi && hi < entries_per_table);
    // Down to the leaf table, resolving marks on the way as resolve() does,
    // except that the leaf table's own entry is unmarked without marking
    // its leaves when the caller says no other leaf would change.
    Mfn t = root_;
    for (unsigned level = geo_.root_level(); level > 0; --level) {
        uint64_t& s = slot(t, level, geo_.index(base.raw(), level));
        if (!F::is_table(s, level)) return 0;
        if (F::marked(s)) {
            if (level > 1 || !clear_parent_mark) push_marks(F::frame(s));
            s = F::unmark(s);
        }
        t = F::frame(s);
    }
    return reset_in(leaves(t), base, lo, hi, from, c, counter);
}

template <EntryFormat F>
uint64_t Table<F>::reset_in(uint64_t* leaf, Gfn base, unsigned lo, unsigned hi, P2mType from, const TypeChange& c,
                            TypeCounter& counter) const {
    TypeCounter::Delta d{.base = base,
                         .removed = {},
                         .added = 0,
                         .to = c.to,
                         .lo = entries_per_table,
                         .hi = 0,
                         .split = false,
                         .owner = c.to == P2mType::ioreq_server ? c.owner : uint8_t{0},
                         .removed_owner = {}};
    const bool keep_frame = ((c.has_frame >> detail::type_index(c.to)) & 1U) != 0 &&
                            ((c.has_frame >> detail::type_index(from)) & 1U) != 0;
    // Of ioreq_server leaves, only those of the owners c.ioreq_owners names.
    const bool by_owner = from == P2mType::ioreq_server;
    constexpr bool side = !OwnerBits<F>;
    const uint64_t key = base.raw() >> bits_per_level;
    OwnerSide::Owners own{};
    bool side_used = false;
    if constexpr (side) {
        side_used = by_owner && side_.has(key);
        if (side_used) side_.load(key, own);
    }
    // As in retype_each: a leaf's type is decoded only when its non-frame
    // bits differ from the last decoded leaf's.
    const uint64_t attrs_mask = ~frame_bits();
    uint64_t last = 0;
    bool last_match = false;
    uint8_t last_owner = 0;
    for (unsigned i = lo; i <= hi; ++i) {
        const uint64_t e = leaf[i];
        if (e == 0) continue;
        if (const uint64_t a = e & attrs_mask; a != last || a == 0 || side_used) {
            last = a;
            last_match = F::type_of(e) == from;
            last_owner = 0;
            if (last_match && by_owner) {
                if constexpr (side)
                    last_owner = own[i];
                else
                    last_owner = F::owner_of(e);
                last_match = ((c.ioreq_owners >> last_owner) & 1U) != 0;
            }
        }
        if (!last_match) continue;
        leaf[i] = encode(keep_frame ? F::leaf_frame(e, 0) : Mfn{0}, c.to, c.perm, 0, d.owner);
        if constexpr (side) {
            if (side_used) own[i] = d.owner;
        }
        ++d.removed[detail::type_index(from)];
        if (by_owner) ++d.removed_owner[last_owner];
        ++d.added;
        d.lo = std::min(d.lo, static_cast<uint16_t>(i));
        d.hi = std::max(d.hi, static_cast<uint16_t>(i));
    }
    if constexpr (side) {
        if (side_used && d.added != 0) store_owners(leaf, key, own);
    }
    if (d.added != 0) counter.counted(d);
    return d.added;
}

// --- merging a split table back ------------------------------------------------------
//
// The inverse of fill_split: a table whose entries are exactly the children
// a leaf of the level above splits into becomes that leaf again. The large
// leaves are the formats' own: EPT 2 MiB and 1 GiB pages (PS = 1 in a PDE
// or PDPTE, Intel SDM Vol. 3C §29.3.2, Tables 29-2 and 29-4), NPT the same
// as long-mode paging (AMD APM Vol. 2 §5.3.4 and §15.25.5: 2 MiB pages and
// 1 GiB pages through PS), Arm64 block descriptors at levels 1 and 2 for a
// 4 KiB granule (Arm ARM DDI 0487 M.a.a, D8.3.1 "Table descriptor format"
// and "Block descriptor"), RISC-V megapages and gigapages (a leaf PTE at
// level 1 or 2, RISC-V privileged spec §12.4.1 / §18.5 G-stage). Which
// levels may hold a leaf is the geometry's leaf_levels.

template <EntryFormat F>
bool Table<F>::split_of(const uint64_t* t, uint64_t parent, unsigned level) const noexcept {
    const uint64_t keep = F::split_attrs(parent, level);
    const uint64_t base = F::leaf_frame(parent, level + 1).raw();
    // Every format keeps a leaf's frame in one contiguous field (engine.hpp,
    // with_frame): child i is then child 0 plus i times the field of one
    // child's pages, which the loop checks 8 entries at a time without a
    // branch per entry (the check below keeps a format where that fails
    // from being merged wrongly).
    const uint64_t first = s2::with_frame<F>(keep, Mfn{base});
    const uint64_t step = s2::with_frame<F>(keep, Mfn{base + level_pages(level)}) - first;
    constexpr unsigned last = entries_per_table - 1;
    if (s2::with_frame<F>(keep, Mfn{base + last * level_pages(level)}) != first + last * step) {
        for (unsigned i = 0; i < entries_per_table; ++i)
            if (t[i] != s2::with_frame<F>(keep, Mfn{base + i * level_pages(level)})) return false;
        return true;
    }
    constexpr unsigned block = 8;
    for (unsigned i = 0; i < entries_per_table; i += block) {
        uint64_t diff = 0;
        for (unsigned j = 0; j < block; ++j) diff |= t[i + j] ^ (first + (i + j) * step);
        if (diff != 0) return false;
    }
    return true;
}

template <EntryFormat F>
uint64_t Table<F>::merged_leaf(const uint64_t* c, unsigned level, P2mType type, Perm p,
                               bool known_split) const noexcept {
    if (c[0] == 0 || !F::is_leaf(c[0], level - 1) || F::marked(c[0])) return 0;
    const Mfn m = F::leaf_frame(c[0], level - 1);
    if ((m.raw() & (level_pages(level) - 1)) != 0 || m.raw() + level_pages(level) > geo_.mfn_limit()) return 0;
    const uint64_t leaf = F::encode_leaf(m, type, p, p2m_mem_class(type), level);
#ifdef NDEBUG
    if (known_split) return leaf;
#else
    // The caller's word is checked where it costs nothing that matters.
    if (known_split) Expects(split_of(c, leaf, level - 1));
#endif
    return split_of(c, leaf, level - 1) ? leaf : 0;
}

template <EntryFormat F>
bool Table<F>::merge_one(uint64_t* e, unsigned level, uint64_t gfn, P2mType type, Perm p, bool known_split) noexcept {
    if (!geo_.may_leaf(level) || !F::is_table(*e, level) || F::marked(*e)) return false;
    // Only leaves of one owner merge: a large ioreq_server leaf is owned by
    // 0 (split_of compares the owner with the rest of an entry that holds
    // it; a table with a record has ioreq_server leaves of another owner).
    const uint64_t key = gfn >> bits_per_level;
    if constexpr (!OwnerBits<F>) {
        if (level == 1 && type == P2mType::ioreq_server && side_.has(key)) return false;
    }
    const Mfn child = F::frame(*e);
    const uint64_t* c = &slot(child, level - 1, 0);
    const uint64_t leaf = merged_leaf(c, level, type, p, known_split);
    if (leaf == 0) return false;
    if constexpr (!OwnerBits<F>) {
        if (level == 1) side_.erase(key);  // the merged leaf table's record goes with it
    }
    *e = leaf;
    mem_.free_table(child);
    return true;
}

template <EntryFormat F>
unsigned Table<F>::merge(Gfn base, P2mType type, Perm p) {
    Expects(base.raw() < geo_.gfn_count());
    if (!s2::encodable<F>(type, p)) return 0;
    // entry[L]: the level-L table entry on the walk to base's leaf table.
    std::array<uint64_t*, max_levels> entry{};
    Mfn t = root_;
    for (unsigned level = geo_.root_level(); level > 0; --level) {
        uint64_t& s = slot(t, level, geo_.index(base.raw(), level));
        // A marked entry is left to its recalculation.
        if (!F::is_table(s, level) || F::marked(s)) return 0;
        entry[level] = &s;
        t = F::frame(s);
    }
    unsigned merged = 0;
    for (unsigned level = 1; level <= geo_.root_level() && entry[level] != nullptr; ++level) {
        if (!merge_one(entry[level], level, base.raw(), type, p, false)) break;
        ++merged;
    }
    return merged;
}

// The sweep of a disclaim over many leaf tables (Stage2::reset_tables).
// Each table is reached with one walk from the root; the walks of the
// tables `ahead` and 2 x `ahead` places on are started early, read only,
// with prefetches (the level-1 entry two steps ahead, then the lines of
// the leaves to rewrite one step ahead), so that the misses of several
// tables overlap instead of each walk waiting for its own.
template <EntryFormat F>
uint64_t Table<F>::reset_tables(std::span<const ResetTable> tables, P2mType from, const TypeChange& c,
                                bool clear_parent_mark, bool merge, TypeCounter& counter) {
    if (tables.empty()) return 0;
    const unsigned top = geo_.root_level();
    if (top == 0) return 0;  // a root of leaves: no leaf table to reset
    const bool can_merge = merge && s2::encodable<F>(c.to, c.perm);
    // The level-`stop` entry on the walk to gfn, read only (no mark
    // resolved): nullptr when a leaf or an absent entry comes first.
    auto entry_on_walk = [this, top](uint64_t gfn, unsigned stop) -> const uint64_t* {
        Mfn t = root_;
        for (unsigned level = top;; --level) {
            const uint64_t* s = &slot(t, level, geo_.index(gfn, level));
            if (level == stop) return s;
            if (!F::is_table(*s, level)) return nullptr;
            t = F::frame(*s);
        }
    };
    constexpr size_t ahead = 4;
    auto prefetch_entry = [&](size_t k) {
        if (k >= tables.size()) return;
        if (const uint64_t* s = entry_on_walk(tables[k].base.raw(), 1)) __builtin_prefetch(s, 1);
    };
    constexpr unsigned line = 64;
    auto prefetch_leaves = [&](size_t k) {
        if (k >= tables.size()) return;
        const uint64_t* s = entry_on_walk(tables[k].base.raw(), 1);
        if (s == nullptr || !F::is_table(*s, 1)) return;
        // The first table of a level-1 table: the whole of that one, which
        // the merge of its last table may read (merge_pending).
        if (can_merge && top >= 2 &&
            (k == 0 || (tables[k - 1].base.raw() >> level_order(2)) != (tables[k].base.raw() >> level_order(2)))) {
            const auto* pd = reinterpret_cast<const char*>(s - geo_.index(tables[k].base.raw(), 1) % entries_per_table);
            for (unsigned b = 0; b < page_size; b += line) __builtin_prefetch(pd + b);
        }
        const auto* t = reinterpret_cast<const char*>(&slot(F::frame(*s), 0, 0));
        if (can_merge && !tables[k].uniform) {  // the merge reads the whole table
            for (unsigned b = 0; b < page_size; b += line) __builtin_prefetch(t + b, 1);
            return;
        }
        __builtin_prefetch(t, 1);  // entry 0: the merge's frame
        for (unsigned b = tables[k].lo * 8U / line * line; b <= tables[k].hi * 8U; b += line)
            __builtin_prefetch(t + b, 1);
    };
    for (size_t k = 0; k < 2 * ahead; ++k) prefetch_entry(k);
    for (size_t k = 0; k < ahead; ++k) prefetch_leaves(k);

    // The level-2 (and up) entries over the last table merged, whose
    // tables may now be mergeable too: tried when the sweep leaves them.
    std::array<uint64_t*, max_levels> pending{};
    uint64_t pending_gfn = 0;
    auto merge_pending = [&] {
        for (unsigned level = 2; level <= top && pending[level] != nullptr; ++level)
            if (!merge_one(pending[level], level, pending_gfn, c.to, c.perm, false)) break;
        pending = {};
    };
    uint64_t merged = 0;
    for (size_t k = 0; k < tables.size(); ++k) {
        prefetch_entry(k + 2 * ahead);
        prefetch_leaves(k + ahead);
        const ResetTable& r = tables[k];
        Expects(r.base.raw() % entries_per_table == 0 && r.base.raw() < geo_.gfn_count());
        Expects(r.lo <= r.hi && r.hi < entries_per_table);
        if (pending[2] != nullptr && (r.base.raw() >> level_order(2)) != (pending_gfn >> level_order(2)))
            merge_pending();
        // Down to the leaf table, as reset_leaves.
        std::array<uint64_t*, max_levels> entry{};
        bool marks = false;
        Mfn t = root_;
        unsigned level = top;
        for (; level > 0; --level) {
            uint64_t& s = slot(t, level, geo_.index(r.base.raw(), level));
            if (!F::is_table(s, level)) break;
            if (F::marked(s)) {
                marks = true;
                if (level > 1 || !clear_parent_mark) push_marks(F::frame(s));
                s = F::unmark(s);
            }
            entry[level] = &s;
            t = F::frame(s);
        }
        if (level != 0) continue;  // no leaf table maps base
        (void)reset_in(leaves(t), r.base, r.lo, r.hi, from, c, counter);
        // Marks met on the walk may have been pushed into the leaves: the
        // caller's word no longer holds.
        if (!can_merge || !merge_one(entry[1], 1, r.base.raw(), c.to, c.perm, r.uniform && !marks)) continue;
        ++merged;
        pending = entry;
        pending[1] = nullptr;
        pending_gfn = r.base.raw();
    }
    merge_pending();
    return merged;
}

// --- lazy recalculation ----------------------------------------------------------

template <EntryFormat F>
void Table<F>::mark_recalc_all() {
    // O(root entries): every present root entry (Xen's
    // change_entry_type_global). The mark makes every access below it fault.
    for (unsigned i = 0; i < geo_.root_entries; ++i)
        if (uint64_t& s = slot(root_, geo_.root_level(), i); F::present(s)) s = F::mark(s);
}

template <EntryFormat F>
bool Table<F>::resolve(Gfn gfn, RecalcPolicy& policy) {
    Expects(gfn.raw() < geo_.gfn_count());
    bool pending = false;
    auto visitor = [&](const WalkCtx& c, Visit which) -> int {
        if (which == visit_table_pre) {
            // Xen's resolve_misconfig (EPT) and do_recalc (p2m-pt): at each
            // marked table entry on the walk, push the mark into the next
            // table, then clear it here.
            if (const uint64_t e = *c.slot; F::marked(e)) {
                push_marks(F::frame(e));
                *c.slot = F::unmark(e);
                pending = true;
            }
            return 0;
        }
        // The last table reached (of a concatenated root, the 4 KiB frame of
        // it that holds gfn): recalculate each of its marked leaves (the
        // whole table, as Xen does for the level-0 table; marked table
        // entries to other subtrees stay marked for their own walks). The
        // rewrite derives rights and memory type from the new type and
        // carries no mark.
        const unsigned at = c.index % entries_per_table;
        uint64_t* table = c.slot - at;
        const uint64_t base = c.first - at * c.pages();
        for (unsigned i = 0; i < entries_per_table; ++i) {
            const uint64_t e = table[i];
            if (!F::marked(e) || !F::is_leaf(e, c.level)) continue;
            const uint64_t g = base + i * c.pages();
            const uint8_t owner = owner_at(e, g, c.level);
            const RecalcPolicy::Update u = policy.recalc(Gfn{g}, level_order(c.level), F::type_of(e), owner);
            // An ioreq_server leaf that stays one keeps its owner (beside
            // the table, its record stands).
            table[i] = encode(F::leaf_frame(e, c.level), u.type, u.perm, c.level, owner);
            pending = true;
        }
        return 0;
    };
    const Status s = walk(gfn.raw(), gfn.raw() + 1, visit_leaf | visit_table_pre, visitor);
    Ensures(s.is_ok());
    return pending;
}

// --- reads --------------------------------------------------------------------------

template <EntryFormat F>
Stage2Leaf Table<F>::lookup(Gfn gfn) const {
    Stage2Leaf leaf;
    if (gfn.raw() >= geo_.gfn_count()) return leaf;  // beyond the table's reach: a hole
    const Path p = path(gfn.raw());
    leaf.recalc_pending = p.any_marked();
    const uint64_t e = p.last().entry;
    const unsigned level = p.last().level;
    if (e == 0) return leaf;
    Expects(geo_.may_leaf(level) && F::is_leaf(e, level));  // hvcore writes no not-present table pointer
    leaf.mapped = true;
    leaf.mfn = F::leaf_frame(e, level) + (gfn.raw() & (level_pages(level) - 1));
    leaf.type = F::type_of(e);
    leaf.order = level_order(level);
    leaf.owner = owner_at(e, gfn.raw(), level);
    return leaf;
}

template <EntryFormat F>
uint64_t Table<F>::raw_entry(Gfn gfn) const {
    if (gfn.raw() >= geo_.gfn_count()) return 0;
    return path(gfn.raw()).last().entry;
}

template <EntryFormat F>
Stage2Walk Table<F>::walk_entries(Gfn gfn) const {
    Expects(gfn.raw() < geo_.gfn_count());
    const Path p = path(gfn.raw());
    Stage2Walk w;
    w.arch = arch();
    w.root = root_;
    w.root_frames = geo_.root_frames();
    w.config = root_register();
    for (unsigned i = 0; i < p.count; ++i) {
        const typename Path::Step& s = p.step[i];
        w.level[w.count++] = {.entry = s.entry, .table = s.table, .index = s.index, .level = arch_level(s.level)};
    }
    return w;
}

template <EntryFormat F>
void Table<F>::for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const {
    // marked_above[L]: a mark lies on the walk above the level-(L-1)
    // entries now visited.
    std::array<bool, max_levels + 1> marked_above{};
    auto visitor = [&](const WalkCtx& c, Visit which) -> int {
        const uint64_t e = *c.slot;
        if (which == visit_table_pre) {
            marked_above[c.level] = marked_above[c.level + 1] || F::marked(e);
            return 0;
        }
        if (e == 0) return 0;
        const Stage2Leaf leaf{.mapped = true,
                              .mfn = F::leaf_frame(e, c.level),
                              .type = F::type_of(e),
                              .order = level_order(c.level),
                              .recalc_pending = marked_above[c.level + 1] || F::marked(e),
                              .owner = owner_at(e, c.first, c.level)};
        fn(Gfn{c.first}, leaf);
        return 0;
    };
    const int r = walk_table(root_, geo_.root_level(), 0, geo_.gfn_count(), visit_leaf | visit_table_pre, visitor);
    Ensures(r == 0);
}

}  // namespace hvcore::s2
