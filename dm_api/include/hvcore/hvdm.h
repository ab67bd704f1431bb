/* SPDX-License-Identifier: MIT */
/** @file hvcore/hvdm.h
 * @brief hvcore device-model API, ABI version 1 (HVCORE_1.0).
 *
 * Shaped after libxendevicemodel: same operations, same argument order and
 * Xen's numeric constants, so a Xen device model ports by renaming. Every
 * function returns 0 on success and a negative errno on failure (never -1
 * with errno). C99; no C++ in here.
 *
 * Every call that takes a handle and a domid first checks, in this order:
 * -EINVAL for a NULL handle, -ENODEV once the handle's host is destroyed
 * (only hvdm_close, hvdm_unmap_guest_memory and hvdm_unmap_resource still
 * work), and -EPERM when the handle is restricted
 * (hvdm_restrict) to another domid; a call that names a domain the host
 * does not have returns -ESRCH. A call that allocates may also return
 * -ENOMEM, and -EIO is what an unexpected internal C++ exception would
 * become (none is known to arise). Each function lists them all. The ioreq
 * protocol itself (states, fences, the buffered ring): docs/writing-a-device-model.md.
 * Man pages: hvdm_open(3), hvdm_ioreq_server(3), hvdm_ranges(3),
 * hvdm_mem_type(3), hvdm_dm_op(3), hvdm_serve(3), hvdm_plugin(3), hvdm_irq(3). */

/** @defgroup hvdm_handle Device-model handles
 * @brief One handle = one emulator identity: it owns the servers it creates. */
/** @defgroup hvdm_ioreq_server ioreq servers
 * @brief Creating, enabling and destroying servers; their shared pages,
 * event descriptor and notification. */
/** @defgroup hvdm_ranges I/O ranges and PCI devices
 * @brief Which ports, MMIO ranges and PCI functions a server receives. */
/** @defgroup hvdm_mem_type Memory types
 * @brief p2m types of guest pages (Xen's HVMMEM_*), and the claim of the
 * ioreq_server type. */
/** @defgroup hvdm_protocol ioreq protocol
 * @brief The shared layouts (Xen's xen/include/public/hvm/ioreq.h) and
 * their constants. */
/** @defgroup hvdm_guest_memory Guest memory
 * @brief Mapping a domain's RAM into the device model (Xen's
 * xenforeignmemory_map) and the domain's memory layout. */
/** @defgroup hvdm_dmop Raw DMOPs
 * @brief Xen's struct xen_dm_op, issued as is (xen/include/public/hvm/dm_op.h). */

#ifndef HVCORE_HVDM_H
#define HVCORE_HVDM_H

#include <stddef.h>
#include <stdint.h>

#include "hvcore/hv.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @ingroup hvdm_handle
 * @brief A device model's handle on a host (opaque; hvdm_open). One handle
 * = one emulator identity: only it may configure, map or destroy the
 * servers it created (others get -EPERM). */
typedef struct hvdm_handle hvdm_handle; /* one handle = one emulator identity */
/** @ingroup hvdm_ioreq_server
 * @brief An ioreq server's id in its domain (Xen's ioservid_t): 0..7. */
typedef uint16_t hvdm_ioservid_t;

/** @ingroup hvdm_mem_type
 * @name Memory types (Xen's HVMMEM_*, xen/include/public/hvm/hvm_op.h)
 * @{ */
/** ram_rw: ordinary RAM. */
#define HVDM_MEM_RAM_RW 0
/** ram_ro: RAM the guest reads; its writes are dropped (Xen's p2m_is_discard_write). */
#define HVDM_MEM_RAM_RO 1
/** mmio_dm: no RAM; every access goes to an ioreq server by range. */
#define HVDM_MEM_MMIO_DM 2
/** HVMMEM_unused: not settable (-EINVAL), as in Xen. */
#define HVDM_MEM_UNUSED 3
/** ioreq_server: RAM read at full speed whose writes go to the server that
 * claimed the type (hvdm_map_mem_type_to_ioreq_server); in multi-owner mode
 * (#HV_DOMAIN_MULTI_OWNER) the page's own server's claim decides (its
 * reads too with #HVDM_IOREQ_MEM_ACCESS_READ). */
#define HVDM_MEM_IOREQ_SERVER 4
/** @} */

/** @ingroup hvdm_mem_type
 * @name hvdm_map_mem_type_to_ioreq_server flags
 * Xen's rules (the default): only 0 and WRITE. In multi-owner mode
 * (#HV_DOMAIN_MULTI_OWNER): 0, WRITE, WRITE | WRITE_POSTED, READ and
 * READ | WRITE; any other combination is -EINVAL.
 * @{ */
/** Xen's XEN_DMOP_IOREQ_MEM_ACCESS_READ: -EINVAL, as in Xen, unless the
 * domain is in multi-owner mode: then the claimant's pages are not
 * accessible in stage 2 and every read of one is a synchronous read ioreq
 * to the claimant, whose answer the guest reads (a read-modify-write sends
 * the read, then the write; an instruction fetch is a guest fault). Alone,
 * writes to the pages are made to RAM; with WRITE they are sent too.
 * (hvcore 1.6) */
#define HVDM_IOREQ_MEM_ACCESS_READ (1u << 0)
/** Xen's XEN_DMOP_IOREQ_MEM_ACCESS_WRITE: the claimant receives writes. */
#define HVDM_IOREQ_MEM_ACCESS_WRITE (1u << 1)
/** hvcore's own (since 1.6.0), with WRITE, in multi-owner mode only
 * (#HV_DOMAIN_MULTI_OWNER; -EINVAL otherwise): posted writes. hvcore makes
 * each guest write to the claimant's pages in RAM, then posts it on the
 * claimant's buffered ring as a posted-write record (HVDM_BUF_IOREQ_POSTED:
 * the full guest-physical address, the size, the value) and the vCPU goes
 * on without waiting. A write the ring cannot take (full: fewer than two
 * free slots) is made in RAM and sent synchronously instead, as an
 * ordinary write in the vCPU's slot. The claimant must have a ring (not
 * HVDM_BUFIOREQ_OFF). Ordering: a device model drains the ring before it
 * takes a synchronous request (hvdm_serve_pending does), and then sees each
 * vCPU's posted writes and synchronous requests to this server in the
 * order that vCPU made them. */
#define HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED (1u << 2)
/** @} */

/** @ingroup hvdm_ranges
 * @name io range types (Xen's XEN_DMOP_IO_RANGE_*)
 * @{ */
/** I/O ports. */
#define HVDM_IO_RANGE_PORT 0
/** guest-physical MMIO addresses. */
#define HVDM_IO_RANGE_MEMORY 1
/** PCI functions by SBDF (HVDM_PCI_SBDF), for config-space accesses through 0xcf8/0xcfc. */
#define HVDM_IO_RANGE_PCI 2
/** @} */

/** @ingroup hvdm_ioreq_server
 * @name Buffered ioreq modes (handle_bufioreq; Xen's HVM_IOREQSRV_BUFIOREQ_*)
 * @{ */
/** No buffered ring: every request is synchronous. */
#define HVDM_BUFIOREQ_OFF 0
/** A buffered ring whose pointers only grow (they wrap at 2^32). */
#define HVDM_BUFIOREQ_LEGACY 1
/** A buffered ring whose pointers hvcore canonicalises (both reduced modulo
 * the ring size with one 64-bit compare-and-swap) after each post, as Xen. */
#define HVDM_BUFIOREQ_ATOMIC 2
/** @} */
/** @ingroup hvdm_ioreq_server
 * @brief hvcore extension, OR'ed into handle_bufioreq with LEGACY or ATOMIC (a
 * bit Xen does not define). As Xen, hvcore posts to the ring only single
 * direct writes to VGA memory 0xa0000-0xbffff (stdvga_mem_accept), on x86
 * domains only (Arm64 and RISC-V post nothing without this flag); with
 * this flag the server also gets every port write and every other MMIO
 * write below 1 MiB it holds by range posted, count 1, sizes 1/2/4/8.
 * Any other bit, or this one with OFF, is -EINVAL. */
#define HVDM_BUFIOREQ_WIDE 0x80

/** @ingroup hvdm_protocol
 * @name ioreq slot states (Xen's STATE_*)
 * @{ */
/** The slot is free: the hypervisor may fill it. */
#define HVDM_STATE_IOREQ_NONE 0
/** The hypervisor published a request (written by hvcore). */
#define HVDM_STATE_IOREQ_READY 1
/** The device model took the request (written by the device model). */
#define HVDM_STATE_IOREQ_INPROCESS 2
/** The device model posted its response (written by the device model,
 * then hvdm_ioreq_notify); hvcore takes it and sets NONE. */
#define HVDM_STATE_IORESP_READY 3
/** @} */

/** @ingroup hvdm_protocol
 * @name ioreq types (Xen's IOREQ_TYPE_*)
 * @{ */
/** A port access: addr is the port. */
#define HVDM_IOREQ_TYPE_PIO 0
/** An MMIO access: addr is the guest-physical address. */
#define HVDM_IOREQ_TYPE_COPY 1
/** A PCI config access: addr is (SBDF << 32) | register. */
#define HVDM_IOREQ_TYPE_PCI_CONFIG 2
/** Xen's time-offset notice (defined for layout compatibility; hvcore does not send it). */
#define HVDM_IOREQ_TYPE_TIMEOFFSET 7
/** Xen's map-cache invalidation (defined for layout compatibility; hvcore does not send it). */
#define HVDM_IOREQ_TYPE_INVALIDATE 8
/** @} */

/** @ingroup hvdm_protocol
 * @name direction (hvdm_ioreq_t::dir, Xen's IOREQ_WRITE / IOREQ_READ)
 * @{ */
/** The guest writes: data holds the value. */
#define HVDM_IOREQ_WRITE 0
/** The guest reads: the device model stores the value in data. */
#define HVDM_IOREQ_READ 1
/** @} */

/** @ingroup hvdm_dmop
 * @name DMOP numbers (Xen's order, XEN_DMOP_*). hvcore implements 1-7,
 * 11, 12, 15, 16 and 20 on every domain (7 and 11 since 1.6; hvdm_dirty), 8, 9, 10 and 14 on x86 domains and 19 on
 * arm64 and riscv64 domains (hvdm_irq); the others are -EOPNOTSUPP.
 * @{ */
