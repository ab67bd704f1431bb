/* SPDX-License-Identifier: MIT */
/* xen_test_dm: the device model of the Xen device-model test, written
 * against Xen's device-model API only (Debian 12's libxen-dev: the headers
 * below and libxendevicemodel, libxenevtchn, libxenforeignmemory) and
 * linked against Debian's libraries. It knows nothing of hvcore: pointed at
 * hvcore's drop-ins (LD_LIBRARY_PATH or `hvcore xen-exec`) the same binary
 * serves a domain of hvcore.
 *
 * The device is the one of xen_test_dev.h (PCI 00:03.0, two BARs mapped
 * from the configuration-write handler, VGA memory on the buffered ring,
 * the ioreq_server memory type).
 *
 *   xen_test_dm DOMID
 *
 * prints "xen_test_dm: ready" once it serves, and serves until its stdin
 * ends; then it destroys its server and prints one summary line:
 *
 *   xen_test_dm: served sync=N buffered=N pci=N ptr=N protected=N vcpus=a,b,...
 *
 * sync: synchronous requests answered (pci included); buffered: requests
 * taken off the buffered ring (an 8-byte write is one request in two
 * slots); pci: IOREQ_TYPE_PCI_CONFIG requests; ptr: requests with
 * data_is_ptr; protected: write requests to pages of the ioreq_server type;
 * vcpus: synchronous requests per vCPU.
 *
 * Exit status: 0 after a clean stop; 2 usage; 3 a Xen call failed (the call
 * and its errno on stderr: "xen_test_dm: CALL failed: errno N (text)").
 *
 * Start-up, in Xen's order: open the three libraries and restrict them to
 * DOMID; nr_vcpus; create the server (HVM_IOREQSRV_BUFIOREQ_ATOMIC); its
 * ring's port (get_ioreq_server_info without gfns); map its pages
 * (map_resource, frames 0 and 1); claim 00:03.0, VGA memory and the
 * ioreq_server type (writes); enable it; bind the ring's port and each
 * slot's vp_eport; serve what was posted meanwhile; say ready.
 *
 * The Xen facts it relies on (Xen 4.17, cited by file and function; the
 * functions of xen/common/ioreq.c were hvm_* before Xen 4.15):
 * - The vCPU slots' vp_eport are written into the shared ioreq page when
 *   the server is enabled (xen/common/ioreq.c, ioreq_server_enable ->
 *   ioreq_update_evtchn; ioreq_server_add_vcpu writes them only for an
 *   enabled server), so the ports are read and bound after
 *   set_ioreq_server_state(1). bufioreq_port is known from creation
 *   (get_ioreq_server_info).
 * - A notification sent while the device model's end is not yet bound is
 *   dropped (xen/common/event_channel.c, an unbound port has no remote to
 *   mark pending), so after binding it looks once at every slot and at the
 *   ring for work posted meanwhile.
 * - Resource frames of XENMEM_resource_ioreq_server: frame 0 the buffered
 *   page, frame 1 + n the synchronous page n (xen/include/public/memory.h,
 *   XENMEM_resource_ioreq_server_frame_*).
 * - A slot goes READY -> (device model) INPROCESS -> IORESP_READY and the
 *   vCPU's port is notified; Xen takes it back to NONE (xen/common/ioreq.c,
 *   wait_for_io). The device model leaves vp_eport alone (ioreq_send
 *   refuses a slot whose port changed).
 * - The buffered ring: read_pointer/write_pointer, entries at pointer %
 *   IOREQ_BUFFER_SLOT_NUM, an 8-byte write in two consecutive slots (the
 *   second holds the high half). With HVM_IOREQSRV_BUFIOREQ_ATOMIC Xen may
 *   rebase both pointers together with one 64-bit compare-exchange, so the
 *   device model reads them as one 64-bit word and advances read_pointer
 *   with an atomic add (xen/common/ioreq.c, ioreq_send_buffered;
 *   xen/include/public/hvm/ioreq.h).
 * - Synchronous requests are ordered after the buffered writes posted
 *   before them: the ring is drained before a slot is served.
 * - IOREQ_TYPE_PCI_CONFIG: addr is (SBDF << 32) | register (register with
 *   the byte offset of the 0xcfc access; xen/arch/x86/ioreq.c,
 *   arch_ioreq_server_get_type_addr).
 * - data_is_ptr: data is the guest-physical address of count elements of
 *   size bytes, stepping backwards when df is set; a port address does not
 *   step, a memory address does (xen/arch/x86/hvm/emulate.c,
 *   hvmemul_do_io).
 * - Guest RAM is mapped with xenforeignmemory_map, whose per-page err[]
 *   reports failures even when the call returns a mapping
 *   (tools/libs/foreignmemory/core.c, xenforeignmemory_map). */
