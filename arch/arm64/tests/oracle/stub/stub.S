/* SPDX-License-Identifier: MIT */
// Entry, EL2 vectors and the way down to EL1 of the stage-2 oracle stub.
// QEMU virt with virtualization=on starts an ELF -kernel at EL2 (reference:
// QEMU hw/arm/boot.c, "ELF images ... entered at the highest EL").
#include "layout.h"

    .section .text.boot, "ax"
    .global _start
_start:
    msr daifset, #0xf
    ldr x0, =stack_top
    mov sp, x0
    adr x0, el2_vectors
    msr vbar_el2, x0
    isb
    bl stub_main
1:  wfe
    b 1b

// enter_el1(const uint64_t x[31], uint64_t pc): X0..X30 from x, ERET to
// EL1h at pc with DAIF masked. Never returns: the access ends in an EL2
// vector.
    .text
    .global enter_el1
enter_el1:
    msr elr_el2, x1
    mov x2, #0x3c5              // SPSR_EL2: M = EL1h (0b0101), D A I F set
    msr spsr_el2, x2
    ldr x30, [x0, #30 * 8]
    ldp x28, x29, [x0, #28 * 8]
    ldp x26, x27, [x0, #26 * 8]
    ldp x24, x25, [x0, #24 * 8]
    ldp x22, x23, [x0, #22 * 8]
    ldp x20, x21, [x0, #20 * 8]
    ldp x18, x19, [x0, #18 * 8]
    ldp x16, x17, [x0, #16 * 8]
    ldp x14, x15, [x0, #14 * 8]
    ldp x12, x13, [x0, #12 * 8]
    ldp x10, x11, [x0, #10 * 8]
    ldp x8, x9, [x0, #8 * 8]
    ldp x6, x7, [x0, #6 * 8]
    ldp x4, x5, [x0, #4 * 8]
    ldp x2, x3, [x0, #2 * 8]
    ldp x0, x1, [x0]
    eret

// Any exception from EL1: X0..X30 saved in saved_x, fresh stack, the
// syndrome registers as arguments, on_lower(esr, far, hpfar, elr, esr_el1,
// far_el1). The code is too long for a 0x80-byte vector entry: a branch.
.macro lower
    .balign 0x80
    b lower_common
.endm
// An exception at EL2 itself is a stub bug: report and stop.
.macro same
    .balign 0x80
    ldr x0, =stack_top
    mov sp, x0
    mrs x0, esr_el2
    mrs x1, far_el2
    mrs x2, elr_el2
    bl on_same
    b .
.endm

lower_common:
    msr tpidr_el2, x0
    adr x0, saved_x
    stp x1, x2, [x0, #1 * 8]
    stp x3, x4, [x0, #3 * 8]
    stp x5, x6, [x0, #5 * 8]
    stp x7, x8, [x0, #7 * 8]
    stp x9, x10, [x0, #9 * 8]
    stp x11, x12, [x0, #11 * 8]
    stp x13, x14, [x0, #13 * 8]
    stp x15, x16, [x0, #15 * 8]
    stp x17, x18, [x0, #17 * 8]
    stp x19, x20, [x0, #19 * 8]
    stp x21, x22, [x0, #21 * 8]
    stp x23, x24, [x0, #23 * 8]
    stp x25, x26, [x0, #25 * 8]
    stp x27, x28, [x0, #27 * 8]
    stp x29, x30, [x0, #29 * 8]
    mrs x1, tpidr_el2
    str x1, [x0]
    ldr x0, =stack_top
    mov sp, x0
    mrs x0, esr_el2
    mrs x1, far_el2
    mrs x2, hpfar_el2
    mrs x3, elr_el2
    mrs x4, esr_el1
    mrs x5, far_el1
    bl on_lower
    b .

    .section .vectors, "ax"
    .balign 2048
el2_vectors:
    same        // current EL, SP_EL0: sync
    same        //   IRQ
    same        //   FIQ
    same        //   SError
    same        // current EL, SP_ELx
    same
    same
    same
    lower       // lower EL, AArch64: sync
    lower       //   IRQ
    lower       //   FIQ
    lower       //   SError
    lower       // lower EL, AArch32
    lower
    lower
    lower
    .ltorg