/** A DMOP number: Xen's XEN_DMOP_* of the same name in lower case
 * (xen/include/public/hvm/dm_op.h), for struct xen_dm_op's op field. */
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
/** @} */

/** @ingroup hvdm_dmop
 * @brief get_ioreq_server_info flags (Xen's XEN_DMOP_no_gfns): required,
 * since hvcore never places ioreq pages in guest memory (without it the
 * op is -EOPNOTSUPP; use hvdm_map_resource or hvdm_map_ioreq_pages). The
 * op's bufioreq_port is the buffered ring's port, nr_vcpus (see
 * hvdm_get_ioreq_server_info). */
#define HVDM_DMOP_NO_GFNS 1

/** @ingroup hvdm_ranges
 * @brief PCI SBDF as Xen's XEN_DMOP_PCI_SBDF. Unsigned arithmetic, no cast (clean
 * C++ under -Wold-style-cast): each field is masked with an unsigned
 * constant, so an argument of 32 bits or fewer (uint8_t, uint16_t, int,
 * unsigned) gives an unsigned int (uint32_t) with the bits a conversion to
 * uint32_t would give; a constant expression when the arguments are. */
#define HVDM_PCI_SBDF(s, b, d, f) \
    ((((s) & 0xffffu) << 16) | (((b) & 0xffu) << 8) | (((d) & 0x1fu) << 3) | ((f) & 0x7u))

/** @ingroup hvdm_protocol
 * @brief One synchronous ioreq: Xen's struct ioreq, 32 bytes. The state
 * field is the handshake (docs/writing-a-device-model.md); every other
 * field is written by hvcore before it sets READY, except data, which the
 * device model writes for a read before it sets IORESP_READY. */
typedef struct hvdm_ioreq {
    uint64_t addr;     /**< physical address, port, or (SBDF << 32 | register) */
    uint64_t data;     /**< data, or a guest physical address if data_is_ptr */
    uint32_t count;    /**< repeat count (rep prefixes) */
    uint32_t size;     /**< bytes per access */
    uint32_t vp_eport; /**< the slot's event-channel port (Xen: the port of the
                        * vCPU's channel, written by the hypervisor). hvcore:
                        * the vCPU index: slot v's vp_eport is v, the port
                        * hvdm_ioreq_pending reports when v's request is
                        * posted, and the vcpu to pass to hvdm_ioreq_notify.
                        * Written when the server is created and with each
                        * request. */
    uint16_t _pad0;    /**< reserved, 0 */
    unsigned int state : 4;       /**< HVDM_STATE_*: the handshake (atomic byte access with fences; see the guide) */
    unsigned int data_is_ptr : 1; /**< data is the guest-physical address of count elements in RAM */
    unsigned int dir : 1; /**< 1 = read, 0 = write */
    unsigned int df : 1;  /**< direction flag: a rep walks down from addr */
    unsigned int _pad1 : 1; /**< reserved */
    uint8_t type; /**< HVDM_IOREQ_TYPE_* */
} hvdm_ioreq_t;

/** @ingroup hvdm_protocol
 * @brief Xen's shared_iopage_t: one slot per vCPU. */
typedef struct hvdm_shared_iopage {
    hvdm_ioreq_t vcpu_ioreq[1]; /**< one slot per vCPU, indexed 0 .. nr_vcpus - 1 (hvdm_nr_vcpus) */
} hvdm_shared_iopage;

/** @ingroup hvdm_protocol
 * @brief Xen's buf_ioreq_t: 8 bytes; an 8-byte access uses two slots (the
 * second slot's data holds bits 63:32). */
typedef struct hvdm_buf_ioreq {
    uint8_t type;          /**< HVDM_IOREQ_TYPE_PIO or HVDM_IOREQ_TYPE_COPY */
    unsigned int pad : 1;  /**< reserved */
    unsigned int dir : 1;  /**< always HVDM_IOREQ_WRITE */
    unsigned int size : 2; /**< 0 => 1, 1 => 2, 2 => 4, 3 => 8 bytes */
    unsigned int addr : 20; /**< the port or guest-physical address (below 1 MiB) */
    uint32_t data;         /**< the data (bits 31:0) */
} hvdm_buf_ioreq_t;

/** @ingroup hvdm_protocol
 * @brief Slots of the buffered ring (Xen's IOREQ_BUFFER_SLOT_NUM). */
#define HVDM_IOREQ_BUFFER_SLOT_NUM 511

/** @ingroup hvdm_protocol
 * @brief hvcore's posted-write record (since 1.6.0): the type byte of its
 * first slot.
 *
 * A write posted for a claim with HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED takes
 * two consecutive slots of the ring (the second at index (i + 1) modulo
 * HVDM_IOREQ_BUFFER_SLOT_NUM, so it may wrap to slot 0), published by one
 * write_pointer advance of 2, because buf_ioreq_t's 20 address bits cannot
 * hold a guest-physical address. Little-endian, byte by byte:
 *
 * | slot | bytes | content |
 * | ---- | ----- | ------- |
 * | i    | 0     | type: HVDM_BUF_IOREQ_POSTED (0x80), a value Xen never writes (its IOREQ_TYPE_* are 0 to 8) |
 * | i    | 1     | bit 0 pad (0), bit 1 dir (0: HVDM_IOREQ_WRITE), bits 3:2 size code (0 => 1, 1 => 2, 2 => 4, 3 => 8 bytes), bits 7:4 gpa bits 35:32 |
 * | i    | 2-3   | gpa bits 51:36 (bytes 1-3 hold, in their bits 31:12 as a 32-bit word, gpa bits 51:32: hvdm_buf_ioreq_t's addr) |
 * | i    | 4-7   | gpa bits 31:0 (hvdm_buf_ioreq_t's data) |
 * | i+1  | 0-7   | the value written, a little-endian 64-bit word, zero above its size |
 *
 * So, read through hvdm_buf_ioreq_t: slot i's type is 0x80, its dir and
 * size are as for any record, gpa = ((uint64_t)addr << 32) | data; slot
 * i+1's two 32-bit words are the value's low and high halves. hvcore
 * posts the record only for a gpa below 2^52 (the largest physical
 * address of x86-64 and Arm64). hvdm_serve_pending expands it into one
 * ordinary write (type HVDM_IOREQ_TYPE_COPY, the full addr). A Xen
 * device model reading the ring itself never meets it: only a claim with
 * WRITE_POSTED, an hvcore extension, posts it. */
#define HVDM_BUF_IOREQ_POSTED 0x80

/** @ingroup hvdm_protocol
 * @brief Xen's buffered_iopage_t: exactly 4096 bytes. hvcore writes slots
 * and write_pointer; the device model reads slots and advances
 * read_pointer. */
typedef struct hvdm_buffered_iopage {
    uint32_t read_pointer;  /**< next slot to read (modulo HVDM_IOREQ_BUFFER_SLOT_NUM); written by the device model */
    uint32_t write_pointer; /**< one past the last slot written; written by hvcore */
    hvdm_buf_ioreq_t buf_ioreq[HVDM_IOREQ_BUFFER_SLOT_NUM]; /**< the ring */
} hvdm_buffered_iopage;

/** @ingroup hvdm_handle
 * @brief Opens a handle on a host created with hv.h (in-process), a new
 * emulator identity.
 *
 * A handle may outlive its host (@ref hv_lifetimes): once the host is
 * destroyed every call on it is -ENODEV but hvdm_close, which always frees
 * it, and hvdm_unmap_guest_memory and hvdm_unmap_resource, which still
 * unmap.
 * @param host the host.
 * @return the handle, or NULL if @p host is NULL or memory ran out.
 * @note Thread-safe, except against hv_host_destroy of the same host. A
 *       handle may be used from several threads at once. */
hvdm_handle *hvdm_open(struct hv_host *host) HV_NOEXCEPT;
/** @ingroup hvdm_handle
 * @brief Connects to a host in another process (hv_dm_listen, or
 * `hvcore run --listen PATH`): a new emulator identity, as hvdm_open.
 *
 * Every hvdm_* call works on the handle exactly as on one of hvdm_open,
 * with the same errnos in the same order (the restriction first): the host
 * runs the in-process code for this connection, and a verdict the handle
 * reaches itself (its copy of the restriction, a null out-argument) is
 * returned only once the host has said it still exists (one more round
 * trip, on that error path only): -ENODEV comes first, as in-process. The ioreq pages and the
 * eventfd come over the socket as descriptors (SCM_RIGHTS), mapped and
 * kept by the handle as in-process; hvdm_ioreq_notify is a message. One
 * call at a time goes over the socket (a handle may still be used from
 * several threads). Differences: a DMOP whose buffers together exceed 64
 * KiB is -EMSGSIZE (-ENODEV on a destroyed host); once the connection is lost (the host closed it or
 * exited) or a reply broke the protocol (that call: -EPROTO), every call
 * is -ENODEV but hvdm_close, hvdm_unmap_guest_memory and
 * hvdm_unmap_resource (local: they still unmap). hvdm_close says goodbye and returns once the
 * host has destroyed the handle's servers.
 * @param path the socket's path, or NULL: the environment variable
 *        HVCORE_DM_SOCKET.
 * @return the handle, or NULL with errno set: EINVAL (no path),
 *         ENAMETOOLONG, connect(2)'s errors (ENOENT, ECONNREFUSED...),
 *         ECONNREFUSED also when the host refused this process's uid,
 *         EPROTONOSUPPORT (another major version), ENOMEM.
 * @note Thread-safe. (hvcore 1.3) */
hvdm_handle *hvdm_connect(const char *path) HV_NOEXCEPT;
/** @ingroup hvdm_handle
 * @brief Tells the host this device model's setup is complete (its servers
 * are created, mapped and enabled): the wire message READY.
 *
 * `hvcore run --dm-exec` starts the guest only once every device model it
 * started has called it on one of its connections (any one: a process may
 * hold several). A host embedding hv_dm_listen learns of it through
 * hv_dm_listen_config.event (HV_DM_EVENT_READY). It changes nothing else:
 * servers may still be created after it, and calls work as before.
 * @param h a handle of hvdm_connect.
 * @return 0, or a negative errno (nothing is sent twice).
 * @retval -EINVAL @p h is NULL.
 * @retval -ENODEV the connection is lost (or the host destroyed).
 * @retval -EALREADY this connection said so before.
 * @retval -EOPNOTSUPP @p h is an in-process handle (hvdm_open): a plug-in
 *         in `hvcore run` says so through hvdm_plugin_env.ready instead;
 *         there is no listener to tell.
 * @note Thread-safe. (hvcore 1.3) */
