/* SPDX-License-Identifier: MIT */
/* The NPT oracle stub: a bare-metal x86-64 host that runs, under nested
 * paging, each access the harness lists in its data blob (stub_abi.h) and
 * prints the #VMEXIT record of each to port 0xE9:
 *
 *     H <number of items>
 *     R <item> <EXITCODE> <EXITINFO1> <EXITINFO2>      (hex, 16 digits each)
 *     E
 *
 * then stops the emulator (QEMU isa-debug-exit at port 0xF4; Bochs
 * "Shutdown" to port 0x8900, iodev/unmapped.cc).
 *
 * Entered in 32-bit protected mode at STUB_ENTRY: by QEMU's multiboot loader
 * (the header below, with the address fields of flag 16, Multiboot
 * Specification 0.6.96 §3.1.1 and §3.1.3), or by boot.S on Bochs. It builds
 * identity host page tables (2 MiB pages, 0-4 GiB), enters long mode with
 * EFER.NXE (bit 63 of a nested entry is then NX, not reserved: APM Vol. 2
 * §5.4.1) and EFER.SVME (APM Vol. 2 §15.4 "Enabling SVM"), and for each item:
 * copies the instruction into the guest's code slot with VMMCALL after it,
 * makes the item's pokes, writes the whole VMCB (APM Vol. 2 Appendix B
 * "Layout of VMCB"), loads the guest's general registers into its own (VMRUN
 * does not switch them, APM Vol. 2 §15.5.1 "Basic Operation") and VMRUNs.
 * Each item's VMRUN flushes the TLB (TLB_CONTROL = 1), so nothing cached
 * from one item's nested tables serves the next. Every exception vector is
 * intercepted, so a guest exception is an exit (0x40 + vector) that the
 * harness sees as a mismatch, never a triple fault. When the blob is not in
 * memory (Bochs), the stub reads it from the ATA disk first (ata_load). */
#include "stub_abi.h"
#include "x86_host.inc" /* arch/x86_common/tests/oracle */

/* VMCB control area (APM Vol. 2 Table B-1). */
#define VMCB_INTERCEPT_EXC 0x008   /* exception vectors 0-31 */
#define VMCB_INTERCEPT_MISC1 0x00c /* bit 24 HLT, bit 31 SHUTDOWN */
#define VMCB_INTERCEPT_MISC2 0x010 /* bit 0 VMRUN (must be set), bit 1 VMMCALL */
#define VMCB_IOPM 0x040
#define VMCB_MSRPM 0x048
#define VMCB_ASID 0x058            /* must not be 0 */
#define VMCB_TLB_CONTROL 0x05c     /* 1: flush every TLB entry at VMRUN */
#define VMCB_VINTR 0x060           /* bit 24 V_INTR_MASKING */
#define VMCB_EXITCODE 0x070
#define VMCB_EXITINFO1 0x078
#define VMCB_EXITINFO2 0x080
#define VMCB_NP_ENABLE 0x090       /* bit 0 NP_ENABLE */
#define VMCB_NCR3 0x0b0
/* VMCB state save area (APM Vol. 2 Table B-2): a segment is selector (16),
 * attributes (16: descriptor bits 47:40 and 55:52), limit (32), base (64). */
#define VMCB_ES 0x400
#define VMCB_CS 0x410
#define VMCB_SS 0x420
#define VMCB_DS 0x430
#define VMCB_GDTR 0x460
#define VMCB_IDTR 0x480
#define VMCB_TR 0x490
#define VMCB_CPL 0x4cb
#define VMCB_EFER 0x4d0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5d8
#define VMCB_RAX 0x5f8
#define VMCB_GPAT 0x668

#define MSR_EFER 0xc0000080
#define MSR_VM_HSAVE_PA 0xc0010117
/* EFER: LME (8), NXE (11), SVME (12); the guest's also LMA (10). */
#define HOST_EFER_BITS 0x1900
#define GUEST_EFER 0x1d00
/* Guest CR0: PG, WP, NE, ET, MP, PE. CR4: PAE, OSFXSR, OSXMMEXCPT (SSE). */
#define GUEST_CR0 0x80010033
#define GUEST_CR4 0x620
/* Segment attributes: 64-bit code (P, S, type 0xB, L, G); data (P, S, type
 * 3, D/B, G); a busy 64-bit TSS (P, type 0xB). */
