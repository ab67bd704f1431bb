// SPDX-License-Identifier: MIT
// libxenforeignmemory.so.1 over hvcore's C ABI: Xen 4.17's
// <xenforeignmemory.h> (Debian's header, compiled against; nothing of
// Xen's code is used), the nine functions of Debian 12's library in its
// version nodes (xen/maps/xenforeignmemory.map).
//
// What Xen does, and where it is decided (Xen 4.17 unless said):
// - tools/libs/foreignmemory/core.c: the generic layer. map() is map2()
//   with no address hint and no flags; map2() with err NULL maps with a
//   private err array and, if any page failed, unmaps everything and
//   returns NULL with errno = -err[first failure]; map_resource() refuses
//   flags other than MAP_SHARED and MAP_PRIVATE (EINVAL) before anything;
//   resource_size() is a map_resource of 0 frames at no address, which
//   privcmd answers with the resource's size in frames.
// - tools/libs/foreignmemory/linux.c: one mmap(addr, num pages, prot,
//   flags | MAP_SHARED) of the privcmd device, then
//   IOCTL_PRIVCMD_MMAPBATCH_V2, which reports each page's error (negative
//   errno, 0 mapped) in err[] and fails as a whole only for the call's own
//   errors; the mapping is released with munmap.
// - Linux drivers/xen/privcmd.c: IOCTL_PRIVCMD_RESTRICT (-EINVAL when
//   already restricted to another domain), -EPERM for a restricted handle
//   naming another domain.
// - xen/arch/x86/mm/p2m.c p2m_add_foreign: a gfn whose type is not RAM is
//   -EINVAL (that page's err[]).
// - xen/common/memory.c acquire_resource / resource_max_frames /
//   _acquire_resource and ioreq_server_max_frames: an ioreq server's
//   resource has 1 + DIV_ROUND_UP(max_vcpus * sizeof(ioreq_t), PAGE_SIZE)
//   frames, frame 0 the buffered ring and frame 1 + n the synchronous page
//   n, whatever the server (its id is not looked at for the size); a
//   resource type the domain has no frames of (max frames 0: a grant table
//   or vmtrace buffer it does not have) is -EINVAL; an unknown type is
//   -EOPNOTSUPP.
//
// Here every handle of the process is the process's one hvdm handle
// (hvx_handle(), shared with libxendevicemodel and libxenevtchn): guest
// pages come from hvdm_map_guest_pages, ioreq frames from
// hvdm_map_resource. xenforeignmemory_close leaves the mappings in place,
// as Xen's does (privcmd mappings outlive the descriptor): they stay
// until unmapped, or until the process exits.
// The tools' part of Xen's public headers (XENMEM_resource_*), as Xen's
// own tools are built.
#define __XEN_TOOLS__ 1

#include <sys/mman.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <new>

// Xen's headers declare C functions without extern "C" guards.
extern "C" {
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
}

#include "hvx_common.h"

// Xen's xen_pfn_t is unsigned long on x86_64 and arm64 (xen/arch-*.h): the
// same 64-bit gfns hvdm_map_guest_pages takes.
static_assert(sizeof(xen_pfn_t) == sizeof(uint64_t));

struct xenforeignmemory_handle {
    hvdm_handle* h;
};

struct xenforeignmemory_resource_handle {
    void* addr;
    unsigned int nr_frames;
};

