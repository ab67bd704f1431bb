// SPDX-License-Identifier: MIT
// The raw DMOP dispatcher. Buffers are copied in and out with memcpy (they
// may be unaligned); only header + op_size[op] bytes are read or written
// (Xen 85cb15dfe4), and OUT fields are copied back only on success.
#include <cstring>

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
// -EOPNOTSUPP; README.md, "Where hvcore differs from Xen").
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

[[nodiscard]] int dispatch(Domain& d, const Caller& c, uint32_t op, const DmBuf& b) {
    switch (op) {
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
        const auto a = load_op<dmop::SetMemType>(b);
        if (a.pad != 0) return -EINVAL;
        return d.set_mem_type(a.mem_type, a.first_pfn, a.nr).code();
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
    default: return -EOPNOTSUPP;  // 7, 11, 13, 17, 18: not implemented
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
    if (h.op >= dmop::nr_ops || dmop::op_size[h.op] == 0) return -EOPNOTSUPP;
    // An op this arch's op_size[] does not list has size 0 there: Xen's size
    // check passes, the header's pad is checked, and the dispatch's default
    // (ioreq_server_dm_op) answers -EOPNOTSUPP.
    if (!offered(d->config().arch, h.op)) return h.pad != 0 ? -EINVAL : -EOPNOTSUPP;
    if (b.size < dmop::header_size + dmop::op_size[h.op]) return -EFAULT;
    if (h.pad != 0) return -EINVAL;
    return dispatch(*d, caller, h.op, b);
}

}  // namespace hvcore
