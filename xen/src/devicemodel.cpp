// SPDX-License-Identifier: MIT
// libxendevicemodel.so.1 over hvcore (docs/xen-dropins.md, "libxendevicemodel").
//
// Compiled against Debian's <xendevicemodel.h>: the prototypes, struct
// xen_dm_op and its payloads are Xen's. Each function is the DMOP Xen's
// tools/libs/devicemodel/core.c issues, sent through the typed hvdm_* call
// of the same op where hvdm.h has one, else through hvdm_dm_op with the
// struct xen_dm_op unchanged (hvcore takes Xen's layout). Xen's convention:
// 0, or -1 with errno.
// Xen's headers have no extern "C" of their own.
extern "C" {
#include <xendevicemodel.h>
#include <xentoollog.h>
}

#include <cerrno>
#include <cstdio>
#include <cstddef>
#include <cstring>
#include <new>

#include "hvx_common.h"

// Xen's handle is opaque in its header (tools/libs/devicemodel/private.h
// defines it): ours holds the process's hvdm handle (shared by every Xen
// handle of the process, hvx_common.h) and the logger.
struct xendevicemodel_handle {
    hvdm_handle* h;
    xentoollog_logger* logger;
    unsigned int flags;
};

#define HVX_XDM_API extern "C" __attribute__((visibility("default")))

namespace {

// The raw path (hvdm_dm_op): buffers as Xen's xendevicemodel_op, which
// copies them back on success (core.c xendevicemodel_xcall).
int dm_op(xendevicemodel_handle* dmod, domid_t domid, xen_dm_op* op, void* buf2 = nullptr, size_t size2 = 0) {
    if (dmod == nullptr) return hvx_ret(-EINVAL);
    hvdm_buf bufs[2] = {{op, sizeof(*op)}, {buf2, size2}};
    return hvx_ret(hvdm_dm_op(dmod->h, domid, buf2 != nullptr ? 2u : 1u, bufs));
}

hvdm_handle* hh(xendevicemodel_handle* dmod) { return dmod != nullptr ? dmod->h : nullptr; }

}  // namespace

HVX_XDM_API xendevicemodel_handle* xendevicemodel_open(struct xentoollog_logger* logger, unsigned int open_flags) {
    hvdm_handle* h = hvx_open(logger, "xendevicemodel");  // says why when there is none
    if (h == nullptr) return nullptr;
    auto* dmod = new (std::nothrow) xendevicemodel_handle{h, logger, open_flags};
    if (dmod == nullptr) errno = ENOMEM;
    return dmod;
}

// Frees the handle; the process's connection and its servers stay (as on
// Xen, where closing the privcmd descriptor destroys no server).
HVX_XDM_API int xendevicemodel_close(xendevicemodel_handle* dmod) {
    delete dmod;
    return 0;
}

// A created server is recorded (hvx_server_add) for libxenevtchn, under the
// registry's lock so that no destroy of a reused id interleaves.
HVX_XDM_API int xendevicemodel_create_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, int handle_bufioreq,
                                                   ioservid_t* id) {
    hvdm_handle* h = hh(dmod);
    hvx_registry_lock();
    ioservid_t sid = 0;
    int rc = hvdm_create_ioreq_server(h, domid, handle_bufioreq, id != nullptr ? &sid : nullptr);
    if (rc == 0) {
        unsigned int vcpus = 0;
        rc = hvdm_nr_vcpus(h, domid, &vcpus);
        if (rc == 0 && hvx_server_add(domid, sid, vcpus, handle_bufioreq != 0) == 0) rc = -ENOMEM;
        if (rc != 0) {
            (void)hvdm_destroy_ioreq_server(h, domid, sid);  // nothing is left created on failure
        } else {
            *id = sid;
        }
    }
    hvx_registry_unlock();
    return hvx_ret(rc);
}

// Xen's library asks for no gfns when both gfn pointers are NULL
// (XEN_DMOP_no_gfns); hvcore never puts the pages in guest memory, so
// non-NULL ones are -1 EOPNOTSUPP (hvdm_get_ioreq_server_info).
HVX_XDM_API int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                     xen_pfn_t* ioreq_gfn, xen_pfn_t* bufioreq_gfn,
                                                     evtchn_port_t* bufioreq_port) {
    uint64_t g1 = 0, g2 = 0;
    uint32_t port = 0;
    const int rc = hvdm_get_ioreq_server_info(hh(dmod), domid, id, ioreq_gfn != nullptr ? &g1 : nullptr,
                                              bufioreq_gfn != nullptr ? &g2 : nullptr, &port);
    if (rc != 0) return hvx_ret(rc);
    if (ioreq_gfn != nullptr) *ioreq_gfn = static_cast<xen_pfn_t>(g1);
    if (bufioreq_gfn != nullptr) *bufioreq_gfn = static_cast<xen_pfn_t>(g2);
    if (bufioreq_port != nullptr) *bufioreq_port = port;
    return 0;
}

