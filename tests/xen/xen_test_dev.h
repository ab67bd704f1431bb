/* SPDX-License-Identifier: MIT */
/* The PCI device of the Xen device-model test (tests/xen): the contract
 * between the device model (xen_test_dm.c, written against Xen's API only
 * and linked against Debian's Xen libraries), the test that drives it from
 * the model vCPUs (tests/xen) and the KVM guest that drives it for real
 * (tests/kvm). Only #defines: included by C99, C++ and assembly.
 *
 * The device: PCI 0000:00:03.0, claimed by the device model with
 * xendevicemodel_map_pcidev_to_ioreq_server, so its configuration space
 * (reached through ports 0xcf8/0xcfc) arrives as IOREQ_TYPE_PCI_CONFIG
 * requests. It has two BARs; when the guest writes one, the device model,
 * inside its configuration-write handler, unmaps the BAR's old range (if
 * any) and maps the new one with xendevicemodel_map_io_range_to_ioreq_server
 * (BAR0: XEN_DMOP_IO_RANGE_PORT, BAR1: XEN_DMOP_IO_RANGE_MEMORY). A BAR
 * written with all ones reads back its size mask (the PCI sizing
 * protocol, PCI Local Bus Specification 3.0 section 6.2.5.1).
 *
 * The device model also claims VGA memory (0xa0000-0xbffff) as an MMIO
 * range with a buffered ring (HVM_IOREQSRV_BUFIOREQ_ATOMIC): single guest
 * writes there are posted on the ring (Xen's stdvga rule), reads are
 * synchronous; it keeps the bytes in its own 128 KiB "VRAM".
 *
 * At start it claims the ioreq_server memory type for writes
 * (xendevicemodel_map_mem_type_to_ioreq_server, XEN_DMOP_IOREQ_MEM_ACCESS_WRITE).
 *
 * Its guest-memory view is xenforeignmemory_map; its ioreq pages come from
 * xenforeignmemory_map_resource (XENMEM_resource_ioreq_server, frames 0 and
 * 1); every vCPU's slot has its own event channel (vp_eport, bound with
 * xenevtchn_bind_interdomain) and so has the ring (bufioreq_port). */
#ifndef HVCORE_XEN_TEST_DEV_H
#define HVCORE_XEN_TEST_DEV_H

/* Configuration space (0xcf8 address: 0x80000000 | bus << 16 | dev << 11 |
 * fn << 8 | reg). */
#define XTD_PCI_DEV 3
#define XTD_PCI_CF8(reg) (0x80000000 | (XTD_PCI_DEV << 11) | (reg))
#define XTD_VENDOR_ID 0x1234 /* config 0x00, read-only */
#define XTD_DEVICE_ID 0x7e13 /* config 0x02, read-only */
#define XTD_CFG_COMMAND 0x04 /* 16 bits, bits 0 (I/O) and 1 (memory) writable */
#define XTD_CFG_BAR0 0x10    /* I/O BAR, 16 ports: reads back addr | 1 */
#define XTD_CFG_BAR1 0x14    /* 32-bit memory BAR, 4 KiB */
#define XTD_CFG_INTLINE 0x3c /* interrupt line (RW), pin (0x3d, RO: 1 = INTA) */
#define XTD_BAR0_SIZE 16
#define XTD_BAR1_SIZE 4096
/* Where the tests put the BARs. */
#define XTD_BAR0_PORT 0xc100
#define XTD_BAR1_GPA 0xfebf0000

/* BAR0 (ports), 32-bit registers: */
#define XTD_IO_SCRATCH 0x0 /* RW: reads back the last value written */
#define XTD_IO_VCPU 0x4    /* RO: the index of the vCPU that reads it (the
                            * device model learns it from the event channel
                            * that fired: one per vCPU) */
#define XTD_IO_IRQ 0x8     /* WO: xendevicemodel_set_isa_irq_level(XTD_ISA_IRQ, value & 1) */
#define XTD_IO_MSI 0xc     /* WO: xendevicemodel_inject_msi(0xfee00000, value): a Fixed MSI to APIC 0 */
#define XTD_ISA_IRQ 10

/* BAR1 (MMIO), registers at these offsets: */
#define XTD_MMIO_ID 0x00      /* RO 32: XTD_MMIO_ID_VALUE */
#define XTD_MMIO_PROTECT 0x08 /* WO 64: a gfn of guest RAM: set_mem_type(HVMMEM_ioreq_server) on it */
#define XTD_MMIO_UNPROTECT 0x10 /* WO 64: a gfn: set_mem_type(HVMMEM_ram_rw) on it */
#define XTD_MMIO_WRITES 0x18  /* RO 64: writes seen to protected pages so far */
#define XTD_MMIO_SUM 0x20     /* RO 64: the sum of the bytes in the buffer window */
#define XTD_MMIO_VRAM_SUM 0x28 /* RO 64: the sum of the 128 KiB of VRAM bytes, buffered writes applied */
#define XTD_MMIO_BUF 0x100    /* 256-byte buffer window: REP MOVS from guest RAM
                               * into it (a write ioreq with data_is_ptr: the
                               * device model copies from guest RAM through its
                               * foreign mapping) and out of it into guest RAM
                               * (a read with data_is_ptr: it copies into RAM) */
#define XTD_MMIO_BUF_SIZE 256
#define XTD_MMIO_ID_VALUE 0x58454e31 /* "XEN1" */

/* A write the guest makes to a protected page reaches the device model as
 * a write ioreq (IOREQ_TYPE_COPY) on the page's address; the device model
 * counts it and performs it on guest RAM through its foreign mapping (as a
 * GPU mediator shadowing a page table does), so the page holds what the
 * guest wrote. */

#define XTD_VGA_BASE 0xa0000
#define XTD_VGA_SIZE 0x20000

#endif /* HVCORE_XEN_TEST_DEV_H */
