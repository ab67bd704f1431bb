// SPDX-License-Identifier: MIT
// The fault record of a stage-2 abort taken to EL2: ESR_EL2 (syndrome),
// HPFAR_EL2 (faulting IPA page) and FAR_EL2 (faulting virtual address),
// as constexpr masks. Shared by the stage-2 walker, which writes the
// record, and the A64 executor, which supplies the instruction-specific
// syndrome (ISV, SAS, SSE, SRT, SF, AR) and can emulate from it.
//
// References: Arm ARM DDI 0487, ESR_EL2 register description, "ISS
// encoding for an exception from a Data Abort" and "... from an
// Instruction Abort"; HPFAR_EL2 and FAR_EL2 register descriptions; D8.6
// "Fault detection" for the fault status codes (D24.2.46 "ESR_EL2,
// Exception Syndrome Register (EL2)" in the edition cited elsewhere).
// Cross-checked against Linux arch/arm64/include/asm/esr.h (ESR_ELx_*),
// Xen hsr_dabt (xen/arch/arm/include/asm/hsr.h) and get_faulting_ipa
// (xen/arch/arm/traps.c), QEMU target/arm/syndrome.h
// syn_data_abort_with_iss, and a QEMU 7.2 TCG run described at the
// sanity checks below.
#pragma once

#include <cstdint>

#include "hvcore/arm64/descriptor.hpp"

namespace hvcore::arm64 {

class Esr final {
public:
    Esr() = delete;

    static constexpr unsigned ec_shift = 26;
    static constexpr uint64_t ec_mask = uint64_t{0x3f} << ec_shift;  // EC, bits[31:26]: exception class
    static constexpr uint32_t ec_iabt_lower = 0x20;  // Instruction Abort from a lower Exception level
    static constexpr uint32_t ec_dabt_lower = 0x24;  // Data Abort from a lower Exception level
    static constexpr uint64_t il = bit(25);          // IL: 32-bit instruction (1 for every A64 abort)
    static constexpr uint64_t iss_mask = bit(25) - 1;  // ISS, bits[24:0]

    // Data Abort ISS (ESR_EL2, "ISS encoding for an exception from a Data Abort").
    static constexpr uint64_t isv = bit(24);  // ISV: bits[23:14] describe the access
    static constexpr unsigned sas_shift = 22;
    static constexpr uint64_t sas_mask = uint64_t{3} << sas_shift;  // SAS: access size 0 B, 1 H, 2 W, 3 D
    static constexpr uint64_t sse = bit(21);  // SSE: the load sign-extends
    static constexpr unsigned srt_shift = 16;
    static constexpr uint64_t srt_mask = uint64_t{0x1f} << srt_shift;  // SRT: transfer register (31 = XZR/WZR)
    static constexpr uint64_t sf = bit(15);   // SF: the register is 64-bit (X), else 32-bit (W)
    static constexpr uint64_t ar = bit(14);   // AR: acquire/release semantics
    // The bits an instruction contributes when ISV = 1 (ISS[24:14]), in
    // their ESR positions: the format of AccessInfo/AccessContext::isa_syndrome.
    static constexpr uint64_t insn_syndrome_mask = isv | sas_mask | sse | srt_mask | sf | ar;
    static constexpr uint64_t cm = bit(8);     // CM: cache maintenance by address (DC CIVAC, ...; not DC ZVA)
    static constexpr uint64_t s1ptw = bit(7);  // S1PTW: fault on a stage-1 walk (hvcore: 0, no stage 1)
    static constexpr uint64_t wnr = bit(6);    // WnR: the access was a write
    static constexpr uint64_t fsc_mask = 0x3f;  // DFSC / IFSC, bits[5:0]

    // Fault status codes, level added to the base (ESR_EL2 DFSC/IFSC
    // tables; Linux ESR_ELx_FSC_*): 0b0000LL address size, 0b0001LL
    // translation, 0b0010LL access flag, 0b0011LL permission.
    static constexpr uint64_t fsc_address_size = 0x00;
    static constexpr uint64_t fsc_translation = 0x04;
    static constexpr uint64_t fsc_access_flag = 0x08;
    static constexpr uint64_t fsc_permission = 0x0c;
    static constexpr uint64_t fsc_level_mask = 0x03;
    static constexpr uint64_t fsc_kind_mask = 0x3c;

