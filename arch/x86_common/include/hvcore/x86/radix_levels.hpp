// SPDX-License-Identifier: MIT
// The geometry of the 4-level x86 radix table that Intel EPT and AMD
// long-mode nested paging share: 4 KiB tables of 512 8-byte entries, 9
// guest-physical address bits per level, PML4 -> PDPT -> PD -> PT. Only the
// entry formats differ (hvcore/vmx/ept.hpp, hvcore/svm/npt.hpp); the table
// code is the stage-2 engine (hvcore/s2/engine.hpp, s2::x86_4level), which
// counts levels from the leaf as these names do.
//
// SDM Vol. 3C §29.3.2 "EPT Translation Mechanism" (Tables 29-2..29-7, one
// per level); APM Vol. 2 §5.3.3 "4-Kbyte Page Translation", which the
// nested walk uses for a 64-bit host (§15.25.5 "Nested Table Walk").
#pragma once

#include <cstdint>

namespace hvcore::x86 {

// Levels numbered from the leaf, as the walkers count them: a level-L entry
// covers 2^(9L) 4 KiB pages.
inline constexpr unsigned level_pt = 0;    // PTE: 4 KiB
inline constexpr unsigned level_pd = 1;    // PDE: 2 MiB page or PT pointer
inline constexpr unsigned level_pdpt = 2;  // PDPTE: 1 GiB page or PD pointer
inline constexpr unsigned level_pml4 = 3;  // PML4E: PDPT pointer only (bit 7 reserved in both formats)
inline constexpr unsigned nr_levels = 4;
inline constexpr unsigned bits_per_level = 9;  // 512 8-byte entries per 4 KiB table
inline constexpr unsigned entries_per_table = 1U << bits_per_level;

[[nodiscard]] constexpr unsigned level_order(unsigned level) noexcept { return level * bits_per_level; }
[[nodiscard]] constexpr uint64_t level_pages(unsigned level) noexcept { return uint64_t{1} << level_order(level); }
// Index of gfn's entry in its level-`level` table.
[[nodiscard]] constexpr unsigned level_index(uint64_t gfn, unsigned level) noexcept {
    return static_cast<unsigned>((gfn >> level_order(level)) & (entries_per_table - 1));
}

static_assert(level_pages(level_pd) == 512 && level_pages(level_pdpt) == 512 * 512);
static_assert(level_index((uint64_t{1} << 36) - 1, level_pml4) == 511);  // 48-bit GPA: 36-bit gfn, 4 levels

}  // namespace hvcore::x86
