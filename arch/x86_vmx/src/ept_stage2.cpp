#include "hvcore/vmx/ept_stage2.hpp"

#include <algorithm>

namespace hvcore::vmx {

namespace {

using E = EptEntry;

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

// The largest frame number MAXPHYADDR lets a leaf hold, plus one.
constexpr uint64_t mfn_limit = uint64_t{1} << (E::maxphyaddr - page_shift);

constexpr uint64_t qual_access(AccessType a) noexcept {
    switch (a) {
    case AccessType::read: return EptExit::qual_read;
    case AccessType::write: return EptExit::qual_write;
    case AccessType::fetch: return EptExit::qual_fetch;
    }
    return EptExit::qual_read;
}

// The entry right the access needs (SDM Vol. 3C §29.3.3.2: a read needs
// bit 0, a write bit 1, a fetch bit 2, in every entry used).
constexpr uint64_t needed_right(AccessType a) noexcept {
    switch (a) {
    case AccessType::read: return E::r;
    case AccessType::write: return E::w;
    case AccessType::fetch: return E::x;
    }
    return E::r;
}

}  // namespace

bool Ept::Path::any_marked() const noexcept {
    for (unsigned i = 0; i < count; ++i)
        if (E::marked(entry[i])) return true;
    return false;
}

Result<std::unique_ptr<Ept>> Ept::create(MachineMemory& mem) {
    auto root = mem.alloc_table();
    if (!root) return root.status();
    return std::unique_ptr<Ept>{new Ept(mem, *root)};
}

Result<std::unique_ptr<Stage2>> make_ept_stage2(MachineMemory& mem) {
    auto ept = Ept::create(mem);
    if (!ept) return ept.status();
    return std::unique_ptr<Stage2>{std::move(ept).value()};
}

Ept::~Ept() { free_subtree(root_, level_pml4); }

Ept::Table Ept::table(Mfn m) const noexcept {
    // Only table frames hold EPT tables: a pointer elsewhere is a bug of
    // this file, never something a guest can cause.
    Expects(mem_.is_table_frame(m));
    return Table{reinterpret_cast<uint64_t*>(mem_.frame(m)), entries_per_table};
}

void Ept::free_subtree(Mfn t, unsigned level) noexcept {
    if (level > level_pt) {
        for (uint64_t e : table(t))
            if (E::is_table(e, level)) free_subtree(E::frame(e), level - 1);
    }
    mem_.free_table(t);
}

Ept::Path Ept::walk(uint64_t gfn) const {
    Path p;
    Mfn t = root_;
    for (unsigned level = level_pml4;; --level) {
        const uint64_t e = table(t)[level_index(gfn, level)];
        p.entry[p.count++] = e;
        if (e == 0 || !E::present(e) || E::is_leaf(e, level)) return p;
        t = E::frame(e);
    }
}

// The 512 children of a superpage leaf keep its rights, memory type (or
// recalc mark), type and suppress-#VE; only the frame advances. 2 MiB
// children of a 1 GiB page keep bit 7; 4 KiB children drop it (ignored by
// hardware in a PTE, cleared so every PTE hvcore holds looks the same).
void Ept::fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept {
    Expects(parent_level > level_pt && E::is_leaf(parent, parent_level));
    const unsigned level = parent_level - 1;
    const uint64_t keep = parent & ~E::frame_mask & ~(level == level_pt ? E::large : 0);
    const uint64_t base = E::frame(parent).raw();
    Table t = table(child);
    for (unsigned i = 0; i < entries_per_table; ++i)
        t[i] = keep | ((base + i * level_pages(level)) << page_shift);
}

// Xen's ept_invalidate_emt_subtree(child, recalc=1): mark every present
// entry of the child table. Not-present entries carry no rights and cause
// no misconfiguration, so a mark on them would never be seen; their types
// (holes) are not changeable anyway.
void Ept::push_marks(Mfn child) const noexcept {
    for (uint64_t& e : table(child))
        if (E::present(e)) e = E::with_mark(e);
}

Status Ept::map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) {
    if (nr == 0) return Status::ok();
    if (gfn.raw() >= gfn_count || nr > gfn_count - gfn.raw()) return Status::err(-EINVAL);
    // Frames beyond MAXPHYADDR cannot be encoded (they would be a
    // misconfiguration), nor can write-without-read rights.
    if (mfn.raw() >= mfn_limit || nr > mfn_limit - mfn.raw()) return Status::err(-EINVAL);
    if (p.w && !p.r) return Status::err(-EINVAL);

    Txn txn;
    uint64_t g = gfn.raw();
    uint64_t m = mfn.raw();
    const LeafSpec spec{t, p, p2m_mem_class(t)};
    if (Status s = map_in(txn, root_, false, level_pml4, g, m, gfn.raw() + nr, spec); !s) {
        for (auto it = txn.writes.rbegin(); it != txn.writes.rend(); ++it) table(it->table)[it->index] = it->old;
        for (Mfn f : txn.fresh) mem_.free_table(f);
        return s;
    }
    for (const Txn::Subtree& st : txn.replaced) free_subtree(st.table, st.level);
    return Status::ok();
}

