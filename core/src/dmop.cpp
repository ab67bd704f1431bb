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
    default: return -EOPNOTSUPP;  // 7-11, 13, 14, 16-19: not implemented
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
    if (b.size < dmop::header_size + dmop::op_size[h.op]) return -EFAULT;
    if (h.pad != 0) return -EINVAL;
    return dispatch(*d, caller, h.op, b);
}

}  // namespace hvcore