#define _POSIX_C_SOURCE 200809L
/* Xen's tools-only interface (xen/hvm/hvm_op.h: HVM_IOREQSRV_BUFIOREQ_*),
 * which device models build with. */
#define __XEN_TOOLS__ 1

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xen_test_dev.h"

#define PAGE_SHIFT_4K 12
#define PAGE_SIZE_4K 4096u
#define MAX_VCPUS (PAGE_SIZE_4K / sizeof(ioreq_t)) /* slots in one shared page */
#define MAP_CACHE 16                                /* guest pages kept mapped */
#define MSI_ADDR 0xfee00000u                        /* APIC 0, physical (xen_test_dev.h XTD_IO_MSI) */

/* One mapped guest page (xenforeignmemory_map). */
struct mapped_page {
    uint64_t gfn;
    uint8_t *va; /* NULL: free */
};

static struct {
    domid_t domid;
    xendevicemodel_handle *dmod;
    xenevtchn_handle *xce;
    xenforeignmemory_handle *fmem;
    ioservid_t id;
    xenforeignmemory_resource_handle *res;
    buffered_iopage_t *ring;   /* resource frame 0 */
    shared_iopage_t *slots;    /* resource frame 1 */
    unsigned int nr_vcpus;
    evtchn_port_t buf_port;    /* our end of bufioreq_port */
    evtchn_port_t *vcpu_port;  /* our end of each slot's vp_eport */
    struct mapped_page map[MAP_CACHE];
    unsigned int map_next;

    /* The device. */
    uint16_t command;
    uint32_t bar0;          /* as read back: address | 1 */
    uint32_t bar1;          /* as read back: address */
    int bar0_mapped;        /* a port range is mapped at bar0's address */
    int bar1_mapped;
    uint32_t bar0_at, bar1_at; /* where they are mapped */
    uint8_t intline;
    uint32_t scratch;
    uint64_t writes;        /* XTD_MMIO_WRITES */
    uint8_t buf[XTD_MMIO_BUF_SIZE];
    uint8_t vram[XTD_VGA_SIZE];

    /* The summary. */
    uint64_t n_sync, n_buffered, n_pci, n_ptr, n_protected;
    uint64_t *per_vcpu;
} dm;

/* ---- failures ---------------------------------------------------------- */

static void failed(const char *call) {
    const int e = errno;
    fprintf(stderr, "xen_test_dm: %s failed: errno %d (%s)\n", call, e, strerror(e));
    exit(3);
}

/* Xen's libraries return -1 (or NULL) with errno set. */
static void check(int rc, const char *call) {
    if (rc < 0) failed(call);
}

/* ---- guest memory through xenforeignmemory_map ------------------------ */

static uint8_t *guest_page(uint64_t gfn) {
    unsigned int i;
    const xen_pfn_t pfn = (xen_pfn_t)gfn;
    int err = 0;
    void *va;
    for (i = 0; i < MAP_CACHE; ++i)
        if (dm.map[i].va != NULL && dm.map[i].gfn == gfn) return dm.map[i].va;
    i = dm.map_next;
    dm.map_next = (dm.map_next + 1) % MAP_CACHE;
    if (dm.map[i].va != NULL) {
        check(xenforeignmemory_unmap(dm.fmem, dm.map[i].va, 1), "xenforeignmemory_unmap");
        dm.map[i].va = NULL;
    }
    va = xenforeignmemory_map(dm.fmem, dm.domid, PROT_READ | PROT_WRITE, 1, &pfn, &err);
    if (va == NULL) failed("xenforeignmemory_map");
    if (err != 0) {
        /* A mapping whose page failed: err[] holds a negative errno. */
        (void)xenforeignmemory_unmap(dm.fmem, va, 1);
        errno = err < 0 ? -err : err;
        failed("xenforeignmemory_map (err[0])");
    }
    dm.map[i].gfn = gfn;
    dm.map[i].va = va;
    return va;
}