int hvdm_ready(hvdm_handle *h) HV_NOEXCEPT;
/** @ingroup hvdm_handle
 * @brief Closes a handle: destroys the servers it created (as
 * hvdm_destroy_ioreq_server: their vCPUs complete, a claim is released),
 * unmaps its ioreq pages, the mappings hvdm_map_resource and
 * hvdm_map_guest_memory made on it and not yet unmapped, closes its
 * descriptors and frees it.
 * @param h the handle (freed, even after the host is destroyed).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL.
 * @note No other call may use @p h during or after this one. */
int hvdm_close(hvdm_handle *h) HV_NOEXCEPT;
/** @ingroup hvdm_handle
 * @brief Restricts the handle to one domain: from then on only @p domid.
 *
 * As Linux's privcmd (IOCTL_PRIVCMD_RESTRICT), a restricted handle gets
 * -EPERM for any other domid before anything else is checked (its
 * arguments, its buffers, whether that domain exists); only a null handle
 * (-EINVAL) and a destroyed host (-ENODEV) come first. Restricting again
 * to the same domid succeeds.
 * @param h the handle.
 * @param domid the only domain it may name (need not exist yet).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL, or it is already restricted to another domid.
 * @retval -ENODEV the host was destroyed. */
int hvdm_restrict(hvdm_handle *h, hvdm_domid_t domid) HV_NOEXCEPT;

/** @ingroup hvdm_ioreq_server
 * @brief Creates an ioreq server (disabled, no ranges) owned by this handle
 * (Xen's XEN_DMOP_create_ioreq_server): its shared page has one slot per
 * vCPU, each slot's vp_eport set to its vCPU index.
 * @param h the handle.
 * @param domid the domain.
 * @param handle_bufioreq HVDM_BUFIOREQ_OFF, _LEGACY or _ATOMIC, optionally
 *        OR'ed with HVDM_BUFIOREQ_WIDE (not with OFF).
 * @param[out] id receives the server's id (the lowest free one, 0..7).
 * @return 0, or a negative errno; nothing is created on failure.
 * @retval -EINVAL @p h or @p id is NULL; @p handle_bufioreq is outside
 *         0..255, has a mode above ATOMIC or an unknown bit, or is WIDE with OFF.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOSPC the domain already has 8 servers.
 * @retval -EMFILE the pages (memfd) or the eventfd could not be created:
 *         this, -ENFILE, -ENOMEM, or another errno of memfd_create(2),
 *         ftruncate(2), fcntl(2) F_ADD_SEALS (the memfd is sealed against
 *         resizing: F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL), mmap(2) or
 *         eventfd(2).
 * @retval -ENOMEM memory ran out. */
int hvdm_create_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, int handle_bufioreq,
                             hvdm_ioservid_t *id) HV_NOEXCEPT;
/** @ingroup hvdm_ioreq_server
 * @brief Destroys a server (Xen's XEN_DMOP_destroy_ioreq_server): a vCPU
 * waiting on it completes (a read gets all ones); if it claimed the
 * ioreq_server type, the claim is released and every page of the type is
 * reset to ram_rw before this returns (hvcore differs from Xen here,
 * README.md). This handle's mapping and descriptor of it stay valid until
 * hvdm_close; the descriptor becomes readable.
 * @param h the handle that created it.
 * @param domid the domain.
 * @param id the server.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id (never created, or destroyed). */
int hvdm_destroy_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id) HV_NOEXCEPT;
/** @ingroup hvdm_ioreq_server
 * @brief Enables or disables a server (Xen's
 * XEN_DMOP_set_ioreq_server_state). A disabled server receives nothing: its
 * ranges route to nobody, and writes to pages it claimed are held (the
 * vCPU retries) until it is enabled or the claim ends.
 * @param h the handle that created it.
 * @param domid the domain.
 * @param id the server.
 * @param enabled non-zero to enable.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id. */
int hvdm_set_ioreq_server_state(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                int enabled) HV_NOEXCEPT;
/** @ingroup hvdm_ranges
 * @brief Adds the inclusive range [@p start, @p end] of ports or MMIO
 * addresses to the server (Xen's XEN_DMOP_map_io_range_to_ioreq_server).
 * An access goes to the enabled server, highest id first, whose ranges
 * contain all of it.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param is_mmio non-zero: MMIO (HVDM_IO_RANGE_MEMORY); zero: ports
 *        (HVDM_IO_RANGE_PORT).
 * @param start first port or address.
 * @param end last port or address (inclusive).
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p start > @p end (Xen XSA-238).
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EEXIST the range overlaps one this server already has (of the
 *         same kind).
 * @retval -ENOMEM the server would hold more than 256 separate ranges of
 *         this kind (touching ranges merge). */
int hvdm_map_io_range_to_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                      int is_mmio, uint64_t start, uint64_t end) HV_NOEXCEPT;
/** @ingroup hvdm_ranges
 * @brief Removes [@p start, @p end] from the server's ranges (Xen's
 * XEN_DMOP_unmap_io_range_from_ioreq_server); a part of a mapped range may
 * be removed (the rest stays).
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param is_mmio non-zero: MMIO; zero: ports.
 * @param start first port or address.
 * @param end last port or address (inclusive).
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p start > @p end.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id, or [@p start, @p end] is not wholly
 *         inside one range the server has.
 * @retval -ENOMEM cutting a hole would leave more than 256 ranges. */
int hvdm_unmap_io_range_from_ioreq_server(hvdm_handle *h, hvdm_domid_t domid,
                                          hvdm_ioservid_t id, int is_mmio, uint64_t start,
                                          uint64_t end) HV_NOEXCEPT;
/** @ingroup hvdm_ranges
 * @brief Gives the server the PCI config space of one function: config
 * accesses through CONFIG_ADDRESS (0xcf8, enable bit set) and
 * CONFIG_DATA (0xcfc-0xcff) arrive as HVDM_IOREQ_TYPE_PCI_CONFIG with
 * addr = (SBDF << 32) | register (libxendevicemodel's
 * xendevicemodel_map_pcidev_to_ioreq_server).
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param segment PCI segment (hvcore routes segment 0 only).
 * @param bus bus 0..255.
 * @param device device 0..31.
 * @param function function 0..7.
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p device > 31 or @p function > 7 (as
 *         libxendevicemodel).
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EEXIST the server already has this function.
 * @retval -ENOMEM the server would hold more than 256 separate PCI ranges. */
int hvdm_map_pcidev_to_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                    uint16_t segment, uint8_t bus, uint8_t device,
                                    uint8_t function) HV_NOEXCEPT;
/** @ingroup hvdm_ranges
 * @brief Takes one PCI function away from the server.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param segment PCI segment.
 * @param bus bus 0..255.
 * @param device device 0..31.
 * @param function function 0..7.
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p device > 31 or @p function > 7.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id, or the server does not have this function.
 * @retval -ENOMEM removing it from a run of functions would leave more
 *         than 256 separate ranges. */
int hvdm_unmap_pcidev_from_ioreq_server(hvdm_handle *h, hvdm_domid_t domid,
                                        hvdm_ioservid_t id, uint16_t segment, uint8_t bus,
                                        uint8_t device, uint8_t function) HV_NOEXCEPT;
/** @ingroup hvdm_mem_type
 * @brief Claims (flags = HVDM_IOREQ_MEM_ACCESS_WRITE) or disclaims
 * (flags = 0) the ioreq_server memory type for a server (Xen's
 * XEN_DMOP_map_mem_type_to_ioreq_server; xen/common/ioreq.c
 * ioreq_server_map_mem_type, xen/arch/x86/mm/p2m.c p2m_set_ioreq_server).
 *
 * While claimed, writes to pages of type ioreq_server go to this server
 * (held while it is disabled); reads are served from RAM. A disclaim resets
 * every page of the type to ram_rw before it returns.
 *
 * In multi-owner mode (#HV_DOMAIN_MULTI_OWNER) every server may claim, one
 * server per device model (handle) at a time; the pages its device model
 * sets to HVDM_MEM_IOREQ_SERVER are its own, and their accesses go to it
 * as its flags say (#HVDM_IOREQ_MEM_ACCESS_READ,
 * #HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED); its disclaim (or destroy) resets
 * its own pages only, at the cost of its own pages, and leaves the other
 * servers' claims and pages as they are.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param type HVDM_MEM_IOREQ_SERVER (the only type that can be claimed).
 * @param flags HVDM_IOREQ_MEM_ACCESS_WRITE to claim, 0 to disclaim; in
 *        multi-owner mode also WRITE | WRITE_POSTED (posted writes, since
 *        1.6.0), READ, READ | WRITE.
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p type is not HVDM_MEM_IOREQ_SERVER;
 *         @p flags is neither 0 nor HVDM_IOREQ_MEM_ACCESS_WRITE (in
 *         multi-owner mode: not 0, WRITE, WRITE | WRITE_POSTED, READ or
 *         READ | WRITE); a claim with WRITE_POSTED by a server created with
 *         HVDM_BUFIOREQ_OFF (no ring to post on); a disclaim by a server
 *         that does not hold a claim.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -EOPNOTSUPP the domain was created with HV_DOMAIN_NO_HAP.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EBUSY a claim: the type is already claimed (by any server, this
 *         one too), or pages of a previous claim are not yet reset. In
 *         multi-owner mode: this server already claims; another server of
 *         the same handle claims; pages of this server's previous claim are
 *         not yet reset. */
