/* SPDX-License-Identifier: MIT */
/* The KVM load test's guest (load_guest.S, tests/kvm/test_kvm_load.cpp):
 * #defines shared by the assembly and the test. vCPU v (its stack is
 * LG_STACK - v * 0x10000) writes 1, 2, 3, ... to LG_MMIO + dm * 4096 + v * 8
 * with dm = v % 4, storing each number first to LG_RAM + dm * 4096 + v * 8,
 * until the test sets the u64 at LG_STOP; then it reads its MMIO word once,
 * stores its last number and what it read at LG_RESULT + v * 16 and halts. */
#ifndef HVCORE_TESTS_KVM_LOAD_GUEST_H
#define HVCORE_TESTS_KVM_LOAD_GUEST_H

#define LG_LOAD 0x100000   /* image, entered at its first byte */
#define LG_STACK 0x80000
#define LG_STOP 0x180000
#define LG_RESULT 0x181000
#define LG_RAM 0x200000    /* gfn 0x200 + dm: the device models' RAM pages */
#define LG_MMIO 0xfebf0000 /* the device models' claimed pages */

#endif