#define ATTR_CODE64 0xa9b
#define ATTR_DATA 0xc93
#define ATTR_TSS 0x08b
#define PAT_POWER_ON 0x0007040600070406 /* the PAT register's reset value (APM Vol. 2 §7.8.1) */

    .section .text.entry, "ax"
    .code32
mb_header:
    .long 0x1badb002                    /* multiboot magic */
    .long 0x00010000                    /* flags: the address fields below are valid */
    .long -(0x1badb002 + 0x00010000)    /* checksum */
    .long mb_header                     /* header_addr */
    .long mb_header                     /* load_addr */
    .long _load_end                     /* load_end_addr */
    .long _bss_end                      /* bss_end_addr */
    .long _start                        /* entry_addr */

    .globl _start
_start:                                 /* STUB_ENTRY */
    cli
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  LOAD_DATA_SEGMENTS 0x10
    mov $STUB_STACK_TOP, %esp

    /* Zero the stub's pages (tables, VMCB, save area, permission maps). */
    mov $STUB_PML4, %edi
    mov $((STUB_MSRPM + 0x2000 - STUB_PML4) / 4), %ecx
    xor %eax, %eax
    rep stosl

    /* Identity host tables: PML4[0] -> PDPT, PDPT[0..3] -> PD pages, 2048
     * 2 MiB pages (P, R/W, PS). */
    IDENTITY_MAP_4G STUB_PML4, STUB_PDPT, STUB_PD

    mov %cr4, %eax
    or $0x620, %eax                     /* PAE, OSFXSR, OSXMMEXCPT */
    mov %eax, %cr4
    mov $STUB_PML4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $HOST_EFER_BITS, %eax
    wrmsr
    mov %cr0, %eax
    and $~0x60000004, %eax              /* caches on (CD, NW), no EM */
    or $0x80000003, %eax                /* PG, MP, PE */
    mov %eax, %cr0
    ljmp $0x18, $long_mode

    .code64
long_mode:
    LOAD_DATA_SEGMENTS 0x10
    mov $STUB_STACK_TOP, %rsp
    mov $MSR_VM_HSAVE_PA, %ecx
    mov $STUB_HSAVE, %eax
    xor %edx, %edx
    wrmsr

    mov $BLOB_LOAD, %rbx
    movabs $BLOB_MAGIC, %rax
    cmp %rax, BLOB_H_MAGIC(%rbx)
    je 1f
    call ata_load
    mov $BLOB_LOAD, %rbx
    movabs $BLOB_MAGIC, %rax
    cmp %rax, BLOB_H_MAGIC(%rbx)
    jne no_blob
1:
    mov $'H', %al
    call putc
    mov $' ', %al
    call putc
    mov BLOB_H_NITEMS(%rbx), %rax
    call puthex
    mov $'\n', %al
    call putc

    movq $0, cur_index(%rip)
next_item:
    mov cur_index(%rip), %rax
    mov $BLOB_LOAD, %rbx
    cmp BLOB_H_NITEMS(%rbx), %rax
    jae all_done
    imul $ITEM_SIZE, %rax, %rax
    add BLOB_H_ITEMS(%rbx), %rax
    mov %rax, cur_item(%rip)
    call prepare_item

    mov cur_item(%rip), %rsi
    mov ITEM_GPR + 8 * 1(%rsi), %rcx
    mov ITEM_GPR + 8 * 2(%rsi), %rdx
    mov ITEM_GPR + 8 * 3(%rsi), %rbx
    mov ITEM_GPR + 8 * 5(%rsi), %rbp
    mov ITEM_GPR + 8 * 7(%rsi), %rdi
    mov ITEM_GPR + 8 * 8(%rsi), %r8
    mov ITEM_GPR + 8 * 9(%rsi), %r9
    mov ITEM_GPR + 8 * 10(%rsi), %r10
    mov ITEM_GPR + 8 * 11(%rsi), %r11
    mov ITEM_GPR + 8 * 12(%rsi), %r12
    mov ITEM_GPR + 8 * 13(%rsi), %r13
    mov ITEM_GPR + 8 * 14(%rsi), %r14
    mov ITEM_GPR + 8 * 15(%rsi), %r15
    mov ITEM_GPR + 8 * 6(%rsi), %rsi
    mov $STUB_VMCB, %eax
    vmrun
    /* #VMEXIT: RAX, RSP, RIP and the segments are the host's again; every
     * other general register holds the guest's value. */
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov $'R', %al
    call putc
    mov $' ', %al
    call putc
    mov cur_index(%rip), %rax
    call puthex
    mov $STUB_VMCB, %ebx
    mov $' ', %al
    call putc
    mov VMCB_EXITCODE(%rbx), %rax
    call puthex
    mov $' ', %al
    call putc
    mov VMCB_EXITINFO1(%rbx), %rax
    call puthex
    mov $' ', %al
    call putc
    mov VMCB_EXITINFO2(%rbx), %rax
    call puthex
    mov $'\n', %al
    call putc
    incq cur_index(%rip)
    jmp next_item

