// SPDX-License-Identifier: MIT
#include "hvcore/arm64/stage2.hpp"

#include <gsl/assert>

#include "hvcore/s2/engine_impl.hpp"

// The table code of Arm64.
template class hvcore::s2::Table<hvcore::arm64::S2Format>;

namespace hvcore::arm64 {

namespace {

using D = S2Desc;

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

Result<std::unique_ptr<Arm64Stage2>> Arm64Stage2::create(MachineMemory& mem, uint64_t vtcr) {
    const VtcrDecode d = Vtcr::decode(vtcr);
    if (!d.config) return Status::err(-EINVAL);
    // s2::create refuses (-EINVAL) a PA size that does not reach every
    // frame of mem, since the walk would take an Address size fault (Arm
    // ARM D8.2; QEMU 7.2 target/arm/ptw.c get_phys_addr_lpae checks each
    // output address): guest RAM and the whole table pool (which starts at
    // 64 GiB).
    return s2::create<Arm64Stage2>(mem, geometry_of(*d.config), vtcr, *d.config);
}

bool Arm64Stage2::beyond_pa(uint64_t e) const noexcept {
    return ((e & D::oa_mask) >> cfg_.pa_bits) != 0;
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
            // the record (Domain::emulate, core/src/model_run.cpp).
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
    Mfn tbl = root();
    for (unsigned level = cfg_.start_level;; ++level) {
        const uint64_t e = entry(tbl, S2Format::lookup_level(level), gfn);
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
    //
    // A mark makes its descriptor invalid (S2Desc::mark), and a walk ends
    // at the first invalid descriptor with a Translation fault (Arm ARM
    // D8.3): a permission or access-flag fault passed only valid
    // descriptors to a valid leaf, so no mark lies on its walk and the
    // table is not walked again for it (the fault path of a store to a
    // read-only page: one walk, not two).
    const uint64_t kind = esr & Esr::fsc_kind_mask;
    if (kind == Esr::fsc_permission || kind == Esr::fsc_access_flag) {
        f.cause = FaultCause::permission;
        return f;
    }
    const uint64_t gfn = f.gpa.gfn().raw();
    f.cause = marked_on_walk(gfn) ? FaultCause::recalc : FaultCause::not_present;
    return f;
}

}  // namespace hvcore::arm64