void Ept::txn_write(Txn& txn, bool fresh_table, Mfn t, unsigned index, uint64_t value) const {
    Table tb = table(t);
    if (!fresh_table) txn.writes.push_back({t, index, tb[index]});
    tb[index] = value;
}

Status Ept::map_in(Txn& txn, Mfn t, bool fresh_table, unsigned level, uint64_t& gfn, uint64_t& mfn,
                   uint64_t end, const LeafSpec& spec) {
    const uint64_t stop = std::min(end, table_end(gfn, level));
    while (gfn < stop) {
        const unsigned i = level_index(gfn, level);
        const uint64_t pages = level_pages(level);
        const uint64_t e = table(t)[i];
        const bool fits = (gfn & (pages - 1)) == 0 && (mfn & (pages - 1)) == 0 && stop - gfn >= pages;
        if (level <= level_pdpt && fits) {
            // The largest leaf alignment allows. A subtree it replaces is
            // freed only once the whole range has succeeded.
            if (E::is_table(e, level)) txn.replaced.push_back({E::frame(e), level - 1});
            txn_write(txn, fresh_table, t, i,
                      E::encode_leaf(Mfn{mfn}, spec.type, spec.perm, spec.mem, level));
            gfn += pages;
            mfn += pages;
            continue;
        }
        Expects(level > level_pt);  // every 4 KiB leaf fits
        Mfn child{};
        bool child_fresh = false;
        if (E::is_table(e, level)) {
            child = E::frame(e);
            // Carry out a pending recalculation mark first, so it cannot
            // later be applied to the leaves written now (Xen's
            // ept_set_entry resolves the walk before writing).
            if (E::marked(e)) {
                for (unsigned c = 0; c < entries_per_table; ++c)
                    if (const uint64_t ce = table(child)[c]; E::present(ce))
                        txn_write(txn, false, child, c, E::with_mark(ce));
                txn_write(txn, fresh_table, t, i, E::table_without_mark(e));
            }
        } else {
            auto fresh = mem_.alloc_table();
            if (!fresh) return fresh.status();
            txn.fresh.push_back(*fresh);
            child = *fresh;
            child_fresh = true;
            if (e != 0) fill_split(child, e, level);
            txn_write(txn, fresh_table, t, i, E::encode_table(child));
        }
        HV_TRY(map_in(txn, child, child_fresh, level - 1, gfn, mfn, end, spec));
    }
    return Status::ok();
}

Stage2Leaf Ept::lookup(Gfn gfn) const {
    Stage2Leaf leaf;
    if (gfn.raw() >= gfn_count) return leaf;  // beyond the walk: a hole
    const Path p = walk(gfn.raw());
    leaf.recalc_pending = p.any_marked();
    const uint64_t e = p.last();
    const unsigned level = p.last_level();
    if (e == 0) return leaf;
    Expects(E::is_leaf(e, level));  // hvcore writes no not-present table pointer
    const EptLeafFields f = E::decode_leaf(e);
    leaf.mapped = true;
    leaf.mfn = f.mfn + (gfn.raw() & (level_pages(level) - 1));
    leaf.type = f.type;
    leaf.order = level_order(level);
    return leaf;
}