int hvdm_map_mem_type_to_ioreq_server(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                      uint16_t type, uint32_t flags) HV_NOEXCEPT;
/** @ingroup hvdm_mem_type
 * @brief Sets the p2m type of @p nr guest pages from @p first_pfn (Xen's
 * XEN_DMOP_set_mem_type; xen/arch/x86/hvm/dm.c set_mem_type). All or
 * nothing: every page is checked before any changes.
 *
 * A long range keeps no vCPU out: it is checked, then changed, in steps
 * of 256 pages (Xen preempts every 256 pages), and the domain lock is
 * given up between two steps when a vCPU waits for it. Other type changes
 * wait for the whole call. (Through hvdm_dm_op, a change that gave the
 * lock up writes first_pfn/nr back as Xen's continuation leaves them:
 * where the last step after a preemption began.)
 *
 * Allowed changes (Xen's allow_p2m_type_change): to ioreq_server only from
 * ram_rw, and only while a server holds the claim; from ioreq_server only
 * to ram_rw; from ram_rw or ram_ro to ram_rw, ram_ro or mmio_dm; from
 * mmio_dm only to mmio_dm (a page made mmio_dm does not become RAM again).
 *
 * Multi-owner mode (#HV_DOMAIN_MULTI_OWNER): the pages made ioreq_server
 * become the server of this handle that claims the type (-EINVAL if none
 * does); an ioreq_server page of a server another handle created, while it
 * claims, is not this handle's to change (-EPERM). Without the flag, any
 * handle may change any page, as in Xen.
 * @param h the handle (any handle: types are the domain's, not a server's;
 *        in multi-owner mode, the handle whose claiming server the pages
 *        made ioreq_server join).
 * @param domid the domain.
 * @param mem_type HVDM_MEM_RAM_RW, _RAM_RO, _MMIO_DM or _IOREQ_SERVER.
 * @param first_pfn first guest frame number.
 * @param nr number of pages (at least 1).
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p nr is 0; the range wraps or goes past
 *         the last RAM page; @p mem_type is HVDM_MEM_UNUSED or unknown;
 *         HVDM_MEM_IOREQ_SERVER while no server holds the claim (in
 *         multi-owner mode: no server of this handle), or the claim was
 *         given up while the call ran; a page whose current type may not
 *         change to @p mem_type (checked before -EPERM).
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid; in multi-owner
 *         mode, a page of the range is ioreq_server and belongs to a
 *         claiming server another handle created.
 * @retval -ESRCH no such domain.
 * @retval -EOPNOTSUPP HVDM_MEM_IOREQ_SERVER on a domain created with
 *         HV_DOMAIN_NO_HAP.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOSPC multi-owner mode on RISC-V (#HV_ARCH_RISCV64), whose
 *         stage-2 entries have no room for the owner: the pages would give a
 *         leaf table (512 pages) ioreq_server pages of two owners, whose
 *         record beside the table would pass its budget of 1% of the table
 *         frames (README.md, "Several owners and read trapping"). It is
 *         checked step by step (256 pages): a longer change refused at a
 *         later step undoes the steps before it (vCPUs may have met those
 *         pages as ioreq_server meanwhile).
 * @retval -ENOMEM no stage-2 table frames left to split a large leaf. */
int hvdm_set_mem_type(hvdm_handle *h, hvdm_domid_t domid, uint16_t mem_type,
                      uint64_t first_pfn, uint32_t nr) HV_NOEXCEPT;
/** @ingroup hvdm_dmop
 * @brief hvcore's own DMOP numbers: 0x1000 and up, far above Xen's
 * XEN_DMOP_* (which end at 20), so that neither clashes with an op Xen
 * adds. Xen has no such op (its dm_op answers -EOPNOTSUPP). (hvcore 1.4) */
#define HVDM_DMOP_SET_MEM_TYPE_LIST 0x1000
/** @ingroup hvdm_mem_type
 * @brief The payload of #HVDM_DMOP_SET_MEM_TYPE_LIST (at offset 8 of
 * buffer 0, after the op and pad words; buffer 1 holds @p nr uint64_t
 * gfns). (hvcore 1.4) */
typedef struct hvdm_dmop_set_mem_type_list {
    uint32_t nr;            /**< IN: gfns in buffer 1 (at least 1) */
    uint16_t mem_type;      /**< IN: HVDM_MEM_* */
    uint16_t flags;         /**< IN: #HVDM_MEM_TYPE_LIST_CHECK_ONLY, else 0 */
    uint64_t first_refused; /**< OUT, written on success only (as every DMOP's buffer 0): with the flag, the first gfn refused (its change, or in multi-owner mode its owner), or all-ones */
} hvdm_dmop_set_mem_type_list;
/** @ingroup hvdm_mem_type
 * @brief hvdm_dmop_set_mem_type_list::flags: validate only; nothing
 * changes, and the op returns 0 with first_refused set (all-ones if every
 * gfn would be accepted). (hvcore 1.4) */
#define HVDM_MEM_TYPE_LIST_CHECK_ONLY 1
/** @ingroup hvdm_mem_type
 * @brief The most gfns one hvdm_set_mem_type_list call carries over a
 * socket (hvdm_connect): a DMOP and its buffers travel in one message
 * of at most 65,560 bytes each way (the reply: 16 bytes of header, 8 of
 * status, 16 of buffer sizes, the 24-byte buffer 0, then 8 bytes per
 * gfn). In process there is no such limit. (hvcore 1.4) */
#define HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX 8187u
/** @ingroup hvdm_mem_type
 * @brief Sets the p2m type of a list of guest pages, scattered or not
 * (hvcore's #HVDM_DMOP_SET_MEM_TYPE_LIST; Xen has no such op: there, one
 * XEN_DMOP_set_mem_type per contiguous range). All or nothing: every gfn
 * is checked before any changes; the change is then made one leaf table
 * of the stage-2 table at a time (one walk per table the list reaches).
 *
 * The same rules as hvdm_set_mem_type (allowed changes, the claim). Like
 * hvdm_set_mem_type, the call gives the domain lock up between steps of
 * 256 pages when a vCPU waits for it, so a long list keeps no vCPU out;
 * other type changes on the domain wait for it to finish.
 * @param h the handle.
 * @param domid the domain.
 * @param mem_type HVDM_MEM_RAM_RW, _RAM_RO, _MMIO_DM or _IOREQ_SERVER.
 * @param gfns the guest frame numbers, strictly increasing; read only
 *        (copied before anything is checked).
 * @param nr how many (at least 1; over a socket at most
 *        #HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX: the list is not split, which
 *        would break all or nothing; split it yourself).
 * @param[out] first_refused if not NULL, receives on -EINVAL (and, in
 *        multi-owner mode, -EPERM) the first gfn
 *        of the list that was refused, all-ones when no gfn is to blame
 *        (@p nr 0, the type, the claim); all-ones on success.
 * @return 0, or a negative errno; nothing changes on failure.
 * @retval -EINVAL @p h is NULL; @p nr is 0; a gfn is not above the one before it, or beyond the last
 *         RAM page; @p mem_type is HVDM_MEM_UNUSED or unknown;
 *         HVDM_MEM_IOREQ_SERVER while no server holds the claim (in
 *         multi-owner mode: no server of this handle), or the
 *         claim was given up while the call ran; a page whose current
 *         type may not change to @p mem_type (checked before -EPERM).
 * @retval -EFAULT @p gfns is NULL with @p nr not 0.
 * @retval -EMSGSIZE over a socket, @p nr above
 *         #HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid; in multi-owner
 *         mode, a listed page is ioreq_server and belongs to a claiming
 *         server another handle created (hvdm_set_mem_type).
 * @retval -ESRCH no such domain.
 * @retval -EOPNOTSUPP HVDM_MEM_IOREQ_SERVER on a domain created with
 *         HV_DOMAIN_NO_HAP.
 * @retval -ESHUTDOWN the domain is stopped (also when it stops while the
 *         call runs: pages may then have changed).
 * @retval -ENOSPC as hvdm_set_mem_type (multi-owner mode, RISC-V).
 * @retval -ENOMEM no memory for the copy of the list.
 * @note Thread-safe. (hvcore 1.4) */
int hvdm_set_mem_type_list(hvdm_handle *h, hvdm_domid_t domid, uint16_t mem_type, const uint64_t *gfns,
                           uint32_t nr, uint64_t *first_refused) HV_NOEXCEPT;
/** @ingroup hvdm_mem_type
 * @brief The p2m type of one guest page, in HVMOP_get_mem_type's terms
 * (xen/arch/x86/hvm/hvm.c): MMIO and holes are HVDM_MEM_MMIO_DM.
 * @param h the handle.
 * @param domid the domain.
 * @param pfn guest frame number.
 * @param[out] mem_type receives an HVDM_MEM_* value.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h or @p mem_type is NULL; @p pfn is beyond the
 *         stage-2 table's reach.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped. */
int hvdm_get_mem_type(hvdm_handle *h, hvdm_domid_t domid, uint64_t pfn, uint16_t *mem_type) HV_NOEXCEPT;
/** @ingroup hvdm_ioreq_server
 * @brief The domain's number of vCPUs (Xen's XEN_DMOP_nr_vcpus): the slots
 * to scan in a server's shared page.
 * @param h the handle.
 * @param domid the domain.
 * @param[out] vcpus receives the number.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h or @p vcpus is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid.
 * @retval -ESRCH no such domain. */
int hvdm_nr_vcpus(hvdm_handle *h, hvdm_domid_t domid, unsigned int *vcpus) HV_NOEXCEPT;

/** @ingroup hvdm_dmop
 * @brief One buffer of a raw DMOP (Xen's xen_dm_op_buf_t). */
typedef struct hvdm_buf {
    void *ptr;   /**< the buffer (any alignment) */
    size_t size; /**< its size in bytes */
} hvdm_buf;
/** @ingroup hvdm_dmop
 * @brief Issues a raw DMOP: buffers laid out exactly as Xen's struct
 * xen_dm_op (uint32 op, uint32 pad, union at offset 8), at most 2 buffers
 * (xen/common/dm.c do_dm_op). Only bufs[0] is read: its header and the
 * op's payload (Xen's op_size[]); OUT fields are written back only on
 * success. The typed calls above are wrappers of this one.
 * @param h the handle.
 * @param domid the domain.
 * @param nr_bufs 1 or 2.
 * @param bufs the buffers; bufs[0] holds the struct xen_dm_op.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL; the header's pad is not 0; a payload pad
 *         or field is invalid (the errnos of the typed call of that op).
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid (checked before
 *         anything else, as privcmd); or the op's server belongs to another handle.
 * @retval -ENODATA @p nr_bufs is 0 (Xen XSA-506).
 * @retval -E2BIG @p nr_bufs is above 2.
 * @retval -EFAULT @p bufs or bufs[0].ptr is NULL, or bufs[0].size is
 *         smaller than the 8-byte header plus the op's payload.
 * @retval -ESRCH no such domain.
 * @retval -EOPNOTSUPP an op hvcore does not implement (7, 11, 13, 17, 18,
 *         21 and up), or not on this domain's arch (hvdm_irq: 8, 9, 10,
 *         14 on arm64 and riscv64, 19 on x86); XEN_DMOP_get_ioreq_server_info without
 *         HVDM_DMOP_NO_GFNS; a HAP-only op on a HV_DOMAIN_NO_HAP domain.
 * @retval -ESHUTDOWN,-ENOENT,-ENOSPC,-EEXIST,-EBUSY,-ENOMEM as the typed
 *         call of the op. */
