// SPDX-License-Identifier: MIT
// libxenevtchn.so.1 over hvcore (docs/xen-dropins.md, "libxenevtchn").
//
// Xen's event channels name, on a device model's side, the ports of its
// ioreq servers: one per vCPU slot (vp_eport) and one for the buffered
// ring (bufioreq_port). hvcore numbers a server's ports itself, 0 ..
// nr_vcpus - 1 for the slots and nr_vcpus for the ring, per server
// (hvdm_ioreq_pending). Here a xenevtchn handle binds local ports to those
// ports of the servers this process created (the registry of
// hvx_common.h) and delivers them as Linux's /dev/xen/evtchn driver
// delivers Xen's (drivers/xen/evtchn.c): one pollable descriptor, a read
// of one port at a time, a port masked from its firing until it is
// unmasked, a firing while masked latched and delivered after the unmask.
//
// All state is process-wide (every handle's ports, every server's
// listeners) and guarded by the registry's lock (hvx_registry_lock), so a
// handle may be used from several threads as on Linux.
extern "C" {
#include <xenevtchn.h>
#include <xentoollog.h>
}

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <vector>

#include "hvx_common.h"

#define HVX_XCE_API extern "C" __attribute__((visibility("default")))

namespace {

// Linux's evtchn driver: no domid restriction yet (drivers/xen/evtchn.c
// UNRESTRICTED_DOMID).
constexpr int kUnrestricted = -1;
// The most local ports (Xen's FIFO ABI limit, EVTCHN_FIFO_NR_CHANNELS =
// 2^17, xen/include/public/event_channel.h): beyond it a bind is -1
// ENOSPC, as Xen's get_free_port (xen/common/event_channel.c).
constexpr uint32_t kMaxPorts = 1u << 17;

// What a local port is connected to.
enum class Kind {
    server,  // a port of an ioreq server (bind_interdomain)
    unbound, // nothing (bind_unbound_port); also a server port once its server is destroyed
};

struct Binding {
    xenevtchn_handle* owner = nullptr;
    Kind kind = Kind::unbound;
    uint64_t serial = 0;   // the server (Kind::server)
    uint32_t remote = 0;   // its port
    bool masked = false;   // fired and not yet unmasked (Linux: !evtchn->enabled)
    bool latched = false;  // fired again while masked: delivered at unmask
};

// A server some local port is bound to (kept while any is).
struct ServerState {
    hvx_server s{};
    int fd = -1;                          // hvdm_ioreq_fd: the handle's, never closed here
    std::vector<uint32_t> bound;          // local port of each remote port (0: none)
    std::vector<bool> fired_unbound;      // fired while no local port was bound: delivered at bind
};

}  // namespace

// Xen's handle is opaque in its header (tools/libs/evtchn/private.h): ours.
struct xenevtchn_handle {
    int epfd = -1;  // xenevtchn_fd: the servers' eventfds and evfd
    int evfd = -1;  // readable while `queue` is not empty
    std::deque<uint32_t> queue;          // fired ports not yet returned by pending, oldest first
    std::map<uint64_t, int> srv_refs;    // server serial -> this handle's ports on it (its fd is in epfd)
    int restrict_domid = kUnrestricted;  // IOCTL_EVTCHN_RESTRICT_DOMID
    xentoollog_logger* logger = nullptr;
};

