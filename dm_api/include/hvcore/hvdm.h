/* SPDX-License-Identifier: MIT */
/* hvcore device-model API, ABI version 1 (HVCORE_1.0).
 *
 * Shaped after libxendevicemodel: same operations, same argument order and
 * Xen's numeric constants, so a Xen device model ports by renaming. Every
 * function returns 0 on success and a negative errno on failure (never -1
 * with errno). C99; no C++ in here. */
#ifndef HVCORE_HVDM_H
#define HVCORE_HVDM_H

#include <stddef.h>
#include <stdint.h>

#include "hvcore/hv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hvdm_handle hvdm_handle; /* one handle = one emulator identity */
typedef uint16_t hvdm_ioservid_t;

/* memory types (Xen's HVMMEM_*) */
#define HVDM_MEM_RAM_RW 0
#define HVDM_MEM_RAM_RO 1
#define HVDM_MEM_MMIO_DM 2
#define HVDM_MEM_UNUSED 3
#define HVDM_MEM_IOREQ_SERVER 4

/* map_mem_type_to_ioreq_server flags (only 0 and WRITE are accepted) */
#define HVDM_IOREQ_MEM_ACCESS_READ (1u << 0)
#define HVDM_IOREQ_MEM_ACCESS_WRITE (1u << 1)

/* io range types */
#define HVDM_IO_RANGE_PORT 0
#define HVDM_IO_RANGE_MEMORY 1
#define HVDM_IO_RANGE_PCI 2

/* buffered ioreq modes */
#define HVDM_BUFIOREQ_OFF 0
#define HVDM_BUFIOREQ_LEGACY 1
#define HVDM_BUFIOREQ_ATOMIC 2
/* hvcore extension, OR'ed into handle_bufioreq with LEGACY or ATOMIC (a
 * bit Xen does not define). As Xen, hvcore posts to the ring only single
 * direct writes to VGA memory 0xa0000-0xbffff (stdvga_mem_accept); with
 * this flag the server also gets every port write and every other MMIO
 * write below 1 MiB it holds by range posted, count 1, sizes 1/2/4/8.
 * Any other bit, or this one with OFF, is -EINVAL. */
#define HVDM_BUFIOREQ_WIDE 0x80

/* ioreq slot states */
#define HVDM_STATE_IOREQ_NONE 0
#define HVDM_STATE_IOREQ_READY 1
#define HVDM_STATE_IOREQ_INPROCESS 2
#define HVDM_STATE_IORESP_READY 3

/* ioreq types */
#define HVDM_IOREQ_TYPE_PIO 0
#define HVDM_IOREQ_TYPE_COPY 1
#define HVDM_IOREQ_TYPE_PCI_CONFIG 2
#define HVDM_IOREQ_TYPE_TIMEOFFSET 7
#define HVDM_IOREQ_TYPE_INVALIDATE 8

/* direction */
#define HVDM_IOREQ_WRITE 0
#define HVDM_IOREQ_READ 1

/* DMOP numbers (Xen's order) */
#define HVDM_DMOP_CREATE_IOREQ_SERVER 1
#define HVDM_DMOP_GET_IOREQ_SERVER_INFO 2
#define HVDM_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER 3
#define HVDM_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER 4
#define HVDM_DMOP_SET_IOREQ_SERVER_STATE 5
#define HVDM_DMOP_DESTROY_IOREQ_SERVER 6
#define HVDM_DMOP_TRACK_DIRTY_VRAM 7
#define HVDM_DMOP_SET_PCI_INTX_LEVEL 8
#define HVDM_DMOP_SET_ISA_IRQ_LEVEL 9
#define HVDM_DMOP_SET_PCI_LINK_ROUTE 10
#define HVDM_DMOP_MODIFIED_MEMORY 11
#define HVDM_DMOP_SET_MEM_TYPE 12
#define HVDM_DMOP_INJECT_EVENT 13
#define HVDM_DMOP_INJECT_MSI 14
#define HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER 15
#define HVDM_DMOP_REMOTE_SHUTDOWN 16
#define HVDM_DMOP_RELOCATE_MEMORY 17
#define HVDM_DMOP_PIN_MEMORY_CACHEATTR 18
#define HVDM_DMOP_SET_IRQ_LEVEL 19
#define HVDM_DMOP_NR_VCPUS 20

/* get_ioreq_server_info flags */
#define HVDM_DMOP_NO_GFNS 1

