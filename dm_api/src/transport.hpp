// SPDX-License-Identifier: MIT
// The seam between an hvdm_handle and the host it reaches. Everything above
// it (the typed wrappers, the handle's own mappings of ioreq pages and
// duplicates of eventfds - DmPages -, hvdm_serve and hvdm_serve_pending) is
// the same code whether the host is in this process (LocalTransport) or in
// another one behind a socket (SocketTransport, client.cpp). The seam is at
// the descriptor level: the local transport hands out new descriptors
// exactly as the remote one receives them by SCM_RIGHTS.
//
// Every operation returns 0 (or a count) or a negative errno, with the
// errnos of the in-process code: a remote host runs that same code for its
// connection (server.cpp). A new operation is one more virtual here, one in
// each transport, and one wire kind (wire.hpp).
#pragma once

#include <cstdint>
#include <memory>

#include "hvcore/core/host.hpp"
#include "hvcore/hvdm.h"

namespace hvcore::abi {

struct HostCore;

// A server's ioreq pages as descriptors: both new, owned by the receiver.
struct IoreqFds {
    int pages_fd = -1;   // the memfd (ioreq_map_bytes long)
    int event_fd = -1;   // the host -> device model wake-up
    bool buffered = false;
    uint64_t serial = 0;  // IoreqServer::serial: a new server behind a reused id differs
    uint32_t nr_vcpus = 0;  // slots in the synchronous page
};

class Transport {
public:
    virtual ~Transport() = default;
    // 0, or -ENODEV once the host is destroyed or the connection lost.
    [[nodiscard]] virtual int check() noexcept = 0;
    // This side's view of the restriction (privcmd checks it first): a
    // remote host checks again, so a stale "may" only costs a round trip.
    [[nodiscard]] virtual bool may_access(hvdm_domid_t domid) const noexcept = 0;
    [[nodiscard]] virtual int restrict_to(hvdm_domid_t domid) = 0;
    // A verdict the handle reached on this side, without its host: the
    // restriction's copy (-EPERM), a null out-argument or a bad argument
    // (-EINVAL)... In-process the host's destruction was checked first
    // (check()), so rc stands. A remote host is asked, on this error path
    // only (one cheap round trip): -ENODEV if it is destroyed or the
    // connection lost, rc otherwise - the in-process order exactly.
    [[nodiscard]] virtual int confirm(hvdm_domid_t domid, int rc) noexcept = 0;
    // Raw xen_dm_op buffers; copied back (remote) only when rc >= 0.
    [[nodiscard]] virtual int dm_op(hvdm_domid_t domid, unsigned nr_bufs, hvdm_buf* bufs) = 0;
    // Whether dm_op writes the caller's buffers other than buffer 0 (a
    // remote reply carries them back); in process the core reads them only.
    [[nodiscard]] virtual bool writes_buffers_back() const noexcept = 0;
    [[nodiscard]] virtual int get_mem_type(hvdm_domid_t domid, uint64_t pfn, uint16_t* type) = 0;
    [[nodiscard]] virtual int ioreq_fds(hvdm_domid_t domid, hvdm_ioservid_t id, IoreqFds* out) = 0;
    [[nodiscard]] virtual int server_serial(hvdm_domid_t domid, hvdm_ioservid_t id, uint64_t* serial) = 0;
    [[nodiscard]] virtual int notify(hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t vcpu) = 0;
    // Guest memory (guest_memory.hpp), after the handle's own argument
    // checks: a new descriptor of the domain's RAM and first_gfn's offset
    // in it (-ESRCH, -EFAULT with *bad_gfn); the domain's layout (*n in =
    // room, out = written; -ENOSPC with *n = needed).
    [[nodiscard]] virtual int guest_memory_fd(hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr, int prot,
                                              int* fd, uint64_t* offset, uint64_t* bad_gfn) = 0;
    [[nodiscard]] virtual int memory_map(hvdm_domid_t domid, hvdm_mem_range* ranges, unsigned* n) = 0;
    // hvdm_set_direct_handler: the host calls fn on its vCPU threads, so
    // only a host in this process can (-EOPNOTSUPP over a socket). fn
    // nullptr clears it.
    [[nodiscard]] virtual int set_direct(hvdm_domid_t domid, hvdm_ioservid_t id, hvdm_serve_fn fn,
                                         void* opaque) = 0;
    // hvdm_ready: tells a remote host this device model's setup is
    // complete (-EALREADY the second time); an in-process handle has no
    // one to tell (-EOPNOTSUPP).
    [[nodiscard]] virtual int ready() = 0;
    // hvdm_close: the emulator's servers are destroyed (remote: the host
    // does it when the connection says goodbye or hangs up).
    virtual void close() noexcept = 0;
    // The emulator identity (the host's numbering).
    [[nodiscard]] virtual uint32_t emulator() const noexcept = 0;
};

// The in-process transport: a new emulator identity on this host.
[[nodiscard]] std::unique_ptr<Transport> local_transport(std::shared_ptr<HostCore> core);

}  // namespace hvcore::abi