namespace {

// Guarded by the registry's lock.
std::map<uint32_t, Binding> g_ports;     // every local port of the process
std::map<uint64_t, ServerState> g_srvs;  // by serial: creation order
bool g_listening = false;

struct Lock {
    Lock() { hvx_registry_lock(); }
    ~Lock() { hvx_registry_unlock(); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
};

int fail(int e) {
    errno = e;
    return -1;
}

void signal_handle(xenevtchn_handle* x) {
    const uint64_t one = 1;
    (void)!write(x->evfd, &one, sizeof one);
}

void drain_handle(xenevtchn_handle* x) {
    uint64_t v = 0;
    (void)!read(x->evfd, &v, sizeof v);  // non-blocking
}

void enqueue(xenevtchn_handle* x, uint32_t port) {
    const bool was_empty = x->queue.empty();
    x->queue.push_back(port);
    if (was_empty) signal_handle(x);
}

// A firing of local port @p port (Linux evtchn_interrupt: the port is
// disabled as it is queued; Xen latches a firing while it is masked).
void fire(uint32_t port, Binding& b) {
    if (b.masked) {
        b.latched = true;
        return;
    }
    b.masked = true;
    try {
        enqueue(b.owner, port);
    } catch (const std::bad_alloc&) {
        b.masked = false;  // lost, as Linux's ring overflow: nothing better to do without memory
    }
}

// The registry forgets a server: its ports fire no more. Local ports bound
// to it stay bound, connected to nothing (Xen: the remote end's close
// leaves the local channel ECS_UNBOUND, event_channel.c evtchn_close).
void on_server_removed(const hvx_server* s) {
    auto it = g_srvs.find(s->serial);
    if (it == g_srvs.end()) return;
    for (uint32_t local : it->second.bound) {
        if (local == 0) continue;
        Binding& b = g_ports.at(local);
        b.kind = Kind::unbound;
        b.serial = 0;
        xenevtchn_handle* x = b.owner;
        auto r = x->srv_refs.find(s->serial);
        if (r != x->srv_refs.end()) {
            (void)epoll_ctl(x->epfd, EPOLL_CTL_DEL, it->second.fd, nullptr);
            x->srv_refs.erase(r);
        }
    }
    g_srvs.erase(it);
}

void listen_once() {
    if (!g_listening) {
        hvx_set_remove_listener(on_server_removed);
        g_listening = true;
    }
}

// Takes the fired ports of every server some port is bound to and hands
// each to the handle that bound it. Within a server the ring's port comes
// first: a buffered write was posted before any later synchronous request
// of the same vCPU (Xen's hvm_send_buffered_ioreq completes at once).
void collect(hvdm_handle* h) {
    if (g_srvs.empty()) return;
    std::vector<pollfd> pfds;
    std::vector<uint64_t> serials;
    pfds.reserve(g_srvs.size());
    serials.reserve(g_srvs.size());
    for (const auto& [serial, st] : g_srvs) {
        pfds.push_back(pollfd{st.fd, POLLIN, 0});
        serials.push_back(serial);
    }
    if (poll(pfds.data(), pfds.size(), 0) <= 0) return;
    std::vector<uint64_t> gone;
    for (std::size_t i = 0; i < pfds.size(); ++i) {
        if ((pfds[i].revents & POLLIN) == 0) continue;
        ServerState& st = g_srvs.at(serials[i]);
        uint32_t ports[HVDM_MAX_PORTS];
        const int n = hvdm_ioreq_pending(h, st.s.domid, st.s.id, ports, HVDM_MAX_PORTS);
        if (n < 0) {
            // The server (or its domain, or the host) is gone without a
            // destroy through libxendevicemodel, or the domain stopped: its
            // descriptor would stay readable; it fires no more.
            if (n == -ENOENT || n == -ESRCH || n == -ENODEV || n == -ESHUTDOWN) gone.push_back(serials[i]);
            continue;
        }
        const auto deliver = [&](uint32_t p) {
            if (p >= st.bound.size()) return;
            if (st.bound[p] == 0) {
                st.fired_unbound[p] = true;
                return;
            }
            fire(st.bound[p], g_ports.at(st.bound[p]));
        };
        // The ports come ascending, and the ring's (nr_vcpus) is the
        // largest a server has: it is the last one when it fired.
        const int rings = n > 0 && ports[n - 1] == st.s.nr_vcpus ? 1 : 0;
        if (rings != 0) deliver(ports[n - 1]);
        for (int k = 0; k < n - rings; ++k) deliver(ports[k]);
    }
    for (uint64_t serial : gone) hvx_server_remove_serial(serial);  // calls on_server_removed
}

uint32_t free_port() {
    uint32_t want = 1;  // Xen's port 0 is never a valid channel
    for (const auto& [port, b] : g_ports) {
        (void)b;
        if (port != want) break;
        ++want;
    }
    return want < kMaxPorts ? want : 0;
}

// A new local port of @p x (Kind::unbound). 0 when none is free.
uint32_t new_port(xenevtchn_handle* x) {
    const uint32_t port = free_port();
    if (port == 0) return 0;
    Binding b;
    b.owner = x;
    g_ports.emplace(port, b);
    return port;
}

bool valid_handle(xenevtchn_handle* x) { return x != nullptr; }

}  // namespace

// Opens a handle: an epoll descriptor (xenevtchn_fd) and the eventfd of
// the events already collected for it. Needs the process's connection to
// hvcore, as Xen's needs /dev/xen/evtchn (linux.c osdep_evtchn_open).
// Flags other than XENEVTCHN_NO_CLOEXEC are ignored, as Xen's
// osdep_evtchn_open (tools/libs/evtchn/linux.c) looks at that one only.
HVX_XCE_API xenevtchn_handle* xenevtchn_open(struct xentoollog_logger* logger, unsigned int flags) {
    if (hvx_open(logger, "xenevtchn") == nullptr) return nullptr;  // says why
    auto* x = new (std::nothrow) xenevtchn_handle;
    if (x == nullptr) {
        errno = ENOMEM;
        return nullptr;
    }
    const bool cloexec = (flags & XENEVTCHN_NO_CLOEXEC) == 0;
    x->logger = logger;
    x->epfd = epoll_create1(cloexec ? EPOLL_CLOEXEC : 0);
    x->evfd = eventfd(0, EFD_NONBLOCK | (cloexec ? EFD_CLOEXEC : 0));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    if (x->epfd < 0 || x->evfd < 0 || epoll_ctl(x->epfd, EPOLL_CTL_ADD, x->evfd, &ev) != 0) {
        const int e = errno;
        hvx_log_error(logger, "xenevtchn", e, "cannot create the handle's descriptors");
        if (x->epfd >= 0) close(x->epfd);
        if (x->evfd >= 0) close(x->evfd);
        delete x;
        errno = e;
        return nullptr;
    }
    return x;
}

// Xen 4.17 (tools/libs/evtchn/core.c xenevtchn_fdopen) wraps a descriptor
// of /dev/xen/evtchn opened before. hvcore has no such device: no
// descriptor carries a handle's ports, so there is nothing to adopt; -1
// EOPNOTSUPP.
HVX_XCE_API xenevtchn_handle* xenevtchn_fdopen(struct xentoollog_logger* logger, int fd, unsigned int open_flags) {
    (void)fd;
    (void)open_flags;
    hvx_log_error(logger, "xenevtchn", EOPNOTSUPP, "xenevtchn_fdopen: hvcore has no event-channel device to adopt a descriptor of");
    errno = EOPNOTSUPP;
    return nullptr;
}

// Unbinds every port of the handle (Linux evtchn_release) and frees it.
HVX_XCE_API int xenevtchn_close(xenevtchn_handle* xce) {
    if (xce == nullptr) return 0;
    {
        Lock lk;
        for (auto it = g_ports.begin(); it != g_ports.end();) {
            if (it->second.owner != xce) {
                ++it;
                continue;
            }
            const Binding& b = it->second;
            if (b.kind == Kind::server) {
                auto s = g_srvs.find(b.serial);
                if (s != g_srvs.end()) s->second.bound[b.remote] = 0;
            }
            it = g_ports.erase(it);
        }
    }
    close(xce->epfd);
    close(xce->evfd);
    delete xce;
    return 0;
}

HVX_XCE_API int xenevtchn_fd(xenevtchn_handle* xce) {
    if (!valid_handle(xce)) return fail(EINVAL);
    return xce->epfd;
}

// A vCPU's port answers that vCPU (hvdm_ioreq_notify); the ring's port,
// an unbound port or one whose server is gone: 0, the event dropped (Xen
// evtchn_send on ECS_UNBOUND). Not this handle's: -1 ENOTCONN; beyond the
// port space: EINVAL (Linux evtchn_ioctl IOCTL_EVTCHN_NOTIFY).
HVX_XCE_API int xenevtchn_notify(xenevtchn_handle* xce, evtchn_port_t port) {
    if (!valid_handle(xce)) return fail(EINVAL);
    if (port >= kMaxPorts) return fail(EINVAL);
    hvdm_handle* h = hvx_handle();
    if (h == nullptr) return -1;
    Lock lk;
    auto it = g_ports.find(port);
    if (it == g_ports.end() || it->second.owner != xce) return fail(ENOTCONN);
    const Binding& b = it->second;
    if (b.kind != Kind::server) return 0;
    const ServerState& st = g_srvs.at(b.serial);
    if (b.remote >= st.s.nr_vcpus) return 0;  // the ring: nothing waits on it
    return hvx_ret(hvdm_ioreq_notify(h, st.s.domid, st.s.id, b.remote));
}

// A local port connected to nothing (Xen EVTCHNOP_alloc_unbound): it never
// fires, and notify on it drops the event. Restricted: -1 EACCES (Linux).
HVX_XCE_API xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle* xce, uint32_t domid) {
    (void)domid;
    if (!valid_handle(xce)) return fail(EINVAL);
    Lock lk;
    if (xce->restrict_domid != kUnrestricted) return fail(EACCES);
    try {
        const uint32_t port = new_port(xce);
        if (port == 0) return fail(ENOSPC);
        return static_cast<xenevtchn_port_or_error_t>(port);
    } catch (const std::bad_alloc&) {
        return fail(ENOMEM);
    }
}

