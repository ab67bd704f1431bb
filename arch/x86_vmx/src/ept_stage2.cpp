// SPDX-License-Identifier: MIT
#include "hvcore/vmx/ept_stage2.hpp"

#include <gsl/assert>

#include "hvcore/s2/engine_impl.hpp"

// The table code of EPT.
template class hvcore::s2::Table<hvcore::vmx::EptEntry>;

namespace hvcore::vmx {

namespace {

using E = EptEntry;

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

Translation Ept::translate(Gpa gpa, AccessType access_in, const AccessContext& ctx) {
    // The read of a read-modify-write needs, and reports, what its write
    // does: "An EPT violation that occurs as a result of execution of a
    // read-modify-write operation sets bit 1 (data write). Whether it also
    // sets bit 0 (data read) is implementation-specific" (SDM Vol. 3C
    // §28.2.1, note to Table 28-7). The model sets bit 1 alone, as Bochs
    // does (translate_guest_physical: BX_RW gives the write right only),
    // and checks W, which on a valid entry implies R (W without R is a
    // misconfiguration).
    const AccessType access = access_in == AccessType::read && ctx.rmw ? AccessType::write : access_in;
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
    Mfn tbl = root();
    for (unsigned level = level_pml4;; --level) {
        const uint64_t e = entry(tbl, level, gfn);
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
        f.cause = marked_on_walk(f.gpa.gfn().raw()) ? FaultCause::recalc : FaultCause::not_present;
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