uint64_t Ept::count_tables(Mfn t, unsigned level, uint64_t first, uint64_t end) const {
    uint64_t n = 0;
    for (uint64_t g = first; g < end;) {
        const uint64_t block_end = std::min(end, (g | (level_pages(level) - 1)) + 1);
        const uint64_t e = table(t)[level_index(g, level)];
        if (E::is_table(e, level)) {
            if (level - 1 > level_pt) n += count_tables(E::frame(e), level - 1, g, block_end);
        } else {
            // Absent, or a leaf to split: one new table below this entry,
            // and below it only fresh tables.
            n += 1 + tables_below_fresh(level - 1, g, block_end);
        }
        g = block_end;
    }
    return n;
}

uint64_t Ept::tables_needed_4k(Gfn first, uint64_t nr) const {
    Expects(first.raw() <= gfn_count && nr <= gfn_count - first.raw());
    if (nr == 0) return 0;
    return count_tables(root_, level_pml4, first.raw(), first.raw() + nr);
}

void Ept::set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) {
    Expects(gfn.raw() < gfn_count && mfn.raw() < mfn_limit);
    Mfn tbl = root_;
    for (unsigned level = level_pml4; level > level_pt; --level) {
        Table tb = table(tbl);
        const unsigned i = level_index(gfn.raw(), level);
        const uint64_t e = tb[i];
        if (E::is_table(e, level)) {
            if (E::marked(e)) {  // as in map_in: pending marks go down first
                push_marks(E::frame(e));
                tb[i] = E::table_without_mark(e);
            }
            tbl = E::frame(e);
            continue;
        }
        // The core reserved tables_needed_4k() frames: this cannot fail.
        const Mfn child = mem_.take_reserved();
        if (e != 0) fill_split(child, e, level);
        tb[i] = E::encode_table(child);
        tbl = child;
    }
    table(tbl)[level_index(gfn.raw(), level_pt)] = E::encode_leaf(mfn, t, p, p2m_mem_class(t), level_pt);
}

void Ept::mark_recalc_all() {
    // O(512): every present PML4 entry. Each is a table pointer (bit 7 is
    // reserved in a PML4E), so the mark is bits 5:3 = 7, a misconfiguration.
    for (uint64_t& e : table(root_))
        if (E::present(e)) e = E::with_mark(e);
}

bool Ept::resolve(Gfn gfn, RecalcPolicy& policy) {
    Expects(gfn.raw() < gfn_count);
    bool pending = false;
    Mfn tbl = root_;
    unsigned level = level_pml4;
    // Xen's resolve_misconfig: at each marked table pointer on the walk,
    // push the mark into the next table, then clear it here.
    for (;;) {
        Table tb = table(tbl);
        const unsigned i = level_index(gfn.raw(), level);
        const uint64_t e = tb[i];
        if (!E::is_table(e, level)) break;
        if (E::marked(e)) {
            push_marks(E::frame(e));
            tb[i] = E::table_without_mark(e);
            pending = true;
        }
        tbl = E::frame(e);
        --level;
    }
    // The last table reached: recalculate each of its marked leaves (the
    // whole table, as Xen does for the level-0 table; marked pointers to
    // other subtrees stay marked for their own walks).
    const uint64_t base = gfn.raw() & ~(level_pages(level + 1) - 1);
    Table tb = table(tbl);
    for (unsigned i = 0; i < entries_per_table; ++i) {
        const uint64_t e = tb[i];
        if (!E::marked(e) || !E::is_leaf(e, level)) continue;
        const uint64_t first = base + i * level_pages(level);
        const RecalcPolicy::Update u = policy.recalc(Gfn{first}, level_order(level), E::type_of(e));
        tb[i] = E::encode_leaf(E::frame(e), u.type, u.perm, p2m_mem_class(u.type), level);
        pending = true;
    }
    return pending;
}

uint64_t Ept::raw_entry(Gfn gfn) const {
    if (gfn.raw() >= gfn_count) return 0;
    return walk(gfn.raw()).last();
}

void Ept::visit_leaves(Mfn t, unsigned level, uint64_t base, bool marked_above,
                       const std::function<void(Gfn, const Stage2Leaf&)>& fn) const {
    const Table tb = table(t);
    for (unsigned i = 0; i < entries_per_table; ++i) {
        const uint64_t e = tb[i];
        if (e == 0) continue;
        const uint64_t first = base + i * level_pages(level);
        if (!E::is_leaf(e, level)) {
            visit_leaves(E::frame(e), level - 1, first, marked_above || E::marked(e), fn);
            continue;
        }
        const EptLeafFields f = E::decode_leaf(e);
        const Stage2Leaf leaf{.mapped = true,
                              .mfn = f.mfn,
                              .type = f.type,
                              .order = level_order(level),
                              .recalc_pending = marked_above || f.recalc};
        fn(Gfn{first}, leaf);
    }
}