int hvdm_dm_op(hvdm_handle *h, hvdm_domid_t domid, unsigned int nr_bufs, hvdm_buf *bufs) HV_NOEXCEPT;

/** @ingroup hvdm_ioreq_server
 * @brief Maps a server's ioreq pages: Xen's shared_iopage_t / buffered_iopage_t
 * layouts, in shared memory (memfd) mapped into this process.
 *
 * The pages lie in Xen's resource order (hvdm_map_resource: the ring, then
 * the slots); this call returns a pointer to each, so the order is
 * invisible to it.
 *
 * The mapping belongs to the handle: the same addresses for every call on
 * the same server, valid until hvdm_close even if the server, its domain
 * or the host is destroyed first (@ref hv_lifetimes).
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param[out] ioreq receives the synchronous page (one slot per vCPU).
 * @param[out] bufioreq may be NULL; receives the buffered ring, or NULL when
 *        the server was created with HVDM_BUFIOREQ_OFF.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h or @p ioreq is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EMFILE the descriptors could not be duplicated or mapped: this,
 *         -ENOMEM, or another errno of fcntl(2) F_DUPFD_CLOEXEC, fstat(2)
 *         or mmap(2). */
int hvdm_map_ioreq_pages(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id,
                         hvdm_shared_iopage **ioreq, hvdm_buffered_iopage **bufioreq) HV_NOEXCEPT;
/** @ingroup hvdm_ioreq_server
 * @brief A pollable (eventfd, non-blocking) descriptor, readable when a
 * request is posted (to a slot or to the ring) and when the server is
 * destroyed. One wake-up may stand for several requests: hvdm_ioreq_pending
 * (which reads it) says which vCPUs' slots and whether the ring fired, as
 * Xen's one event-channel descriptor and xenevtchn_pending; or read it (to
 * reset its count), then scan every slot and drain the ring.
 *
 * The descriptor belongs to the handle (the same one for every call on the
 * same server; do not close it): it stays open until hvdm_close, whatever
 * is destroyed first.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @return the descriptor (>= 0), or a negative errno.
 * @retval -EINVAL @p h is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EMFILE the descriptors could not be duplicated or mapped: this,
 *         -ENOMEM, or another errno of fcntl(2), fstat(2) or mmap(2). */
int hvdm_ioreq_fd(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id) HV_NOEXCEPT;
/** @ingroup hvdm_ioreq_server
 * @brief Tells hvcore that vCPU @p vcpu's slot changed: call it after setting
 * the slot to HVDM_STATE_IORESP_READY (Xen's event-channel notification
 * on vp_eport). The thread of vCPU @p vcpu, if it waits (a host that runs
 * the guest, such as KVM), wakes and takes the response; no other vCPU
 * wakes, and nothing else looks at the slot: an answer never notified is
 * never taken.
 *
 * It is also an observation point: a state above IORESP_READY stops the
 * domain (Xen XSA-262). A device model in another process (hvdm_connect,
 * since 1.3.0) is isolated instead: its servers on the domain are
 * destroyed, its connection is hung up on (every later call -ENODEV) and
 * the domain runs on (README.md, "Where hvcore differs from Xen").
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param vcpu the slot's vCPU index (hvdm_ioreq_t::vp_eport).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL; @p vcpu is not below the domain's number of vCPUs.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EPROTO the slot's state is above HVDM_STATE_IORESP_READY: the
 *         domain is now stopped (over a socket: this device model's
 *         servers are destroyed and it is hung up on). */
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
 *   (a read) itself, through its mapping of guest RAM
 *   (hvdm_map_guest_memory, since 1.3.0) or with hv_guest_read /
 *   hv_guest_write in-process; without it (REP
 *   STOS, a write) req->data is the value of every element.
 * - buffered (a record of the server's buffered ring, expanded): a single
 *   write (count 1, size 1, 2, 4 or 8; an 8-byte write arrives whole,
 *   though the ring holds it in two records), req->state is
 *   HVDM_STATE_IOREQ_READY, req->vp_eport is 0; the vCPU did not wait and
 *   nothing is answered. A posted write (HVDM_BUF_IOREQ_POSTED, since
 *   1.6.0) arrives so too, type HVDM_IOREQ_TYPE_COPY with its full
 *   guest-physical address; RAM already holds the value.
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
 * again, and takes the fired ports (as hvdm_ioreq_pending); drains the
 * buffered ring, if the server has one, oldest record first (advancing
 * read_pointer atomically after each request, as HVDM_BUFIOREQ_ATOMIC
 * needs); then, for each fired vCPU port in ascending order, serves that
 * vCPU's slot if it is HVDM_STATE_IOREQ_READY: drains the ring again
 * (since 1.6.0: what the vCPU posted before the request comes first, see
 * HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED), sets INPROCESS, calls fn,
 * stores the answer, sets HVDM_STATE_IORESP_READY (a release store: the
 * answer is visible before the state) and calls hvdm_ioreq_notify, which
 * wakes that vCPU only. The state byte is read with acquire ordering, so
 * the request's fields are read after it.
 *
 * Other slots are not looked at, except when the eventfd had no count
 * (the call was not prompted by a post: hvdm_serve's first look, a caller
 * that serves on its own schedule, or one whose own hvdm_ioreq_pending
 * took the signal): then every slot is scanned for READY ones, because a
 * READY slot can lack its port's bit when hvdm_ioreq_pending reported the
 * port to the caller, or when the device model wrote over its event page.
 * When fn fails, the fired ports not yet served are set pending again
 * (and the eventfd signalled), so the next call serves them.
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
 * write, or the first slot of a posted-write record (HVDM_BUF_IOREQ_POSTED),
 * without its second (a corrupted ring); nothing more is drained.
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
 *
 * Since 1.4.0 the loop suppresses the wake-ups it does not need, as virtio
 * does (VRING_USED_F_NO_NOTIFY): while it is awake, a flag in hvcore's
 * event page tells hvcore not to signal the servers' eventfds (a request
 * posted meanwhile is found by the loop's look at the pending ports before
 * it sleeps), and it notifies an answer (hvdm_ioreq_notify) only when a
 * thread of the host sleeps on that vCPU's slot. No wake-up is lost
 * (core/include/hvcore/core/ioreq.hpp, "Event suppression"). When it
 * returns, hvcore signals every post again, so a caller polling
 * hvdm_ioreq_fd on its own is woken as before; do not poll a server's
 * descriptor on your own while hvdm_serve runs on it.
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

/* --- HVCORE_1.4 (hvcore 1.4.0): direct mode --- */

/**
 * @brief Direct mode: an in-process device model serves a server's
 * requests on the vCPU thread that raises them, synchronously (hvcore's
 * own mode; Xen has none: its device models always take requests from
 * the shared page on their own threads).
 *
 * While a handler is set, each request routed to server @p id (by range,
 * PCI device or the claimed memory type) is handed to @p fn on the thread
 * of the vCPU that made it, inside that thread's vCPU call (hv_vcpu_store,
 * hv_vcpu_load, hv_vcpu_pio, hv_vcpu_exec, hv_vcpu_resume, or a
 * hardware-assisted host's vCPU loop), and the call goes on with fn's
 * answer: a model vCPU's store to the server returns HV_VCPU_DONE, never
 * HV_VCPU_IOREQ_PENDING. The request is not written into the vCPU's slot,
 * no port fires and the server's eventfd is not signalled; nothing is
 * posted to the buffered ring either: writes the ring would carry come
 * to fn as synchronous writes, so that fn sees the server's requests in
 * the order they were made (posted writes of a WRITE_POSTED claim too,
 * made to RAM before fn is called). The thread mode (hvdm_serve and the shared
 * page) is the same protocol minus the hand-off: fn receives exactly the
 * request hvdm_serve_pending would give it for that vCPU's slot (addr,
 * data, count, size, vp_eport = the vCPU, state
 * HVDM_STATE_IOREQ_INPROCESS, data_is_ptr, dir, df, type), so the same
 * hvdm_serve_fn serves both modes.
 *
 * fn is called with no lock of hvcore held: it may call any hvdm_* or
 * hv_* function (DMOPs on this server or others, hv_guest_read /
 * hv_guest_write, hvdm_set_direct_handler itself), except the vCPU calls
 * on the vCPU it serves (-EBUSY meanwhile, as for hv_vcpu_resume from
 * another thread). fn runs on several threads at once when several vCPUs
 * make requests. It returns 0 with a read's answer in req->data (a
 * write's req->data is not read back), or a negative errno: the device
 * model failed, as an in-process device model that breaks the ioreq
 * protocol (a slot left in a wrong state): the domain stops
 * (hv_domain_stop_reason names the server, the errno, the vCPU and the
 * request) and the vCPU call returns -EPROTO. A positive return counts as
 * -ECANCELED.
 *
 * Setting, replacing and clearing are safe while vCPUs run: each request
 * is handed to the handler set when it was routed, or posted, never both
 * and never lost. A request posted before the handler was set is answered
 * through the slot as before (serve it with hvdm_serve_pending). This
 * call, and the server's destruction (hvdm_destroy_ioreq_server,
 * hvdm_close), return only once no other thread runs the handler they
 * replace, so opaque may be freed then; fn must therefore not wait for
 * the thread that clears it.
 * @param h an in-process handle (hvdm_open, or a plug-in's) that created
 * the server.
 * @param domid the server's domain.
 * @param id the server.
 * @param fn the handler, or NULL to clear it (requests are posted again).
 * @param opaque passed to fn.
 * @return 0, or a negative errno; nothing changes on an error.
 * @retval -EINVAL @p h is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or the server
 *         is another handle's.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EBUSY setting a handler while the server's buffered ring holds
 *         records the device model has not taken (they would be
 *         overtaken): drain it (hvdm_serve_pending) and set it again.
 * @retval -EOPNOTSUPP @p h is a socket handle (hvdm_connect): the device
 *         model is in another process.
 * @retval -ENOMEM out of memory.
 */