/* Copies between guest RAM and buf, page by page. */
static void guest_copy(uint64_t gpa, void *buf, size_t len, int to_guest) {
    uint8_t *p = buf;
    while (len > 0) {
        const size_t off = (size_t)(gpa & (PAGE_SIZE_4K - 1));
        size_t n = PAGE_SIZE_4K - off;
        uint8_t *page = guest_page(gpa >> PAGE_SHIFT_4K);
        if (n > len) n = len;
        if (to_guest)
            memcpy(page + off, p, n);
        else
            memcpy(p, page + off, n);
        p += n;
        gpa += n;
        len -= n;
    }
}

static uint64_t guest_load(uint64_t gpa, unsigned int size) {
    uint8_t b[8] = {0};
    uint64_t v = 0;
    unsigned int i;
    guest_copy(gpa, b, size, 0);
    for (i = 0; i < size; ++i) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void guest_store(uint64_t gpa, unsigned int size, uint64_t v) {
    uint8_t b[8];
    unsigned int i;
    for (i = 0; i < size; ++i) b[i] = (uint8_t)(v >> (8 * i));
    guest_copy(gpa, b, size, 1);
}

/* ---- the device -------------------------------------------------------- */

static uint64_t size_mask(unsigned int size) {
    return size >= 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * size)) - 1);
}

/* Moves a BAR: unmaps its old range, maps the new one (from inside the
 * configuration-write handler, as the device decodes at once). A BAR that
 * reads back its size mask (being sized) or 0 decodes nothing. */
static void bar0_moved(void) {
    const uint32_t at = dm.bar0 & ~(uint32_t)(XTD_BAR0_SIZE - 1);
    if (dm.bar0_mapped) {
        check(xendevicemodel_unmap_io_range_from_ioreq_server(dm.dmod, dm.domid, dm.id, XEN_DMOP_IO_RANGE_PORT,
                                                              dm.bar0_at, dm.bar0_at + XTD_BAR0_SIZE - 1),
              "xendevicemodel_unmap_io_range_from_ioreq_server");
        dm.bar0_mapped = 0;
    }
    if (at != 0 && at <= 0x10000u - XTD_BAR0_SIZE) {
        check(xendevicemodel_map_io_range_to_ioreq_server(dm.dmod, dm.domid, dm.id, XEN_DMOP_IO_RANGE_PORT, at,
                                                          at + XTD_BAR0_SIZE - 1),
              "xendevicemodel_map_io_range_to_ioreq_server");
        dm.bar0_mapped = 1;
        dm.bar0_at = at;
    }
}

static void bar1_moved(void) {
    const uint32_t mask = ~(uint32_t)(XTD_BAR1_SIZE - 1);
    const uint32_t at = dm.bar1 & mask;
    if (dm.bar1_mapped) {
        check(xendevicemodel_unmap_io_range_from_ioreq_server(dm.dmod, dm.domid, dm.id, XEN_DMOP_IO_RANGE_MEMORY,
                                                              dm.bar1_at, (uint64_t)dm.bar1_at + XTD_BAR1_SIZE - 1),
              "xendevicemodel_unmap_io_range_from_ioreq_server");
        dm.bar1_mapped = 0;
    }
    if (at != 0 && at != mask) {
        check(xendevicemodel_map_io_range_to_ioreq_server(dm.dmod, dm.domid, dm.id, XEN_DMOP_IO_RANGE_MEMORY, at,
                                                          (uint64_t)at + XTD_BAR1_SIZE - 1),
              "xendevicemodel_map_io_range_to_ioreq_server");
        dm.bar1_mapped = 1;
        dm.bar1_at = at;
    }
}

/* The configuration space's dword at reg (a multiple of 4). */
static uint32_t cfg_dword(unsigned int reg) {
    switch (reg) {
    case 0x00: return XTD_VENDOR_ID | (uint32_t)XTD_DEVICE_ID << 16;
    case XTD_CFG_COMMAND: return dm.command; /* status 0 */
    case 0x08: return 0xff000000u;          /* class 0xff: fits no defined class; revision 0 */
    case XTD_CFG_BAR0: return dm.bar0;
    case XTD_CFG_BAR1: return dm.bar1;
    case XTD_CFG_INTLINE: return dm.intline | 1u << 8; /* pin 1: INTA */
    default: return 0;
    }
}

