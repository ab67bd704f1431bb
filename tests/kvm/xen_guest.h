/* SPDX-License-Identifier: MIT */
/* The guest of kvm/a_xen_device_model_serves_a_kvm_guest_through_hvcores_
 * xen_libraries (test_kvm_xen.cpp, xen_guest.S): #defines shared by the
 * assembly and the test. The domain has RAM below VGA memory only
 * (0..0x9ffff), so VGA memory and the BARs are holes that reach the device
 * model (tests/xen/xen_test_dev.h). Long mode takes 0x1000..0x7fff for its
 * GDT and page tables (host/kvm vm.hpp boot_reserved_end). */
#ifndef HVCORE_TESTS_KVM_XEN_GUEST_H
#define HVCORE_TESTS_KVM_XEN_GUEST_H

#define XG_RAM 0xa0000     /* the domain's RAM: up to VGA memory */
#define XG_LOAD 0x8000     /* image, entered at its first byte on both vCPUs */
#define XG_STACK 0x60000   /* vCPU v: XG_STACK - v * 0x10000 */
#define XG_GO 0x70000      /* u64: vCPU 0 sets it once the BARs are mapped */
#define XG_DONE 0x70008    /* u64: vCPU 1 sets it when it is done */
#define XG_SRC 0x71000     /* XG_COPY bytes the test writes: rep movsb into the BUF window */
#define XG_DST 0x72000     /* rep movsb out of the BUF window lands here */
#define XG_COPY 32         /* bytes copied each way */
#define XG_PROT_GFN 0x73   /* the page vCPU 0 has the device model protect */
#define XG_RES 0x74000     /* results, u64 each, at XG_RES + 8 * index: */

#define XGR_ID 0           /* config dword 0: vendor | device << 16 */
#define XGR_BAR0_SIZE 1    /* BAR0 read back after writing all ones */
#define XGR_BAR1_SIZE 2    /* BAR1 read back after writing all ones */
#define XGR_BAR0 3         /* BAR0 read back after it was programmed */
#define XGR_SCRATCH 4      /* SCRATCH read back after writing XG_SCRATCH_VALUE */
#define XGR_VCPU0 5        /* the VCPU register as vCPU 0 reads it */
#define XGR_MMIO_ID 6      /* BAR1's ID register */
#define XGR_SUM 7          /* BAR1's SUM after rep movsb of XG_SRC into the BUF window */
#define XGR_VRAM_SUM 8     /* BAR1's VRAM_SUM after the VGA writes */
#define XGR_VGA_READ 9     /* a synchronous read of VGA memory (XG_VGA_READ_AT, 4 bytes) */
#define XGR_WRITES 10      /* BAR1's WRITES after two writes to the protected page */
#define XGR_PROT_READ 11   /* the protected page's first u64, read back by the guest */
#define XGR_WRITES_AFTER 12 /* WRITES after the page was unprotected and written again */
#define XGR_IRR_BEFORE 13  /* the slave 8259's IRR before BAR0 IRQ is written */
#define XGR_IRR_AFTER 14   /* the slave 8259's IRR after (bit 2: ISA irq 10) */
#define XGR_VCPU1 15       /* the VCPU register as vCPU 1 reads it */

#define XG_SCRATCH_VALUE 0x5eed1234
#define XG_PROT_VALUE 0x1122334455667788 /* written to the protected page (8 bytes at offset 0) */
#define XG_PROT_VALUE2 0xcafe            /* then 2 bytes at offset 8 */
#define XG_VGA_READ_AT (0xa0000 + 0x100)
/* The VGA writes (each one posted on the buffered ring): */
#define XG_VGA_B 0x5a                  /* byte at 0xa0000 */
#define XG_VGA_W 0x1234                /* word at 0xa0010 */
#define XG_VGA_L 0x89abcdef            /* dword at 0xa0100 (XG_VGA_READ_AT) */
#define XG_VGA_Q 0x0102030405060708    /* qword at 0xbfff8 (two ring slots) */

#endif