// Binds a new local port to port @p remote_port of the oldest server of
// domain @p domid created by this process that has that port (a vCPU's,
// below nr_vcpus, or the ring's, nr_vcpus, when it has one) not yet bound
// by any handle of the process. Xen's remote port names one channel of the
// guest's domain; hvcore's numbers repeat per server, hence this rule
// (create A, bind A's, create B, bind B's works, and so does create A,
// create B, bind A's, bind B's). Errors as Xen's evtchn_bind_interdomain
// (xen/common/event_channel.c): -1 ESRCH no such domain; EINVAL no such
// free port; EACCES restricted to another domain (Linux
// IOCTL_EVTCHN_BIND_INTERDOMAIN). A firing of that port before the bind
// and not yet delivered is delivered now (Xen sets the new port pending
// unconditionally).
HVX_XCE_API xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle* xce, uint32_t domid,
                                                                 evtchn_port_t remote_port) {
    if (!valid_handle(xce)) return fail(EINVAL);
    hvdm_handle* h = hvx_handle();
    if (h == nullptr) return -1;
    Lock lk;
    if (xce->restrict_domid != kUnrestricted && static_cast<uint32_t>(xce->restrict_domid) != domid)
        return fail(EACCES);
    listen_once();
    const auto dom = static_cast<uint16_t>(domid);  // Xen's evtchn_bind_interdomain.remote_dom is a domid_t
    try {
        std::vector<hvx_server> servers(hvx_servers(nullptr, 0));
        servers.resize(hvx_servers(servers.data(), servers.size()));
        for (const hvx_server& s : servers) {
            if (s.domid != dom) continue;
            if (!(remote_port < s.nr_vcpus || (remote_port == s.nr_vcpus && s.has_ring))) continue;
            auto it = g_srvs.find(s.serial);
            if (it != g_srvs.end() && it->second.bound[remote_port] != 0) continue;
            if (it == g_srvs.end()) {
                const int fd = hvdm_ioreq_fd(h, s.domid, s.id);
                if (fd == -ENOENT || fd == -ESRCH || fd == -ESHUTDOWN) {
                    // destroyed without libxendevicemodel (its domain went): forget it
                    hvx_server_remove_serial(s.serial);
                    continue;
                }
                if (fd < 0) return hvx_ret(fd);
                ServerState st;
                st.s = s;
                st.fd = fd;
                st.bound.assign(s.nr_vcpus + 1u, 0);
                st.fired_unbound.assign(s.nr_vcpus + 1u, false);
                it = g_srvs.emplace(s.serial, std::move(st)).first;
            }
            ServerState& st = it->second;
            const uint32_t port = new_port(xce);
            if (port == 0) return fail(ENOSPC);
            Binding& b = g_ports.at(port);
            if (xce->srv_refs[s.serial]++ == 0) {
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.u64 = s.serial;
                if (epoll_ctl(xce->epfd, EPOLL_CTL_ADD, st.fd, &ev) != 0) {
                    const int e = errno;
                    xce->srv_refs.erase(s.serial);
                    g_ports.erase(port);
                    return fail(e);
                }
            }
            b.kind = Kind::server;
            b.serial = s.serial;
            b.remote = remote_port;
            st.bound[remote_port] = port;
            if (st.fired_unbound[remote_port]) {
                st.fired_unbound[remote_port] = false;
                fire(port, b);
            }
            return static_cast<xenevtchn_port_or_error_t>(port);
        }
    } catch (const std::bad_alloc&) {
        return fail(ENOMEM);
    }
    unsigned int vcpus = 0;
    return fail(hvdm_nr_vcpus(h, dom, &vcpus) == -ESRCH ? ESRCH : EINVAL);
}

