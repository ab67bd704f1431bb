// SPDX-License-Identifier: MIT
#include "hvcore/kvm/slot_plan.hpp"

#include <algorithm>

#include "hvcore/core/machine_memory.hpp"

namespace hvcore::kvm {

SlotAccess slot_access(P2mType t, bool read_trapped) noexcept {
    switch (t) {
    case P2mType::ram_rw: return SlotAccess::read_write;
    case P2mType::ram_ro: return SlotAccess::read_only;
    // A read-trapped page has no slot: KVM exits on every access to guest
    // memory no slot covers, as MMIO (Documentation/virt/kvm/api.rst,
    // KVM_EXIT_MMIO), and the core sends its reads to the owner.
    case P2mType::ioreq_server: return read_trapped ? SlotAccess::none : SlotAccess::read_only;
    case P2mType::ram_logdirty: return SlotAccess::read_only;
    case P2mType::invalid: return SlotAccess::none;
    case P2mType::mmio_dm: return SlotAccess::none;
    case P2mType::mmio_direct: return SlotAccess::none;
    }
    return SlotAccess::none;  // not reached: -Werror=switch keeps the list complete
}

void SlotPlanBuilder::add(Gfn first, uint64_t nr, P2mType type, Mfn first_mfn, bool read_trapped) {
    const SlotAccess access = slot_access(type, read_trapped);
    if (access == SlotAccess::none || nr == 0) return;
    // Only frames of the RAM memfd can back a slot.
    const uint64_t base = MachineMemory::ram_base_mfn.raw();
    if (first_mfn.raw() < base || first_mfn.raw() - base > ram_frames_ ||
        nr > ram_frames_ - (first_mfn.raw() - base))
        return;
    const SlotSpec s{.gpa = first.raw() << page_shift,
                     .bytes = nr << page_shift,
                     .ram_offset = (first_mfn.raw() - base) << page_shift,
                     .read_only = access == SlotAccess::read_only};
    if (!plan_.empty()) {
        SlotSpec& last = plan_.back();
        if (last.read_only == s.read_only && last.gpa + last.bytes == s.gpa &&
            last.ram_offset + last.bytes == s.ram_offset) {
            last.bytes += s.bytes;
            return;
        }
    }
    plan_.push_back(s);
}

SlotDiff diff_slots(const std::vector<SlotSpec>& old_plan, const std::vector<SlotSpec>& new_plan) {
    SlotDiff d;
    const auto by_gpa = [](const SlotSpec& a, const SlotSpec& b) { return a.gpa < b.gpa; };
    // Both sorted by gpa: a merge walk finds the slots present in both.
    auto o = old_plan.begin();
    auto n = new_plan.begin();
    while (o != old_plan.end() || n != new_plan.end()) {
        if (n == new_plan.end() || (o != old_plan.end() && by_gpa(*o, *n))) {
            d.remove.push_back(*o++);
        } else if (o == old_plan.end() || by_gpa(*n, *o)) {
            d.add.push_back(*n++);
        } else if (*o == *n) {
            ++o;
            ++n;
        } else {
            d.remove.push_back(*o++);
            d.add.push_back(*n++);
        }
    }
    return d;
}

}  // namespace hvcore::kvm
