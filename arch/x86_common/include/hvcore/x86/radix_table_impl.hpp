// SPDX-License-Identifier: MIT
// The member definitions of RadixTable4 (radix_table.hpp). Included only by
// the source of a backend, which instantiates the table for its format once:
//   template class hvcore::x86::RadixTable4<Format>;
// Every other user sees the declarations and an extern template.
#pragma once

#include <algorithm>

#include <gsl/assert>

#include "hvcore/x86/radix_table.hpp"

namespace hvcore::x86 {

namespace radix_detail {

// One past the last gfn the level-`level` table holding gfn covers.
constexpr uint64_t table_end(uint64_t gfn, unsigned level) noexcept {
    return (gfn | (level_pages(level + 1) - 1)) + 1;
}

// Tables set_4k allocates below a fresh (not yet existing) level-`level`
// table to reach every gfn of [first, end): one level-(k-1) table per
// distinct level-k entry touched, for k = level .. 1.
constexpr uint64_t tables_below_fresh(unsigned level, uint64_t first, uint64_t end) noexcept {
    uint64_t n = 0;
    for (unsigned k = level; k >= 1; --k)
        n += ((end - 1) >> level_order(k)) - (first >> level_order(k)) + 1;
    return n;
}
static_assert(tables_below_fresh(level_pt, 0, 1) == 0);
static_assert(tables_below_fresh(level_pd, 511, 513) == 2);  // two PTs under one PD
static_assert(tables_below_fresh(level_pdpt, 0, 1) == 2);     // one PD, one PT

}  // namespace radix_detail

template <RadixEntryFormat Entry>
bool RadixTable4<Entry>::Path::any_marked() const noexcept {
    for (unsigned i = 0; i < count; ++i)
        if (Entry::marked(entry[i])) return true;
    return false;
}

template <RadixEntryFormat Entry>
RadixTable4<Entry>::~RadixTable4() {
    free_subtree(root_, level_pml4);
}

template <RadixEntryFormat Entry>
auto RadixTable4<Entry>::table(Mfn m) const noexcept -> Table {
    // Only table frames hold tables: a pointer elsewhere is a bug of the
    // table code, never something a guest can cause.
    Expects(mem_.is_table_frame(m));
    return Table{reinterpret_cast<uint64_t*>(mem_.frame(m)), entries_per_table};
}

template <RadixEntryFormat Entry>
void RadixTable4<Entry>::free_subtree(Mfn t, unsigned level) noexcept {
    if (level > level_pt) {
        for (uint64_t e : table(t))
            if (Entry::is_table(e, level)) free_subtree(Entry::frame(e), level - 1);
    }
    mem_.free_table(t);
}

template <RadixEntryFormat Entry>
auto RadixTable4<Entry>::walk(uint64_t gfn) const -> Path {
    Path p;
    Mfn t = root_;
    for (unsigned level = level_pml4;; --level) {
        const uint64_t e = table(t)[level_index(gfn, level)];
        p.entry[p.count++] = e;
        if (e == 0 || !Entry::present(e) || Entry::is_leaf(e, level)) return p;
        t = Entry::frame(e);
    }
}

template <RadixEntryFormat Entry>
bool RadixTable4<Entry>::marked_on_walk(uint64_t gfn) const {
    return gfn < gfn_count && walk(gfn).any_marked();
}

// The 512 children of a superpage leaf keep what the format says they keep
// (Entry::split_attrs: rights, memory type, type, mark); only the frame
// advances.
template <RadixEntryFormat Entry>
void RadixTable4<Entry>::fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept {
    Expects(parent_level > level_pt && Entry::is_leaf(parent, parent_level));
    const unsigned level = parent_level - 1;
    const uint64_t keep = Entry::split_attrs(parent, level);
    const uint64_t base = Entry::leaf_frame(parent, parent_level).raw();
    Table t = table(child);
    for (unsigned i = 0; i < entries_per_table; ++i)
        t[i] = keep | ((base + i * level_pages(level)) << page_shift);
}

// One level of Xen's recalculation (ept_invalidate_emt_subtree, p2m-pt's
// do_recalc): mark every present entry of the child table. A not-present
// entry is never walked past and faults anyway, so a mark on it would
// never be seen; its type (a hole) is not changeable either.
template <RadixEntryFormat Entry>
void RadixTable4<Entry>::push_marks(Mfn child) const noexcept {
    for (uint64_t& e : table(child))
        if (Entry::present(e)) e = Entry::with_mark(e);
}

template <RadixEntryFormat Entry>
Status RadixTable4<Entry>::map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) {
    if (nr == 0) return Status::ok();
    if (gfn.raw() >= gfn_count || nr > gfn_count - gfn.raw()) return Status::err(-EINVAL);
    // Frames beyond MAXPHYADDR cannot be encoded (EPT: a misconfiguration;
    // NPT: reserved bits), nor can rights the format has no entry for.
    if (mfn.raw() >= mfn_limit || nr > mfn_limit - mfn.raw()) return Status::err(-EINVAL);
    if (!Entry::encodable(p)) return Status::err(-EINVAL);

    Txn txn;
    uint64_t g = gfn.raw();
    uint64_t m = mfn.raw();
    const LeafSpec spec{t, p, p2m_mem_class(t)};
    if (Status s = map_in(txn, root_, false, level_pml4, g, m, gfn.raw() + nr, spec); !s) {
        for (auto it = txn.writes.rbegin(); it != txn.writes.rend(); ++it) table(it->table)[it->index] = it->old;
        for (Mfn f : txn.fresh) mem_.free_table(f);
        return s;
    }
    for (const typename Txn::Subtree& st : txn.replaced) free_subtree(st.table, st.level);
    return Status::ok();
}

