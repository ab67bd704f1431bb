// SPDX-License-Identifier: MIT
// VTCR_EL2 (Virtualization Translation Control Register) and VTTBR_EL2:
// which stage-2 walk a VTCR value selects, and whether the architecture
// allows it. A pure function from the register value to the walk's shape
// (IPA size, start level, concatenated root tables, PA size), so tests and
// static_asserts can check every rule without building a table.
//
// References: Arm ARM DDI 0487, the VTCR_EL2 and VTTBR_EL2 register
// descriptions (chapter D23/D19 "AArch64 System Register Descriptions",
// depending on the edition), and D8.2 "Translation table walk", in
// particular "Concatenated translation tables for the initial stage 2
// lookup" (Table "Properties of the initial level of stage 2 lookup, 4KB
// granule"). The start-level rule is the one QEMU's check_s2_mmu_setup
// (target/arm/ptw.c) implements from the Arm pseudocode
// (AArch64.S2InconsistentSL).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "hvcore/arm64/descriptor.hpp"

namespace hvcore::arm64 {

// The shape of the stage-2 walk a valid VTCR selects.
struct S2Config {
    unsigned ipa_bits = 0;     // input (IPA) size: 64 - T0SZ
    unsigned pa_bits = 0;      // output size from VTCR.PS
    unsigned start_level = 0;  // 2 - SL0 for the 4 KiB granule
    unsigned root_tables = 0;  // concatenated tables at the start level: 1..16
    constexpr bool operator==(const S2Config&) const noexcept = default;

    [[nodiscard]] constexpr uint64_t gfn_count() const noexcept { return uint64_t{1} << (ipa_bits - page_shift); }
    [[nodiscard]] constexpr uint64_t root_entries() const noexcept { return uint64_t{root_tables} * entries_per_table; }
};

// A decoded VTCR: the walk, or the rule the value breaks.
struct VtcrDecode {
    std::optional<S2Config> config;
    std::string_view why;  // empty when config is set
};

class Vtcr final {
public:
    Vtcr() = delete;

    static constexpr uint64_t t0sz_mask = 0x3f;                // T0SZ, bits[5:0]: IPA size = 64 - T0SZ
    static constexpr unsigned sl0_shift = 6;
    static constexpr uint64_t sl0_mask = uint64_t{3} << sl0_shift;    // SL0, bits[7:6]: 4 KiB start level = 2 - SL0
    static constexpr unsigned irgn0_shift = 8;                 // IRGN0, bits[9:8]: inner cacheability of the walk
    static constexpr unsigned orgn0_shift = 10;                // ORGN0, bits[11:10]: outer cacheability of the walk
    static constexpr unsigned sh0_shift = 12;
    static constexpr uint64_t sh0_mask = uint64_t{3} << sh0_shift;    // SH0, bits[13:12]: shareability of the walk (0b01 reserved)
    static constexpr unsigned tg0_shift = 14;
    static constexpr uint64_t tg0_mask = uint64_t{3} << tg0_shift;    // TG0, bits[15:14]: granule, 0b00 = 4 KiB
    static constexpr unsigned ps_shift = 16;
    static constexpr uint64_t ps_mask = uint64_t{7} << ps_shift;      // PS, bits[18:16]: physical (output) address size
    static constexpr uint64_t vs = bit(19);                    // VS: 16-bit VMID (FEAT_VMID16); no effect on the walk
    static constexpr uint64_t ha = bit(21);                    // HA: hardware Access flag update (FEAT_HAFDBS)
    static constexpr uint64_t hd = bit(22);                    // HD: hardware dirty state via DBM (FEAT_HAFDBS)
    static constexpr uint64_t res1 = bit(31);                  // RES1 (Linux VTCR_EL2_RES1)
    static constexpr uint64_t ds = bit(32);                    // DS: 52-bit addresses with 4 KiB (FEAT_LPA2)
    static constexpr uint64_t sl2 = bit(33);                   // SL2: start at level -1 (with DS)

    static constexpr uint64_t rgn_wbwa = 0b01;  // IRGN0/ORGN0: Normal Write-Back Read/Write-Allocate
    static constexpr uint64_t sh_inner = 0b11;

    // PS encodings (VTCR_EL2.PS): 000 32 bits, 001 36, 010 40, 011 42,
    // 100 44, 101 48, 110 52 (needs FEAT_LPA2 with a 4 KiB granule), 111
    // reserved.
    [[nodiscard]] static constexpr std::optional<unsigned> pa_bits_of_ps(uint64_t ps) noexcept {
        switch (ps) {
        case 0b000: return 32;
        case 0b001: return 36;
        case 0b010: return 40;
        case 0b011: return 42;
        case 0b100: return 44;
        case 0b101: return 48;
        default: return std::nullopt;
        }
    }
    [[nodiscard]] static constexpr std::optional<uint64_t> ps_of_pa_bits(unsigned bits) noexcept {
        for (uint64_t ps = 0; ps < 6; ++ps)
            if (pa_bits_of_ps(ps) == bits) return ps;
        return std::nullopt;
    }

    // A VTCR for a 4 KiB walk of `ipa_bits` starting at `start_level`, with
    // output size `pa_bits`, WBWA inner-shareable table walks (what KVM
    // writes). Not validated: decode() says whether the result is legal.
    [[nodiscard]] static constexpr uint64_t make(unsigned ipa_bits, unsigned start_level, unsigned pa_bits) noexcept {
        const uint64_t ps = ps_of_pa_bits(pa_bits).value_or(0b111);
        return ((64 - uint64_t{ipa_bits}) & t0sz_mask) | (((2 - uint64_t{start_level}) & 3) << sl0_shift) |
               (rgn_wbwa << irgn0_shift) | (rgn_wbwa << orgn0_shift) | (sh_inner << sh0_shift) |
               (ps << ps_shift) | res1;
    }

