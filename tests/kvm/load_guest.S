/* SPDX-License-Identifier: MIT */
/* The KVM load test's guest (load_guest.h says what it does), 64-bit long
 * mode, every vCPU entered at _start with its own stack. */
#include "load_guest.h"

    .code64
    .section .text.entry, "ax"
    .globl  _start
_start:
    movl    $LG_STACK, %eax
    subq    %rsp, %rax
    shrq    $16, %rax             /* v */
    movq    %rax, %r8
    movq    %rax, %r10
    andq    $3, %r10              /* dm = v % 4 */
    shlq    $12, %r10
    leaq    (%r10,%r8,8), %r10    /* dm * 4096 + v * 8 */
    movl    $LG_MMIO, %edi        /* zero-extended */
    addq    %r10, %rdi
    movl    $LG_RAM, %esi
    addq    %r10, %rsi
    xorl    %ecx, %ecx            /* the last number written */
    movl    $LG_STOP, %ebx
1:  cmpq    $0, (%rbx)
    jne     2f
    incq    %rcx
    movq    %rcx, (%rsi)          /* RAM first: the device model checks it */
    movq    %rcx, (%rdi)          /* the claimed page: an ioreq */
    jmp     1b
2:  movq    (%rdi), %rax          /* what the device model counted */
    shlq    $4, %r8
    movl    $LG_RESULT, %edx
    addq    %r8, %rdx
    movq    %rcx, (%rdx)
    movq    %rax, 8(%rdx)
3:  hlt
    jmp     3b