template <RadixEntryFormat Entry>
void RadixTable4<Entry>::txn_write(Txn& txn, bool fresh_table, Mfn t, unsigned index, uint64_t value) const {
    Table tb = table(t);
    if (!fresh_table) txn.writes.push_back({t, index, tb[index]});
    tb[index] = value;
}

template <RadixEntryFormat Entry>
Status RadixTable4<Entry>::map_in(Txn& txn, Mfn t, bool fresh_table, unsigned level, uint64_t& gfn,
                                  uint64_t& mfn, uint64_t end, const LeafSpec& spec) {
    const uint64_t stop = std::min(end, radix_detail::table_end(gfn, level));
    while (gfn < stop) {
        const unsigned i = level_index(gfn, level);
        const uint64_t pages = level_pages(level);
        const uint64_t e = table(t)[i];
        const bool fits = (gfn & (pages - 1)) == 0 && (mfn & (pages - 1)) == 0 && stop - gfn >= pages;
        if (level <= level_pdpt && fits) {
            // The largest leaf alignment allows. A subtree it replaces is
            // freed only once the whole range has succeeded.
            if (Entry::is_table(e, level)) txn.replaced.push_back({Entry::frame(e), level - 1});
            txn_write(txn, fresh_table, t, i, Entry::encode_leaf(Mfn{mfn}, spec.type, spec.perm, spec.mem, level));
            gfn += pages;
            mfn += pages;
            continue;
        }
        Expects(level > level_pt);  // every 4 KiB leaf fits
        Mfn child{};
        bool child_fresh = false;
        if (Entry::is_table(e, level)) {
            child = Entry::frame(e);
            // Carry out a pending recalculation mark first, so it cannot
            // later be applied to the leaves written now (Xen's
            // ept_set_entry and p2m_pt_set_entry resolve the walk before
            // writing).
            if (Entry::marked(e)) {
                for (unsigned c = 0; c < entries_per_table; ++c)
                    if (const uint64_t ce = table(child)[c]; Entry::present(ce))
                        txn_write(txn, false, child, c, Entry::with_mark(ce));
                txn_write(txn, fresh_table, t, i, Entry::table_without_mark(e));
            }
        } else {
            auto fresh = mem_.alloc_table();
            if (!fresh) return fresh.status();
            txn.fresh.push_back(*fresh);
            child = *fresh;
            child_fresh = true;
            if (e != 0) fill_split(child, e, level);
            txn_write(txn, fresh_table, t, i, Entry::encode_table(child));
        }
        HV_TRY(map_in(txn, child, child_fresh, level - 1, gfn, mfn, end, spec));
    }
    return Status::ok();
}

