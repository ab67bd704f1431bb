// SPDX-License-Identifier: MIT
#include "hvcore/arm64/stage2.hpp"

#include <algorithm>
#include <bit>

namespace hvcore::arm64 {

namespace {

using D = S2Desc;

// Tables set_4k allocates below a fresh (not yet existing) level-`level`
// table to reach every gfn of [first, end): one level-(k+1) table per
// distinct level-k descriptor touched, for k = level .. 2.
constexpr uint64_t tables_below_fresh(unsigned level, uint64_t first, uint64_t end) noexcept {
    uint64_t n = 0;
    for (unsigned k = level; k < level_3; ++k)
        n += ((end - 1) >> level_order(k)) - (first >> level_order(k)) + 1;
    return n;
}
static_assert(tables_below_fresh(level_3, 0, 1) == 0);
static_assert(tables_below_fresh(level_2, 511, 513) == 2);  // two level-3 tables under one level-2 table
static_assert(tables_below_fresh(level_1, 0, 1) == 2);      // one level-2 and one level-3 table

// Whether a valid leaf's S2AP/XN let the access through (Arm ARM D8.4,
// "Stage 2 data access permissions": S2AP[0] read, S2AP[1] write; "Stage 2
// instruction access permissions": without FEAT_XNX, XN[1] = 1 forbids
// execution at EL1 and EL0). An AArch64 fetch needs no read permission
// (QEMU get_S2prot: read is required only with EL2 in AArch32).
constexpr bool allows(uint64_t e, AccessType a) noexcept {
    switch (a) {
    case AccessType::read: return (e & D::s2ap_r) != 0;
    case AccessType::write: return (e & D::s2ap_w) != 0;
    case AccessType::fetch: return (e & D::xn1) == 0;
    }
    return false;
}

}  // namespace

bool Arm64Stage2::Path::any_marked() const noexcept {
    for (unsigned i = 0; i < count; ++i)
        if (D::marked(entry[i])) return true;
    return false;
}

Result<Mfn> alloc_contiguous(MachineMemory& mem, unsigned n) {
    Expects(n >= 1 && n <= 16 && std::has_single_bit(n));
    std::vector<Mfn> got;
    for (;;) {
        auto m = mem.alloc_table();
        if (!m) {
            for (Mfn f : got) mem.free_table(f);
            return m.status();
        }
        got.push_back(*m);
        // The aligned run the new frame belongs to: complete?
        const uint64_t base = m->raw() & ~uint64_t{n - 1};
        bool complete = true;
        for (uint64_t f = base; f < base + n && complete; ++f)
            complete = std::find(got.begin(), got.end(), Mfn{f}) != got.end();
        if (!complete) continue;
        for (Mfn f : got)
            if (f.raw() < base || f.raw() >= base + n) mem.free_table(f);
        return Mfn{base};
    }
}

Result<std::unique_ptr<Arm64Stage2>> Arm64Stage2::create(MachineMemory& mem) { return create(mem, vtcr_default); }

Result<std::unique_ptr<Arm64Stage2>> Arm64Stage2::create(MachineMemory& mem, uint64_t vtcr) {
    const VtcrDecode d = Vtcr::decode(vtcr);
    if (!d.config) return Status::err(-EINVAL);
    // Every frame a descriptor may hold must lie below the PA size, or the
    // walk takes an Address size fault (Arm ARM D8.2; QEMU 7.2
    // target/arm/ptw.c get_phys_addr_lpae checks each output address):
    // guest RAM and the whole table pool (which starts at 64 GiB).
    const uint64_t mfn_limit = uint64_t{1} << (d.config->pa_bits - page_shift);
    if (MachineMemory::table_base_mfn.raw() + mem.table_frame_limit() > mfn_limit ||
        MachineMemory::ram_base_mfn.raw() + mem.ram_frames() > mfn_limit)
        return Status::err(-EINVAL);
    auto root = alloc_contiguous(mem, d.config->root_tables);
    if (!root) return root.status();
    return std::unique_ptr<Arm64Stage2>{new Arm64Stage2(mem, vtcr, *d.config, *root)};
}

Result<std::unique_ptr<Stage2>> make_arm64_stage2(MachineMemory& mem) {
    auto s2 = Arm64Stage2::create(mem);
    if (!s2) return s2.status();
    return std::unique_ptr<Stage2>{std::move(s2).value()};
}

Arm64Stage2::~Arm64Stage2() {
    for (uint64_t i = 0; i < cfg_.root_entries(); ++i)
        if (const uint64_t e = slot(root_, static_cast<unsigned>(i)); D::is_table(e, cfg_.start_level))
            free_subtree(D::frame(e), cfg_.start_level + 1);
    for (unsigned k = 0; k < cfg_.root_tables; ++k) mem_.free_table(root_ + k);
}

Arm64Stage2::Table Arm64Stage2::table(Mfn m) const noexcept {
    // Only table frames hold stage-2 tables: a pointer elsewhere is a bug
    // of this file, never something a guest can cause.
    Expects(mem_.is_table_frame(m));
    return Table{reinterpret_cast<uint64_t*>(mem_.frame(m)), entries_per_table};
}

uint64_t& Arm64Stage2::slot(Mfn t, unsigned i) const noexcept {
    return table(t + i / entries_per_table)[i % entries_per_table];
}

uint64_t Arm64Stage2::entries_at(unsigned level) const noexcept {
    return level == cfg_.start_level ? cfg_.root_entries() : entries_per_table;
}

unsigned Arm64Stage2::index(uint64_t gfn, unsigned level) const noexcept {
    return static_cast<unsigned>((gfn >> level_order(level)) & (entries_at(level) - 1));
}

uint64_t Arm64Stage2::table_end(uint64_t gfn, unsigned level) const noexcept {
    if (level == cfg_.start_level) return cfg_.gfn_count();
    return (gfn | (level_pages(level - 1) - 1)) + 1;
}

bool Arm64Stage2::beyond_pa(uint64_t e) const noexcept {
    return ((e & D::oa_mask) >> cfg_.pa_bits) != 0;
}

void Arm64Stage2::free_subtree(Mfn t, unsigned level) noexcept {
    if (level < level_3) {
        for (uint64_t e : table(t))
            if (D::is_table(e, level)) free_subtree(D::frame(e), level + 1);
    }
    mem_.free_table(t);
}

Arm64Stage2::Path Arm64Stage2::walk(uint64_t gfn) const {
    Path p;
    p.first_level = cfg_.start_level;
    Mfn t = root_;
    for (unsigned level = cfg_.start_level;; ++level) {
        const uint64_t e = slot(t, index(gfn, level));
        p.entry[p.count++] = e;
        if (!D::is_table(e, level)) return p;
        t = D::frame(e);
    }
}

// The 512 children of a block keep its attributes, rights, AF, XN, type,
// validity and recalc mark; only the output address advances, and level-3
// children get bit 1 (page descriptor).
void Arm64Stage2::fill_split(Mfn child, uint64_t parent, unsigned parent_level) const noexcept {
    Expects(parent_level < level_3 && D::is_leaf(parent, parent_level));
    const unsigned level = parent_level + 1;
    const uint64_t keep = (parent & ~D::oa_mask & ~D::type_bit) | (level == level_3 ? D::type_bit : 0);
    const uint64_t base = D::frame(parent).raw();
    Table t = table(child);
    for (unsigned i = 0; i < entries_per_table; ++i) t[i] = keep | ((base + i * level_pages(level)) << page_shift);
}

// Push a mark one level down: every valid descriptor of the child table
// (table or leaf) becomes invalid and marked. Invalid leaves (typed holes)
// need no mark: their types are not changeable, and they fault anyway.
void Arm64Stage2::push_marks(Mfn child) const noexcept {
    for (uint64_t& e : table(child))
        if (D::is_valid(e)) e = D::mark(e);
}

Status Arm64Stage2::map_range(Gfn gfn, Mfn mfn, uint64_t nr, P2mType t, Perm p) {
    if (nr == 0) return Status::ok();
    const uint64_t gfns = cfg_.gfn_count();
    if (gfn.raw() >= gfns || nr > gfns - gfn.raw()) return Status::err(-EINVAL);
    // Output addresses beyond PS would be Address size faults.
    const uint64_t mfns = uint64_t{1} << (cfg_.pa_bits - page_shift);
    if (mfn.raw() >= mfns || nr > mfns - mfn.raw()) return Status::err(-EINVAL);

    Txn txn;
    uint64_t g = gfn.raw();
    uint64_t m = mfn.raw();
    const LeafSpec spec{t, p, p2m_mem_class(t)};
    if (Status s = map_in(txn, root_, false, cfg_.start_level, g, m, gfn.raw() + nr, spec); !s) {
        for (auto it = txn.writes.rbegin(); it != txn.writes.rend(); ++it) *it->slot = it->old;
        for (Mfn f : txn.fresh) mem_.free_table(f);
        return s;
    }
    for (const Txn::Subtree& st : txn.replaced) free_subtree(st.table, st.level);
    return Status::ok();
}

void Arm64Stage2::txn_write(Txn& txn, bool fresh_table, uint64_t& slot, uint64_t value) {
    // Writes into a table this map_range allocated are not logged: freeing
    // the table undoes them.
    if (!fresh_table) txn.writes.push_back({&slot, slot});
    slot = value;
}

Status Arm64Stage2::map_in(Txn& txn, Mfn t, bool fresh_table, unsigned level, uint64_t& gfn, uint64_t& mfn,
                           uint64_t end, const LeafSpec& spec) {
    const uint64_t stop = std::min(end, table_end(gfn, level));
    while (gfn < stop) {
        uint64_t& s = slot(t, index(gfn, level));
        const uint64_t e = s;
        const uint64_t pages = level_pages(level);
        const bool fits = (gfn & (pages - 1)) == 0 && (mfn & (pages - 1)) == 0 && stop - gfn >= pages;
        if (level >= level_1 && fits) {
            // The largest leaf alignment allows (no level-0 blocks with
            // 4 KiB, Arm ARM D8.3). A subtree it replaces is freed only once
            // the whole range has succeeded.
            if (D::is_table(e, level)) txn.replaced.push_back({D::frame(e), level + 1});
            txn_write(txn, fresh_table, s, D::encode_leaf(Mfn{mfn}, spec.type, spec.perm, spec.mem, level));
            gfn += pages;
            mfn += pages;
            continue;
        }
        Expects(level < level_3);  // every 4 KiB page fits
        Mfn child{};
        bool child_fresh = false;
        if (D::is_table(e, level)) {
            child = D::frame(e);
            // Carry out a pending mark first, so it cannot later be applied
            // to the leaves written now.
            if (D::marked(e)) {
                for (unsigned c = 0; c < entries_per_table; ++c)
                    if (uint64_t& cs = slot(child, c); D::is_valid(cs)) txn_write(txn, false, cs, D::mark(cs));
                txn_write(txn, fresh_table, s, D::unmark(e));
            }
        } else {
            auto fresh = mem_.alloc_table();
            if (!fresh) return fresh.status();
            txn.fresh.push_back(*fresh);
            child = *fresh;
            child_fresh = true;
            if (e != 0) fill_split(child, e, level);
            txn_write(txn, fresh_table, s, D::encode_table(child));
        }
        HV_TRY(map_in(txn, child, child_fresh, level + 1, gfn, mfn, end, spec));
    }
    return Status::ok();
}

Stage2Leaf Arm64Stage2::lookup(Gfn gfn) const {
    Stage2Leaf leaf;
    if (gfn.raw() >= cfg_.gfn_count()) return leaf;  // beyond the IPA space: a hole
    const Path p = walk(gfn.raw());
    leaf.recalc_pending = p.any_marked();
    const uint64_t e = p.last();
    const unsigned level = p.last_level();
    if (e == 0) return leaf;
    Expects(level >= level_1 && D::is_leaf(e, level));  // hvcore writes no level-0 leaf
    const S2LeafFields f = D::decode_leaf(e);
    leaf.mapped = true;
    leaf.mfn = f.mfn + (gfn.raw() & (level_pages(level) - 1));
    leaf.type = f.type;
    leaf.order = level_order(level);
    return leaf;
}

uint64_t Arm64Stage2::count_tables(Mfn t, unsigned level, uint64_t first, uint64_t end) const {
    uint64_t n = 0;
    for (uint64_t g = first; g < end;) {
        const uint64_t block_end = std::min(end, (g | (level_pages(level) - 1)) + 1);
        const uint64_t e = slot(t, index(g, level));
        if (D::is_table(e, level)) {
            if (level + 1 < level_3) n += count_tables(D::frame(e), level + 1, g, block_end);
        } else {
            // Absent, or a block to split: one new table below this
            // descriptor, and below it only fresh tables.
            n += 1 + tables_below_fresh(level + 1, g, block_end);
        }
        g = block_end;
    }
    return n;
}

uint64_t Arm64Stage2::tables_needed_4k(Gfn first, uint64_t nr) const {
    Expects(first.raw() <= cfg_.gfn_count() && nr <= cfg_.gfn_count() - first.raw());
    if (nr == 0) return 0;
    return count_tables(root_, cfg_.start_level, first.raw(), first.raw() + nr);
}

void Arm64Stage2::set_4k(Gfn gfn, Mfn mfn, P2mType t, Perm p) {
    Expects(gfn.raw() < cfg_.gfn_count() && (mfn.raw() >> (cfg_.pa_bits - page_shift)) == 0);
    Mfn tbl = root_;
    for (unsigned level = cfg_.start_level; level < level_3; ++level) {
        uint64_t& s = slot(tbl, index(gfn.raw(), level));
        const uint64_t e = s;
        if (D::is_table(e, level)) {
            if (D::marked(e)) {  // as in map_in: pending marks go down first
                push_marks(D::frame(e));
                s = D::unmark(e);
            }
            tbl = D::frame(e);
            continue;
        }
        // The core reserved tables_needed_4k() frames: this cannot fail.
        const Mfn child = mem_.take_reserved();
        if (e != 0) fill_split(child, e, level);
        s = D::encode_table(child);
        tbl = child;
    }
    slot(tbl, index(gfn.raw(), level_3)) = D::encode_leaf(mfn, t, p, p2m_mem_class(t), level_3);
}

void Arm64Stage2::mark_recalc_all() {
    // O(root entries): every valid start-level descriptor, table or block.
    for (uint64_t i = 0; i < cfg_.root_entries(); ++i)
        if (uint64_t& s = slot(root_, static_cast<unsigned>(i)); D::is_valid(s)) s = D::mark(s);
}

bool Arm64Stage2::resolve(Gfn gfn, RecalcPolicy& policy) {
    Expects(gfn.raw() < cfg_.gfn_count());
    bool pending = false;
    Mfn tbl = root_;
    unsigned level = cfg_.start_level;
    // At each marked table descriptor on the walk: push the mark into the
    // next table, then restore the descriptor.
    for (;;) {
        uint64_t& s = slot(tbl, index(gfn.raw(), level));
        const uint64_t e = s;
        if (!D::is_table(e, level)) break;
        if (D::marked(e)) {
            push_marks(D::frame(e));
            s = D::unmark(e);
            pending = true;
        }
        tbl = D::frame(e);
        ++level;
    }
    // The last table reached (for a concatenated root: the 4 KiB table of
    // it that holds gfn): recalculate each of its marked leaves. Marked
    // table descriptors to other subtrees stay marked for their own walks.
    const unsigned first_index = index(gfn.raw(), level) & ~(entries_per_table - 1);
    const uint64_t base = gfn.raw() & ~(level_pages(level) * entries_per_table - 1);
    for (unsigned j = 0; j < entries_per_table; ++j) {
        uint64_t& s = slot(tbl, first_index + j);
        const uint64_t e = s;
        if (!D::marked(e) || !D::is_leaf(e, level)) continue;
        const uint64_t first = base + j * level_pages(level);
        const RecalcPolicy::Update u = policy.recalc(Gfn{first}, level_order(level), D::type_of(e));
        s = D::encode_leaf(D::frame(e), u.type, u.perm, p2m_mem_class(u.type), level);
        pending = true;
    }
    return pending;
}

uint64_t Arm64Stage2::raw_entry(Gfn gfn) const {
    if (gfn.raw() >= cfg_.gfn_count()) return 0;
    return walk(gfn.raw()).last();
}

// Levels are the Arm ARM's lookup levels (0..3); config is VTCR_EL2.
Stage2Walk Arm64Stage2::walk_entries(Gfn gfn) const {
    Expects(gfn.raw() < cfg_.gfn_count());
    Stage2Walk w;
    w.arch = arch();
    w.root = root_;
    w.root_frames = cfg_.root_tables;
    w.config = vtcr_;
    Mfn t = root_;
    for (unsigned level = cfg_.start_level;; ++level) {
        const unsigned i = index(gfn.raw(), level);
        const uint64_t e = slot(t, i);
        w.level[w.count++] = {.entry = e, .table = t, .index = i, .level = static_cast<int>(level)};
        if (!D::is_table(e, level)) return w;
        t = D::frame(e);
    }
}

void Arm64Stage2::visit_leaves(Mfn t, unsigned level, uint64_t base, bool marked_above,
                               const std::function<void(Gfn, const Stage2Leaf&)>& fn) const {
    const uint64_t n = entries_at(level);
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t e = slot(t, static_cast<unsigned>(i));
        if (e == 0) continue;
        const uint64_t first = base + i * level_pages(level);
        if (D::is_table(e, level)) {
            visit_leaves(D::frame(e), level + 1, first, marked_above || D::marked(e), fn);
            continue;
        }
        const S2LeafFields f = D::decode_leaf(e);
        const Stage2Leaf leaf{.mapped = true,
                              .mfn = f.mfn,
                              .type = f.type,
                              .order = level_order(level),
                              .recalc_pending = marked_above || f.recalc};
        fn(Gfn{first}, leaf);
    }
}