namespace {

constexpr size_t page_size = 4096;  // XC_PAGE_SIZE

// Xen's NULL + errno.
template <class T>
T* fail(int e) {
    errno = e;
    return nullptr;
}

// The frames of an ioreq server's resource for a domain of nr_vcpus
// (xen/common/memory.c ioreq_server_max_frames: the buffered ring, then
// one frame per 128 vCPU slots of 32 bytes).
unsigned long ioreq_frames(unsigned int nr_vcpus) {
    constexpr unsigned long slot_bytes = sizeof(ioreq_t);
    return 1 + (nr_vcpus * slot_bytes + page_size - 1) / page_size;
}

// A resource type hvcore's domains have no frames of: -EINVAL as Xen for
// a domain without them (resource_max_frames 0), -EOPNOTSUPP for a type
// Xen does not know. The domain is checked first (-EPERM, -ESRCH), as
// privcmd and acquire_resource do.
int other_resource(hvdm_handle* h, domid_t domid, unsigned int type) {
    unsigned int vcpus = 0;
    if (int rc = hvdm_nr_vcpus(h, domid, &vcpus); rc != 0) return rc;
    switch (type) {
    case XENMEM_resource_grant_table:
    case XENMEM_resource_vmtrace_buf:
        return -EINVAL;
    default:
        return -EOPNOTSUPP;
    }
}

}  // namespace

