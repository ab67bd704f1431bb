/* SPDX-License-Identifier: MIT */
/* The KVM tests' guest: a tiny interpreter of access scripts, so that each
 * test states its guest's accesses in C++ (script_guest.S runs them as
 * real instructions). Shared by the assembly and the tests: #defines only.
 *
 * The test writes the script into guest RAM at SG_SCRIPT before booting;
 * entries of 24 bytes: u32 op, u32 size (1, 2, 4, 8), u64 addr, u64 value. */
#ifndef HVCORE_TESTS_KVM_SCRIPT_GUEST_H
#define HVCORE_TESTS_KVM_SCRIPT_GUEST_H

#define SG_LOAD 0x100000   /* image, entered at its first byte */
#define SG_SCRIPT 0x180000 /* the script (RAM, read-write) */
#define SG_STACK 0x80000
#define SG_ENTRY_BYTES 24

#define SG_OP_END 0      /* hlt */
#define SG_OP_STORE 1    /* mov value -> [addr], size bytes */
#define SG_OP_LOAD 2     /* mov [addr] -> register, size bytes */
#define SG_OP_OUT 3      /* out value -> port addr, size 1/2/4 */
#define SG_OP_IN 4       /* in port addr, size 1/2/4 */
#define SG_OP_LOADS 5    /* value times: 8-byte load from addr */
#define SG_OP_STORES 6   /* for i in 0..value-1: 8-byte store of i+1 to addr + 8*i */
#define SG_OP_SPIN 7     /* loop forever (the test ends the run) */
#define SG_OP_SHUTDOWN 8 /* out 0 -> port 0x604 (power off) */
#define SG_OP_OUTSB 9    /* rep outsb: value bytes from SG_BUF to port addr */
#define SG_OP_INSB 10    /* rep insb: value bytes from port addr to SG_BUF */

/* LOAD and IN write what they read back into their entry's value field,
 * so a test reads the guest's view after the run. */
#define SG_BUF 0x190000 /* the string I/O buffer (RAM, read-write) */

#endif