int hvdm_set_direct_handler(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_serve_fn fn,
                            void *opaque) HV_NOEXCEPT;

/* --- HVCORE_1.3 (hvcore 1.3.0): guest memory --- */

/** @ingroup hvdm_guest_memory
 * @name hvdm_mem_range kinds
 * @{ */
/** Guest RAM: hvdm_map_guest_memory maps it (unless its p2m type says
 * otherwise, see there). */
#define HVDM_MEM_RAM 1
/** A hole: no RAM (MMIO, if a device model or a passed-through device
 * covers it); never mappable. */
#define HVDM_MEM_HOLE 2
/** @} */

/** @ingroup hvdm_guest_memory
 * @brief One range of a domain's guest-physical layout (hvdm_get_memory_map). */
typedef struct hvdm_mem_range {
    uint64_t first_gfn; /**< its first guest frame number */
    uint64_t nr;        /**< its length in 4 KiB frames (> 0) */
    uint32_t kind;      /**< HVDM_MEM_RAM or HVDM_MEM_HOLE */
    uint32_t pad;       /**< 0 */
} hvdm_mem_range;

/** @ingroup hvdm_guest_memory
 * @brief Maps @p nr guest pages from @p first_gfn of domain @p domid into
 * this process, contiguous, shared with the guest (Xen's
 * xenforeignmemory_map): a store through the mapping is in the guest's RAM
 * at once, and the guest's stores are seen through it.
 *
 * Checks, in this order, before anything is mapped: the handle (-EINVAL,
 * -ENODEV, -EPERM as every call), @p prot, @p addr and the range
 * (-EINVAL), the domain (-ESRCH), then every page (-EFAULT). A page is
 * mappable when it is RAM (below the domain's RAM size, @ref
 * hvdm_get_memory_map) and its p2m type is backed by RAM:
 * HVDM_MEM_RAM_RW, HVDM_MEM_RAM_RO and HVDM_MEM_IOREQ_SERVER pages map;
 * a hole above RAM and a RAM page made HVDM_MEM_MMIO_DM (hvdm_set_mem_type)
 * do not. The types restrict the guest, not the mapping: a page of type
 * ram_ro or ioreq_server maps writable if @p prot asks for it.
 *
 * The mapping is the guest's RAM itself (the domain's memfd), so:
 * - it stays valid when a mapped page's type changes (hvdm_set_mem_type,
 *   a claim or disclaim of the ioreq_server type): it is the same RAM.
 *   Changing a mapped page to HVDM_MEM_MMIO_DM leaves the mapping on the
 *   RAM page behind it, which the guest no longer reaches.
 * - a write through it is never trapped: storing into a page of type
 *   ioreq_server whose writes a server claimed sends no ioreq to anyone
 *   (as in Xen, where the claim is a p2m permission on the guest's
 *   accesses only); only the guest's own writes to the page are routed.
 * - it stays valid (readable and writable as mapped, no SIGBUS) after the
 *   domain or the host is destroyed, until hvdm_unmap_guest_memory or
 *   hvdm_close: as a Xen foreign mapping keeps its pages referenced
 *   (@ref hv_lifetimes). The memory is freed with the last mapping.
 * With PROT_READ alone the pages are mapped from a descriptor opened
 * read-only: the kernel refuses to make them writable (mprotect(2) with
 * PROT_WRITE fails with EACCES) and a store faults (SIGSEGV).
 * @param h the handle.
 * @param domid the domain.
 * @param first_gfn the first guest frame number.
 * @param nr how many 4 KiB pages (> 0).
 * @param prot PROT_READ, PROT_WRITE or both (<sys/mman.h>).
 * @param[out] addr receives the page-aligned address of the mapping.
 * @param[out] bad_gfn may be NULL; on -EFAULT receives the first gfn of
 *        the range that is not mappable RAM (untouched otherwise).
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h or @p addr is NULL; @p prot is 0 or has a bit
 *         other than PROT_READ and PROT_WRITE; @p nr is 0; @p first_gfn +
 *         @p nr overflows.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid.
 * @retval -ESRCH no such domain.
 * @retval -EFAULT a page is not mappable RAM (*@p bad_gfn names the first).
 * @retval -ENOMEM out of memory or address space; or another errno of
 *         open(2) (the read-only reopen through /proc/self/fd), fcntl(2)
 *         or mmap(2) (-EMFILE, ...).
 * @note A stopped domain's RAM maps (Xen maps a crashed domain's memory for
 *       its core dump). The mapping belongs to the handle: hvdm_close
 *       unmaps what is still mapped. */
int hvdm_map_guest_memory(hvdm_handle *h, hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr, int prot,
                          void **addr, uint64_t *bad_gfn) HV_NOEXCEPT;
/** @ingroup hvdm_guest_memory
 * @brief Unmaps a mapping hvdm_map_guest_memory (or, since 1.5,
 * hvdm_map_guest_pages) made on this handle (Xen's
 * xenforeignmemory_unmap): exactly the address it returned and the same
 * @p nr. Works after the domain or the host is destroyed (no -ENODEV).
 * @param h the handle that mapped it.
 * @param addr the address hvdm_map_guest_memory returned.
 * @param nr the number of pages it was given.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h is NULL, or @p addr with @p nr is not a mapping of
 *         this handle that is still mapped (nothing is unmapped). */
int hvdm_unmap_guest_memory(hvdm_handle *h, void *addr, uint32_t nr) HV_NOEXCEPT;
/** @ingroup hvdm_guest_memory
 * @brief The domain's guest-physical layout (Xen's XENMEM_memory_map, the
 * e820 a device model reads): its ranges in gfn order, together covering
 * every gfn from 0 to the top of the guest-physical space (the stage-2
 * table's reach, the first gfn hvdm_get_mem_type refuses).
 *
 * Today: RAM from gfn 0 to the RAM size, then one hole up to the top. The
 * layout is fixed when the domain is created; per-page p2m types are not
 * in it (hvdm_get_mem_type).
 * @param h the handle.
 * @param domid the domain.
 * @param[out] ranges receives up to *@p n ranges (may be NULL if *@p n is 0).
 * @param[in,out] n in: room in @p ranges; out: the number of ranges
 *        written, or needed.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p h or @p n is NULL; @p ranges is NULL with *@p n > 0.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid.
 * @retval -ESRCH no such domain.
 * @retval -ENOSPC *@p n is smaller than the number of ranges: *@p n
 *         receives the number needed, nothing is written to @p ranges.
 * @retval -ENOMEM out of memory. */
int hvdm_get_memory_map(hvdm_handle *h, hvdm_domid_t domid, hvdm_mem_range *ranges, unsigned int *n) HV_NOEXCEPT;

/* --- HVCORE_1.3 (hvcore 1.3.0): Xen's resource frames, ports, typed info --- */

/** @ingroup hvdm_ioreq_server
 * @name Frames of a server's resource (Xen's XENMEM_resource_ioreq_server_frame_*,
 * xen/include/public/memory.h), for hvdm_map_resource
 * @{ */
/** The buffered ring (hvdm_buffered_iopage): frame 0. */
#define HVDM_RESOURCE_FRAME_BUFIOREQ 0u
/** The synchronous page @p n (hvdm_shared_iopage): frame 1 + n. A server
 * has one (at most 128 vCPUs, 32-byte slots): only n = 0 exists. */
#define HVDM_RESOURCE_FRAME_IOREQ(n) (1u + (n))
/** @} */

/** @ingroup hvdm_ioreq_server
 * @brief The most ports a server has: one per vCPU slot (at most 128) and
 * the buffered ring's; an array of this many always holds what
 * hvdm_ioreq_pending can report. */
#define HVDM_MAX_PORTS 129u

/** @ingroup hvdm_ioreq_server
 * @brief A server's information (Xen's XEN_DMOP_get_ioreq_server_info, as
 * xendevicemodel_get_ioreq_server_info): issued through hvdm_dm_op, with
 * XEN_DMOP_no_gfns (HVDM_DMOP_NO_GFNS) exactly when both gfn pointers are
 * NULL.
 *
 * Ports: hvcore numbers a server's event channels from 0. Port v below
 * nr_vcpus (hvdm_nr_vcpus) is vCPU v's, the vp_eport of its slot; port
 * nr_vcpus is the buffered ring's, returned here as @p bufioreq_port. Xen
 * allocates them as event channels of the device model's domain, any
 * numbers (xen/common/ioreq.c ioreq_server_add_vcpu); a device model that
 * reads them from the slots and from this call, as QEMU does, needs no
 * change.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param[out] ioreq_gfn must be NULL: the pages are never in the guest's
 *        memory (a non-NULL one asks for their gfns: -EOPNOTSUPP).
 * @param[out] bufioreq_gfn must be NULL, as @p ioreq_gfn.
 * @param[out] bufioreq_port may be NULL; receives the ring's port
 *        (nr_vcpus), or 0 when the server has no ring (as Xen, which then
 *        leaves the zeroed field alone; 0 is vCPU 0's port then, not the ring's).
 * @return 0, or a negative errno; nothing is written on failure.
 * @retval -EINVAL @p h is NULL.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EOPNOTSUPP @p ioreq_gfn or @p bufioreq_gfn is not NULL (after
 *         the server's -ENOENT and -EPERM, as the op checks them first). */
int hvdm_get_ioreq_server_info(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id, uint64_t *ioreq_gfn,
                               uint64_t *bufioreq_gfn, uint32_t *bufioreq_port) HV_NOEXCEPT;

