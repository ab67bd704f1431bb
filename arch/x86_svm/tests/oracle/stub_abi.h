/* SPDX-License-Identifier: MIT */
/* The contract between the NPT oracle harness (test_npt_oracle.cpp) and the
 * bare-metal stub (stub.S) it runs on QEMU and Bochs: where things are in the
 * emulated machine's physical memory, and the layout of the data blob the
 * harness writes. Included by both (C++ and the assembler's preprocessor), so
 * only #defines. */
#ifndef HVCORE_ORACLE_NPT_STUB_ABI_H
#define HVCORE_ORACLE_NPT_STUB_ABI_H

/* The stub image: a flat binary loaded at 1 MiB (multiboot "a.out kludge"
 * for QEMU -kernel; optramimage1 for Bochs), entered in 32-bit protected
 * mode at STUB_ENTRY (the first bytes after the 32-byte multiboot header). */
#define STUB_LOAD 0x100000
#define STUB_ENTRY 0x100020

/* The stub's own pages, in conventional memory below 640 KiB, which neither
 * BIOS uses once it has booted: the host's identity page tables (PML4, PDPT,
 * four page directories of 2 MiB pages for 0-4 GiB), the VMCB, the host
 * save area (VM_HSAVE_PA), the I/O and MSR permission maps (not consulted:
 * IOIO and MSR intercepts are off, but the VMCB needs valid addresses), the
 * stack. */
#define STUB_PML4 0x20000
#define STUB_PDPT 0x21000
#define STUB_PD 0x22000 /* four pages */
#define STUB_VMCB 0x26000
#define STUB_HSAVE 0x27000
#define STUB_IOPM 0x28000  /* 12 KiB */
#define STUB_MSRPM 0x2c000 /* 8 KiB */
#define STUB_STACK_TOP 0x80000

/* The data blob the harness writes, at 2 MiB. QEMU loads it there
 * (-device loader). Bochs 2.7 cannot (its optramimage copies a file into
 * one 128 KiB block of its lazily allocated RAM and overruns into whatever
 * block comes next in its host buffer: memory/misc_mem.cc load_RAM), so on
 * Bochs the blob is the disk on the first ATA channel and the stub reads it
 * there (ATA PIO, LBA28) when it finds no blob in memory. It starts with
 * this header, all fields 64-bit: */
#define BLOB_LOAD 0x200000
#define BLOB_MAGIC 0x4e50544f52434c45 /* "ELCROTPN" */
#define BLOB_H_MAGIC 0x00
#define BLOB_H_NITEMS 0x08
#define BLOB_H_ITEMS 0x10    /* host-physical address of item 0 */
#define BLOB_H_GUEST_CR3 0x18 /* the guest's CR3 (a guest-physical address) */
#define BLOB_H_BYTES 0x20     /* the blob's size in bytes */
#define BLOB_H_SIZE 0x28

/* One access (an "item"), ITEM_SIZE bytes, all fields 64-bit unless said. */
#define ITEM_NCR3 0x00     /* nested CR3: host-physical root of this item's tables */
#define ITEM_RIP 0x08      /* the guest's RIP (the code slot, or the fetch target) */
#define ITEM_GPR 0x10      /* 16 registers, RAX..R15 in encoding order (RSP included) */
#define ITEM_SLOT_HPA 0x90 /* host-physical address of the code slot (0: none) */
#define ITEM_INSN 0x98     /* 16 bytes: the instruction, copied to the slot, VMMCALL after it */
#define ITEM_INSN_LEN 0xa8
#define ITEM_POKE0 0xb0    /* two pokes {hpa, len (0..8), 8 bytes}: bytes written before VMRUN */
#define ITEM_POKE_SIZE 0x18
#define ITEM_SIZE 0xe0

/* SVM constants the stub uses (AMD APM Vol. 2). */
#define SVM_EXIT_VMMCALL 0x81 /* Appendix C "SVM Intercept Exit Codes" */

#endif