HVX_XDM_API int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid,
                                                            ioservid_t id, int is_mmio, uint64_t start,
                                                            uint64_t end) {
    return hvx_ret(hvdm_map_io_range_to_ioreq_server(hh(dmod), domid, id, is_mmio ? 1 : 0, start, end));
}

HVX_XDM_API int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle* dmod, domid_t domid,
                                                                ioservid_t id, int is_mmio, uint64_t start,
                                                                uint64_t end) {
    return hvx_ret(hvdm_unmap_io_range_from_ioreq_server(hh(dmod), domid, id, is_mmio ? 1 : 0, start, end));
}

// Xen's library refuses another type or flag itself (core.c
// xendevicemodel_map_mem_type_to_ioreq_server): so does hvdm, with EINVAL.
HVX_XDM_API int xendevicemodel_map_mem_type_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid,
                                                            ioservid_t id, uint16_t type, uint32_t flags) {
    if (type != HVMMEM_ioreq_server || (flags & ~XEN_DMOP_IOREQ_MEM_ACCESS_WRITE) != 0) return hvx_ret(-EINVAL);
    return hvx_ret(hvdm_map_mem_type_to_ioreq_server(hh(dmod), domid, id, type, flags));
}

// device > 31 or function > 7: EINVAL before any call, as core.c.
HVX_XDM_API int xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                          uint16_t segment, uint8_t bus, uint8_t device,
                                                          uint8_t function) {
    if (device > 0x1f || function > 0x7) return hvx_ret(-EINVAL);
    return hvx_ret(hvdm_map_pcidev_to_ioreq_server(hh(dmod), domid, id, segment, bus, device, function));
}

HVX_XDM_API int xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle* dmod, domid_t domid,
                                                              ioservid_t id, uint16_t segment, uint8_t bus,
                                                              uint8_t device, uint8_t function) {
    if (device > 0x1f || function > 0x7) return hvx_ret(-EINVAL);
    return hvx_ret(hvdm_unmap_pcidev_from_ioreq_server(hh(dmod), domid, id, segment, bus, device, function));
}

// A destroyed server is forgotten (its event channels fire no more).
HVX_XDM_API int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id) {
    hvx_registry_lock();
    const int rc = hvdm_destroy_ioreq_server(hh(dmod), domid, id);
    if (rc == 0) hvx_server_remove(domid, id);
    hvx_registry_unlock();
    return hvx_ret(rc);
}

// Enabling a server is this process's "ready" for `hvcore run --dm-exec`
// (hvx_ready_once: sent once, on the first successful enable).
HVX_XDM_API int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle* dmod, domid_t domid, ioservid_t id,
                                                      int enabled) {
    const int rc = hvdm_set_ioreq_server_state(hh(dmod), domid, id, enabled ? 1 : 0);
    if (rc == 0 && enabled) hvx_ready_once();
    return hvx_ret(rc);
}

HVX_XDM_API int xendevicemodel_set_pci_intx_level(xendevicemodel_handle* dmod, domid_t domid, uint16_t segment,
                                                  uint8_t bus, uint8_t device, uint8_t intx, unsigned int level) {
    return hvx_ret(hvdm_set_pci_intx_level(hh(dmod), domid, segment, bus, device, intx, level));
}

HVX_XDM_API int xendevicemodel_set_isa_irq_level(xendevicemodel_handle* dmod, domid_t domid, uint8_t irq,
                                                 unsigned int level) {
    return hvx_ret(hvdm_set_isa_irq_level(hh(dmod), domid, irq, level));
}

HVX_XDM_API int xendevicemodel_set_irq_level(xendevicemodel_handle* dmod, domid_t domid, unsigned int irq,
                                             unsigned int level) {
    return hvx_ret(hvdm_set_irq_level(hh(dmod), domid, irq, level));
}

HVX_XDM_API int xendevicemodel_set_pci_link_route(xendevicemodel_handle* dmod, domid_t domid, uint8_t link,
                                                  uint8_t irq) {
    return hvx_ret(hvdm_set_pci_link_route(hh(dmod), domid, link, irq));
}

HVX_XDM_API int xendevicemodel_inject_msi(xendevicemodel_handle* dmod, domid_t domid, uint64_t msi_addr,
                                          uint32_t msi_data) {
    return hvx_ret(hvdm_inject_msi(hh(dmod), domid, msi_addr, msi_data));
}

// XEN_DMOP_track_dirty_vram and XEN_DMOP_modified_memory (hvdm_dirty): the
// bitmap and the extents are the second buffer, as core.c; the typed calls
// send exactly that (a NULL bitmap with nr 0 stops the tracking, as Xen).
static_assert(sizeof(xen_dm_op_modified_memory_extent) == sizeof(hvdm_modified_memory_extent) &&
              offsetof(xen_dm_op_modified_memory_extent, first_pfn) == offsetof(hvdm_modified_memory_extent, first_pfn) &&
              offsetof(xen_dm_op_modified_memory_extent, pad) == offsetof(hvdm_modified_memory_extent, pad));

