/* SPDX-License-Identifier: MIT */
/* A real-mode guest for the KVM irqchip test (kvm/an_isa_irq_raised_by_a_
 * device_model_process_reaches_the_8259_irr; its device model is irq_dm.c):
 * with IF = 0 throughout, so nothing is ever delivered, it reads the 8259s'
 * interrupt request registers through OCW3 (command port write with bit 3
 * set, bits 1:0 = 10: read IRR; Intel 8259A data sheet, OCW3; Linux
 * arch/x86/kvm/i8259.c pic_ioport_write) and reports each to the device
 * model on port 0x510:
 *   1. master IRR before anything was raised   (the model then raises ISA irq 5)
 *   2. master IRR once bit 5 is set            (or after 65535 reads)
 *   3. a write to port 0x511                   (the model then routes PCI link 0
 *                                               to ISA irq 10 and asserts an INTx on it)
 *   4. slave IRR once bit 2 (irq 10) is set    (or after 65535 reads)
 * then writes the shutdown port 0x604 (the run ends there: with an
 * in-kernel local APIC, HLT does not exit to user space). Loaded and
 * entered at 0x7c00. */
    .code16
    .section .text.entry, "ax"
    .globl  _start
_start:
    cli
    movb    $0x0a, %al          /* OCW3: read IRR */
    outb    %al, $0x20
    outb    %al, $0xa0
    movw    $0x510, %dx

    inb     $0x20, %al          /* 1 */
    outb    %al, %dx

    movw    $0xffff, %cx        /* 2 */
1:  inb     $0x20, %al
    testb   $0x20, %al
    jnz     2f
    loop    1b
2:  outb    %al, %dx

    movw    $0x511, %dx         /* 3 */
    outb    %al, %dx
    movw    $0x510, %dx

    movw    $0xffff, %cx        /* 4 */
3:  inb     $0xa0, %al
    testb   $0x04, %al
    jnz     4f
    loop    3b
4:  outb    %al, %dx

    movw    $0x604, %dx         /* shutdown */
    outb    %al, %dx
5:  hlt
    jmp     5b