/* PCI SBDF as Xen's XEN_DMOP_PCI_SBDF. Unsigned arithmetic, no cast (clean
 * C++ under -Wold-style-cast): each field is masked with an unsigned
 * constant, so an argument of 32 bits or fewer (uint8_t, uint16_t, int,
 * unsigned) gives an unsigned int (uint32_t) with the bits a conversion to
 * uint32_t would give; a constant expression when the arguments are. */
#define HVDM_PCI_SBDF(s, b, d, f) \
    ((((s) & 0xffffu) << 16) | (((b) & 0xffu) << 8) | (((d) & 0x1fu) << 3) | ((f) & 0x7u))

/* One synchronous ioreq: Xen's struct ioreq, 32 bytes. */
typedef struct hvdm_ioreq {
    uint64_t addr;     /* physical address, port, or (SBDF << 32 | register) */
    uint64_t data;     /* data, or a guest physical address if data_is_ptr */
    uint32_t count;    /* repeat count (rep prefixes) */
    uint32_t size;     /* bytes per access */
    uint32_t vp_eport; /* hvcore: the vCPU index to pass to hvdm_ioreq_notify */
    uint16_t _pad0;
    unsigned int state : 4;
    unsigned int data_is_ptr : 1;
    unsigned int dir : 1; /* 1 = read, 0 = write */
    unsigned int df : 1;
    unsigned int _pad1 : 1;
    uint8_t type; /* HVDM_IOREQ_TYPE_* */
} hvdm_ioreq_t;

/* Xen's shared_iopage_t: one slot per vCPU. */
typedef struct hvdm_shared_iopage {
    hvdm_ioreq_t vcpu_ioreq[1];
} hvdm_shared_iopage;

/* Xen's buf_ioreq_t: 8 bytes; an 8-byte access uses two slots. */
typedef struct hvdm_buf_ioreq {
    uint8_t type;
    unsigned int pad : 1;
    unsigned int dir : 1;
    unsigned int size : 2; /* 0 => 1, 1 => 2, 2 => 4, 3 => 8 bytes */
    unsigned int addr : 20;
    uint32_t data;
} hvdm_buf_ioreq_t;

#define HVDM_IOREQ_BUFFER_SLOT_NUM 511

/* Xen's buffered_iopage_t: exactly 4096 bytes. */
typedef struct hvdm_buffered_iopage {
    uint32_t read_pointer;
    uint32_t write_pointer;
    hvdm_buf_ioreq_t buf_ioreq[HVDM_IOREQ_BUFFER_SLOT_NUM];
} hvdm_buffered_iopage;

/* in-process: a handle on a host created with hv.h. A handle may outlive
 * its host (hv.h "Lifetimes"): once the host is destroyed every call on it
 * is -ENODEV but hvdm_close, which always frees it (0). hvdm_close destroys
 * the handle's servers and releases its mappings and descriptors. */
hvdm_handle *hvdm_open(struct hv_host *host) HV_NOEXCEPT;
int hvdm_close(hvdm_handle *h) HV_NOEXCEPT;
/* Then only domid. As Linux's privcmd, a restricted handle gets -EPERM for
 * any other domid before anything else is checked (its arguments, its
 * buffers, whether that domain exists); only a null handle (-EINVAL) and a
 * destroyed host (-ENODEV) come first. */
int hvdm_restrict(hvdm_handle *h, hvdm_domid_t domid) HV_NOEXCEPT;

int hvdm_create_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, int handle_bufioreq,
                             hvdm_ioservid_t *id) HV_NOEXCEPT;
int hvdm_destroy_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id) HV_NOEXCEPT;
int hvdm_set_ioreq_server_state(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                int enabled) HV_NOEXCEPT;
int hvdm_map_io_range_to_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                      int is_mmio, uint64_t start, uint64_t end) HV_NOEXCEPT;
int hvdm_unmap_io_range_from_ioreq_server(hvdm_handle *h, hvdm_domid_t domid,
                                          hvdm_ioservid_t id, int is_mmio, uint64_t start,
                                          uint64_t end) HV_NOEXCEPT;
int hvdm_map_pcidev_to_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                    uint16_t segment, uint8_t bus, uint8_t device,
                                    uint8_t function) HV_NOEXCEPT;
int hvdm_unmap_pcidev_from_ioreq_server(hvdm_handle *h, hvdm_domid_t domid,
                                        hvdm_ioservid_t id, uint16_t segment, uint8_t bus,
                                        uint8_t device, uint8_t function) HV_NOEXCEPT;