// hvcore raises no virtual IRQ for a device model (Xen's VIRQ_* come from
// the hypervisor to the emulator's own domain): a port that could never
// fire would leave a caller waiting silently, so the bind fails: -1 EINVAL
// for virq >= NR_VIRQS (Xen evtchn_bind_virq), EACCES once restricted
// (Linux IOCTL_EVTCHN_BIND_VIRQ), else EOPNOTSUPP.
HVX_XCE_API xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle* xce, unsigned int virq) {
    if (!valid_handle(xce)) return fail(EINVAL);
    Lock lk;
    if (xce->restrict_domid != kUnrestricted) return fail(EACCES);
    if (virq >= NR_VIRQS) return fail(EINVAL);
    return fail(EOPNOTSUPP);
}

// Frees a local port of this handle; its queued events go with it (Linux
// IOCTL_EVTCHN_UNBIND: EINVAL beyond the port space, ENOTCONN not this
// handle's).
HVX_XCE_API int xenevtchn_unbind(xenevtchn_handle* xce, evtchn_port_t port) {
    if (!valid_handle(xce)) return fail(EINVAL);
    if (port >= kMaxPorts) return fail(EINVAL);
    Lock lk;
    auto it = g_ports.find(port);
    if (it == g_ports.end() || it->second.owner != xce) return fail(ENOTCONN);
    const Binding b = it->second;
    g_ports.erase(it);
    if (b.kind == Kind::server) {
        auto s = g_srvs.find(b.serial);
        if (s != g_srvs.end()) {
            s->second.bound[b.remote] = 0;
            auto r = xce->srv_refs.find(b.serial);
            if (r != xce->srv_refs.end() && --r->second == 0) {
                (void)epoll_ctl(xce->epfd, EPOLL_CTL_DEL, s->second.fd, nullptr);
                xce->srv_refs.erase(r);
            }
        }
    }
    std::erase(xce->queue, port);
    if (xce->queue.empty()) drain_handle(xce);
    return 0;
}