void Arm64Stage2::for_each_leaf(const std::function<void(Gfn first, const Stage2Leaf&)>& fn) const {
    visit_leaves(root_, cfg_.start_level, 0, false, fn);
}

Translation Arm64Stage2::translate(Gpa gpa, AccessType access, const AccessContext& ctx) {
    Translation tr;
    const uint64_t ipa = gpa.raw();
    // FAR_EL2: "the faulting Virtual Address" (Arm ARM DDI 0487 M.a.a,
    // D24.2.49). The MMU port gives the address of the access's first byte
    // in the page walked (stage2.hpp, AccessContext): on the second page of
    // an access that crosses a page boundary, that page's first byte (the
    // pseudocode Mem[] makes an unaligned access byte by byte, so the first
    // byte that faults is the one reported; QEMU probes the second page at
    // its first byte); for DC ZVA, the register operand. Without one (no
    // stage 1 in the model) the VA is the IPA.
    const uint64_t far = ctx.gla_valid ? ctx.gla : ipa;
    // ctx.rmw (the read of an atomic read-modify-write) changes nothing
    // here: the read is checked as a read and a fault of it reported with
    // WnR = 0, since "for faults from an atomic instruction that both reads
    // and writes from a memory location, this bit is set to 0 if a read of
    // the address specified by the instruction would have generated the
    // fault which is being reported, otherwise it is set to 1" (D24.2.46
    // ESR_EL2, WnR). A page the read passes faults on the write, WnR = 1.
    auto fault = [&](uint64_t kind, unsigned level) {
        // ESR_EL2 for an abort from EL1/EL0 (Arm ARM D24.2.46 "ESR_EL2,
        // Exception Syndrome Register (EL2)"; Linux esr.h): IL = 1, EC
        // 0x20 for fetches, 0x24 for data with WnR and the instruction's
        // syndrome (ISV = 1 only when the executor describes the access;
        // CM = 1 when it says cache maintenance; S1PTW = 0: there is no
        // stage-1 walk in the model).
        uint64_t esr = Esr::il | Esr::fsc(kind, level);
        uint32_t ec = Esr::ec_iabt_lower;
        if (access != AccessType::fetch) {
            ec = Esr::ec_dabt_lower;
            // ISV stays 1 on the second page of an access that crosses a
            // page boundary: the architecture lists no such exception
            // (D24.2.46 ESR_EL2, ISV: "ISV is 0 except for the following
            // stage 2 aborts: AArch64 loads and stores of a single
            // general-purpose register ..."), and QEMU keeps it. Such a
            // record names the second page only; the core, whose MMU port
            // split the access, decodes the instruction rather than replay
            // the record (Domain::emulate_locked).
            if ((ctx.isa_syndrome & Esr::isv) != 0) esr |= ctx.isa_syndrome & Esr::insn_syndrome_mask;
            if (access == AccessType::write) esr |= Esr::wnr;
            // ESR_EL2 WnR: "For faults on cache maintenance and address
            // translation instructions, this bit always returns a value of
            // 1"; ISV is 0 for them (D24.2.46, ISV: only single
            // general-purpose register loads and stores set it).
            if ((ctx.isa_syndrome & Esr::cm) != 0) esr = (esr & ~Esr::insn_syndrome_mask) | Esr::cm | Esr::wnr;
        }
        esr |= uint64_t{ec} << Esr::ec_shift;
        tr.record.arch = Arch::arm64;
        tr.record.kind = ec;
        tr.record.syndrome = esr;
        // HPFAR_EL2 is written for every stage-2 fault, permission faults
        // included (QEMU does; hardware may leave it invalid for those,
        // KVM/Xen then recompute the IPA with AT: Linux
        // arch/arm64/kvm/hyp/include/hyp/fault.h __get_fault_info, Xen
        // xen/arch/arm/traps.c hpfar_is_valid).
        tr.record.gpa = Hpfar::encode(ipa);
        tr.record.gva = far;
        return tr;
    };
    // An IPA beyond 64 - T0SZ bits: translation fault at level 0, whatever
    // the start level (Arm ARM pseudocode: AArch64.IPAIsOutOfRange gives
    // Fault_Translation at level 0; the v8.0 AArch64.TranslationTableWalk
    // sets level = 0 when !basefound, "AArch32 reports this as a level 1
    // fault"). My reading of the pseudocode; QEMU's range check is the
    // same fault (target/arm/ptw.c get_phys_addr_lpae, its first check).
    if ((ipa >> cfg_.ipa_bits) != 0) return fault(Esr::fsc_translation, level_0);

    const uint64_t gfn = gpa.gfn().raw();
    Mfn tbl = root_;
    for (unsigned level = cfg_.start_level;; ++level) {
        const uint64_t e = slot(tbl, index(gfn, level));
        // Order of checks: QEMU 7.2 target/arm/ptw.c get_phys_addr_lpae.
        if (!D::is_valid(e)) return fault(Esr::fsc_translation, level);
        if (level < level_3 && (e & D::type_bit) != 0) {  // table descriptor
            if (beyond_pa(e)) return fault(Esr::fsc_address_size, level);
            tbl = D::frame(e);
            continue;
        }
        // A block at level 0 (4 KiB without FEAT_LPA2) and 0b01 at level 3
        // are translation faults (Arm ARM D8.3; AArch64.BlockDescSupported).
        if (level == level_0 || (level == level_3 && (e & D::type_bit) == 0))
            return fault(Esr::fsc_translation, level);
        if (beyond_pa(e)) return fault(Esr::fsc_address_size, level);
        // AF = 0 with VTCR.HA = 0: Access flag fault (Arm ARM D8.4, "The
        // Access flag"); the model has no FEAT_HAFDBS.
        if ((e & D::af) == 0) return fault(Esr::fsc_access_flag, level);
        if (!allows(e, access)) return fault(Esr::fsc_permission, level);
        // The low output-address bits of a block are RES0; like QEMU, the
        // walk uses the block's aligned base.
        const uint64_t pages = level_pages(level);
        tr.ok = true;
        tr.mfn = Mfn{(D::frame(e).raw() & ~(pages - 1)) + (gfn & (pages - 1))};
        return tr;
    }
}