static uint32_t cfg_read(unsigned int reg, unsigned int size) {
    const uint32_t d = cfg_dword(reg & ~3u);
    return (uint32_t)((d >> (8 * (reg & 3))) & size_mask(size));
}

static void cfg_write(unsigned int reg, unsigned int size, uint32_t value) {
    const unsigned int shift = 8 * (reg & 3);
    const uint32_t mask = (uint32_t)(size_mask(size) << shift);
    const unsigned int dw = reg & ~3u;
    const uint32_t v = (cfg_dword(dw) & ~mask) | ((value << shift) & mask);
    switch (dw) {
    case XTD_CFG_COMMAND: dm.command = (uint16_t)(v & 0x3); break; /* I/O and memory decode */
    case XTD_CFG_BAR0:
        dm.bar0 = (v & ~(uint32_t)(XTD_BAR0_SIZE - 1)) | 1u;
        bar0_moved();
        break;
    case XTD_CFG_BAR1:
        dm.bar1 = v & ~(uint32_t)(XTD_BAR1_SIZE - 1);
        bar1_moved();
        break;
    case XTD_CFG_INTLINE: dm.intline = (uint8_t)v; break;
    default: break; /* read-only or unimplemented */
    }
}

/* BAR0: 32-bit port registers. */
static uint64_t port_read(uint32_t port, unsigned int size, unsigned int vcpu) {
    const uint32_t off = port - dm.bar0_at;
    uint32_t r;
    switch (off & ~3u) {
    case XTD_IO_SCRATCH: r = dm.scratch; break;
    case XTD_IO_VCPU: r = vcpu; break;
    default: r = 0; break; /* IRQ and MSI are write-only */
    }
    return (r >> (8 * (off & 3))) & size_mask(size);
}

static void port_write(uint32_t port, unsigned int size, uint64_t value) {
    const uint32_t off = port - dm.bar0_at;
    const unsigned int shift = 8 * (off & 3);
    const uint32_t mask = (uint32_t)(size_mask(size) << shift);
    switch (off & ~3u) {
    case XTD_IO_SCRATCH: dm.scratch = (dm.scratch & ~mask) | (((uint32_t)value << shift) & mask); break;
    case XTD_IO_IRQ:
        check(xendevicemodel_set_isa_irq_level(dm.dmod, dm.domid, XTD_ISA_IRQ, (unsigned int)(value & 1)),
              "xendevicemodel_set_isa_irq_level");
        break;
    case XTD_IO_MSI:
        check(xendevicemodel_inject_msi(dm.dmod, dm.domid, MSI_ADDR, (uint32_t)value), "xendevicemodel_inject_msi");
        break;
    default: break; /* XTD_IO_VCPU is read-only */
    }
}

static uint64_t byte_sum(const uint8_t *p, size_t n) {
    uint64_t s = 0;
    size_t i;
    for (i = 0; i < n; ++i) s += p[i];
    return s;
}

/* BAR1's 64-bit register at off (a multiple of 8) as read. */
static uint64_t mmio_reg(uint32_t off) {
    switch (off) {
    case XTD_MMIO_ID: return XTD_MMIO_ID_VALUE;
    case XTD_MMIO_WRITES: return dm.writes;
    case XTD_MMIO_SUM: return byte_sum(dm.buf, sizeof dm.buf);
    case XTD_MMIO_VRAM_SUM: return byte_sum(dm.vram, sizeof dm.vram);
    default: return 0; /* PROTECT and UNPROTECT are write-only */
    }
}

static uint64_t mmio_read(uint64_t gpa, unsigned int size) {
    const uint32_t off = (uint32_t)(gpa - dm.bar1_at);
    uint64_t v = 0;
    unsigned int i;
    if (off >= XTD_MMIO_BUF && off + size <= XTD_MMIO_BUF + XTD_MMIO_BUF_SIZE) {
        for (i = 0; i < size; ++i) v |= (uint64_t)dm.buf[off - XTD_MMIO_BUF + i] << (8 * i);
        return v;
    }
    return (mmio_reg(off & ~7u) >> (8 * (off & 7))) & size_mask(size);
}

