// SPDX-License-Identifier: MIT
#include "hvcore/riscv64/walk.hpp"

#include <gsl/assert>

namespace hvcore::riscv64 {

using P = Pte;

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