no_blob:
    lea msg_no_blob(%rip), %rsi
    call puts
all_done:
    mov $'E', %al
    call putc
    mov $'\n', %al
    call putc
    /* Bochs: "Shutdown" to port 0x8900 ends the simulation. */
    lea msg_shutdown(%rip), %rsi
    mov $0x8900, %dx
1:  lodsb
    test %al, %al
    jz 2f
    out %al, %dx
    jmp 1b
    /* QEMU: isa-debug-exit at 0xF4 exits with status (0 << 1) | 1 = 1. */
2:  xor %eax, %eax
    out %eax, $0xf4
3:  cli
    hlt
    jmp 3b

/* One segment register of the VMCB save area at `off` (APM Vol. 2 Table
 * B-2, "VMCB Layout, State Save Area"): selector, attributes, limit; the
 * base stays 0 from the clearing. Needs RBX = the VMCB. */
.macro VMCB_SEGMENT off, sel, attr, limit
    movw $\sel, \off(%rbx)
    movw $\attr, \off + 2(%rbx)
    movl $\limit, \off + 4(%rbx)
.endm

/* Copies the item's instruction to its code slot with VMMCALL (0F 01 D9)
 * after it, makes its pokes, and writes the VMCB. */
prepare_item:
    mov cur_item(%rip), %r12
    mov ITEM_SLOT_HPA(%r12), %rdi
    test %rdi, %rdi
    jz 1f
    lea ITEM_INSN(%r12), %rsi
    mov ITEM_INSN_LEN(%r12), %rcx
    rep movsb
    movb $0x0f, (%rdi)
    movb $0x01, 1(%rdi)
    movb $0xd9, 2(%rdi)
1:  lea ITEM_POKE0(%r12), %r13
    mov $2, %r14d
2:  mov (%r13), %rdi
    mov 8(%r13), %rcx
    lea 16(%r13), %rsi
    rep movsb
    add $ITEM_POKE_SIZE, %r13
    dec %r14d
    jnz 2b

    mov $STUB_VMCB, %edi
    xor %eax, %eax
    mov $512, %ecx
    rep stosq
    mov $STUB_VMCB, %ebx
    movl $0xffffffff, VMCB_INTERCEPT_EXC(%rbx)
    movl $0x81000000, VMCB_INTERCEPT_MISC1(%rbx)
    movl $3, VMCB_INTERCEPT_MISC2(%rbx)
    movq $STUB_IOPM, VMCB_IOPM(%rbx)
    movq $STUB_MSRPM, VMCB_MSRPM(%rbx)
    movl $1, VMCB_ASID(%rbx)
    movb $1, VMCB_TLB_CONTROL(%rbx)
    movq $0x1000000, VMCB_VINTR(%rbx)
    movq $1, VMCB_NP_ENABLE(%rbx)
    mov ITEM_NCR3(%r12), %rax
    mov %rax, VMCB_NCR3(%rbx)

    VMCB_SEGMENT VMCB_ES, 0x10, ATTR_DATA, 0xffffffff
    VMCB_SEGMENT VMCB_CS, 0x08, ATTR_CODE64, 0xffffffff
    VMCB_SEGMENT VMCB_SS, 0x10, ATTR_DATA, 0xffffffff
    VMCB_SEGMENT VMCB_DS, 0x10, ATTR_DATA, 0xffffffff
    VMCB_SEGMENT VMCB_TR, 0x28, ATTR_TSS, 0x67
    movb $0, VMCB_CPL(%rbx)
    movq $GUEST_EFER, VMCB_EFER(%rbx)
    movq $GUEST_CR4, VMCB_CR4(%rbx)
    mov $BLOB_LOAD, %rax
    mov BLOB_H_GUEST_CR3(%rax), %rax
    mov %rax, VMCB_CR3(%rbx)
    mov $GUEST_CR0, %eax
    mov %rax, VMCB_CR0(%rbx)
    movq $0x400, VMCB_DR7(%rbx)
    movl $0xffff0ff0, %eax
    mov %rax, VMCB_DR6(%rbx)
    movq $2, VMCB_RFLAGS(%rbx)
    mov ITEM_RIP(%r12), %rax
    mov %rax, VMCB_RIP(%rbx)
    mov ITEM_GPR + 8 * 4(%r12), %rax
    mov %rax, VMCB_RSP(%rbx)
    mov ITEM_GPR + 8 * 0(%r12), %rax
    mov %rax, VMCB_RAX(%rbx)
    movabs $PAT_POWER_ON, %rax
    mov %rax, VMCB_GPAT(%rbx)
    ret

