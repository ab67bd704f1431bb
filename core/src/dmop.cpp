// SPDX-License-Identifier: MIT
// The raw DMOP dispatcher. Buffers are copied in and out with memcpy (they
// may be unaligned); only header + op_size[op] bytes are read or written
// (Xen 85cb15dfe4), and OUT fields are copied back only on success.
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <new>
#include <utility>
#include <vector>

#include "hvcore/core/dmop_abi.hpp"
#include "hvcore/core/host.hpp"

namespace hvcore {

namespace {

template <class T>
[[nodiscard]] T load_op(const DmBuf& b) {
    T t;
    std::memcpy(&t, static_cast<const std::byte*>(b.ptr) + dmop::header_size, sizeof t);
    return t;
}

template <class T>
void store_op(const DmBuf& b, const T& t) {
    std::memcpy(static_cast<std::byte*>(b.ptr) + dmop::header_size, &t, sizeof t);
}

// The interrupt ops each arch's dm.c offers (its op_size[] lists them; an
// op it does not list is -EOPNOTSUPP): x86 (xen/arch/x86/hvm/dm.c) 8, 9,
// 10, 14 and 16; Arm (xen/arch/arm/dm.c) 19. RISC-V domains follow Arm (Xen
// has no RISC-V dm.c). remote_shutdown (16) works on every arch (Xen Arm:
// -EOPNOTSUPP; README.md, "Where hvcore differs from Xen"), and so do
// track_dirty_vram (7) and modified_memory (11) (Xen Arm: -EOPNOTSUPP).
[[nodiscard]] bool offered(Arch arch, uint32_t op) {
    const bool x86 = arch == Arch::x86_vmx || arch == Arch::x86_svm;
    switch (op) {
    case dmop::set_pci_intx_level:
    case dmop::set_isa_irq_level:
    case dmop::set_pci_link_route:
    case dmop::inject_msi: return x86;
    case dmop::set_irq_level: return !x86;
    default: return true;
    }
}

// XEN_DMOP_track_dirty_vram, in Xen's order of checks (xen/arch/x86/hvm/dm.c
// dm_op and track_dirty_vram): pad, a second buffer, nr at most 1 GiB of
// frames, the buffer's size: -EINVAL each. hvcore checks buffer 1's address
// (-EFAULT) before anything changes, where Xen finds it unwritable at the
// end, with the tracking already switched.
[[nodiscard]] int track_dirty_vram(Domain& d, unsigned nr_bufs, const DmBuf* bufs) {
    const auto a = load_op<dmop::TrackDirtyVram>(bufs[0]);
    if (a.pad != 0 || nr_bufs < 2) return -EINVAL;
    if (a.nr > ((uint64_t{1} << 30) >> 12)) return -EINVAL;
    const uint64_t bytes = (uint64_t{a.nr} + 7) / 8;
    if (bytes > bufs[1].size) return -EINVAL;
    if (bytes != 0 && bufs[1].ptr == nullptr) return -EFAULT;
    // Made here, copied out on success only (Xen's copy_to_guest at the end).
    std::vector<uint8_t> bitmap;
    try {
        bitmap.resize(bytes);
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    }
    if (Status s = d.track_dirty_vram(a.first_pfn, a.nr, bitmap); !s) return s.code();
    if (bytes != 0) std::memcpy(bufs[1].ptr, bitmap.data(), bytes);
    return 0;
}

// XEN_DMOP_modified_memory (xen/arch/x86/hvm/dm.c modified_memory): exactly
// two buffers (-EINVAL); 0 at once when log-dirty is off; buffer 1 too small
// for nr_extents (-EINVAL); then each extent, the last first: unreadable
// (-EFAULT), pad != 0, nr 0 or wrapping, or ending past the domain's
// largest gfn: -EINVAL. hvcore checks every extent before marking any (Xen
// marks those before the bad one), and opaque must be 0 (dm_op.h: "Must be
// set to 0"; Xen reads it as the pages of the last extent already done,
// its continuation cursor; hvcore never restarts a DMOP): -EINVAL, checked
// with the extents' sizes.
[[nodiscard]] int modified_memory(Domain& d, unsigned nr_bufs, const DmBuf* bufs) {
    const auto a = load_op<dmop::ModifiedMemory>(bufs[0]);
    if (nr_bufs != 2) return -EINVAL;
    if (!d.log_dirty_enabled()) return 0;
    if (bufs[1].size / sizeof(dmop::ModifiedMemoryExtent) < a.nr_extents) return -EINVAL;
    if (a.opaque != 0) return -EINVAL;
    if (a.nr_extents != 0 && bufs[1].ptr == nullptr) return -EFAULT;
    std::vector<std::pair<uint64_t, uint64_t>> ext;
    try {
        ext.reserve(a.nr_extents);
    } catch (const std::bad_alloc&) {
        return -ENOMEM;
    }
    const uint64_t max_gfn = d.max_gfn();
    for (uint32_t i = a.nr_extents; i-- > 0;) {
        dmop::ModifiedMemoryExtent e;
        std::memcpy(&e, static_cast<const std::byte*>(bufs[1].ptr) + i * sizeof e, sizeof e);
        if (e.pad != 0) return -EINVAL;
        const uint64_t end = e.first_pfn + e.nr;
        // Xen compares the end (exclusive) with the largest gfn: an extent
        // naming the last page is refused there, and here.
        if (end <= e.first_pfn || end > max_gfn) return -EINVAL;
        ext.emplace_back(e.first_pfn, e.nr);
    }
    return d.modified_memory(ext).code();
}

[[nodiscard]] int dispatch(Domain& d, const Caller& c, uint32_t op, unsigned nr_bufs, const DmBuf* bufs) {
    const DmBuf& b = bufs[0];
    switch (op) {
    case dmop::track_dirty_vram: return track_dirty_vram(d, nr_bufs, bufs);
    case dmop::modified_memory: return modified_memory(d, nr_bufs, bufs);
    case dmop::create_ioreq_server: {
        auto a = load_op<dmop::CreateIoreqServer>(b);
        if (a.pad[0] != 0 || a.pad[1] != 0 || a.pad[2] != 0) return -EINVAL;
        IoservId id{};
        if (Status s = d.create_ioreq_server(c.emulator, a.handle_bufioreq, &id); !s) return s.code();
        a.id = id.raw();
        store_op(b, a);
        return 0;
    }
    case dmop::get_ioreq_server_info: {
        auto a = load_op<dmop::GetIoreqServerInfo>(b);
        if (Status s = d.get_ioreq_server_info(c.emulator, IoservId{a.id}, a.flags, &a.bufioreq_port); !s)
            return s.code();
        store_op(b, a);
        return 0;
    }
    case dmop::map_io_range_to_ioreq_server:
    case dmop::unmap_io_range_from_ioreq_server: {
        const auto a = load_op<dmop::IoRange>(b);
        if (a.pad != 0) return -EINVAL;
        const Status s = op == dmop::map_io_range_to_ioreq_server
                             ? d.map_io_range(c.emulator, IoservId{a.id}, a.type, a.start, a.end)
                             : d.unmap_io_range(c.emulator, IoservId{a.id}, a.type, a.start, a.end);
        return s.code();
    }
    case dmop::set_ioreq_server_state: {
        const auto a = load_op<dmop::SetIoreqServerState>(b);
        if (a.pad != 0) return -EINVAL;
        return d.set_ioreq_server_state(c.emulator, IoservId{a.id}, a.enabled != 0).code();
    }
    case dmop::destroy_ioreq_server: {
        const auto a = load_op<dmop::DestroyIoreqServer>(b);
        if (a.pad != 0) return -EINVAL;
        return d.destroy_ioreq_server(c.emulator, IoservId{a.id}).code();
    }
    case dmop::set_mem_type: {
        auto a = load_op<dmop::SetMemType>(b);
        if (a.pad != 0) return -EINVAL;
        // Xen copies first_pfn/nr back at each preemption (-ERESTART) and
        // re-enters from them; the last copy stands after a success. hvcore
        // continues inside the call and writes the same values back once,
        // on success, if the change was preempted (Domain::MemTypeProgress).
        Domain::MemTypeProgress p{a.first_pfn, a.nr};
        if (Status s = d.set_mem_type(c.emulator, a.mem_type, a.first_pfn, a.nr, &p); !s) return s.code();
        if (p.first_pfn != a.first_pfn || p.nr != a.nr) {
            a.first_pfn = p.first_pfn;
            a.nr = p.nr;
            store_op(b, a);
        }
        return 0;
    }
    case dmop::map_mem_type_to_ioreq_server: {
        const auto a = load_op<dmop::MapMemTypeToIoreqServer>(b);
        if (!d.config().hap) return -EOPNOTSUPP;
        // Xen skips the claim and reports success when opaque != 0 on a
        // first call; hvcore never restarts a DMOP, so it is an error.
        if (a.opaque != 0) return -EINVAL;
        return d.map_mem_type_to_ioreq_server(c.emulator, IoservId{a.id}, a.type, a.flags).code();
    }
    case dmop::nr_vcpus: {
        store_op(b, dmop::NrVcpus{d.nr_vcpus()});
        return 0;
    }
    case dmop::set_pci_intx_level: {
        const auto a = load_op<dmop::SetPciIntxLevel>(b);
        return d.set_pci_intx_level(a.domain, a.bus, a.device, a.intx, a.level).code();
    }
    case dmop::set_isa_irq_level: {
        const auto a = load_op<dmop::SetIsaIrqLevel>(b);
        return d.set_isa_irq_level(a.isa_irq, a.level).code();
    }
    case dmop::set_pci_link_route: {
        const auto a = load_op<dmop::SetPciLinkRoute>(b);
        return d.set_pci_link_route(a.link, a.isa_irq).code();
    }
    case dmop::inject_msi: {
        const auto a = load_op<dmop::InjectMsi>(b);
        if (a.pad != 0) return -EINVAL;
        return d.inject_msi(a.addr, a.data).code();
    }
    case dmop::remote_shutdown: {
        const auto a = load_op<dmop::RemoteShutdown>(b);
        return d.remote_shutdown(a.reason).code();
    }
    case dmop::set_irq_level: {
        const auto a = load_op<dmop::SetIrqLevel>(b);
        return d.set_irq_level(a.irq, a.level, a.pad[0] == 0 && a.pad[1] == 0 && a.pad[2] == 0).code();
    }
    default: return -EOPNOTSUPP;  // 13, 17, 18: not implemented
    }
}

// hvcore's own ops (dmop_abi.hpp, hvcore_first_op).
[[nodiscard]] int dispatch_hvcore(Domain& d, const Caller& c, uint32_t op, unsigned nr_bufs, const DmBuf* bufs) {
    const DmBuf& b = bufs[0];
    switch (op) {
    case dmop::set_mem_type_list: {
        auto a = load_op<dmop::SetMemTypeList>(b);
        if ((a.flags & ~dmop::set_mem_type_list_check_only) != 0) return -EINVAL;
        // The list is buffer 1: nr gfns of 8 bytes, any alignment. Copied
        // before anything is checked (as Xen's copy_from_guest_buf), so the
        // caller's threads cannot change what was validated.
        if (nr_bufs < 2 || bufs[1].ptr == nullptr || bufs[1].size / sizeof(uint64_t) < a.nr) return -EFAULT;
        // Not zeroed first (make_unique_for_overwrite): the copy is one pass.
        std::unique_ptr<uint64_t[]> copy;
        try {
            if (a.nr != 0) copy = std::make_unique_for_overwrite<uint64_t[]>(a.nr);
        } catch (const std::bad_alloc&) {
            return -ENOMEM;
        }
        if (a.nr != 0) std::memcpy(copy.get(), bufs[1].ptr, a.nr * sizeof(uint64_t));
        const std::span<const uint64_t> gfns(copy.get(), a.nr);
        a.first_refused = ~uint64_t{0};
        const bool check_only = (a.flags & dmop::set_mem_type_list_check_only) != 0;
        const Status s = d.set_mem_type_list(c.emulator, a.mem_type, gfns, &a.first_refused, check_only);
        int rc = s.code();
        // A gfn refused (its change, or in multi-owner mode its owner): reported.
        if (check_only && (rc == -EINVAL || rc == -EPERM) && a.first_refused != ~uint64_t{0}) rc = 0;
        // Buffer 0 is written back on success only, as every DMOP's (Xen's
        // xen/arch/x86/hvm/dm.c dm_op copies the op back only when rc is 0),
        // and as a socket's reply carries it: a failed call leaves the
        // caller's bytes as they were; CHECK_ONLY names the refused gfn.
        if (rc == 0) store_op(b, a);
        return rc;
    }
    default: return -EOPNOTSUPP;
    }
}

}  // namespace

int dm_op(Host& host, const Caller& caller, uint16_t domid, unsigned nr_bufs, const DmBuf* bufs) {
    // A restricted handle learns nothing about other domains, not even
    // whether they exist or that its buffers were malformed: privcmd checks
    // the restriction before the buffer count, sizes and addresses
    // (drivers/xen/privcmd.c privcmd_ioctl_dm_op).
    if (!caller.may_access(domid)) return -EPERM;
    if (nr_bufs == 0) return -ENODATA;  // XSA-506
    if (nr_bufs > 2) return -E2BIG;
    if (bufs == nullptr) return -EFAULT;
    std::shared_ptr<Domain> d = host.find(DomId{domid});
    if (!d) return -ESRCH;
    const DmBuf& b = bufs[0];
    if (b.ptr == nullptr || b.size < dmop::header_size) return -EFAULT;
    dmop::Header h;
    std::memcpy(&h, b.ptr, sizeof h);
    if (h.op >= dmop::hvcore_first_op && h.op < dmop::hvcore_end_op) {
        if (b.size < dmop::header_size + dmop::hvcore_op_size[h.op - dmop::hvcore_first_op]) return -EFAULT;
        if (h.pad != 0) return -EINVAL;
        return dispatch_hvcore(*d, caller, h.op, nr_bufs, bufs);
    }
    if (h.op >= dmop::nr_ops || dmop::op_size[h.op] == 0) return -EOPNOTSUPP;
    // An op this arch's op_size[] does not list has size 0 there: Xen's size
    // check passes, the header's pad is checked, and the dispatch's default
    // (ioreq_server_dm_op) answers -EOPNOTSUPP.
    if (!offered(d->config().arch, h.op)) return h.pad != 0 ? -EINVAL : -EOPNOTSUPP;
    if (b.size < dmop::header_size + dmop::op_size[h.op]) return -EFAULT;
    if (h.pad != 0) return -EINVAL;
    return dispatch(*d, caller, h.op, nr_bufs, bufs);
}

}  // namespace hvcore
