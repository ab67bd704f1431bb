/* SPDX-License-Identifier: MIT */
/* A guest that never ends (long mode): for the SIGINT test of `hvcore run`. */
    .code64
    .section .text.entry, "ax"
    .globl  _start
_start:
1:  jmp     1b