/** @ingroup hvdm_ioreq_server
 * @brief Maps frames of a server's resource, as Xen's
 * xenforeignmemory_map_resource of XENMEM_resource_ioreq_server: frame 0
 * (HVDM_RESOURCE_FRAME_BUFIOREQ) is the buffered ring, frame 1
 * (HVDM_RESOURCE_FRAME_IOREQ(0)) the synchronous slots, so frames 0 and 1
 * together put the ring at +0 and slot 0 at +4096, as QEMU maps them.
 *
 * Each call makes a new mapping of the same shared pages as
 * hvdm_map_ioreq_pages. It is the caller's: valid, with the pages' content
 * at the time, until hvdm_unmap_resource, whatever is destroyed first (the
 * server, its domain, the host), as Xen keeps a foreign mapping, or until
 * hvdm_close of the handle, which unmaps it (unlike Xen's
 * xenforeignmemory_close, which leaves mappings in place). Release it with
 * hvdm_unmap_resource, not munmap(2): hvdm_close would unmap the range
 * again.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param frame the first frame: 0 or 1.
 * @param nr_frames how many (frame + nr_frames at most 2).
 * @param prot PROT_READ, PROT_WRITE or both (mmap(2)).
 * @param[out] addr receives the mapping's address.
 * @return 0, or a negative errno; nothing is mapped on failure.
 * @retval -EINVAL @p h or @p addr is NULL; @p nr_frames is 0; @p prot is
 *         0 or has another bit; a frame from @p frame to
 *         @p frame + @p nr_frames - 1 is beyond frame 1 (Xen's
 *         ioreq_server_get_frame; hvcore's own event page is not a frame of
 *         the resource).
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id; or frame 0 is asked for and the server
 *         has no ring (HVDM_BUFIOREQ_OFF: its frame 0 exists, zero and
 *         unused, but is refused as Xen does). The frames are checked in
 *         order: the first bad one decides.
 * @retval -ENOMEM,-EMFILE the mapping could not be made (errors of mmap(2),
 *         fcntl(2), fstat(2)). */
int hvdm_map_resource(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id, unsigned int frame,
                      unsigned int nr_frames, int prot, void **addr) HV_NOEXCEPT;
/** @ingroup hvdm_ioreq_server
 * @brief Unmaps what hvdm_map_resource mapped (Xen's
 * xenforeignmemory_unmap_resource). Works after the host is destroyed.
 * @param h the handle that mapped it.
 * @param addr the address hvdm_map_resource returned.
 * @param nr_frames the nr_frames it was given.
 * @return 0, or a negative errno; nothing is unmapped on failure.
 * @retval -EINVAL @p h is NULL; @p addr and @p nr_frames are not a
 *         mapping of this handle's hvdm_map_resource still mapped. */
int hvdm_unmap_resource(hvdm_handle *h, void *addr, unsigned int nr_frames) HV_NOEXCEPT;

/** @ingroup hvdm_ioreq_server
 * @brief Which of a server's ports fired, as Xen's xenevtchn_pending in
 * bulk: port v below nr_vcpus when a request was posted into vCPU v's slot
 * (its vp_eport), port nr_vcpus when the buffered ring received records
 * (bufioreq_port, hvdm_get_ioreq_server_info).
 *
 * Reads the server's eventfd (hvdm_ioreq_fd) to reset its count, then
 * takes up to @p n fired ports, lowest first, and clears them: a port is
 * reported once per firing (a port that fires again before this call is
 * still one port), and the descriptor stays readable while fired ports
 * are left. hvcore sets a port (an atomic OR with release ordering, in an
 * event page that follows the resource's frames in the server's shared
 * memory) before it signals the eventfd, so a slot whose port is reported
 * is READY, and a port that fires after this call signals again. A port
 * reported here is the caller's to serve: hvdm_serve_pending finds its
 * slot again only by its fallback scan. After answering vCPU v, call
 * hvdm_ioreq_notify(v): it wakes that vCPU only.
 * @param h the handle that created the server.
 * @param domid the domain.
 * @param id the server.
 * @param[out] ports receives the fired ports, ascending.
 * @param n room in @p ports (at least 1; HVDM_MAX_PORTS always suffices).
 * @return the number of ports written (0: none fired), or a negative errno.
 * @retval -EINVAL @p h or @p ports is NULL, or @p n is 0.
 * @retval -ENODEV the host was destroyed.
 * @retval -EPERM the handle is restricted to another domid, or another
 *         handle created the server.
 * @retval -ESRCH no such domain.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOENT no server @p id.
 * @retval -EMFILE the pages could not be mapped on first use (as
 *         hvdm_map_ioreq_pages). */
int hvdm_ioreq_pending(hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t *ports,
                       unsigned int n) HV_NOEXCEPT;

/* --- HVCORE_1.3 (hvcore 1.3.0): interrupts and remote shutdown --- */

/** @defgroup hvdm_irq Interrupts and shutdown
 * @brief Raise, lower and route a domain's interrupt lines, send MSIs and
 * shut the domain down: libxendevicemodel's calls of the same names
 * (tools/include/xendevicemodel.h), each a wrapper of one DMOP through
 * hvdm_dm_op (so they behave the same for a device model in another
 * process). As Xen, each arch has its own: x86 domains take
 * set_pci_intx_level, set_isa_irq_level, set_pci_link_route and
 * inject_msi (xen/arch/x86/hvm/dm.c), arm64 domains set_irq_level
 * (xen/arch/arm/dm.c); the others are -EOPNOTSUPP there. riscv64 domains
 * follow arm64 (Xen has no RISC-V dm.c). hvdm_shutdown works on every arch
 * (Xen: x86 only). hv_domain_irq_state shows the result. Every call also
 * fails as hvdm_dm_op does: -EINVAL (@p h NULL), -ENODEV (host destroyed),
 * -EPERM (restricted to another domid), -ESRCH (no such domain), in that
 * order, before its own checks; -ESHUTDOWN once the domain is stopped
 * (hvdm_shutdown excepted). Nothing changes on failure. */

/** @ingroup hvdm_irq
 * @name hvdm_shutdown reasons (Xen's SHUTDOWN_*, xen/include/public/sched.h)
 * @{ */
#define HVDM_SHUTDOWN_POWEROFF 0   /**< exited normally */
#define HVDM_SHUTDOWN_REBOOT 1     /**< restart */
#define HVDM_SHUTDOWN_SUSPEND 2    /**< suspend */
#define HVDM_SHUTDOWN_CRASH 3      /**< crashed */
#define HVDM_SHUTDOWN_WATCHDOG 4   /**< a watchdog expired */
#define HVDM_SHUTDOWN_SOFT_RESET 5 /**< soft reset */
/** @} */

/** @ingroup hvdm_irq
 * @brief Sets the level of a PCI INTx line (XEN_DMOP_set_pci_intx_level;
 * xen/arch/x86/hvm/irq.c __hvm_pci_intx_assert): device @p device's pin
 * @p intx drives GSI ((device << 2) + (device >> 3) + intx) % 32 + 16 and,
 * through PCI link (device + intx) % 4, that link's ISA irq. Lines are
 * counted per GSI: a GSI is up while any line holding it is; asserting an
 * asserted line changes nothing.
 * @param h the handle.
 * @param domid an x86 domain.
 * @param segment PCI segment: 0.
 * @param bus PCI bus: 0.
 * @param device 0..31.
 * @param intx 0..3 (INTA..INTD).
 * @param level 1 asserts, 0 deasserts.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p segment or @p bus is not 0, @p device > 31,
 *         @p intx > 3, @p level is neither 0 nor 1.
 * @retval -EOPNOTSUPP an arm64 or riscv64 domain. */
int hvdm_set_pci_intx_level(hvdm_handle *h, hvdm_domid_t domid, uint16_t segment, uint8_t bus,
                            uint8_t device, uint8_t intx, unsigned int level) HV_NOEXCEPT;
/** @ingroup hvdm_irq
 * @brief Sets the level of an ISA irq line (XEN_DMOP_set_isa_irq_level;
 * irq.c hvm_isa_irq_assert): the 8259 input @p irq and GSI @p irq (irq 0:
 * GSI 2).
 * @param h the handle.
 * @param domid an x86 domain.
 * @param irq 0..15.
 * @param level 1 asserts, 0 deasserts.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p irq > 15, @p level is neither 0 nor 1.
 * @retval -EOPNOTSUPP an arm64 or riscv64 domain. */
int hvdm_set_isa_irq_level(hvdm_handle *h, hvdm_domid_t domid, uint8_t irq, unsigned int level) HV_NOEXCEPT;
/** @ingroup hvdm_irq
 * @brief Routes a PCI interrupt link to an ISA irq, as a guest's PIIX3
 * PIRQ route registers do (XEN_DMOP_set_pci_link_route; irq.c
 * hvm_set_pci_link_route): an asserted link moves from its old irq to the
 * new one.
 * @param h the handle.
 * @param domid an x86 domain.
 * @param link 0..3.
 * @param irq 1..15, or 0: the link drives no ISA irq.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p link > 3, @p irq > 15.
 * @retval -EOPNOTSUPP an arm64 or riscv64 domain. */
int hvdm_set_pci_link_route(hvdm_handle *h, hvdm_domid_t domid, uint8_t link, uint8_t irq) HV_NOEXCEPT;
/** @ingroup hvdm_irq
 * @brief Sends an MSI (XEN_DMOP_inject_msi; irq.c hvm_inject_msi, vmsi.c
 * vmsi_deliver): vector = data bits 7:0, delivery mode bits 10:8,
 * destination = address bits 19:12, logical when address bit 2 is set.
 * On the model vCPUs each vCPU has an enabled local APIC with physical ID
 * 2 * index (Xen's vlapic) and logical ID 0.
 * @param h the handle.
 * @param domid an x86 domain.
 * @param msi_addr the address (0xfee... for the local APICs).
 * @param msi_data the data.
 * @return 0 (also when a Fixed MSI matches no local APIC, as Xen), or a
 *         negative errno.
 * @retval -ERANGE vector 0 with PIRQ number 0 (address bits 63:40 and the
 *         destination).
 * @retval -EOPNOTSUPP vector 0 with a PIRQ number: hvcore has no PIRQs
 *         (Xen binds them to event channels); an arm64 or riscv64 domain.
 * @retval -EINVAL a delivery mode other than Fixed (0) and LowestPrio (1).
 * @retval -ESRCH LowestPrio and no local APIC matches the destination.
 * @retval other a negative errno of the host's interrupt controller (KVM:
 *         KVM_SIGNAL_MSI). */
int hvdm_inject_msi(hvdm_handle *h, hvdm_domid_t domid, uint64_t msi_addr, uint32_t msi_data) HV_NOEXCEPT;
/** @ingroup hvdm_irq
 * @brief Sets the level of a shared peripheral interrupt
 * (XEN_DMOP_set_irq_level; xen/arch/arm/dm.c): the model's interrupt
 * controller has 960 SPIs, INTIDs 32..991 (hv_irq_state::nr_spis).
 * @param h the handle.
 * @param domid an arm64 or riscv64 domain.
 * @param irq the INTID, 32..991.
 * @param level 1 high, 0 low.
 * @return 0, or a negative errno.
 * @retval -EINVAL @p irq < 32 (SGIs and PPIs) or > 991, @p level is
 *         neither 0 nor 1.
 * @retval -EOPNOTSUPP an x86 domain. */
