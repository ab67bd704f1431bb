/* SPDX-License-Identifier: MIT */
/* The guest of kvm/a_xen_device_model_serves_a_kvm_guest_through_hvcores_
 * xen_libraries (test_kvm_xen.cpp): 64-bit, entered at _start on two vCPUs
 * (vCPU v's stack is XG_STACK - v * 0x10000), driving the device of
 * tests/xen/xen_test_dev.h served by xen_test_dm. Results go to XG_RES
 * (xen_guest.h names each); the test reads them after the run.
 *   vCPU 0: PCI configuration through 0xcf8/0xcfc (the ID, both BARs sized
 *           then programmed, the command register), BAR0's SCRATCH and
 *           VCPU registers, then lets vCPU 1 go; BAR1's ID, rep movsb of
 *           XG_SRC into the BUF window and of the window into XG_DST, the
 *           SUM; four writes to VGA memory (posted on the buffered ring),
 *           VRAM_SUM and a VGA read; a RAM page protected through BAR1
 *           (ioreq_server type), written twice, read back, unprotected,
 *           written again; the slave 8259's IRR (OCW3, Intel 8259A data
 *           sheet) before and after BAR0's IRQ register raises ISA irq 10
 *           (IF stays 0: the line is observed at the interrupt controller,
 *           as pic_irr.S does; nothing is delivered); then it waits for
 *           vCPU 1 and writes the shutdown port 0x604.
 *   vCPU 1: waits for vCPU 0, reads BAR0's VCPU register, says done, halts. */
#include "xen_guest.h"
#include "xen_test_dev.h"

#define RES(i) (XG_RES + 8 * (i))

/* cfg REG: CONFIG_ADDRESS = the device's register REG; %dx = 0xcfc after. */
.macro cfg reg
    movw    $0xcf8, %dx
    movl    $XTD_PCI_CF8(\reg), %eax
    outl    %eax, %dx
    movw    $0xcfc, %dx
.endm

    .code64
    .section .text.entry, "ax"
    .globl  _start
_start:
    cli
    movl    $XG_STACK, %eax
    subq    %rsp, %rax
    shrq    $16, %rax               /* v */
    testq   %rax, %rax
    jnz     vcpu1

    /* PCI configuration. */
    cfg     0
    inl     %dx, %eax
    movq    %rax, RES(XGR_ID)
    cfg     XTD_CFG_BAR0
    movl    $0xffffffff, %eax
    outl    %eax, %dx
    inl     %dx, %eax
    movq    %rax, RES(XGR_BAR0_SIZE)
    movl    $XTD_BAR0_PORT, %eax
    outl    %eax, %dx
    cfg     XTD_CFG_BAR1
    movl    $0xffffffff, %eax
    outl    %eax, %dx
    inl     %dx, %eax
    movq    %rax, RES(XGR_BAR1_SIZE)
    movl    $XTD_BAR1_GPA, %eax
    outl    %eax, %dx
    cfg     XTD_CFG_COMMAND
    movw    $3, %ax                 /* I/O and memory decode */
    outw    %ax, %dx
    cfg     XTD_CFG_BAR0
    inl     %dx, %eax
    movq    %rax, RES(XGR_BAR0)

    /* BAR0: SCRATCH, VCPU; then vCPU 1 may use BAR0. */
    movw    $(XTD_BAR0_PORT + XTD_IO_SCRATCH), %dx
    movl    $XG_SCRATCH_VALUE, %eax
    outl    %eax, %dx
    xorl    %eax, %eax
    inl     %dx, %eax
    movq    %rax, RES(XGR_SCRATCH)
    movw    $(XTD_BAR0_PORT + XTD_IO_VCPU), %dx
    inl     %dx, %eax
    movq    %rax, RES(XGR_VCPU0)
    movq    $1, XG_GO

    /* BAR1: ID, the BUF window both ways, SUM. */
    movl    $XTD_BAR1_GPA, %ebx     /* zero-extended: above 2 GiB */
    movl    XTD_MMIO_ID(%rbx), %eax
    movq    %rax, RES(XGR_MMIO_ID)
    cld
    movl    $XG_SRC, %esi
    leaq    XTD_MMIO_BUF(%rbx), %rdi
    movl    $XG_COPY, %ecx
    rep movsb
    movq    XTD_MMIO_SUM(%rbx), %rax
    movq    %rax, RES(XGR_SUM)
    leaq    XTD_MMIO_BUF(%rbx), %rsi
    movl    $XG_DST, %edi
    movl    $XG_COPY, %ecx
    rep movsb

    /* VGA memory: four single writes (posted), then VRAM_SUM and a read. */
    movl    $XTD_VGA_BASE, %edi
    movb    $XG_VGA_B, (%rdi)
    movw    $XG_VGA_W, 0x10(%rdi)
    movl    $XG_VGA_L, (XG_VGA_READ_AT - XTD_VGA_BASE)(%rdi)
    movabsq $XG_VGA_Q, %rax
    movq    %rax, (XTD_VGA_SIZE - 8)(%rdi)
    movq    XTD_MMIO_VRAM_SUM(%rbx), %rax
    movq    %rax, RES(XGR_VRAM_SUM)
    movl    (XG_VGA_READ_AT - XTD_VGA_BASE)(%rdi), %eax
    movq    %rax, RES(XGR_VGA_READ)

    /* A protected RAM page: two trapped writes, WRITES, a read (RAM), then
     * unprotected: a third write is not trapped. */
    movq    $XG_PROT_GFN, XTD_MMIO_PROTECT(%rbx)
    movl    $(XG_PROT_GFN << 12), %edi
    movabsq $XG_PROT_VALUE, %rax
    movq    %rax, (%rdi)
    movw    $XG_PROT_VALUE2, 8(%rdi)
    movq    XTD_MMIO_WRITES(%rbx), %rax
    movq    %rax, RES(XGR_WRITES)
    movq    (%rdi), %rax
    movq    %rax, RES(XGR_PROT_READ)
    movq    $XG_PROT_GFN, XTD_MMIO_UNPROTECT(%rbx)
    movq    $7, 16(%rdi)
    movq    XTD_MMIO_WRITES(%rbx), %rax
    movq    %rax, RES(XGR_WRITES_AFTER)

    /* ISA irq 10 at the slave 8259 (OCW3 0x0a: reads return the IRR). */
    movb    $0x0a, %al
    outb    %al, $0xa0
    inb     $0xa0, %al
    movzbq  %al, %rax
    movq    %rax, RES(XGR_IRR_BEFORE)
    movw    $(XTD_BAR0_PORT + XTD_IO_IRQ), %dx
    movl    $1, %eax
    outl    %eax, %dx
    movl    $0xffff, %ecx
1:  inb     $0xa0, %al
    testb   $0x04, %al
    jnz     2f
    loop    1b
2:  movzbq  %al, %rax
    movq    %rax, RES(XGR_IRR_AFTER)

3:  pause                           /* vCPU 1 done? */
    cmpq    $0, XG_DONE
    je      3b
    movw    $0x604, %dx             /* the shutdown port: the run ends */
    outb    %al, %dx
4:  hlt
    jmp     4b

vcpu1:
1:  pause
    cmpq    $0, XG_GO
    je      1b
    movw    $(XTD_BAR0_PORT + XTD_IO_VCPU), %dx
    inl     %dx, %eax
    movq    %rax, RES(XGR_VCPU1)
    movq    $1, XG_DONE
2:  hlt
    jmp     2b
