/* SPDX-License-Identifier: MIT */
/* A real-mode payload for the KVM tests: writes "R16\n" to port 0x3f8 and
 * halts. Loaded and entered at 0x7c00 (CS:IP = 0000:7c00). */
    .code16
    .section .text.entry, "ax"
    .globl  _start
_start:
    movw    $0x3f8, %dx
    movb    $'R', %al
    outb    %al, %dx
    movb    $'1', %al
    outb    %al, %dx
    movb    $'6', %al
    outb    %al, %dx
    movb    $'\n', %al
    outb    %al, %dx
1:  hlt
    jmp     1b