int hvdm_map_mem_type_to_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                      uint16_t type, uint32_t flags) HV_NOEXCEPT;
int hvdm_set_mem_type(hvdm_handle *h, hvdm_domid_t domid, uint16_t mem_type,
                      uint64_t first_pfn, uint32_t nr) HV_NOEXCEPT;
int hvdm_get_mem_type(hvdm_handle *h, hvdm_domid_t domid, uint64_t pfn, uint16_t *mem_type) HV_NOEXCEPT;
int hvdm_nr_vcpus(hvdm_handle *h, hvdm_domid_t domid, unsigned int *vcpus) HV_NOEXCEPT;

/* raw DMOP: buffers laid out exactly as Xen's struct xen_dm_op
 * (uint32 op, uint32 pad, union at offset 8), at most 2 buffers */
typedef struct hvdm_buf {
    void *ptr;
    size_t size;
} hvdm_buf;
int hvdm_dm_op(hvdm_handle *h, hvdm_domid_t domid, unsigned int nr_bufs, hvdm_buf *bufs) HV_NOEXCEPT;

/* ioreq pages: Xen's shared_iopage_t / buffered_iopage_t layouts, in
 * shared memory (memfd) mapped into this process. bufioreq may be NULL;
 * *bufioreq is NULL when the server was created with HVDM_BUFIOREQ_OFF.
 * The mapping belongs to the handle: the same addresses for every call on
 * the same server, valid until hvdm_close even if the server, its domain
 * or the host is destroyed first (hv.h "Lifetimes"). */
int hvdm_map_ioreq_pages(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                         hvdm_shared_iopage **ioreq, hvdm_buffered_iopage **bufioreq) HV_NOEXCEPT;
/* A pollable (eventfd) descriptor, readable when a request is posted and
 * when the server is destroyed. The descriptor belongs to the handle (the
 * same one for every call on the same server; do not close it): it stays
 * open until hvdm_close, whatever is destroyed first. */
int hvdm_ioreq_fd(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id) HV_NOEXCEPT;
/* After setting a slot to HVDM_STATE_IORESP_READY. */
int hvdm_ioreq_notify(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t vcpu) HV_NOEXCEPT;

/* --- HVCORE_1.1 (hvcore 1.1.0): the serving helper --- */

/**
 * @brief Serves one request for hvdm_serve_pending / hvdm_serve.
 *
 * req is a copy the callee may change; what is copied back is req->data of
 * a synchronous read (the answer). Two kinds of request arrive:
 * - synchronous (a vCPU slot): req->state is HVDM_STATE_IOREQ_INPROCESS and
 *   the vCPU waits for the answer. For a read (req->dir ==
 *   HVDM_IOREQ_READ) store the value read in req->data; the helper then
 *   publishes it (IORESP_READY) and notifies the vCPU. A rep access
 *   (req->count > 1) comes as one request: with req->data_is_ptr (REP
 *   MOVS) req->data is the guest-physical address of the RAM side, and the
 *   callee reads the count elements there (a write) or stores them there
 *   (a read) itself, with hv_guest_read / hv_guest_write; without it (REP
 *   STOS, a write) req->data is the value of every element.
 * - buffered (a record of the server's buffered ring, expanded): a single
 *   write (count 1, size 1, 2, 4 or 8; an 8-byte write arrives whole,
 *   though the ring holds it in two records), req->state is
 *   HVDM_STATE_IOREQ_READY, req->vp_eport is 0; the vCPU did not wait and
 *   nothing is answered.
 *
 * The callee may call hvdm_* and hv_* functions (hv_guest_write, ...), but
 * must not close the handle or call hvdm_serve_pending / hvdm_serve on it.
 * @param opaque the pointer given to hvdm_serve_pending / hvdm_serve.
 * @param id the server the request came to.
 * @param req the request (see above).
 * @return 0: served. A negative errno: stop serving; the helper returns it
 * (a positive value stops it too and is returned as -ECANCELED). The
 * request that failed is not answered: a synchronous slot stays INPROCESS
 * (its vCPU keeps waiting), a buffered record stays in the ring.
 */
typedef int (*hvdm_serve_fn)(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req);

