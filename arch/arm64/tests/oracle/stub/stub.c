/* SPDX-License-Identifier: MIT */
// The stage-2 oracle stub, at EL2 on QEMU virt (virtualization=on): loads
// VTCR_EL2 and, per access, VTTBR_EL2 from the blob the harness built of
// hvcore's tables; sets HCR_EL2.VM; runs each access at EL1 with the
// stage-1 MMU off (VA = IPA) and prints what ended it on the PL011:
//   R <test> <phase> <code> <esr_el2> <far_el2> <hpfar_el2> <elr_el2> <esr_el1> <far_el1> <reg hash>
// code: the EC of ESR_EL2 + 0x100, and for an HVC its immediate (layout.h).
// A stage-2 abort (EC 0x20 / 0x24) in a phase that has a successor moves to
// it: the harness's copy of the tables as hvcore left them after resolving
// its lazy recalculation, as a hypervisor fixes the fault and retries.
// Register names: Arm ARM DDI 0487, chapter D19/D23 (ESR_EL2, FAR_EL2,
// HPFAR_EL2, HCR_EL2, VTCR_EL2, VTTBR_EL2, SCTLR_EL1, VBAR_EL1).
#include <stdint.h>

#include "layout.h"

void enter_el1(const uint64_t x[31], uint64_t pc) __attribute__((noreturn));

