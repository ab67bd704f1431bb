/* SPDX-License-Identifier: MIT */
/* Bochs boot sector for the NPT oracle stub: the BIOS loads it at 0x7C00 in
 * real mode; it enables A20 (port 0x92, "fast A20"), loads a flat GDT,
 * enters 32-bit protected mode and jumps to the stub, which Bochs has
 * already placed at STUB_LOAD (optramimage1). The stub reloads its own GDT. */
#include "stub_abi.h"

    .code16
    .section .text
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    in $0x92, %al
    or $2, %al
    and $0xfe, %al                      /* bit 0 would reset the machine */
    out %al, $0x92
    lgdt gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmp $0x08, $pm32
    .code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $STUB_ENTRY, %eax
    jmp *%eax

    .align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff            /* 0x08: 32-bit code, flat */
    .quad 0x00cf92000000ffff            /* 0x10: data, flat */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .org 510
    .byte 0x55, 0xaa                    /* boot signature */
