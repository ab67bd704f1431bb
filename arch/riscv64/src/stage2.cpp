// SPDX-License-Identifier: MIT
#include "hvcore/riscv64/stage2.hpp"

#include "hvcore/s2/engine_impl.hpp"

template class hvcore::s2::Table<hvcore::riscv64::Pte>;

namespace hvcore::riscv64 {

Result<std::unique_ptr<GStage>> GStage::create(MachineMemory& mem) { return create(mem, Mode::sv39x4); }

Result<std::unique_ptr<GStage>> GStage::create(MachineMemory& mem, Mode mode) {
    return s2::create<GStage>(mem, riscv64::geometry(mode), mode);
}

Result<std::unique_ptr<Stage2>> make_riscv64_stage2(MachineMemory& mem) { return s2::make_stage2<GStage>(mem); }

Translation GStage::translate(Gpa gpa, AccessType access, const AccessContext& ctx) {
    return gstage_translate([this](Mfn t, unsigned level, uint64_t gfn) { return entry(t, level, gfn); }, root(),
                            geometry(), gpa, access, ctx);
}

Fault GStage::decode_fault(const FaultRecord& record) const {
    const uint64_t gfn = fault_gpa(record.gpa, record.gva) >> page_shift;
    if (gfn >= gfn_limit()) return decode_guest_page_fault(record, nullptr);
    const Stage2Walk w = walk_entries(Gfn{gfn});
    return decode_guest_page_fault(record, &w);
}

}  // namespace hvcore::riscv64
