/* SPDX-License-Identifier: MIT */
/* The emulator's physical memory as the stub and the harness share it
 * (QEMU virt: RAM from 0x40000000, PL011 at 0x09000000). Included by the
 * stub (C and assembly) and by the harness (C++). */
#ifndef ORACLE_ARM64_LAYOUT_H
#define ORACLE_ARM64_LAYOUT_H

/* 64-bit constants in C and C++, plain numbers for the assembler. */
#ifdef __ASSEMBLER__
#define ORACLE_C(x) x
#else
#define ORACLE_C(x) x##ull
#endif

/* QEMU hw/arm/virt.c memmap: VIRT_UART at 0x09000000, VIRT_MEM at 1 GiB. */
#define ORACLE_UART_PA ORACLE_C(0x09000000)
#define ORACLE_RAM_PA ORACLE_C(0x40000000)
/* The stub image (stub.ld) lies below this page. */
#define ORACLE_EL1_CODE_PA ORACLE_C(0x40100000) /* [access under test][hvc #0] */
#define ORACLE_EL1_VEC_PA ORACLE_C(0x40101000)  /* VBAR_EL1: every entry is hvc #1 */
#define ORACLE_BLOB_PA ORACLE_C(0x40200000)     /* -device loader: header, tests, table copies */
#define ORACLE_BLOB_MAX ORACLE_C(0x3fe00000)    /* up to PA 2 GiB, where guest RAM starts */
/* The harness's own stage-2 entry: root index 1023 of the 40-bit IPA
 * space (IPA 0xff_c0000000, 1 GiB block) maps the first GiB of the
 * emulator's RAM, so the EL1 code and vectors have IPAs no hvcore gfn of
 * the tested domain has. */
#define ORACLE_HARNESS_IPA ORACLE_C(0xffc0000000)
#define ORACLE_IPA_OF(pa) ((pa) - ORACLE_RAM_PA + ORACLE_HARNESS_IPA)
/* Guest RAM: hvcore's leaf output addresses (1 GiB + IPA) moved up by
 * 1 GiB, so IPA x is at emulator PA 2 GiB + x. */
#define ORACLE_GUEST_SHIFT ORACLE_C(0x40000000)
#define ORACLE_MEM_MB 3072 /* -m: RAM 1 GiB .. 4 GiB */

#define ORACLE_MAGIC ORACLE_C(0x3436616c63617230) /* "0racla64" */
#define ORACLE_MAX_PHASES 3
/* u64 words of one test record (oracle_test below) */
#define ORACLE_TEST_WORDS 40

/* Result codes of one phase (the stub prints them). */
#define ORACLE_HVC_DONE 0   /* the access completed: hvc #0 after it */
#define ORACLE_HVC_EL1_EXC 1 /* an exception taken to EL1 (ESR_EL1 printed) */
#define ORACLE_HVC_FETCHED 2 /* the fetch target ran (hvc #2 put there) */

#ifndef __ASSEMBLER__
#include <stdint.h>
struct oracle_header {
    uint64_t magic;
    uint64_t ntests;
    uint64_t vtcr;   /* VTCR_EL2 as hvcore reports it */
    uint64_t flags;  /* reserved, 0 */
};
struct oracle_test {
    uint64_t nphases;                     /* 1..3: a stage-2 abort in phase k moves to phase k + 1 */
    uint64_t vttbr[ORACLE_MAX_PHASES];    /* root table copy of each phase */
    uint64_t insn;                        /* A64 word run at ORACLE_EL1_CODE_PA */
    uint64_t fill_ipa[2];                 /* guest RAM pages refilled with oracle_pattern first (~0: none) */
    uint64_t pre_pa;                      /* if not 0: the 32-bit word pre_val is written there next */
    uint64_t pre_val;
    uint64_t x[31];                       /* X0..X30 at the access */
};

/* The content of guest RAM at an access: the 8-byte word at IPA a holds
 * oracle_pattern(a), so a load through a wrong output address reads a
 * value of another address. */
static inline uint64_t oracle_pattern(uint64_t ipa) { return 0xa5a5000000000000ull ^ ipa; }

/* The registers after an access, folded (FNV-1a over the 31 values). */
static inline uint64_t oracle_reg_hash(const uint64_t x[31]) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 31; ++i) {
        h ^= x[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#endif
#endif