static void mmio_write(uint64_t gpa, unsigned int size, uint64_t value) {
    const uint32_t off = (uint32_t)(gpa - dm.bar1_at);
    unsigned int i;
    if (off >= XTD_MMIO_BUF && off + size <= XTD_MMIO_BUF + XTD_MMIO_BUF_SIZE) {
        for (i = 0; i < size; ++i) dm.buf[off - XTD_MMIO_BUF + i] = (uint8_t)(value >> (8 * i));
        return;
    }
    switch (off) {
    case XTD_MMIO_PROTECT:
        check(xendevicemodel_set_mem_type(dm.dmod, dm.domid, HVMMEM_ioreq_server, value, 1),
              "xendevicemodel_set_mem_type");
        break;
    case XTD_MMIO_UNPROTECT:
        check(xendevicemodel_set_mem_type(dm.dmod, dm.domid, HVMMEM_ram_rw, value, 1),
              "xendevicemodel_set_mem_type");
        break;
    default: break; /* read-only */
    }
}

static int in_vga(uint64_t gpa, unsigned int size) {
    return gpa >= XTD_VGA_BASE && gpa + size <= XTD_VGA_BASE + XTD_VGA_SIZE;
}
static int in_bar1(uint64_t gpa, unsigned int size) {
    return dm.bar1_mapped && gpa >= dm.bar1_at && gpa + size <= (uint64_t)dm.bar1_at + XTD_BAR1_SIZE;
}

/* A memory access: BAR1, VGA memory, or a page of the ioreq_server type
 * (everything else this server receives: its only other claim). A write
 * to such a page is counted and performed on guest RAM (the shadowing the
 * type is for); a read (not claimed, so not expected) is served from RAM. */
static uint64_t mem_access(uint64_t gpa, unsigned int size, int is_write, uint64_t value) {
    unsigned int i;
    if (in_bar1(gpa, size)) {
        if (is_write) {
            mmio_write(gpa, size, value);
            return 0;
        }
        return mmio_read(gpa, size);
    }
    if (in_vga(gpa, size)) {
        uint8_t *p = dm.vram + (gpa - XTD_VGA_BASE);
        uint64_t v = 0;
        for (i = 0; i < size; ++i) {
            if (is_write)
                p[i] = (uint8_t)(value >> (8 * i));
            else
                v |= (uint64_t)p[i] << (8 * i);
        }
        return v;
    }
    if (is_write) {
        guest_store(gpa, size, value);
        return 0;
    }
    return guest_load(gpa, size);
}

static uint64_t pio_access(uint32_t port, unsigned int size, int is_write, uint64_t value, unsigned int vcpu) {
    if (!dm.bar0_mapped || port < dm.bar0_at || port + size > dm.bar0_at + XTD_BAR0_SIZE) {
        /* Not ours (nothing else is claimed): reads float high. */
        return is_write ? 0 : size_mask(size);
    }
    if (is_write) {
        port_write(port, size, value);
        return 0;
    }
    return port_read(port, size, vcpu);
}

/* One element of a request. */
static uint64_t element(const ioreq_t *req, uint64_t addr, int is_write, uint64_t value, unsigned int vcpu) {
    if (req->type == IOREQ_TYPE_PIO) return pio_access((uint32_t)addr, req->size, is_write, value, vcpu);
    return mem_access(addr, req->size, is_write, value);
}

