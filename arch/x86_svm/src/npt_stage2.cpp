// SPDX-License-Identifier: MIT
#include "hvcore/svm/npt_stage2.hpp"

#include <algorithm>

#include <gsl/assert>

#include "hvcore/s2/engine_impl.hpp"

// The table code of NPT.
template class hvcore::s2::Table<hvcore::svm::NptEntry>;

namespace hvcore::svm {

namespace {

using E = NptEntry;

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

Translation Npt::translate(Gpa gpa, AccessType access_in, const AccessContext& ctx) {
    // The read of a read-modify-write is checked and reported as a write:
    // EXITINFO1 is the page-fault error code (§15.25.6), and real
    // hardware sets R/W in it for the read of a read-modify-write (Linux
    // commit c205fb7d7d4f, "KVM: x86: #PF error-code on R/W operations is
    // wrong": x86_emulate_insn adds PFERR_WRITE_MASK to a fault on the
    // destination read of an instruction that writes it). Bochs walks such
    // a read with BX_RW (nested_walk: isWrite = rw & 1, so W is checked
    // and R/W reported).
    const AccessType access = access_in == AccessType::read && ctx.rmw ? AccessType::write : access_in;
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
    Mfn tbl = root();
    LastWalk w{.gfn = gfn};
    for (unsigned level = level_pml4;; --level) {
        const uint64_t* s = &slot(tbl, level, geometry().index(gfn, level));
        const uint64_t e = *s;
        if (!E::present(e)) return npf(0);
        if (npt_reserved(e, level)) return npf(Npf::info1_p | Npf::info1_rsv);
        Ensures(w.count < w.slot.size());
        w.slot[w.count] = s;
        w.entry[w.count++] = e;
        w.marked = w.marked || E::marked(e);
        rights.add(e);
        if (E::is_leaf(e, level)) {
            if (!rights.allow(access)) {
                last_walk_ = w;  // for decode_fault (marked_on)
                return npf(Npf::info1_p);
            }
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
        f.cause = marked_on(f.gpa.gfn().raw()) ? FaultCause::recalc : FaultCause::permission;
    } else {
        // Not present. A mark higher up did not cause it (the walk reached
        // a not-present entry, whose hole type no recalculation changes), so
        // like Xen's svm.c, which resolves only for PFEC_page_present, the
        // fault goes straight to the not-present path.
        f.cause = FaultCause::not_present;
    }
    return f;  // no gla: #NPF has no linear address
}

bool Npt::marked_on(uint64_t gfn) const {
    const LastWalk& w = last_walk_;
    if (w.gfn == gfn && w.count > 0) {
        bool same = true;
        for (unsigned i = 0; i < w.count; ++i) same = same && *w.slot[i] == w.entry[i];
        if (same) return w.marked;
    }
    return marked_on_walk(gfn);
}

}  // namespace hvcore::svm
