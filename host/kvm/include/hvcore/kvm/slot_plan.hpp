// SPDX-License-Identifier: MIT
// The p2m projected onto KVM memslots: a pure function of the core's type
// runs (Domain::for_each_type_run), and the difference between two
// projections. No KVM here, so the rules are tested without /dev/kvm.
//
//   ram_rw                       -> read-write slot
//   ram_ro, ioreq_server         -> KVM_MEM_READONLY slot: reads run at full
//                                   speed, writes exit as KVM_EXIT_MMIO after
//                                   the instruction retired (Linux commit
//                                   4d8b81abc47b, KVM_MEM_READONLY: "write
//                                   access on readonly memslot will cause
//                                   KVM_EXIT_MMIO exit")
//   ram_logdirty                 -> read-only too: its writes are the core's
//                                   to track (not met under a Vm: it tracks
//                                   dirty pages with KVM's own dirty log,
//                                   KVM_MEM_LOG_DIRTY_PAGES, and the core then
//                                   write-protects nothing; vm.hpp)
//   ioreq_server, read-trapped   -> no slot: its owner claims reads too
//   (the owner claims             (HVDM_IOREQ_MEM_ACCESS_READ, multi-owner
//    HVDM_IOREQ_MEM_ACCESS_READ)   mode), so every access exits as
//                                   KVM_EXIT_MMIO and goes to it through
//                                   Domain::host_access
//   mmio_dm, mmio_direct,
//   invalid (holes)              -> no slot: every access exits
//
// Adjacent runs that project to the same access and continue the same
// frames merge into one slot. Read-only cannot be toggled on a live slot
// (KVM_SET_USER_MEMORY_REGION refuses flag changes other than dirty
// logging), so a changed slot is deleted and created again.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "hvcore/core/p2m_type.hpp"
#include "hvcore/core/types.hpp"

namespace hvcore::kvm {

enum class SlotAccess : uint8_t { none, read_write, read_only };

// read_trapped: an ioreq_server page whose owner claims reads
// (Domain::for_each_access_run).
[[nodiscard]] SlotAccess slot_access(P2mType t, bool read_trapped = false) noexcept;

struct SlotSpec {
    uint64_t gpa = 0;         // guest-physical start, page aligned
    uint64_t bytes = 0;       // length, a multiple of 4 KiB
    uint64_t ram_offset = 0;  // where it starts in the RAM memfd
    bool read_only = false;
    bool operator==(const SlotSpec&) const = default;
};

// Collects runs in gfn order and merges what can be merged.
class SlotPlanBuilder {
public:
    // ram_frames: frames in the RAM memfd; a run whose frames lie outside
    // it gets no slot (its accesses exit to the core).
    explicit SlotPlanBuilder(uint64_t ram_frames) : ram_frames_(ram_frames) {}
    void add(Gfn first, uint64_t nr, P2mType type, Mfn first_mfn, bool read_trapped = false);
    [[nodiscard]] std::vector<SlotSpec> take() { return std::move(plan_); }

private:
    uint64_t ram_frames_;
    std::vector<SlotSpec> plan_;
};

struct SlotDiff {
    std::vector<SlotSpec> remove;  // in the old projection only
    std::vector<SlotSpec> add;     // in the new projection only
    [[nodiscard]] bool empty() const noexcept { return remove.empty() && add.empty(); }
};

// Slots equal in both stay untouched (no churn: ~50-110 us per change on
// this machine); both inputs are sorted by gpa and do not overlap.
[[nodiscard]] SlotDiff diff_slots(const std::vector<SlotSpec>& old_plan, const std::vector<SlotSpec>& new_plan);

}  // namespace hvcore::kvm
