/* SPDX-License-Identifier: MIT */
/* The contract between the bundled guests (examples/guests/ .S files), the
 * example device models (examples/dm/) and the model-vCPU trace of the same
 * guests (tools/model_trace.cpp). Only #defines: this header is included by
 * assembly (gcc -c of .S runs the C preprocessor), C99 and C++.
 *
 * Guest-physical layout (4 MiB of RAM at GPA 0):
 *   0x001000 .. 0x007fff  reserved for the loader (host/kvm: GDT and the
 *                          identity-mapping page tables; see boot.hpp)
 *   0x00f000 .. 0x07ffff  stack (RSP starts at HVG_STACK_TOP)
 *   0x100000              guest image, loaded and entered here
 *   0x200000 .. 0x203fff  the page-table guest's 4-level table (4 pages)
 * Devices (routed by the core to whichever device model claimed them):
 *   ports 0x3f8-0x3ff     16550 UART (THR at +0, LSR at +5)
 *   ports 0x510-0x517     the page-table guest's report (checksum low, high)
 *   port  0x604           power off (handled by host/kvm, never routed)
 *   MMIO  0x09000000      the same UART registers, one byte apart (Arm64
 *                          has no port I/O: its model trace uses this)
 *   MMIO  0x09001000      the same report registers */
#ifndef HVCORE_GUEST_ABI_H
#define HVCORE_GUEST_ABI_H

#define HVG_RAM_BYTES 0x400000
#define HVG_LOAD_ADDR 0x100000
#define HVG_STACK_TOP 0x80000

/* 16550 UART */
#define HVG_UART_PORT 0x3f8
#define HVG_UART_NR_PORTS 8
#define HVG_UART_MMIO 0x09000000
#define HVG_UART_THR 0    /* transmit holding register (write) */
#define HVG_UART_LSR 5    /* line status register (read) */
#define HVG_UART_LSR_THRE 0x20 /* THR empty: the guest may write a byte */
#define HVG_UART_LSR_TEMT 0x40 /* transmitter empty */

/* The page-table guest's table: PML4, PDPT, PD, PT, one page each. */
#define HVG_PT_BASE 0x200000
#define HVG_PT_PAGES 4
#define HVG_PT_PML4 (HVG_PT_BASE + 0x0000)
#define HVG_PT_PDPT (HVG_PT_BASE + 0x1000)
#define HVG_PT_PD (HVG_PT_BASE + 0x2000)
#define HVG_PT_PT (HVG_PT_BASE + 0x3000)
#define HVG_PT_ENTRIES 64  /* PT entries the guest maintains */
#define HVG_PT_ROUNDS 4    /* rewrites of all of them after the build */
/* Writes the guest makes: 3 upper-level links, the build, the rewrites. */
#define HVG_PT_WRITES (3 + HVG_PT_ENTRIES + HVG_PT_ROUNDS * HVG_PT_ENTRIES)
/* PTE of entry j in round r (round 0 is the build):
 *   frame = HVG_PT_FRAME0 + ((j * 7 + r * 13) & 0xff)
 *   pte   = frame << 12 | P | RW | (r odd ? US : 0) */
#define HVG_PT_FRAME0 0x300
#define HVG_PTE_P 0x1
#define HVG_PTE_RW 0x2
#define HVG_PTE_US 0x4
/* Checksum of the 4 table pages (2048 qwords, in address order), FNV-1a
 * style over qwords: c = basis; for each q: c = (c ^ q) * prime. */
#define HVG_FNV_BASIS 0xcbf29ce484222325
#define HVG_FNV_PRIME 0x100000001b3

/* Report: the checksum's low 32 bits to +0, then the high 32 bits to +4;
 * the second write completes the report. */
#define HVG_REPORT_PORT 0x510
#define HVG_REPORT_NR_PORTS 8
#define HVG_REPORT_MMIO 0x09001000

/* Power off: any write to this port ends the run (host/kvm). */
#define HVG_SHUTDOWN_PORT 0x604

/* What the console guest prints, one line each (also used by the model
 * trace, so both paths send the UART the same bytes). */
#define HVG_CONSOLE_LINE1 "hello from a guest: x86-64 long mode, 4-level paging, 16550 at 0x3f8"
#define HVG_CONSOLE_LINE2 "each byte: an LSR read and a THR write, both forwarded to the UART server"
#define HVG_CONSOLE_LINE3 "console guest done, halting"
/* The page-table guest's line is this prefix, 16 hex digits, a newline. */
#define HVG_PT_LINE_PREFIX "page-table guest: table rewritten, checksum 0x"

#endif /* HVCORE_GUEST_ABI_H */