Fault Arm64Stage2::decode_fault(const FaultRecord& record) const {
    Expects(record.arch == Arch::arm64);
    const uint64_t esr = record.syndrome;
    const uint32_t ec = Esr::ec_of(esr);
    Expects(ec == Esr::ec_dabt_lower || ec == Esr::ec_iabt_lower);
    Fault f;
    f.gpa = Gpa{fault_ipa(record.gpa, record.gva)};
    // FAR is valid for every translation, access-flag and permission abort
    // (FnV applies to external aborts only).
    f.gla = record.gva;
    f.access = ec == Esr::ec_iabt_lower ? AccessType::fetch
               : (esr & Esr::wnr) != 0  ? AccessType::write
                                        : AccessType::read;
    // A pending recalculation shows as a mark on the walk (it made some
    // descriptor invalid). Otherwise: permission and access-flag faults
    // hit a leaf that exists; translation faults an absent or typed-hole
    // descriptor; address-size faults a descriptor hvcore never writes,
    // which is no usable entry either.
    const uint64_t gfn = f.gpa.gfn().raw();
    if (gfn < cfg_.gfn_count() && walk(gfn).any_marked()) {
        f.cause = FaultCause::recalc;
        return f;
    }
    const uint64_t kind = esr & Esr::fsc_kind_mask;
    f.cause = kind == Esr::fsc_permission || kind == Esr::fsc_access_flag ? FaultCause::permission
                                                                          : FaultCause::not_present;
    return f;
}

}  // namespace hvcore::arm64
