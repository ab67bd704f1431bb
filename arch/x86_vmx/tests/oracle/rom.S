/* SPDX-License-Identifier: MIT */
// The last 64 KiB of the system ROM Bochs starts (romimage ending at 4 GiB,
// this part shadowed at 0xf0000): instead of a BIOS, it goes from the reset
// vector straight to 32-bit protected mode and jumps to the VMM stub
// (vmm.S), which optramimage1 loaded at 1 MiB. Nothing else in the machine
// is set up: the stub needs no BIOS service.
//
// The harness's data image rides in front of it, in the same ROM: Bochs
// 2.7 loads a ROM into one contiguous array, while an optramimage larger
// than one 128 KiB memory block lands in whatever host blocks follow the
// first one (misc_mem.cc load_RAM reads the whole file at one block's
// address; blocks are allocated in order of first use), scrambling it.
//
// Intel SDM Vol. 3A §9.1.4 (first instruction at 0xfffffff0, CS base
// 0xffff0000), §9.9.1 (switching to protected mode: LGDT, CR0.PE, far
// jump).
    .code16
    .text
    .globl _start
_start:
    cli
    // The far jump at the reset vector made CS = 0xf000, base 0xf0000: the
    // GDT pointer below is read through the shadow at 0xf0000.
    lgdtl %cs:gdt_ptr
    mov %cr0, %eax
    or $1, %eax              // CR0.PE
    mov %eax, %cr0
    ljmpl $0x08, $0x100000   // flat 32-bit code, the stub's entry

    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff // 0x08: code, base 0, limit 4 GiB, 32-bit (SDM Vol. 3A §3.4.5)
    .quad 0x00cf92000000ffff // 0x10: data, base 0, limit 4 GiB
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long 0xf0000 + gdt

    // The size of the data image the harness puts in front of this 64 KiB
    // (the whole ROM is data + this file, up to Bochs's 4 MiB BIOS ROM):
    // written by test_ept_oracle, read by vmm.S at 0xffffff00.
    .org 0xff00
data_size:
    .quad 0

    .org 0xfff0
reset:                       // CS:IP = f000:fff0, linear 0xfffffff0
    ljmp $0xf000, $_start
    .org 0x10000