extern "C" {

HVX_API xenforeignmemory_handle* xenforeignmemory_open(xentoollog_logger* logger, unsigned /*open_flags*/) {
    hvdm_handle* h = hvx_open(logger, "xenforeignmemory");  // says why when there is none
    if (h == nullptr) return nullptr;
    auto* fmem = new (std::nothrow) xenforeignmemory_handle{h};
    if (fmem == nullptr) return fail<xenforeignmemory_handle>(ENOMEM);
    return fmem;
}

HVX_API int xenforeignmemory_close(xenforeignmemory_handle* fmem) {
    // Xen's close (core.c): NULL is 0; the mappings stay.
    delete fmem;
    return 0;
}

HVX_API void* xenforeignmemory_map2(xenforeignmemory_handle* fmem, uint32_t dom, void* addr, int prot, int flags,
                                    size_t num, const xen_pfn_t arr[], int err[]) {
    if (fmem == nullptr) return fail<void>(EBADF);
    // MAP_SHARED is what linux.c adds anyway, and MAP_PRIVATE with it is
    // MAP_SHARED_VALIDATE, still a shared mapping; MAP_FIXED places it.
    // Other mmap(2) flags are not taken (EINVAL).
    const int place = flags & ~(MAP_SHARED | MAP_PRIVATE);
    if (arr == nullptr) return fail<void>(EFAULT);  // privcmd's copy_from_user of the array
    if (dom > UINT16_MAX || num == 0 || num > UINT32_MAX || (place & ~MAP_FIXED) != 0) return fail<void>(EINVAL);
    int* e = err;
    int* own = nullptr;
    if (e == nullptr) {
        own = static_cast<int*>(std::malloc(num * sizeof(int)));
        if (own == nullptr) return fail<void>(ENOMEM);
        e = own;
    }
    void* at = addr;
    const int rc = hvdm_map_guest_pages(fmem->h, static_cast<hvdm_domid_t>(dom), reinterpret_cast<const uint64_t*>(arr),
                                        static_cast<uint32_t>(num), prot, place, &at, e);
    if (rc != 0) {
        std::free(own);
        return fail<void>(-rc);
    }
    if (own != nullptr) {
        // core.c xenforeignmemory_map2: all pages or nothing without err[].
        for (size_t i = 0; i < num; ++i) {
            if (own[i] != 0) {
                const int first = -own[i];
                (void)hvdm_unmap_guest_memory(fmem->h, at, static_cast<uint32_t>(num));
                std::free(own);
                return fail<void>(first);
            }
        }
        std::free(own);
    }
    return at;
}

HVX_API void* xenforeignmemory_map(xenforeignmemory_handle* fmem, uint32_t dom, int prot, size_t num,
                                   const xen_pfn_t arr[], int err[]) {
    return xenforeignmemory_map2(fmem, dom, nullptr, prot, 0, num, arr, err);
}

HVX_API int xenforeignmemory_unmap(xenforeignmemory_handle* fmem, void* addr, size_t num) {
    if (fmem == nullptr) return hvx_ret(-EBADF);
    if (num > UINT32_MAX) return hvx_ret(-EINVAL);
    return hvx_ret(hvdm_unmap_guest_memory(fmem->h, addr, static_cast<uint32_t>(num)));
}

HVX_API int xenforeignmemory_restrict(xenforeignmemory_handle* fmem, domid_t domid) {
    if (fmem == nullptr) return hvx_ret(-EBADF);
    // Process-wide: the process's handles are one hvdm handle.
    return hvx_ret(hvdm_restrict(fmem->h, domid));
}

HVX_API xenforeignmemory_resource_handle* xenforeignmemory_map_resource(xenforeignmemory_handle* fmem, domid_t domid,
                                                                        unsigned int type, unsigned int id,
                                                                        unsigned long frame, unsigned long nr_frames,
                                                                        void** paddr, int prot, int flags) {
    if (fmem == nullptr) return fail<xenforeignmemory_resource_handle>(EBADF);
    // core.c: only the POSIX flags, before anything.
    if ((flags & ~(MAP_SHARED | MAP_PRIVATE)) != 0 || paddr == nullptr)
        return fail<xenforeignmemory_resource_handle>(EINVAL);
    if (type != XENMEM_resource_ioreq_server) {
        const int rc = other_resource(fmem->h, domid, type);
        return fail<xenforeignmemory_resource_handle>(rc < 0 ? -rc : EINVAL);
    }
    // acquire_ioreq_server: the id is an ioservid_t; frames beyond the
    // resource (at most 2 here, see ioreq_frames) are -EINVAL.
    if (id > UINT16_MAX || nr_frames == 0 || frame > UINT_MAX || nr_frames > UINT_MAX)
        return fail<xenforeignmemory_resource_handle>(EINVAL);
    auto* fres = new (std::nothrow) xenforeignmemory_resource_handle{nullptr, 0};
    if (fres == nullptr) return fail<xenforeignmemory_resource_handle>(ENOMEM);
    // *paddr is a hint only (MAP_FIXED is refused above): hvcore chooses
    // the address, as mmap(2) may for any hint.
    void* at = nullptr;
    const int rc = hvdm_map_resource(fmem->h, domid, static_cast<hvdm_ioservid_t>(id), static_cast<unsigned>(frame),
                                     static_cast<unsigned>(nr_frames), prot, &at);
    if (rc != 0) {
        delete fres;
        return fail<xenforeignmemory_resource_handle>(-rc);
    }
    fres->addr = at;
    fres->nr_frames = static_cast<unsigned>(nr_frames);
    *paddr = at;
    return fres;
}

HVX_API int xenforeignmemory_unmap_resource(xenforeignmemory_handle* fmem, xenforeignmemory_resource_handle* fres) {
    // core.c: the handle is freed whatever the unmap says; NULL is 0
    // (osdep unmaps only a mapped resource).
    if (fres == nullptr) return 0;
    int rc = -EBADF;
    if (fmem != nullptr) rc = hvdm_unmap_resource(fmem->h, fres->addr, fres->nr_frames);
    delete fres;
    return hvx_ret(rc);
}

HVX_API int xenforeignmemory_resource_size(xenforeignmemory_handle* fmem, domid_t domid, unsigned int type,
                                           unsigned int id, size_t* size) {
    if (fmem == nullptr) return hvx_ret(-EBADF);
    if (size == nullptr) return hvx_ret(-EFAULT);  // privcmd's copy_to_user
    if (type != XENMEM_resource_ioreq_server) return hvx_ret(other_resource(fmem->h, domid, type));
    (void)id;  // resource_max_frames: the size does not depend on the server
    unsigned int vcpus = 0;
    if (int rc = hvdm_nr_vcpus(fmem->h, domid, &vcpus); rc != 0) return hvx_ret(rc);
    *size = ioreq_frames(vcpus) * page_size;
    return 0;
}

}  // extern "C"
