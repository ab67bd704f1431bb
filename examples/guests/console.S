/* SPDX-License-Identifier: MIT */
/* The console guest: prints three lines through the 16550 UART at port
 * 0x3f8 (each byte: poll LSR until THR is empty, write THR), then halts.
 * 64-bit long mode as set up by host/kvm's loader; no interrupts, no
 * exceptions (this machine's nested KVM cannot deliver them). */
#include "guest_abi.h"

    .code64
    .section .text.entry, "ax"
    .globl  _start
_start:
    leaq    line1(%rip), %rsi
    call    puts
    call    putnl
    leaq    line2(%rip), %rsi
    call    puts
    call    putnl
    leaq    line3(%rip), %rsi
    call    puts
    call    putnl
3:  hlt                     /* KVM_EXIT_HLT: host/kvm ends the run */
    jmp     3b

#include "uart_io.inc"

    .section .rodata
line1:  .asciz HVG_CONSOLE_LINE1
line2:  .asciz HVG_CONSOLE_LINE2
line3:  .asciz HVG_CONSOLE_LINE3