// One fired port of this handle, masked until xenevtchn_unmask (Linux
// evtchn_read). Blocks while there is none, unless O_NONBLOCK is set on
// xenevtchn_fd (then -1 EAGAIN). A signal interrupting the wait: -1 EINTR.
HVX_XCE_API xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle* xce) {
    if (!valid_handle(xce)) return fail(EINVAL);
    hvdm_handle* h = hvx_handle();
    if (h == nullptr) return -1;
    for (;;) {
        {
            Lock lk;
            try {
                collect(h);
            } catch (const std::bad_alloc&) {
                return fail(ENOMEM);
            }
            if (!xce->queue.empty()) {
                const uint32_t port = xce->queue.front();
                xce->queue.pop_front();
                if (xce->queue.empty()) drain_handle(xce);
                return static_cast<xenevtchn_port_or_error_t>(port);
            }
        }
        const int fl = fcntl(xce->epfd, F_GETFL);
        if (fl < 0) return -1;
        if ((fl & O_NONBLOCK) != 0) return fail(EAGAIN);
        pollfd p{xce->epfd, POLLIN, 0};
        if (poll(&p, 1, -1) < 0) return -1;  // EINTR
    }
}

// Unmasks a port this handle was given by pending; a firing latched while
// it was masked is delivered now. A port not this handle's is ignored
// (Linux evtchn_write).
HVX_XCE_API int xenevtchn_unmask(xenevtchn_handle* xce, evtchn_port_t port) {
    if (!valid_handle(xce)) return fail(EINVAL);
    Lock lk;
    auto it = g_ports.find(port);
    if (it == g_ports.end() || it->second.owner != xce) return 0;
    Binding& b = it->second;
    if (!b.masked) return 0;
    b.masked = false;
    if (b.latched) {
        b.latched = false;
        fire(port, b);
    }
    return 0;
}

// Later binds to another domain fail (Linux IOCTL_EVTCHN_RESTRICT_DOMID):
// -1 EACCES when already restricted, EINVAL for domid 0 or a reserved one
// (>= DOMID_FIRST_RESERVED).
HVX_XCE_API int xenevtchn_restrict(xenevtchn_handle* xce, domid_t domid) {
    if (!valid_handle(xce)) return fail(EINVAL);
    Lock lk;
    if (xce->restrict_domid != kUnrestricted) return fail(EACCES);
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED) return fail(EINVAL);
    xce->restrict_domid = domid;
    return 0;
}