    // The walk a VTCR value selects, or why the architecture (or hvcore's
    // model CPU) does not allow it. The checks follow the Arm pseudocode
    // (AArch64.S2InconsistentSL / the VTCR_EL2 field descriptions) and
    // QEMU's check_s2_mmu_setup (target/arm/ptw.c).
    [[nodiscard]] static constexpr VtcrDecode decode(uint64_t v) noexcept {
        auto no = [](std::string_view why) { return VtcrDecode{std::nullopt, why}; };
        // Features the model CPU does not have (QEMU -cpu cortex-a57).
        if ((v & tg0_mask) != 0) return no("TG0 is not 0b00: only the 4 KiB granule is modelled");
        if ((v & (ds | sl2)) != 0) return no("DS/SL2 set: the model has no FEAT_LPA2 (52-bit addresses)");
        if ((v & (ha | hd)) != 0) return no("HA/HD set: the model has no FEAT_HAFDBS");
        if (((v & sh0_mask) >> sh0_shift) == 0b01) return no("SH0 = 0b01 is reserved");
        const std::optional<unsigned> pa = pa_bits_of_ps((v & ps_mask) >> ps_shift);
        if (!pa) return no("PS is 0b110 (52 bits, needs FEAT_LPA2 with 4 KiB) or reserved");
        // T0SZ: 16..39 with 4 KiB and neither FEAT_TTST nor FEAT_LPA2
        // (VTCR_EL2.T0SZ; QEMU's tsz range). Out of range is a level-0
        // translation fault on every access: hvcore refuses it up front.
        const auto t0sz = static_cast<unsigned>(v & t0sz_mask);
        if (t0sz < 16 || t0sz > 39) return no("T0SZ outside 16..39 (IPA of 25 to 48 bits)");
        const unsigned ipa = 64 - t0sz;
        // SL0 = 0b11 means level 3 only with FEAT_TTST.
        const auto sl0 = static_cast<unsigned>((v & sl0_mask) >> sl0_shift);
        if (sl0 == 3) return no("SL0 = 0b11 (start at level 3) needs FEAT_TTST");
        const unsigned start = 2 - sl0;
        // The IPA bits the start level resolves: 1..9 in one table, 10..13
        // in 2..16 concatenated tables (Arm ARM D8.2, "Concatenated
        // translation tables for the initial stage 2 lookup").
        if (ipa <= level_shift(start)) return no("the start level resolves no IPA bit (start level too high for T0SZ)");
        const unsigned at_start = ipa - level_shift(start);
        if (at_start > bits_per_level + 4) return no("more than 16 concatenated tables at the start level (start level too low for T0SZ)");
        // A level-0 start with the 4 KiB granule needs PA > 42 bits
        // (VTCR_EL2.SL0: 0b10 is reserved when PS gives at most 42 bits).
        if (start == level_0 && *pa <= 42) return no("SL0 = 0b10 (start at level 0) needs PS of more than 42 bits");
        // An IPA wider than the PA size is CONSTRAINED UNPREDICTABLE (QEMU
        // faults every access).
        if (ipa > *pa) return no("IPA size (64 - T0SZ) exceeds the PA size (PS)");
        const unsigned tables = at_start > bits_per_level ? 1U << (at_start - bits_per_level) : 1U;
        return VtcrDecode{S2Config{.ipa_bits = ipa, .pa_bits = *pa, .start_level = start, .root_tables = tables}, {}};
    }
};

// VTTBR_EL2: BADDR in bits 47:1 (the root, aligned to the size of the
// concatenated start-level tables), VMID in bits 55:48, CnP bit 0.
class Vttbr final {
public:
    Vttbr() = delete;
    static constexpr uint64_t baddr_mask = 0x0000'FFFF'FFFF'FFFE;  // BADDR, bits[47:1]
    static constexpr unsigned vmid_shift = 48;                     // VMID, bits[55:48] (8-bit VMID, VTCR.VS = 0)
    [[nodiscard]] static constexpr uint64_t encode(Mfn root, uint8_t vmid) noexcept {
        return ((root.raw() << page_shift) & baddr_mask) | (uint64_t{vmid} << vmid_shift);
    }
};

// --- sanity checks ---------------------------------------------------------------

// KVM's default: 40-bit IPA, start at level 1 with 2 concatenated tables.
inline constexpr uint64_t vtcr_default = Vtcr::make(40, level_1, 48);
static_assert(vtcr_default == 0x8005'3558);  // T0SZ 24, SL0 1, IRGN0/ORGN0 WBWA, SH0 inner, PS 0b101, RES1
static_assert(Vtcr::decode(vtcr_default).config == S2Config{40, 48, level_1, 2});
static_assert(Vtcr::decode(Vtcr::make(48, level_0, 48)).config == S2Config{48, 48, level_0, 1});
static_assert(Vtcr::decode(Vtcr::make(39, level_1, 40)).config == S2Config{39, 40, level_1, 1});
static_assert(Vtcr::decode(Vtcr::make(43, level_1, 44)).config == S2Config{43, 44, level_1, 16});
static_assert(!Vtcr::decode(Vtcr::make(44, level_1, 44)).config);  // 14 bits at level 1: 32 tables
static_assert(!Vtcr::decode(Vtcr::make(40, level_2, 40)).config);  // 19 bits at level 2
static_assert(!Vtcr::decode(Vtcr::make(40, level_0, 40)).config);  // level 0 with PS 40: reserved
static_assert(Vttbr::encode(Mfn{0x1000000}, 0) == 0x10'0000'0000);

}  // namespace hvcore::arm64