#define SYSREG_W(name, v) __asm__ volatile("msr " #name ", %0" ::"r"((uint64_t)(v)) : "memory")
#define SYSREG_R(name)                                          \
    ({                                                          \
        uint64_t v_;                                            \
        __asm__ volatile("mrs %0, " #name : "=r"(v_)::"memory"); \
        v_;                                                     \
    })

// HCR_EL2: VM (bit 0) stage 2 on; DC (bit 12) EL1 stage-1-off accesses are
// Normal Write-Back, not Device (so unaligned and exclusive/atomic
// accesses are not stage-1 faults); RW (bit 31) EL1 is AArch64.
#define HCR_VM (1ull << 0)
#define HCR_DC (1ull << 12)
#define HCR_RW (1ull << 31)
// SCTLR_EL1 RES1 bits of Armv8.0 (11, 20, 22, 23, 28, 29); M = 0, A = 0.
#define SCTLR_EL1_RES1 0x30d00800ull
#define HVC(imm) (0xd4000002u | ((uint32_t)(imm) << 5)) /* HVC #imm (C6.2 HVC) */

static volatile uint32_t* const uart = (volatile uint32_t*)ORACLE_UART_PA;

static void putc_(char c) {
    while ((uart[0x18 / 4] & (1u << 5)) != 0) {  // PL011 FR.TXFF
    }
    uart[0] = (uint32_t)c;
}
static void puts_(const char* s) {
    while (*s != 0) putc_(*s++);
}
static void hex(uint64_t v) {
    putc_(' ');
    int started = 0;
    for (int sh = 60; sh >= 0; sh -= 4) {
        const unsigned d = (unsigned)(v >> sh) & 0xf;
        if (d != 0 || started || sh == 0) {
            putc_((char)(d < 10 ? '0' + d : 'a' + d - 10));
            started = 1;
        }
    }
}

static void power_off(void) {
    // PSCI SYSTEM_OFF (0x84000008); QEMU virt with virtualization=on uses
    // the SMC conduit.
    register uint64_t x0 __asm__("x0") = 0x84000008;
    __asm__ volatile("smc #0" : "+r"(x0)::"memory");
    for (;;) __asm__ volatile("wfe");
}

uint64_t saved_x[31];  // X0..X30 at the exception (stub.S lower_common)
static const struct oracle_header* hdr;
static const struct oracle_test* tests;
static uint64_t cur_test;
static uint64_t cur_phase;

static void sync_code(uint64_t pa) {
    __asm__ volatile("dc cvau, %0\n dsb ish\n ic iallu\n dsb ish\n isb" ::"r"(pa) : "memory");
}

static void run_current(void) __attribute__((noreturn));
static void run_current(void) {
    if (cur_test == hdr->ntests) {
        puts_("END\n");
        power_off();
    }
    const struct oracle_test* t = &tests[cur_test];
    for (unsigned k = 0; k < 2 && cur_phase == 0; ++k) {
        const uint64_t ipa = t->fill_ipa[k];
        if (ipa == ~0ull) continue;
        volatile uint64_t* w = (volatile uint64_t*)(ipa + ORACLE_RAM_PA + ORACLE_GUEST_SHIFT);
        for (unsigned i = 0; i < 512; ++i) w[i] = oracle_pattern(ipa + 8 * i);
    }
    if (t->pre_pa != 0 && cur_phase == 0) {
        *(volatile uint32_t*)t->pre_pa = (uint32_t)t->pre_val;
        sync_code(t->pre_pa);
    }
    volatile uint32_t* code = (volatile uint32_t*)ORACLE_EL1_CODE_PA;
    code[0] = (uint32_t)t->insn;
    code[1] = HVC(ORACLE_HVC_DONE);
    sync_code(ORACLE_EL1_CODE_PA);
    SYSREG_W(vttbr_el2, t->vttbr[cur_phase]);
    __asm__ volatile("isb\n tlbi vmalls12e1\n dsb sy\n isb" ::: "memory");
    SYSREG_W(esr_el1, 0);
    SYSREG_W(far_el1, 0);
    enter_el1(t->x, ORACLE_IPA_OF(ORACLE_EL1_CODE_PA));
}

void on_lower(uint64_t esr, uint64_t far, uint64_t hpfar, uint64_t elr, uint64_t esr1, uint64_t far1) {
    const uint64_t ec = (esr >> 26) & 0x3f;
    const uint64_t code = ec == 0x16 ? (esr & 0xffff) : ec;
    puts_("R");
    hex(cur_test);
    hex(cur_phase);
    hex(ec == 0x16 ? code : 0x100 + ec);
    hex(esr);
    hex(far);
    hex(hpfar);
    hex(elr);
    hex(esr1);
    hex(far1);
    hex(oracle_reg_hash(saved_x));
    putc_('\n');
    const int s2_abort = ec == 0x20 || ec == 0x24;
    if (s2_abort && cur_phase + 1 < tests[cur_test].nphases) {
        ++cur_phase;
    } else {
        ++cur_test;
        cur_phase = 0;
    }
    run_current();
}

void on_same(uint64_t esr, uint64_t far, uint64_t elr) {
    puts_("FATAL");
    hex(esr);
    hex(far);
    hex(elr);
    putc_('\n');
    power_off();
}

void stub_main(void) {
    hdr = (const struct oracle_header*)ORACLE_BLOB_PA;
    tests = (const struct oracle_test*)(hdr + 1);
    puts_("HELLO");
    hex(SYSREG_R(dczid_el0));
    hex(SYSREG_R(id_aa64mmfr0_el1));
    hex(SYSREG_R(midr_el1));
    putc_('\n');
    if (hdr->magic != ORACLE_MAGIC) {
        puts_("FATAL no blob\n");
        power_off();
    }
    // EL1 vectors: each of the 16 entries (0x80 apart) is HVC #1.
    volatile uint32_t* vec = (volatile uint32_t*)ORACLE_EL1_VEC_PA;
    for (unsigned i = 0; i < 16; ++i) vec[i * 0x80 / 4] = HVC(ORACLE_HVC_EL1_EXC);
    sync_code(ORACLE_EL1_VEC_PA);
    SYSREG_W(vbar_el1, ORACLE_IPA_OF(ORACLE_EL1_VEC_PA));
    SYSREG_W(sctlr_el1, SCTLR_EL1_RES1);
    SYSREG_W(cpacr_el1, 3ull << 20);  // FPEN: no FP/SIMD trap at EL1
    SYSREG_W(sp_el1, ORACLE_IPA_OF(ORACLE_EL1_CODE_PA));
    SYSREG_W(vtcr_el2, hdr->vtcr);
    SYSREG_W(hcr_el2, HCR_VM | HCR_DC | HCR_RW);
    __asm__ volatile("isb" ::: "memory");
    cur_test = 0;
    cur_phase = 0;
    run_current();
}
