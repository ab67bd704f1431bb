// SPDX-License-Identifier: MIT
// What EPT and NPT traits share: the 4-level x86 radix geometry
// (hvcore/x86/radix_levels.hpp; SDM Vol. 3C §29.3.2, APM Vol. 2 §5.3.3 as
// the nested walk of a 64-bit host uses it, §15.25.5) and the x86
// executor's view of an access.
#pragma once

#include "stage2_traits.hpp"

namespace conformance::stage2 {

struct X86RadixTraits {
    // A 4-level walk translates a 48-bit GPA.
    static constexpr uint64_t gfn_limit = uint64_t{1} << 36;
    // The root is one PML4 frame; a PML4E covers 512 GiB and is always a
    // pointer (bit 7 reserved in both formats).
    static constexpr unsigned root_frames = 1;
    static constexpr unsigned root_entry_order = 27;
    // PTE, PDE with bit 7 (2 MiB), PDPTE with bit 7 (1 GiB; both model CPUs
    // report 1 GiB pages).
    static constexpr unsigned leaf_orders[] = {0, 9, 18};
    // x86 levels count from the PT (x86::level_pt = 0).
    static unsigned order_of_level(unsigned level) { return level * order_step; }
    static unsigned level_of(unsigned order) { return order / order_step; }

    // An x86 executor's 4-byte store at gla: its instruction bytes (which
    // SVM reports as decode assists and VMX does not).
    static AccessContext guest_access(uint64_t gla) {
        return {.gla = gla, .gla_valid = true, .size = 4, .insn = x86_mov_dword_store, .isa_syndrome = 0};
    }
    // Neither record has a level: any order will do.
    static constexpr unsigned out_of_range_order = root_entry_order;
};

}  // namespace conformance::stage2