/* Reads the blob from the master disk of the primary ATA channel to
 * BLOB_LOAD: sector 0 first, whose header gives the size, then the rest.
 * PIO, LBA28, one sector per READ SECTORS command (ATA/ATAPI-6 §8.27),
 * status polled (BSY 0x80, DRQ 0x08, ERR 0x01); gives up on an error or
 * after a bounded wait (QEMU without a disk: the blob is already there). */
ata_load:
    mov $BLOB_LOAD, %edi
    xor %ebx, %ebx                      /* LBA */
    mov $1, %r12d                       /* sectors to read, known after sector 0 */
1:  call ata_read_sector
    test %eax, %eax
    jnz 3f
    inc %ebx
    cmp $1, %ebx
    jne 2f
    mov $BLOB_LOAD, %eax
    movabs $BLOB_MAGIC, %rcx
    cmp %rcx, BLOB_H_MAGIC(%rax)
    jne 3f
    mov BLOB_H_BYTES(%rax), %r12
    add $511, %r12
    shr $9, %r12
2:  cmp %r12, %rbx
    jb 1b
3:  ret

/* One sector at LBA EBX to RDI (advanced by 512); EAX = 0 if it was read. */
ata_read_sector:
    mov $0x1f7, %dx
    mov $0x1000000, %ecx
1:  in %dx, %al
    test $0x80, %al
    jz 2f
    dec %ecx
    jnz 1b
    jmp 9f
2:  mov $0x1f6, %dx
    mov %ebx, %eax
    shr $24, %eax
    and $0x0f, %al
    or $0xe0, %al                       /* LBA, drive 0 */
    out %al, %dx
    mov $0x1f2, %dx
    mov $1, %al
    out %al, %dx
    mov $0x1f3, %dx
    mov %bl, %al
    out %al, %dx
    mov $0x1f4, %dx
    mov %bh, %al
    out %al, %dx
    mov $0x1f5, %dx
    mov %ebx, %eax
    shr $16, %eax
    out %al, %dx
    mov $0x1f7, %dx
    mov $0x20, %al                      /* READ SECTORS */
    out %al, %dx
    mov $0x1000000, %ecx
3:  in %dx, %al
    test $0x01, %al
    jnz 9f
    and $0x88, %al
    cmp $0x08, %al
    je 4f
    dec %ecx
    jnz 3b
    jmp 9f
4:  mov $0x1f0, %dx
    mov $256, %ecx
    rep insw
    xor %eax, %eax
    ret
9:  mov $1, %eax
    ret

/* Output: each byte to port 0xE9 (QEMU -debugcon, Bochs port_e9_hack). */
    E9_OUTPUT_ROUTINES
/* RAX as 16 hex digits. */
puthex:
    push %rcx
    push %rdx
    mov %rax, %rdx
    mov $16, %ecx
1:  rol $4, %rdx
    mov %edx, %eax
    and $0xf, %eax
    cmp $10, %eax
    jb 2f
    add $('a' - '0' - 10), %eax
2:  add $'0', %eax
    call putc
    dec %ecx
    jnz 1b
    pop %rdx
    pop %rcx
    ret

    .section .rodata
    .align 8
gdt:
    .quad 0                             /* 0x00 */
    .quad 0x00cf9a000000ffff            /* 0x08: 32-bit code, flat */
    .quad 0x00cf92000000ffff            /* 0x10: data, flat */
    .quad 0x00af9a000000ffff            /* 0x18: 64-bit code */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt
msg_no_blob:
    .asciz "X no data blob at BLOB_LOAD, nor on the ATA disk\n"
msg_shutdown:
    .asciz "Shutdown"

    .section .bss
    .align 8
cur_index:
    .quad 0
cur_item:
    .quad 0
