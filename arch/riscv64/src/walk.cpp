// SPDX-License-Identifier: MIT
#include "hvcore/riscv64/walk.hpp"

#include <gsl/assert>

namespace hvcore::riscv64 {

namespace {

using P = Pte;

// Step 3's reserved bits and encodings of a leaf (the model has neither
// Svpbmt nor Svnapot, so PBMT and N are reserved too).
constexpr uint64_t leaf_reserved = P::reserved_mask | P::pbmt_mask | P::n;

constexpr bool allows(uint64_t e, AccessType a) noexcept {
    switch (a) {
    case AccessType::read: return (e & P::r) != 0;
    case AccessType::write: return (e & P::w) != 0;
    case AccessType::fetch: return (e & P::x) != 0;
    }
    return false;
}

uint64_t read_entry(const MachineMemory& mem, Mfn table, unsigned index) {
    const Mfn f = table + index / entries_per_table;
    // Only table frames hold G-stage tables: a pointer elsewhere is a bug
    // of the table code, never something a guest can cause.
    Expects(mem.is_table_frame(f));
    return reinterpret_cast<const uint64_t*>(mem.frame(f))[index % entries_per_table];
}

}  // namespace

FaultRecord guest_page_fault(Gpa gpa, AccessType access, const AccessContext& ctx) noexcept {
    const AccessType reported = ctx.rmw && access != AccessType::fetch ? AccessType::write : access;
    FaultRecord r;
    r.arch = Arch::riscv64;
    r.kind = guest_page_fault_cause(reported);
    r.gpa = htval_of(gpa.raw());
    r.gva = ctx.gla_valid ? ctx.gla : gpa.raw();
    // htinst: only loads and stores have a transformed instruction; an
    // instruction guest-page fault writes zero.
    r.syndrome = reported == AccessType::fetch ? 0 : htinst_of(ctx.isa_syndrome, r.gva);
    return r;
}

Translation gstage_translate(const MachineMemory& mem, Mfn root, const Geometry& geo, Gpa gpa, AccessType access,
                             const AccessContext& ctx) {
    Translation tr;
    auto fault = [&] {
        tr.record = guest_page_fault(gpa, access, ctx);
        return tr;
    };
    // The access of an AMO is checked as the store it also is.
    const AccessType checked = ctx.rmw && access == AccessType::read ? AccessType::write : access;
    // Step 0: "Address bits 63:41 [63:50] must all be zeros".
    if ((gpa.raw() >> geo.gpa_bits) != 0) return fault();
    const uint64_t gfn = gpa.gfn().raw();
    Mfn table = root;  // step 1
    for (int level = static_cast<int>(geo.root_level()); level >= 0; --level) {
        const auto i = static_cast<unsigned>(level);
        const uint64_t e = read_entry(mem, table, table_index(geo, gfn, i));  // step 2
        // Step 3.
        if (!P::is_valid(e) || ((e & P::r) == 0 && (e & P::w) != 0) || (e & leaf_reserved) != 0) return fault();
        // Step 4: a pointer; D, A and U are reserved in it.
        if ((e & (P::r | P::x)) == 0) {
            if ((e & P::nonleaf_reserved) != 0) return fault();
            table = P::frame(e);
            continue;
        }
        // Step 5: misaligned superpage.
        const uint64_t pages = level_pages(i);
        if ((P::frame(e).raw() & (pages - 1)) != 0) return fault();
        // Step 6: U, then R/W/X.
        if ((e & P::u) == 0 || !allows(e, checked)) return fault();
        // Step 7: Svade.
        if ((e & P::a) == 0 || (checked == AccessType::write && (e & P::d) == 0)) return fault();
        // Step 8.
        tr.ok = true;
        tr.mfn = P::frame(e) + (gfn & (pages - 1));
        return tr;
    }
    // Step 4: "If i < 0, stop and raise a page-fault exception".
    return fault();
}

Fault decode_guest_page_fault(const FaultRecord& record, const Stage2Walk* walk) {
    Expects(record.arch == Arch::riscv64);
    const auto access = access_of_cause(record.kind);
    Expects(access.has_value());
    Fault f;
    f.access = *access;
    f.gpa = Gpa{fault_gpa(record.gpa, record.gva)};
    // stval holds the faulting guest virtual address for every guest-page
    // fault ("Guest-Page Faults").
    f.gla = record.gva;
    f.cause = FaultCause::not_present;
    if (walk == nullptr || walk->count == 0) return f;
    for (unsigned k = 0; k < walk->count; ++k) {
        if (P::marked(walk->level[k].entry)) {
            f.cause = FaultCause::recalc;
            return f;
        }
    }
    const Stage2Walk::Level& last = walk->level[walk->count - 1];
    if (P::is_valid(last.entry) && P::is_leaf(last.entry, static_cast<unsigned>(last.level)))
        f.cause = FaultCause::permission;
    return f;
}

}  // namespace hvcore::riscv64