int hvdm_set_irq_level(hvdm_handle *h, hvdm_domid_t domid, unsigned int irq, unsigned int level) HV_NOEXCEPT;
/** @ingroup hvdm_irq
 * @brief Shuts the domain down (XEN_DMOP_remote_shutdown): the domain
 * stops, hv_domain_stop_reason naming the device model's request and the
 * reason ("the device model requested a shutdown (SHUTDOWN_poweroff,
 * reason 0)"), and every later call on it is -ESHUTDOWN. Any reason is
 * taken, as Xen.
 * @param h the handle.
 * @param domid the domain (any arch: Xen takes it on x86 only).
 * @param reason an HVDM_SHUTDOWN_* value.
 * @return 0 (also when the domain was already stopped: its first reason
 *         stays), or a negative errno of the common checks. */
int hvdm_shutdown(hvdm_handle *h, hvdm_domid_t domid, unsigned int reason) HV_NOEXCEPT;

/* --- HVCORE_1.5 (hvcore 1.5.0): scattered guest pages --- */

/** @ingroup hvdm_guest_memory
 * @brief Maps the guest pages @p gfns[0..nr-1] of domain @p domid, in
 * that order, at consecutive pages of one new mapping (Xen's
 * xenforeignmemory_map2 through privcmd's IOCTL_PRIVCMD_MMAPBATCH_V2): the
 * list may be in any order, have gaps and repeat a gfn. Each page is
 * mapped as hvdm_map_guest_memory maps one (the guest's RAM itself,
 * shared, valid after the domain or the host is destroyed); a page that is
 * not mappable RAM is left out: @p err[i] receives -EINVAL for it (Xen's
 * p2m_add_foreign, xen/arch/x86/mm/p2m.c, refuses a gfn whose type is not
 * RAM with -EINVAL) and its page of the mapping stays inaccessible
 * (PROT_NONE: an access faults with SIGSEGV, where privcmd's empty page
 * faults with SIGBUS). The call succeeds even when every page is left
 * out, as privcmd does.
 *
 * Checks, in this order, before anything is mapped: the handle (-EINVAL,
 * -ENODEV, -EPERM as every call), the arguments (-EINVAL), the domain
 * (-ESRCH). One mapping: release it with hvdm_unmap_guest_memory(h,
 * *@p addr, @p nr) (hvdm_close also does), not munmap(2).
 * Over a socket one message goes per run of consecutive gfns (and per
 * page left out), each with its own descriptor, closed once mapped.
 * @param h the handle.
 * @param domid the domain.
 * @param gfns the guest frame numbers, @p nr of them.
 * @param nr how many pages (> 0).
 * @param prot PROT_READ, PROT_WRITE or both (<sys/mman.h>).
 * @param flags 0, or MAP_FIXED: the mapping is made exactly at *@p addr
 *        (page-aligned, not NULL), replacing what was mapped there, as
 *        mmap(2) with MAP_FIXED.
 * @param[in,out] addr in: where to map (a hint without MAP_FIXED, as
 *        mmap(2)'s first argument; NULL lets the kernel choose); out: the
 *        page-aligned address of the mapping.
 * @param[out] err @p nr entries: 0 for a page mapped, -EINVAL for one
 *        left out. Its content is unspecified on failure.
 * @return 0, or a negative errno; on failure nothing stays mapped (with
 *         MAP_FIXED, what was at *@p addr may be gone, as with mmap(2)).
 * @retval -EINVAL @p h, @p gfns, @p addr or @p err is NULL; @p nr is 0;
 *         @p prot is 0 or has a bit other than PROT_READ and PROT_WRITE;
 *         @p flags has a bit other than MAP_FIXED; MAP_FIXED with
 *         *@p addr NULL or not page-aligned.
 * @retval -ENODEV the host was destroyed (or the connection lost).
 * @retval -EPERM the handle is restricted to another domid.
 * @retval -ESRCH no such domain.
 * @retval -ENOMEM out of memory or address space; or another errno of
 *         mmap(2), open(2) (the read-only reopen through /proc/self/fd) or
 *         fcntl(2) (-EMFILE, ...).
 * @note Thread-safe. (hvcore 1.5) */
int hvdm_map_guest_pages(hvdm_handle *h, hvdm_domid_t domid, const uint64_t *gfns, uint32_t nr, int prot, int flags,
                         void **addr, int *err) HV_NOEXCEPT;

/* --- HVCORE_1.6 (hvcore 1.6.0): dirty tracking --- */

/** @defgroup hvdm_dirty Dirty tracking
 * XEN_DMOP_track_dirty_vram (7) and XEN_DMOP_modified_memory (11) with
 * Xen's layouts (xen/include/public/hvm/dm_op.h) and errnos
 * (xen/arch/x86/hvm/dm.c), on every arch (Xen: x86 only). They work while
 * ioreq_server pages are claimed: a claimed page's writes still go to its
 * owner and are also recorded (Xen refuses log-dirty mode while the type
 * has entries, -EBUSY). Through hvdm_dm_op: in process and over a socket
 * alike. A raw #HVDM_DMOP_MODIFIED_MEMORY whose opaque is not 0 is -EINVAL
 * (Xen's continuation cursor, "Must be set to 0"; hvcore never restarts a
 * DMOP), and every extent is checked before any page is marked.
 * @{ */

/** @brief One extent of hvdm_modified_memory_bulk (Xen's struct
 * xen_dm_op_modified_memory_extent). */
typedef struct hvdm_modified_memory_extent {
    uint32_t nr;        /**< pages (> 0) */
    uint32_t pad;       /**< must be 0 */
    uint64_t first_pfn; /**< the first page */
} hvdm_modified_memory_extent;

/** @brief The most extents one XEN_DMOP_modified_memory carries over a
 * socket (its 64 KiB message); hvdm_modified_memory_bulk sends more as
 * several DMOPs. */
#define HVDM_MODIFIED_MEMORY_SOCKET_MAX 4000u

/**
 * @brief Tracks writes to a VRAM range (XEN_DMOP_track_dirty_vram; Xen's
 * hap_track_dirty_vram, xen/arch/x86/mm/hap/hap.c). A range other than
 * the one tracked (or the first call): the old range stops being tracked,
 * the new one starts, and every bit of @p bitmap is set ("consider all
 * pages dirty"). The same range again: bit i is set when page
 * @p first_pfn + i was written since the last call (by the guest, by hvcore
 * emulating it, or forwarded to the owner of a claimed page), and those
 * pages are tracked again. @p nr 0 stops the tracking. Pages past the
 * guest's RAM are never dirty. Independent of the toolstack's log-dirty
 * mode (hv_log_dirty_enable): a read here leaves that bitmap as it was.
 * Checks, in this order: the handle (-EINVAL, -ENODEV, -EPERM), the domain
 * (-ESRCH), then the op's own.
 * @param h the handle.
 * @param domid the domain.
 * @param first_pfn the first page of the range.
 * @param nr pages, at most 262144 (1 GiB); 0 stops.
 * @param[out] bitmap (nr + 7) / 8 bytes at least, bit i (least significant
 *        first) for page first_pfn + i; written on success only.
 * @param bitmap_bytes its size.
 * @return 0, or a negative errno; nothing changes on an error.
 * @retval -EINVAL @p nr > 262144; @p bitmap_bytes < (@p nr + 7) / 8;
 *         @p first_pfn + @p nr overflows.
 * @retval -EFAULT @p bitmap is NULL and @p nr is not 0.
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOMEM no memory for the bitmap or the tables of the change.
 * @note Thread-safe. (hvcore 1.6) */
int hvdm_track_dirty_vram(hvdm_handle *h, hvdm_domid_t domid, uint64_t first_pfn, uint32_t nr, void *bitmap,
                          size_t bitmap_bytes) HV_NOEXCEPT;
/**
 * @brief Reports pages the device model wrote itself (through
 * hvdm_map_guest_memory) as dirty (XEN_DMOP_modified_memory with one
 * extent): while the toolstack's log-dirty mode is on, each RAM page of
 * [@p first_pfn, @p first_pfn + @p nr) is marked in its bitmap (holes are
 * skipped); while it is off, nothing is checked and nothing happens (0, as
 * Xen).
 * @param h the handle.
 * @param domid the domain.
 * @param first_pfn the first page.
 * @param nr pages (> 0).
 * @return 0, or a negative errno; nothing is marked on an error.
 * @retval -EINVAL (log-dirty on) @p nr is 0; the extent wraps or ends past
 *         the domain's largest gfn (Xen compares the end, exclusive, with
 *         the largest gfn: the last RAM page cannot be named, as in Xen).
 * @retval -ESHUTDOWN the domain is stopped.
 * @note Thread-safe. (hvcore 1.6) */
int hvdm_modified_memory(hvdm_handle *h, hvdm_domid_t domid, uint64_t first_pfn, uint32_t nr) HV_NOEXCEPT;
/**
 * @brief hvdm_modified_memory over @p nr extents (Xen's
 * xendevicemodel_modified_memory_bulk). Every extent is checked before any
 * page is marked (Xen marks the extents before a bad one). Over a socket,
 * more than #HVDM_MODIFIED_MEMORY_SOCKET_MAX extents go as several DMOPs,
 * each all or nothing.
 * @param h the handle.
 * @param domid the domain.
 * @param extents @p nr extents (pad 0).
 * @param nr how many (0: nothing to do, 0 returned after the common checks).
 * @return 0, or a negative errno.
 * @retval -EINVAL (log-dirty on) a pad is not 0; an extent's nr is 0, it
 *         wraps, or it ends past the largest gfn.
 * @retval -EFAULT @p extents is NULL and @p nr is not 0 (log-dirty on).
 * @retval -ESHUTDOWN the domain is stopped.
 * @retval -ENOMEM no memory for a copy of the extents.
 * @note Thread-safe. (hvcore 1.6) */
int hvdm_modified_memory_bulk(hvdm_handle *h, hvdm_domid_t domid, const hvdm_modified_memory_extent *extents,
                              uint32_t nr) HV_NOEXCEPT;
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* HVCORE_HVDM_H */
