/* SPDX-License-Identifier: MIT */
/* A sequence-checking device model: the serving code of tests/ipc/dm_proc.c
 * (a device model in its own process) and of bench/bench_roundtrip.cpp
 * (the same code in-process, on a handle of hvdm_open).
 *
 * It claims one MMIO page, maps one guest RAM page read-write and raises one
 * interrupt line. vCPU v's protocol on the claimed page, at offset v * 8:
 *   - an 8-byte write of n: v's next sequence number. v starts at 1 and
 *     counts up by one; before each write v has stored n to offset v * 8 of
 *     the mapped RAM page, so the device model's view of guest memory must
 *     show n when the write arrives.
 *   - an 8-byte read: returns how many writes of v arrived.
 * Every arrival is checked: n == expected is in order; n > expected loses
 * n - expected numbers; n < expected is a duplicate or a reordering. */
#ifndef HVCORE_TESTS_DM_SEQ_H
#define HVCORE_TESTS_DM_SEQ_H

#include <stdint.h>
#include <stdio.h>

#include "hvcore/hvdm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DMSEQ_MAX_VCPUS 128u

enum dmseq_arch { DMSEQ_X86 = 0, DMSEQ_ARM = 1 }; /* arm: arm64 and riscv64 */

typedef struct dmseq_vcpu {
    uint64_t received;  /* writes that arrived */
    uint64_t expected;  /* the next number due (starts at 1) */
    uint64_t lost;      /* numbers skipped */
    uint64_t dup;       /* numbers that arrived again or out of order */
    uint64_t mem_bad;   /* arrivals whose RAM word did not match */
    uint64_t reads;
} dmseq_vcpu;

typedef struct dmseq {
    hvdm_handle *h;
    hvdm_domid_t domid;
    hvdm_ioservid_t id;
    uint64_t gpa;                /* the claimed page */
    volatile uint64_t *ram;      /* the mapped guest page */
    uint64_t other;              /* requests outside the protocol */
    dmseq_vcpu v[DMSEQ_MAX_VCPUS];
} dmseq;

/* Creates an enabled server claiming [gpa, gpa + 4095], maps its ioreq pages
 * and guest page gfn (read-write), and asserts irq (x86: ISA irq 0..15 with
 * hvdm_set_isa_irq_level; arm64/riscv64: an SPI INTID 32..991 with
 * hvdm_set_irq_level). 0, or the negative errno of the call that failed
 * (*what names it). */
int dmseq_setup(dmseq *s, hvdm_handle *h, hvdm_domid_t domid, uint64_t gpa, uint64_t gfn, enum dmseq_arch arch,
                unsigned int irq, const char **what);
/* The hvdm_serve_fn; opaque is the dmseq. */
int dmseq_serve(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req);
/* Prints one line per vCPU that wrote, then the totals line:
 * "total received R lost L dup D mem_bad M other O". The errors (lost + dup
 * + mem_bad + other). */
uint64_t dmseq_report(const dmseq *s, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