/* Serves one synchronous request; req->data receives a read's result. */
static void serve(ioreq_t *req, unsigned int vcpu) {
    const int is_write = req->dir == IOREQ_WRITE;
    const uint32_t count = req->count ? req->count : 1;
    uint32_t i;
    if (req->type == IOREQ_TYPE_PCI_CONFIG) {
        const uint32_t sbdf = (uint32_t)(req->addr >> 32);
        const unsigned int reg = (unsigned int)(req->addr & 0xfff);
        ++dm.n_pci;
        if (sbdf != (XTD_PCI_DEV << 3) || reg + req->size > 256) {
            if (!is_write) req->data = size_mask(req->size);
            return;
        }
        if (is_write)
            cfg_write(reg, req->size, (uint32_t)req->data);
        else
            req->data = cfg_read(reg, req->size);
        return;
    }
    if (req->type != IOREQ_TYPE_PIO && req->type != IOREQ_TYPE_COPY) {
        /* IOREQ_TYPE_TIMEOFFSET, IOREQ_TYPE_INVALIDATE: nothing to do here. */
        return;
    }
    if (req->size == 0 || req->size > 8) {
        fprintf(stderr, "xen_test_dm: request of size %u ignored\n", req->size);
        return;
    }
    if (req->type == IOREQ_TYPE_COPY && is_write && !in_vga(req->addr, req->size) && !in_bar1(req->addr, req->size)) {
        ++dm.n_protected;
        ++dm.writes;
    }
    if (req->data_is_ptr) {
        const int64_t step = req->df ? -(int64_t)req->size : (int64_t)req->size;
        ++dm.n_ptr;
        for (i = 0; i < count; ++i) {
            const uint64_t mem = req->data + (uint64_t)(step * (int64_t)i);
            const uint64_t addr = req->type == IOREQ_TYPE_PIO ? req->addr : req->addr + (uint64_t)(step * (int64_t)i);
            if (is_write)
                (void)element(req, addr, 1, guest_load(mem, req->size), vcpu);
            else
                guest_store(mem, req->size, element(req, addr, 0, 0, vcpu));
        }
        return;
    }
    /* A value: repeated for a write (rep stos), the last one for a read. */
    for (i = 0; i < count; ++i) {
        const uint64_t addr =
            req->type == IOREQ_TYPE_PIO ? req->addr
                                        : req->addr + (uint64_t)((req->df ? -(int64_t)req->size : (int64_t)req->size) *
                                                                 (int64_t)i);
        const uint64_t v = element(req, addr, is_write, req->data, vcpu);
        if (!is_write) req->data = v;
    }
}

/* ---- the rings --------------------------------------------------------- */

/* Takes every request off the buffered ring (all writes). */
static void drain_ring(void) {
    volatile buffered_iopage_t *ring = dm.ring;
    uint64_t *ptrs = (uint64_t *)(void *)dm.ring; /* read_pointer | write_pointer << 32, one word */
    for (;;) {
        const uint64_t both = __atomic_load_n(ptrs, __ATOMIC_ACQUIRE);
        const uint32_t rd = (uint32_t)both, wr = (uint32_t)(both >> 32);
        buf_ioreq_t e;
        ioreq_t req;
        unsigned int slots = 1;
        if (rd == wr) return;
        memcpy(&e, (const void *)&ring->buf_ioreq[rd % IOREQ_BUFFER_SLOT_NUM], sizeof e);
        memset(&req, 0, sizeof req);
        req.type = e.type;
        req.dir = e.dir;
        req.size = 1u << e.size;
        req.addr = e.addr;
        req.data = e.data;
        req.count = 1;
        if (req.size == 8) {
            buf_ioreq_t hi;
            memcpy(&hi, (const void *)&ring->buf_ioreq[(rd + 1) % IOREQ_BUFFER_SLOT_NUM], sizeof hi);
            req.data |= (uint64_t)hi.data << 32;
            slots = 2;
        }
        ++dm.n_buffered;
        if (req.dir == IOREQ_WRITE)
            serve(&req, 0);
        else
            fprintf(stderr, "xen_test_dm: a buffered read (type %u) ignored\n", e.type);
        __atomic_fetch_add(&dm.ring->read_pointer, slots, __ATOMIC_RELEASE);
    }
}

/* Serves vCPU v's slot if it holds a request. */
static void serve_slot(unsigned int v) {
    volatile ioreq_t *slot = &dm.slots->vcpu_ioreq[v];
    ioreq_t req;
    if (slot->state != STATE_IOREQ_READY) return; /* a stale notification */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(&req, (const void *)slot, sizeof req);
    slot->state = STATE_IOREQ_INPROCESS;
    drain_ring(); /* the writes posted before this request come first */
    serve(&req, v);
    ++dm.n_sync;
    ++dm.per_vcpu[v];
    slot->data = req.data;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    slot->state = STATE_IORESP_READY;
    check(xenevtchn_notify(dm.xce, dm.vcpu_port[v]), "xenevtchn_notify");
}

/* One notification (the fd was readable). */
static void on_event(void) {
    const xenevtchn_port_or_error_t port = xenevtchn_pending(dm.xce);
    unsigned int v;
    if (port < 0) failed("xenevtchn_pending");
    check(xenevtchn_unmask(dm.xce, (evtchn_port_t)port), "xenevtchn_unmask");
    if ((evtchn_port_t)port == dm.buf_port) {
        drain_ring();
        return;
    }
    for (v = 0; v < dm.nr_vcpus; ++v)
        if (dm.vcpu_port[v] == (evtchn_port_t)port) {
            serve_slot(v);
            return;
        }
    fprintf(stderr, "xen_test_dm: a notification on port %d, not one of ours\n", port);
}

