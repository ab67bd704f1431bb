/* SPDX-License-Identifier: MIT */
/* The KVM tests' guest: runs the access script at SG_SCRIPT (see
 * script_guest.h) in 64-bit long mode, one real instruction per access. */
#include "script_guest.h"

    .code64
    .section .text.entry, "ax"
    .globl  _start
_start:
    movl    $SG_SCRIPT, %ebx
next:
    movl    0(%rbx), %eax         /* op */
    movl    4(%rbx), %ecx         /* size */
    movq    8(%rbx), %rdi         /* addr */
    movq    16(%rbx), %rsi        /* value */
    addq    $SG_ENTRY_BYTES, %rbx
    cmpl    $SG_OP_STORE, %eax
    je      op_store
    cmpl    $SG_OP_LOAD, %eax
    je      op_load
    cmpl    $SG_OP_OUT, %eax
    je      op_out
    cmpl    $SG_OP_IN, %eax
    je      op_in
    cmpl    $SG_OP_LOADS, %eax
    je      op_loads
    cmpl    $SG_OP_STORES, %eax
    je      op_stores
    cmpl    $SG_OP_SPIN, %eax
    je      op_spin
    cmpl    $SG_OP_SHUTDOWN, %eax
    je      op_shutdown
    cmpl    $SG_OP_OUTSB, %eax
    je      op_outsb
    cmpl    $SG_OP_INSB, %eax
    je      op_insb
halt:
    hlt
    jmp     halt

op_store:
    cmpl    $1, %ecx
    je      1f
    cmpl    $2, %ecx
    je      2f
    cmpl    $4, %ecx
    je      4f
    movq    %rsi, (%rdi)
    jmp     next
1:  movb    %sil, (%rdi)
    jmp     next
2:  movw    %si, (%rdi)
    jmp     next
4:  movl    %esi, (%rdi)
    jmp     next

op_load:
    xorl    %eax, %eax
    cmpl    $1, %ecx
    je      1f
    cmpl    $2, %ecx
    je      2f
    cmpl    $4, %ecx
    je      4f
    movq    (%rdi), %rax
    jmp     loaded
1:  movb    (%rdi), %al
    jmp     loaded
2:  movw    (%rdi), %ax
    jmp     loaded
4:  movl    (%rdi), %eax
loaded:
    movq    %rax, -8(%rbx)          /* the entry's value field */
    jmp     next

op_out:
    movl    %edi, %edx
    movq    %rsi, %rax
    cmpl    $1, %ecx
    je      1f
    cmpl    $2, %ecx
    je      2f
    outl    %eax, %dx
    jmp     next
1:  outb    %al, %dx
    jmp     next
2:  outw    %ax, %dx
    jmp     next

op_in:
    movl    %edi, %edx
    xorl    %eax, %eax
    cmpl    $1, %ecx
    je      1f
    cmpl    $2, %ecx
    je      2f
    inl     %dx, %eax
    jmp     loaded
1:  inb     %dx, %al
    jmp     loaded
2:  inw     %dx, %ax
    jmp     loaded

op_outsb:
    movl    %edi, %edx
    movq    %rsi, %rcx
    movl    $SG_BUF, %esi
    rep outsb
    jmp     next

op_insb:
    movl    %edi, %edx
    movq    %rsi, %rcx
    movq    %rdi, %r8
    movl    $SG_BUF, %edi
    rep insb
    jmp     next

op_loads:
    testq   %rsi, %rsi
    jz      next
1:  movq    (%rdi), %rax
    decq    %rsi
    jnz     1b
    jmp     next

op_stores:
    xorl    %ecx, %ecx
1:  cmpq    %rsi, %rcx
    jae     next
    leaq    1(%rcx), %rax
    movq    %rax, (%rdi,%rcx,8)
    incq    %rcx
    jmp     1b

op_spin:
    jmp     op_spin

op_shutdown:
    movw    $0x604, %dx
    xorl    %eax, %eax
    outb    %al, %dx
    jmp     halt