HVX_XDM_API int xendevicemodel_track_dirty_vram(xendevicemodel_handle* dmod, domid_t domid, uint64_t first_pfn,
                                                uint32_t nr, unsigned long* dirty_bitmap) {
    return hvx_ret(hvdm_track_dirty_vram(hh(dmod), domid, first_pfn, nr, dirty_bitmap,
                                         (static_cast<size_t>(nr) + 7) / 8));
}

HVX_XDM_API int xendevicemodel_modified_memory_bulk(xendevicemodel_handle* dmod, domid_t domid,
                                                    struct xen_dm_op_modified_memory_extent* extents, uint32_t nr) {
    return hvx_ret(hvdm_modified_memory_bulk(hh(dmod), domid,
                                             reinterpret_cast<const hvdm_modified_memory_extent*>(extents), nr));
}

HVX_XDM_API int xendevicemodel_modified_memory(xendevicemodel_handle* dmod, domid_t domid, uint64_t first_pfn,
                                               uint32_t nr) {
    return hvx_ret(hvdm_modified_memory(hh(dmod), domid, first_pfn, nr));
}

HVX_XDM_API int xendevicemodel_set_mem_type(xendevicemodel_handle* dmod, domid_t domid, hvmmem_type_t mem_type,
                                            uint64_t first_pfn, uint32_t nr) {
    // hvmmem_type_t is an enum; hvdm takes Xen's values as uint16_t
    // (dm_op.h: xen_dm_op_set_mem_type.mem_type is uint16_t): a value
    // above 0xffff is refused rather than truncated into another type.
    if (static_cast<unsigned int>(mem_type) > 0xffffu) return hvx_ret(-EINVAL);
    return hvx_ret(hvdm_set_mem_type(hh(dmod), domid, static_cast<uint16_t>(mem_type), first_pfn, nr));
}

// Not implemented by hvcore (XEN_DMOP_inject_event): forwarded, -1 EOPNOTSUPP.
HVX_XDM_API int xendevicemodel_inject_event(xendevicemodel_handle* dmod, domid_t domid, int vcpu, uint8_t vector,
                                            uint8_t type, uint32_t error_code, uint8_t insn_len, uint64_t extra) {
    xen_dm_op op;
    std::memset(&op, 0, sizeof op);
    op.op = XEN_DMOP_inject_event;
    op.u.inject_event.vcpuid = static_cast<uint32_t>(vcpu);
    op.u.inject_event.vector = vector;
    op.u.inject_event.type = type;
    op.u.inject_event.error_code = error_code;
    op.u.inject_event.insn_len = insn_len;
    op.u.inject_event.cr2 = extra;
    return dm_op(dmod, domid, &op);
}

HVX_XDM_API int xendevicemodel_shutdown(xendevicemodel_handle* dmod, domid_t domid, unsigned int reason) {
    return hvx_ret(hvdm_shutdown(hh(dmod), domid, reason));
}

// Not implemented by hvcore (XEN_DMOP_relocate_memory): forwarded, -1 EOPNOTSUPP.
HVX_XDM_API int xendevicemodel_relocate_memory(xendevicemodel_handle* dmod, domid_t domid, uint32_t size,
                                               uint64_t src_gfn, uint64_t dst_gfn) {
    xen_dm_op op;
    std::memset(&op, 0, sizeof op);
    op.op = XEN_DMOP_relocate_memory;
    op.u.relocate_memory.size = size;
    op.u.relocate_memory.src_gfn = src_gfn;
    op.u.relocate_memory.dst_gfn = dst_gfn;
    return dm_op(dmod, domid, &op);
}

// Not implemented by hvcore (XEN_DMOP_pin_memory_cacheattr): forwarded, -1 EOPNOTSUPP.
HVX_XDM_API int xendevicemodel_pin_memory_cacheattr(xendevicemodel_handle* dmod, domid_t domid, uint64_t start,
                                                    uint64_t end, uint32_t type) {
    xen_dm_op op;
    std::memset(&op, 0, sizeof op);
    op.op = XEN_DMOP_pin_memory_cacheattr;
    op.u.pin_memory_cacheattr.start = start;
    op.u.pin_memory_cacheattr.end = end;
    op.u.pin_memory_cacheattr.type = type;
    return dm_op(dmod, domid, &op);
}

HVX_XDM_API int xendevicemodel_nr_vcpus(xendevicemodel_handle* dmod, domid_t domid, unsigned int* vcpus) {
    return hvx_ret(hvdm_nr_vcpus(hh(dmod), domid, vcpus));
}

// Restricts the process's one hvdm handle (hvdm_restrict), hence every
// xendevicemodel handle of the process: Xen restricts the one privcmd
// descriptor of this handle (tools/libs/devicemodel/linux.c
// osdep_xendevicemodel_restrict, IOCTL_PRIVCMD_RESTRICT). A different domid
// once restricted is -1 EINVAL, as privcmd_ioctl_restrict.
HVX_XDM_API int xendevicemodel_restrict(xendevicemodel_handle* dmod, domid_t domid) {
    return hvx_ret(hvdm_restrict(hh(dmod), domid));
}
