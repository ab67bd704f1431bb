#include "hvcore/svm/npt_stage2.hpp"

#include <algorithm>

namespace hvcore::svm {

namespace {

using E = NptEntry;

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

// The largest frame number MAXPHYADDR lets an entry hold, plus one.
constexpr uint64_t mfn_limit = uint64_t{1} << (E::maxphyaddr - page_shift);

// The access bits of the error code (§8.4.2 "Page-Fault Error Code"): R/W
// for a write, I/D for a fetch (the model has EFER.NXE = 1, so the fetch
// bit is reported, as Bochs always does and QEMU does with NXE), none for a
// read. U/S is always set: every nested access is a user access.
constexpr uint64_t info1_access(AccessType a) noexcept {
    switch (a) {
    case AccessType::read: return Npf::info1_us;
    case AccessType::write: return Npf::info1_us | Npf::info1_rw;
    case AccessType::fetch: return Npf::info1_us | Npf::info1_id;
    }
    return Npf::info1_us;
}

// Rights accumulated over the entries of one walk (§5.6 "Page-Protection
// Checks"): U/S and R/W are ANDed over the levels, NX is ORed.
struct Rights {
    bool user = true;
    bool writable = true;
    bool executable = true;

    void add(uint64_t e) noexcept {
        user = user && (e & E::us) != 0;
        writable = writable && (e & E::rw) != 0;
        executable = executable && (e & E::nx) == 0;
    }
    // A nested access is a user access (§15.25.5), so U/S = 0 anywhere
    // denies every access; hCR0.WP is ignored, so R/W = 0 anywhere denies
    // writes (user writes obey R/W whatever WP is, §5.6.2).
    [[nodiscard]] bool allow(AccessType a) const noexcept {
        if (!user) return false;
        switch (a) {
        case AccessType::read: return true;
        case AccessType::write: return writable;
        case AccessType::fetch: return executable;
        }
        return false;
    }
};

}  // namespace

bool Npt::Path::any_marked() const noexcept {
    for (unsigned i = 0; i < count; ++i)
        if (E::marked(entry[i])) return true;
    return false;
}

Result<std::unique_ptr<Npt>> Npt::create(MachineMemory& mem) {
    auto root = mem.alloc_table();
    if (!root) return root.status();
    return std::unique_ptr<Npt>{new Npt(mem, *root)};
}

Result<std::unique_ptr<Stage2>> make_npt_stage2(MachineMemory& mem) {
    auto npt = Npt::create(mem);
    if (!npt) return npt.status();
    return std::unique_ptr<Stage2>{std::move(npt).value()};
}

Npt::~Npt() { free_subtree(root_, level_pml4); }

Npt::Table Npt::table(Mfn m) const noexcept {
    // Only table frames hold nested tables: a pointer elsewhere is a bug of
    // this file, never something a guest can cause.
    Expects(mem_.is_table_frame(m));
    return Table{reinterpret_cast<uint64_t*>(mem_.frame(m)), entries_per_table};
}

void Npt::free_subtree(Mfn t, unsigned level) noexcept {
    if (level > level_pt) {
        for (uint64_t e : table(t))
            if (E::is_table(e, level)) free_subtree(E::frame(e), level - 1);
    }
    mem_.free_table(t);
}

Npt::Path Npt::walk(uint64_t gfn) const {
    Path p;
    Mfn t = root_;
    for (unsigned level = level_pml4;; --level) {
        const uint64_t e = table(t)[level_index(gfn, level)];
        p.entry[p.count++] = e;
        if (e == 0 || !E::present(e) || E::is_leaf(e, level)) return p;
        t = E::frame(e);
    }
}

// The 512 children of a superpage leaf keep its rights, A/D, cache bits,
// type, NX and recalc mark; only the frame advances. 2 MiB children of a
// 1 GiB page keep PS; 4 KiB children must drop it, because bit 7 of a PTE
// is PAT and would change the memory type. hvcore never sets PAT (bit 12 of
// a large leaf), so there is no PAT bit to move to bit 7.
void Npt::fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept {
    Expects(parent_level > level_pt && E::is_leaf(parent, parent_level));
    Expects((parent & E::pat_large) == 0);
    const unsigned level = parent_level - 1;
    const uint64_t keep = parent & ~E::frame_mask & ~(level == level_pt ? E::ps : 0);
    const uint64_t base = E::leaf_frame(parent, parent_level).raw();
    Table t = table(child);
    for (unsigned i = 0; i < entries_per_table; ++i)
        t[i] = keep | ((base + i * level_pages(level)) << page_shift);
}

// Xen's do_recalc, one level: mark every present entry of the child table.
// A not-present entry is never walked past, so a mark on it would never be
// seen; its type (a hole) is not changeable anyway.
void Npt::push_marks(Mfn child) const noexcept {
    for (uint64_t& e : table(child))
        if (E::present(e)) e = E::with_mark(e);
}

Status Npt::map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) {
    if (nr == 0) return Status::ok();
    if (gfn.raw() >= gfn_count || nr > gfn_count - gfn.raw()) return Status::err(-EINVAL);
    // Frames beyond MAXPHYADDR cannot be encoded (they would be reserved
    // bits), nor can rights without read: NPT has no execute-only or
    // write-only entry (P grants reads).
    if (mfn.raw() >= mfn_limit || nr > mfn_limit - mfn.raw()) return Status::err(-EINVAL);
    if (!p.r && (p.w || p.x)) return Status::err(-EINVAL);

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

void Npt::txn_write(Txn& txn, bool fresh_table, Mfn t, unsigned index, uint64_t value) const {
    Table tb = table(t);
    if (!fresh_table) txn.writes.push_back({t, index, tb[index]});
    tb[index] = value;
}

Status Npt::map_in(Txn& txn, Mfn t, bool fresh_table, unsigned level, uint64_t& gfn, uint64_t& mfn,
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
            // p2m_pt_set_entry resolves the walk before writing).
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

Stage2Leaf Npt::lookup(Gfn gfn) const {
    Stage2Leaf leaf;
    if (gfn.raw() >= gfn_count) return leaf;  // beyond the walk: a hole
    const Path p = walk(gfn.raw());
    leaf.recalc_pending = p.any_marked();
    const uint64_t e = p.last();
    const unsigned level = p.last_level();
    if (e == 0) return leaf;
    Expects(E::is_leaf(e, level));  // hvcore writes no not-present table pointer
    const NptLeafFields f = E::decode_leaf(e, level);
    leaf.mapped = true;
    leaf.mfn = f.mfn + (gfn.raw() & (level_pages(level) - 1));
    leaf.type = f.type;
    leaf.order = level_order(level);
    return leaf;
}

uint64_t Npt::count_tables(Mfn t, unsigned level, uint64_t first, uint64_t end) const {
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

uint64_t Npt::tables_needed_4k(Gfn first, uint64_t nr) const {
    Expects(first.raw() <= gfn_count && nr <= gfn_count - first.raw());
    if (nr == 0) return 0;
    return count_tables(root_, level_pml4, first.raw(), first.raw() + nr);
}

void Npt::set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) {
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

void Npt::mark_recalc_all() {
    // O(512): every present PML4 entry (Xen's
    // p2m_pt_change_entry_type_global). Each is a table pointer (PS is MBZ
    // in a PML4E), and without U/S it denies every nested access below it.
    for (uint64_t& e : table(root_))
        if (E::present(e)) e = E::with_mark(e);
}

bool Npt::resolve(Gfn gfn, RecalcPolicy& policy) {
    Expects(gfn.raw() < gfn_count);
    bool pending = false;
    Mfn tbl = root_;
    unsigned level = level_pml4;
    // Xen's do_recalc: at each marked table pointer on the walk, push the
    // mark into the next table, then clear it here (U/S and A back).
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
    // whole table, as Xen does for the L1 table; marked pointers to other
    // subtrees stay marked for their own walks). The rewrite restores U/S
    // and A, and derives rights and cache bits from the new type.
    const uint64_t base = gfn.raw() & ~(level_pages(level + 1) - 1);
    Table tb = table(tbl);
    for (unsigned i = 0; i < entries_per_table; ++i) {
        const uint64_t e = tb[i];
        if (!E::marked(e) || !E::is_leaf(e, level)) continue;
        const uint64_t first = base + i * level_pages(level);
        const RecalcPolicy::Update u = policy.recalc(Gfn{first}, level_order(level), E::type_of(e));
        tb[i] = E::encode_leaf(E::leaf_frame(e, level), u.type, u.perm, p2m_mem_class(u.type), level);
        pending = true;
    }
    return pending;
}

uint64_t Npt::raw_entry(Gfn gfn) const {
    if (gfn.raw() >= gfn_count) return 0;
    return walk(gfn.raw()).last();
}

void Npt::visit_leaves(Mfn t, unsigned level, uint64_t base, bool marked_above,
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
        const NptLeafFields f = E::decode_leaf(e, level);
        const Stage2Leaf leaf{.mapped = true,
                              .mfn = f.mfn,
                              .type = f.type,
                              .order = level_order(level),
                              .recalc_pending = marked_above || f.recalc};
        fn(Gfn{first}, leaf);
    }
}

void Npt::for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const {
    visit_leaves(root_, level_pml4, 0, false, fn);
}

Translation Npt::translate(Gpa gpa, AccessType access, const AccessContext& ctx) {
    Translation tr;
    tr.record.arch = Arch::x86_svm;
    tr.record.gpa = gpa.raw();  // EXITINFO2
    // #NPF (§15.25.6): EXITINFO1 is the page-fault error code of the nested
    // walk plus bit 32, since the model has no guest paging and every access
    // is to a final guest-physical address. #NPF provides no linear address.
    auto npf = [&](uint64_t cause) {
        tr.record.kind = Npf::exit_code;
        tr.record.syndrome = cause | info1_access(access) | Npf::info1_final;
        tr.record.gva = 0;
        // Decode assists (§15.33): a data access's #NPF carries the bytes
        // fetched at guest CS:RIP (the core passes them as ctx.insn), at
        // most 15; an instruction-fetch fault carries none.
        if (access != AccessType::fetch) {
            const auto n = static_cast<uint32_t>(std::min<size_t>(Npf::max_insn_bytes, ctx.insn.size()));
            std::copy_n(ctx.insn.begin(), n, tr.record.insn.begin());
            tr.record.insn_len = n;
        }
        return tr;
    };
    // A 4-level walk translates bits 47:0; hvcore treats a wider address as
    // reaching no entry (the guest's MAXPHYADDR never exceeds 48 here).
    if ((gpa.raw() >> Npt::gpa_bits) != 0) return npf(0);

    // The walk checks presence and reserved bits entry by entry; the rights
    // are checked on the combination, once the leaf is reached, so a
    // not-present or reserved entry deeper down wins over a denying one
    // above it (§8.4.2, as QEMU's and Bochs's walkers do).
    const uint64_t gfn = gpa.gfn().raw();
    Rights rights;
    Mfn tbl = root_;
    for (unsigned level = level_pml4;; --level) {
        const uint64_t e = table(tbl)[level_index(gfn, level)];
        if (!E::present(e)) return npf(0);
        if (npt_reserved(e, level)) return npf(Npf::info1_p | Npf::info1_rsv);
        rights.add(e);
        if (E::is_leaf(e, level)) {
            if (!rights.allow(access)) return npf(Npf::info1_p);
            tr.ok = true;
            tr.mfn = E::leaf_frame(e, level) + (gfn & (level_pages(level) - 1));
            tr.record = FaultRecord{};
            return tr;
        }
        tbl = E::frame(e);
    }
}

Fault Npt::decode_fault(const FaultRecord& record) const {
    Expects(record.arch == Arch::x86_svm && record.kind == Npf::exit_code);
    const uint64_t info1 = record.syndrome;
    Fault f;
    f.gpa = Gpa{record.gpa};
    // An access is one kind; should several bits be set, the strictest
    // wins: fetch, then write, then read. (A fault on a guest page-table
    // access, bit 33, has R/W = 1: the walk is a write, as hardware says.)
    f.access = (info1 & Npf::info1_id)   ? AccessType::fetch
               : (info1 & Npf::info1_rw) ? AccessType::write
                                         : AccessType::read;
    if ((info1 & Npf::info1_rsv) != 0) {
        // A reserved bit: hvcore writes none, so the entry is broken and no
        // resolution can fix it; reporting recalc would make the core retry
        // forever. not_present sends the access down the path of an address
        // with no usable entry, as the EPT backend does with an unmarked
        // misconfiguration. (QEMU 7.2 reports these without P.)
        f.cause = FaultCause::not_present;
    } else if ((info1 & Npf::info1_p) != 0) {
        // A present entry denied the access. It is a pending recalculation
        // if a mark lies on the walk (the mark's U/S = 0 denies every
        // access); otherwise the rights themselves refuse it.
        const uint64_t gfn = f.gpa.gfn().raw();
        const bool marked = gfn < gfn_count && walk(gfn).any_marked();
        f.cause = marked ? FaultCause::recalc : FaultCause::permission;
    } else {
        // Not present. A mark higher up did not cause it (the walk reached
        // a not-present entry, whose hole type no recalculation changes), so
        // like Xen's svm.c, which resolves only for PFEC_page_present, the
        // fault goes straight to the not-present path.
        f.cause = FaultCause::not_present;
    }
    return f;  // no gla: #NPF has no linear address
}

}  // namespace hvcore::svm