/* ---- start, serve, stop ------------------------------------------------ */

static void start(void) {
    evtchn_port_t bufioreq_port = 0;
    void *frames = NULL;
    unsigned int v;
    xenevtchn_port_or_error_t p;

    dm.dmod = xendevicemodel_open(NULL, 0);
    if (dm.dmod == NULL) failed("xendevicemodel_open");
    dm.xce = xenevtchn_open(NULL, 0);
    if (dm.xce == NULL) failed("xenevtchn_open");
    dm.fmem = xenforeignmemory_open(NULL, 0);
    if (dm.fmem == NULL) failed("xenforeignmemory_open");
    /* Act for this domain only from here on (as a deprivileged device
     * model does). */
    check(xendevicemodel_restrict(dm.dmod, dm.domid), "xendevicemodel_restrict");
    check(xenevtchn_restrict(dm.xce, dm.domid), "xenevtchn_restrict");
    check(xenforeignmemory_restrict(dm.fmem, dm.domid), "xenforeignmemory_restrict");

    check(xendevicemodel_nr_vcpus(dm.dmod, dm.domid, &dm.nr_vcpus), "xendevicemodel_nr_vcpus");
    if (dm.nr_vcpus == 0 || dm.nr_vcpus > MAX_VCPUS) {
        fprintf(stderr, "xen_test_dm: %u vCPUs: one ioreq page holds 1..%u\n", dm.nr_vcpus, (unsigned)MAX_VCPUS);
        exit(3);
    }
    dm.vcpu_port = calloc(dm.nr_vcpus, sizeof *dm.vcpu_port);
    dm.per_vcpu = calloc(dm.nr_vcpus, sizeof *dm.per_vcpu);
    if (dm.vcpu_port == NULL || dm.per_vcpu == NULL) {
        fprintf(stderr, "xen_test_dm: out of memory\n");
        exit(3);
    }

    check(xendevicemodel_create_ioreq_server(dm.dmod, dm.domid, HVM_IOREQSRV_BUFIOREQ_ATOMIC, &dm.id),
          "xendevicemodel_create_ioreq_server");
    /* No gfns: the pages come from the resource mapping. */
    check(xendevicemodel_get_ioreq_server_info(dm.dmod, dm.domid, dm.id, NULL, NULL, &bufioreq_port),
          "xendevicemodel_get_ioreq_server_info");
    dm.res = xenforeignmemory_map_resource(dm.fmem, dm.domid, XENMEM_resource_ioreq_server, dm.id,
                                           XENMEM_resource_ioreq_server_frame_bufioreq, 2, &frames,
                                           PROT_READ | PROT_WRITE, 0);
    if (dm.res == NULL) failed("xenforeignmemory_map_resource");
    dm.ring = frames;
    dm.slots = (shared_iopage_t *)(void *)((uint8_t *)frames + PAGE_SIZE_4K *
                                           XENMEM_resource_ioreq_server_frame_ioreq(0));

    /* The device's configuration space, VGA memory (buffered writes) and
     * the pages of the ioreq_server type (writes). The BARs are mapped when
     * the guest programs them. */
    check(xendevicemodel_map_pcidev_to_ioreq_server(dm.dmod, dm.domid, dm.id, 0, 0, XTD_PCI_DEV, 0),
          "xendevicemodel_map_pcidev_to_ioreq_server");
    check(xendevicemodel_map_io_range_to_ioreq_server(dm.dmod, dm.domid, dm.id, XEN_DMOP_IO_RANGE_MEMORY,
                                                      XTD_VGA_BASE, XTD_VGA_BASE + XTD_VGA_SIZE - 1),
          "xendevicemodel_map_io_range_to_ioreq_server");
    check(xendevicemodel_map_mem_type_to_ioreq_server(dm.dmod, dm.domid, dm.id, HVMMEM_ioreq_server,
                                                      XEN_DMOP_IOREQ_MEM_ACCESS_WRITE),
          "xendevicemodel_map_mem_type_to_ioreq_server");
    dm.bar0 = 1; /* I/O space indicator */

    check(xendevicemodel_set_ioreq_server_state(dm.dmod, dm.domid, dm.id, 1), "xendevicemodel_set_ioreq_server_state");

    /* Enabled: the slots carry their ports now. */
    p = xenevtchn_bind_interdomain(dm.xce, dm.domid, bufioreq_port);
    if (p < 0) failed("xenevtchn_bind_interdomain");
    dm.buf_port = (evtchn_port_t)p;
    for (v = 0; v < dm.nr_vcpus; ++v) {
        p = xenevtchn_bind_interdomain(dm.xce, dm.domid, dm.slots->vcpu_ioreq[v].vp_eport);
        if (p < 0) failed("xenevtchn_bind_interdomain");
        dm.vcpu_port[v] = (evtchn_port_t)p;
    }
    /* Whatever was posted before our ends were bound was not notified. */
    drain_ring();
    for (v = 0; v < dm.nr_vcpus; ++v) serve_slot(v);
}