template <RadixEntryFormat Entry>
Stage2Leaf RadixTable4<Entry>::lookup(Gfn gfn) const {
    Stage2Leaf leaf;
    if (gfn.raw() >= gfn_count) return leaf;  // beyond the walk: a hole
    const Path p = walk(gfn.raw());
    leaf.recalc_pending = p.any_marked();
    const uint64_t e = p.last();
    const unsigned level = p.last_level();
    if (e == 0) return leaf;
    Expects(Entry::is_leaf(e, level));  // hvcore writes no not-present table pointer
    leaf.mapped = true;
    leaf.mfn = Entry::leaf_frame(e, level) + (gfn.raw() & (level_pages(level) - 1));
    leaf.type = Entry::type_of(e);
    leaf.order = level_order(level);
    return leaf;
}

template <RadixEntryFormat Entry>
uint64_t RadixTable4<Entry>::count_tables(Mfn t, unsigned level, uint64_t first, uint64_t end) const {
    uint64_t n = 0;
    for (uint64_t g = first; g < end;) {
        const uint64_t block_end = std::min(end, (g | (level_pages(level) - 1)) + 1);
        const uint64_t e = table(t)[level_index(g, level)];
        if (Entry::is_table(e, level)) {
            if (level - 1 > level_pt) n += count_tables(Entry::frame(e), level - 1, g, block_end);
        } else {
            // Absent, or a leaf to split: one new table below this entry,
            // and below it only fresh tables.
            n += 1 + radix_detail::tables_below_fresh(level - 1, g, block_end);
        }
        g = block_end;
    }
    return n;
}

template <RadixEntryFormat Entry>
uint64_t RadixTable4<Entry>::tables_needed_4k(Gfn first, uint64_t nr) const {
    Expects(first.raw() <= gfn_count && nr <= gfn_count - first.raw());
    if (nr == 0) return 0;
    return count_tables(root_, level_pml4, first.raw(), first.raw() + nr);
}

template <RadixEntryFormat Entry>
void RadixTable4<Entry>::set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) {
    Expects(gfn.raw() < gfn_count && mfn.raw() < mfn_limit);
    Mfn tbl = root_;
    for (unsigned level = level_pml4; level > level_pt; --level) {
        Table tb = table(tbl);
        const unsigned i = level_index(gfn.raw(), level);
        const uint64_t e = tb[i];
        if (Entry::is_table(e, level)) {
            if (Entry::marked(e)) {  // as in map_in: pending marks go down first
                push_marks(Entry::frame(e));
                tb[i] = Entry::table_without_mark(e);
            }
            tbl = Entry::frame(e);
            continue;
        }
        // The core reserved tables_needed_4k() frames: this cannot fail.
        const Mfn child = mem_.take_reserved();
        if (e != 0) fill_split(child, e, level);
        tb[i] = Entry::encode_table(child);
        tbl = child;
    }
    table(tbl)[level_index(gfn.raw(), level_pt)] = Entry::encode_leaf(mfn, t, p, p2m_mem_class(t), level_pt);
}

template <RadixEntryFormat Entry>
void RadixTable4<Entry>::mark_recalc_all() {
    // O(512): every present PML4 entry (Xen's change_entry_type_global).
    // Each is a table pointer (bit 7 is reserved in a PML4E of both
    // formats), and the mark makes every access below it fault.
    for (uint64_t& e : table(root_))
        if (Entry::present(e)) e = Entry::with_mark(e);
}