    [[nodiscard]] static constexpr uint64_t fsc(uint64_t kind, unsigned level) noexcept { return kind | level; }
    [[nodiscard]] static constexpr uint32_t ec_of(uint64_t esr) noexcept {
        return static_cast<uint32_t>((esr & ec_mask) >> ec_shift);
    }

    // The instruction syndrome (ISS[24:14]) of a single-register load or
    // store without writeback: what the hardware reports with ISV = 1.
    // size_log2: 0 B .. 3 D; srt: 0..31; sf: 64-bit register.
    [[nodiscard]] static constexpr uint64_t insn_syndrome(unsigned size_log2, bool sign_extend, unsigned srt, bool sf64,
                                                          bool acquire_release) noexcept {
        return isv | (uint64_t{size_log2 & 3} << sas_shift) | (sign_extend ? sse : 0) |
               (uint64_t{srt & 0x1f} << srt_shift) | (sf64 ? sf : 0) | (acquire_release ? ar : 0);
    }
};

// HPFAR_EL2: FIPA, bits[39:4] = IPA[47:12] for the 48-bit IPA space the
// model supports (HPFAR_EL2 register description; Xen HPFAR_MASK
// GENMASK(39, 4); bits 43:40 carry IPA[51:48] only with FEAT_LPA).
class Hpfar final {
public:
    Hpfar() = delete;
    static constexpr unsigned fipa_shift = 4;
    static constexpr uint64_t fipa_mask = 0x0000'00FF'FFFF'FFF0;  // FIPA, bits[39:4]
    [[nodiscard]] static constexpr uint64_t encode(uint64_t ipa) noexcept {
        return ((ipa >> page_shift) << fipa_shift) & fipa_mask;
    }
};

// The faulting IPA a hypervisor rebuilds from the record (Xen
// xen/arch/arm/traps.c: get_faulting_ipa): the page from HPFAR, the byte offset
// from FAR (the page offset is the same in the VA and the IPA).
[[nodiscard]] constexpr uint64_t fault_ipa(uint64_t hpfar, uint64_t far) noexcept {
    return ((hpfar & Hpfar::fipa_mask) << (page_shift - Hpfar::fipa_shift)) | (far & page_mask);
}

// --- sanity checks: a QEMU 7.2 TCG run ------------------------------------------
// qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max; a
// bare-metal EL2 program (clang --target=aarch64-none-elf, ld.lld) sets
// VTCR_EL2 = T0SZ 32, SL0 1 (start at level 1), 4 KiB, PS 32 bits; level 1
// [0] a Device 1 GiB block, [1] a level-2 table of 2 MiB Normal-WB blocks
// with 0x40400000 read-only (S2AP 01), 0x40600000 AF = 0, 0x40800000
// XN = 10, [2] invalid; sets HCR_EL2.VM, erets to EL1 with the stage-1 MMU
// off and prints ESR_EL2/FAR_EL2/HPFAR_EL2 of each faulting access on the
// PL011. arch/arm64/tests/oracle does such runs against hvcore's own tables.

// case 0: str x9, [x8] to a read-only level-2 block: permission fault L2.
static_assert(((uint64_t{Esr::ec_dabt_lower} << Esr::ec_shift) | Esr::il | Esr::insn_syndrome(3, false, 9, true, false) |
               Esr::wnr | Esr::fsc(Esr::fsc_permission, level_2)) == 0x93c9804e);
// case 2: strb w3, [x11] to an invalid level-1 entry: translation fault L1.
static_assert(((uint64_t{Esr::ec_dabt_lower} << Esr::ec_shift) | Esr::il | Esr::insn_syndrome(0, false, 3, false, false) |
               Esr::wnr | Esr::fsc(Esr::fsc_translation, level_1)) == 0x93030045);
// case 5: an instruction fetch from an XN block: EC 0x20, IFSC permission L2.
static_assert(((uint64_t{Esr::ec_iabt_lower} << Esr::ec_shift) | Esr::il | Esr::fsc(Esr::fsc_permission, level_2)) ==
              0x8200000e);
static_assert(Hpfar::encode(0x8000'1000) == 0x800010 && fault_ipa(0x800010, 0x8000'1000) == 0x8000'1000);
static_assert(Esr::insn_syndrome_mask == 0x01ff'c000);

}  // namespace hvcore::arm64