static void stop(void) {
    unsigned int v;
    for (v = 0; v < MAP_CACHE; ++v)
        if (dm.map[v].va != NULL) {
            check(xenforeignmemory_unmap(dm.fmem, dm.map[v].va, 1), "xenforeignmemory_unmap");
            dm.map[v].va = NULL;
        }
    check(xenevtchn_unbind(dm.xce, dm.buf_port), "xenevtchn_unbind");
    for (v = 0; v < dm.nr_vcpus; ++v) check(xenevtchn_unbind(dm.xce, dm.vcpu_port[v]), "xenevtchn_unbind");
    check(xendevicemodel_destroy_ioreq_server(dm.dmod, dm.domid, dm.id), "xendevicemodel_destroy_ioreq_server");
    check(xenforeignmemory_unmap_resource(dm.fmem, dm.res), "xenforeignmemory_unmap_resource");
    dm.res = NULL;
    check(xenforeignmemory_close(dm.fmem), "xenforeignmemory_close");
    check(xenevtchn_close(dm.xce), "xenevtchn_close");
    check(xendevicemodel_close(dm.dmod), "xendevicemodel_close");
}

static void summary(void) {
    unsigned int v;
    printf("xen_test_dm: served sync=%" PRIu64 " buffered=%" PRIu64 " pci=%" PRIu64 " ptr=%" PRIu64
           " protected=%" PRIu64 " vcpus=",
           dm.n_sync, dm.n_buffered, dm.n_pci, dm.n_ptr, dm.n_protected);
    for (v = 0; v < dm.nr_vcpus; ++v) printf("%s%" PRIu64, v ? "," : "", dm.per_vcpu[v]);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    char *end = NULL;
    unsigned long domid;
    int evfd;
    if (argc != 2) {
        fprintf(stderr, "usage: xen_test_dm DOMID\n");
        return 2;
    }
    errno = 0;
    domid = strtoul(argv[1], &end, 10);
    /* Guest domains: 1 .. DOMID_FIRST_RESERVED - 1 (xen/include/public/xen.h). */
    if (errno != 0 || end == argv[1] || *end != '\0' || domid == 0 || domid >= DOMID_FIRST_RESERVED) {
        fprintf(stderr, "xen_test_dm: bad DOMID '%s' (1..%u)\nusage: xen_test_dm DOMID\n", argv[1],
                (unsigned)DOMID_FIRST_RESERVED - 1);
        return 2;
    }
    dm.domid = (domid_t)domid;

    start();
    evfd = xenevtchn_fd(dm.xce);
    if (evfd < 0) failed("xenevtchn_fd");
    printf("xen_test_dm: ready\n");
    fflush(stdout);

    for (;;) {
        struct pollfd p[2];
        p[0].fd = evfd;
        p[0].events = POLLIN;
        p[0].revents = 0;
        p[1].fd = 0;
        p[1].events = POLLIN;
        p[1].revents = 0;
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            failed("poll");
        }
        if (p[0].revents & POLLNVAL) {
            errno = EBADF;
            failed("poll (xenevtchn_fd)");
        }
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) on_event();
        if (p[1].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) {
            char b[64];
            const ssize_t n = read(0, b, sizeof b);
            if (n <= 0) break; /* EOF or hang-up: stop */
        }
    }
    stop();
    summary();
    free(dm.vcpu_port);
    free(dm.per_vcpu);
    return 0;
}