template <RadixEntryFormat Entry>
bool RadixTable4<Entry>::resolve(Gfn gfn, RecalcPolicy& policy) {
    Expects(gfn.raw() < gfn_count);
    bool pending = false;
    Mfn tbl = root_;
    unsigned level = level_pml4;
    // Xen's resolve_misconfig (EPT) and do_recalc (p2m-pt): at each marked
    // table pointer on the walk, push the mark into the next table, then
    // clear it here.
    for (;;) {
        Table tb = table(tbl);
        const unsigned i = level_index(gfn.raw(), level);
        const uint64_t e = tb[i];
        if (!Entry::is_table(e, level)) break;
        if (Entry::marked(e)) {
            push_marks(Entry::frame(e));
            tb[i] = Entry::table_without_mark(e);
            pending = true;
        }
        tbl = Entry::frame(e);
        --level;
    }
    // The last table reached: recalculate each of its marked leaves (the
    // whole table, as Xen does for the level-0 table; marked pointers to
    // other subtrees stay marked for their own walks). The rewrite derives
    // rights and memory type from the new type and carries no mark.
    const uint64_t base = gfn.raw() & ~(level_pages(level + 1) - 1);
    Table tb = table(tbl);
    for (unsigned i = 0; i < entries_per_table; ++i) {
        const uint64_t e = tb[i];
        if (!Entry::marked(e) || !Entry::is_leaf(e, level)) continue;
        const uint64_t first = base + i * level_pages(level);
        const RecalcPolicy::Update u = policy.recalc(Gfn{first}, level_order(level), Entry::type_of(e));
        tb[i] = Entry::encode_leaf(Entry::leaf_frame(e, level), u.type, u.perm, p2m_mem_class(u.type), level);
        pending = true;
    }
    return pending;
}

template <RadixEntryFormat Entry>
uint64_t RadixTable4<Entry>::raw_entry(Gfn gfn) const {
    if (gfn.raw() >= gfn_count) return 0;
    return walk(gfn.raw()).last();
}

// Levels numbered as the SDM names the entries: PML4E 4, PDPTE 3, PDE 2,
// PTE 1 (hv.h hv_p2m_walk_level).
template <RadixEntryFormat Entry>
Stage2Walk RadixTable4<Entry>::walk_entries(Gfn gfn) const {
    Expects(gfn.raw() < gfn_count);
    Stage2Walk w;
    w.arch = arch();
    w.root = root_;
    w.config = root_register();
    Mfn t = root_;
    for (unsigned level = level_pml4;; --level) {
        const unsigned i = level_index(gfn.raw(), level);
        const uint64_t e = table(t)[i];
        w.level[w.count++] = {.entry = e, .table = t, .index = i, .level = static_cast<int>(level) + 1};
        if (e == 0 || !Entry::present(e) || Entry::is_leaf(e, level)) return w;
        t = Entry::frame(e);
    }
}

template <RadixEntryFormat Entry>
void RadixTable4<Entry>::visit_leaves(Mfn t, unsigned level, uint64_t base, bool marked_above,
                                      const std::function<void(Gfn, const Stage2Leaf&)>& fn) const {
    const Table tb = table(t);
    for (unsigned i = 0; i < entries_per_table; ++i) {
        const uint64_t e = tb[i];
        if (e == 0) continue;
        const uint64_t first = base + i * level_pages(level);
        if (!Entry::is_leaf(e, level)) {
            visit_leaves(Entry::frame(e), level - 1, first, marked_above || Entry::marked(e), fn);
            continue;
        }
        const Stage2Leaf leaf{.mapped = true,
                              .mfn = Entry::leaf_frame(e, level),
                              .type = Entry::type_of(e),
                              .order = level_order(level),
                              .recalc_pending = marked_above || Entry::marked(e)};
        fn(Gfn{first}, leaf);
    }
}

template <RadixEntryFormat Entry>
void RadixTable4<Entry>::for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const {
    visit_leaves(root_, level_pml4, 0, false, fn);
}

}  // namespace hvcore::x86