void Ept::for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const {
    visit_leaves(root_, level_pml4, 0, false, fn);
}

Translation Ept::translate(Gpa gpa, AccessType access, const AccessContext& ctx) {
    Translation tr;
    tr.record.arch = Arch::x86_vmx;
    tr.record.gpa = gpa.raw();
    // Exit qualification (SDM Vol. 3C §28.2.1, Table 28-7): the access type,
    // the AND of the rights of the entries walked (zero when the walk stops
    // at a not-present entry, whose own zeros join the AND), and the
    // guest-linear address. The model only translates final addresses, never
    // guest paging-structure entries, so bit 8 is set whenever bit 7 is.
    auto violation = [&](uint64_t rights) {
        tr.record.kind = EptExit::reason_violation;
        tr.record.syndrome = qual_access(access) | (rights << EptExit::qual_rights_shift) |
                             (ctx.gla_valid ? EptExit::qual_gla_valid | EptExit::qual_gla_final : 0);
        // The guest-linear-address field is undefined unless bit 7 is set;
        // 0 keeps records comparable.
        tr.record.gva = ctx.gla_valid ? ctx.gla : 0;
        return tr;
    };
    // A 4-level walk translates bits 47:0; hvcore treats a wider address
    // as reaching no entry (the guest's MAXPHYADDR never exceeds 48 here).
    if ((gpa.raw() >> Ept::gpa_bits) != 0) return violation(0);

    const uint64_t gfn = gpa.gfn().raw();
    uint64_t rights = E::rwx;
    Mfn tbl = root_;
    for (unsigned level = level_pml4;; --level) {
        const uint64_t e = table(tbl)[level_index(gfn, level)];
        if (!E::present(e)) return violation(0);  // SDM Vol. 3C §29.3.3.2
        if (ept_misconfigured(e, level)) {
            // SDM Vol. 3C §29.3.3.1: no qualification is defined (0, as
            // Bochs writes); the guest-physical address is.
            tr.record.kind = EptExit::reason_misconfig;
            tr.record.syndrome = 0;
            tr.record.gva = 0;
            return tr;
        }
        rights &= e & E::rwx;
        if (E::is_leaf(e, level)) {
            if ((rights & needed_right(access)) == 0) return violation(rights);
            tr.ok = true;
            tr.mfn = E::frame(e) + (gfn & (level_pages(level) - 1));
            tr.record = FaultRecord{};
            return tr;
        }
        tbl = E::frame(e);
    }
}

Fault Ept::decode_fault(const FaultRecord& record) const {
    Expects(record.arch == Arch::x86_vmx);
    Fault f;
    f.gpa = Gpa{record.gpa};
    if (record.kind == EptExit::reason_misconfig) {
        // The record has no access type (no qualification): read is the
        // neutral default. A misconfiguration is a pending recalculation
        // only if a mark lies on the walk. Without one the entry is broken
        // (hvcore writes no other misconfigured entry) and resolve() would
        // find nothing to do, so reporting recalc would make the core retry
        // forever; not_present sends the access down the path of an
        // address with no usable entry instead.
        const uint64_t gfn = f.gpa.gfn().raw();
        const bool marked = gfn < gfn_count && walk(gfn).any_marked();
        f.cause = marked ? FaultCause::recalc : FaultCause::not_present;
        return f;
    }
    Expects(record.kind == EptExit::reason_violation);
    const uint64_t q = record.syndrome;
    // An access is one kind; should several bits be set, the strictest
    // wins: fetch, then write, then read.
    f.access = (q & EptExit::qual_fetch)   ? AccessType::fetch
               : (q & EptExit::qual_write) ? AccessType::write
                                           : AccessType::read;
    // Bits 5:3 are all zero exactly when the walk hit a not-present entry.
    f.cause = (q & EptExit::qual_rights) != 0 ? FaultCause::permission : FaultCause::not_present;
    if ((q & EptExit::qual_gla_valid) != 0) f.gla = record.gva;
    return f;
}

}  // namespace hvcore::vmx
