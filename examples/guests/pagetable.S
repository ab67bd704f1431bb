/* SPDX-License-Identifier: MIT */
/* The page-table guest (the GVT-g pattern): builds a 4-level x86 page table
 * in its own RAM at HVG_PT_BASE and keeps rewriting its PT entries with
 * 8-byte stores, as a driver rewrites GPU page tables that a mediator
 * shadows. Then it reads the four pages back (reads of write-protected
 * pages never exit), computes their checksum, reports it on the report
 * port (low half, then high half), prints it on the UART and halts.
 *
 * Writes: HVG_PT_WRITES = 3 links + HVG_PT_ENTRIES * (1 + HVG_PT_ROUNDS).
 * The formula for each PTE is in guest_abi.h; tools/model_trace.cpp
 * replays the same sequence on the model vCPUs. */
#include "guest_abi.h"

    .code64
    .section .text.entry, "ax"
    .globl  _start
_start:
    /* The upper levels: PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] -> PT. */
    movq    $(HVG_PT_PDPT | HVG_PTE_P | HVG_PTE_RW), %rax
    movq    %rax, HVG_PT_PML4
    movq    $(HVG_PT_PD | HVG_PTE_P | HVG_PTE_RW), %rax
    movq    %rax, HVG_PT_PDPT
    movq    $(HVG_PT_PT | HVG_PTE_P | HVG_PTE_RW), %rax
    movq    %rax, HVG_PT_PD

    /* Round r = 0 (build) .. HVG_PT_ROUNDS, entry j = 0 .. HVG_PT_ENTRIES-1. */
    xorl    %r8d, %r8d
round:
    xorl    %r9d, %r9d
entry:
    imulq   $7, %r9, %rax
    imulq   $13, %r8, %rcx
    addq    %rcx, %rax
    andl    $0xff, %eax
    addq    $HVG_PT_FRAME0, %rax
    shlq    $12, %rax
    orq     $(HVG_PTE_P | HVG_PTE_RW), %rax
    testb   $1, %r8b
    jz      1f
    orq     $HVG_PTE_US, %rax
1:  movq    %rax, HVG_PT_PT(,%r9,8)     /* the 8-byte PTE store */
    incq    %r9
    cmpq    $HVG_PT_ENTRIES, %r9
    jb      entry
    incq    %r8
    cmpq    $HVG_PT_ROUNDS, %r8
    jbe     round

    /* Checksum of the 4 pages, read back at full speed. */
    movabsq $HVG_FNV_BASIS, %rax
    movabsq $HVG_FNV_PRIME, %rcx
    movl    $HVG_PT_BASE, %esi
    movl    $(HVG_PT_PAGES * 512), %edi
2:  xorq    (%rsi), %rax
    imulq   %rcx, %rax
    addq    $8, %rsi
    decq    %rdi
    jnz     2b
    movq    %rax, %rbx

    /* Report: low half, then high half (the second write completes it). */
    movw    $HVG_REPORT_PORT, %dx
    movl    %ebx, %eax
    outl    %eax, %dx
    movq    %rbx, %rax
    shrq    $32, %rax
    movw    $(HVG_REPORT_PORT + 4), %dx
    outl    %eax, %dx

    /* Print it: prefix, 16 hex digits, newline. */
    leaq    prefix(%rip), %rsi
    call    puts
    movl    $16, %r10d
3:  rolq    $4, %rbx
    movb    %bl, %al
    andb    $0xf, %al
    cmpb    $10, %al
    jb      4f
    addb    $('a' - 10), %al
    jmp     5f
4:  addb    $'0', %al
5:  call    putc
    decl    %r10d
    jnz     3b
    call    putnl
6:  hlt
    jmp     6b

#include "uart_io.inc"

    .section .rodata
prefix: .asciz HVG_PT_LINE_PREFIX