/**
 * @brief Serves what is pending on one ioreq server now, without blocking.
 *
 * In this order: consumes the count of the server's eventfd
 * (hvdm_ioreq_fd), so that a request posted from here on makes it readable
 * again; drains the buffered ring, if the server has one, oldest record
 * first (advancing read_pointer atomically after each request, as
 * HVDM_BUFIOREQ_ATOMIC needs); then scans every vCPU slot, and for each in
 * HVDM_STATE_IOREQ_READY: sets INPROCESS, calls fn, stores the answer,
 * sets HVDM_STATE_IORESP_READY (a release store: the answer is visible
 * before the state) and calls hvdm_ioreq_notify. The state byte is read
 * with acquire ordering, so the request's fields are read after it.
 * Not thread-safe against another thread serving the same server.
 * @param h a handle that created the server and mapped its pages.
 * @param domid the server's domain.
 * @param id the server.
 * @param fn called once per request (see hvdm_serve_fn).
 * @param opaque passed to fn.
 * @return >= 0: the number of requests served (buffered and synchronous).
 * @return fn's negative return (or -ECANCELED for a positive one): fn
 * failed; requests served before it stay served.
 * @return -EINVAL: h or fn is NULL, or this handle has not mapped the
 * server's pages (hvdm_map_ioreq_pages or hvdm_ioreq_fd, after the server
 * with this id was created).
 * @return -ENODEV: the host was destroyed (hv_host_destroy).
 * @return -EPERM: h is restricted to another domain (hvdm_restrict), or
 * the server belongs to another handle.
 * @return -ESRCH: no domain domid.
 * @return -ENOENT: no server id in that domain (never created, or
 * destroyed).
 * @return -ESHUTDOWN: the domain was stopped (hv_domain_stop_reason says
 * why).
 * @return -EPROTO: the buffered ring holds the first half of an 8-byte
 * write without its second (a corrupted ring); nothing more is drained.
 * @return -EPROTO (or another errno of hvdm_ioreq_notify): posting an
 * answer failed, for example because fn changed the slot's state.
 * @return -ENOMEM: out of memory.
 */
int hvdm_serve_pending(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_serve_fn fn,
                       void *opaque) HV_NOEXCEPT;

/**
 * @brief Serves n ioreq servers until told to stop: the loop of a device
 * model's thread.
 *
 * Serves each server once (hvdm_serve_pending: requests may already be
 * waiting), then waits with poll() for the servers' eventfds and stop_fd,
 * serving each server whose descriptor is readable, until stop_fd is
 * readable (after serving what woke with it) or something fails. poll()
 * interrupted by a signal (EINTR) is retried. stop_fd is never read: the
 * caller owns its state. Not thread-safe against another thread serving
 * one of the same servers.
 * @param h a handle that created the servers and mapped their pages.
 * @param domid their domain.
 * @param ids the servers (n of them; may be NULL if n is 0).
 * @param n how many, 0 to HVDM_SERVE_MAX_SERVERS.
 * @param stop_fd a descriptor that becomes readable when serving must end
 * (an eventfd, a pipe's read end), or -1: none (then only an error ends
 * the loop).
 * @param fn called once per request (see hvdm_serve_fn).
 * @param opaque passed to fn.
 * @return 0: stop_fd became readable.
 * @return fn's negative return (or -ECANCELED for a positive one).
 * @return any error of hvdm_serve_pending, checked for every server before
 * the first wait (-EINVAL, -ENODEV, -EPERM, -ESRCH, -ENOENT, -ESHUTDOWN,
 * -EPROTO, -ENOMEM): for example -ENOENT once a served server is destroyed
 * (its descriptor then becomes readable), -ESRCH once its domain is.
 * @return -EINVAL also: ids is NULL with n > 0, n > HVDM_SERVE_MAX_SERVERS,
 * stop_fd < -1, or n is 0 and stop_fd is -1 (nothing to wait for).
 * @return -EBADF: stop_fd is not an open descriptor.
 * @return another negative errno of poll() (-ENOMEM).
 */
int hvdm_serve(hvdm_handle *h, hvdm_domid_t domid, const hvdm_ioservid_t *ids, unsigned int n, int stop_fd,
               hvdm_serve_fn fn, void *opaque) HV_NOEXCEPT;

/** The most servers one hvdm_serve call serves (a domain has at most 8;
 * an id may be given more than once). */
#define HVDM_SERVE_MAX_SERVERS 64u

#ifdef __cplusplus
}
#endif

#endif /* HVCORE_HVDM_H */
