// SPDX-License-Identifier: MIT
// hv_dm_listen: device models in other processes, over a SOCK_SEQPACKET
// socket (wire.hpp). One thread accepts; one thread per connection serves
// its requests by calling the in-process code on a handle of its own
// (open_local), so a connection is one emulator identity and every errno
// is the in-process one by construction. A connection that hangs up, or
// sends what cannot be trusted, loses that handle exactly as hvdm_close
// does: its servers are destroyed, their ranges released, a claimed type
// disclaimed, and a vCPU waiting on one of them completes (a read: all ones).
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "abi_objects.hpp"
#include "guest_memory.hpp"
#include "hvcore/core/ioreq.hpp"
#include "wire.hpp"

namespace wire = hvcore::wire;
using hvcore::abi::guard;

namespace hvcore::abi {

// Defined in hvdm.cpp: the descriptor-level operations of a handle, with
// the same first checks as the public calls (handle, restriction).
[[nodiscard]] int handle_ioreq_fds(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, IoreqFds* out) noexcept;
[[nodiscard]] int handle_server_serial(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id,
                                       uint64_t* serial) noexcept;

}  // namespace hvcore::abi

static_assert(sizeof(hvdm_mem_range) == wire::mem_range_size);

namespace {

// SCM_MAX_FD (include/net/scm.h): the most descriptors one message can bring.
constexpr size_t max_fds_in = 253;

struct Connection {
    int fd = -1;
    pid_t pid = 0;
    uid_t uid = 0;
    unsigned number = 0;
    std::thread thread;
    std::atomic<bool> done{false};
    // A fault of this isolated emulator (hvcore::Emulators): the first
    // reason, and an eventfd that wakes the connection's thread. Written
    // under a domain's lock, so only recorded and signalled there.
    int fault_fd = -1;
    std::mutex fault_mu;
    std::string fault;
};

void log_line(hvcore::abi::HostCore& core, hvcore::LogLevel level, const std::string& s) {
    core.host.log().write(level, s);
}

std::string who(const Connection& c) {
    return "device model pid " + std::to_string(c.pid) + " uid " + std::to_string(c.uid) + " (connection " +
           std::to_string(c.number) + ")";
}

// Sends one message with fds (which stay the caller's to close). False if
// the peer is gone, or does not read its replies (its queue is full: the
// thread never blocks on a device model).
bool send_msg(int fd, const std::vector<std::byte>& m, const int* fds, unsigned nfds) {
    iovec iov{const_cast<std::byte*>(m.data()), m.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 2)] = {};
    if (nfds != 0) {
        mh.msg_control = ctl;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    for (;;) {
        if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return true;
        if (errno != EINTR) return false;
    }
}

}  // namespace

struct hv_dm_listener {
    std::shared_ptr<hvcore::abi::HostCore> core;
    std::string path;
    int lfd = -1;
    int stop_fd = -1;
    int reap_fd = -1;  // eventfd: a connection's thread has ended
    std::vector<uid_t> uids;
    void (*event)(void*, const hv_dm_event*) = nullptr;
    void* opaque = nullptr;
    std::thread acceptor;
    std::mutex mu;  // guards conns
    std::list<Connection> conns;
    unsigned next = 1;

    void accept_loop();
    void serve(Connection& c);
    void serve_loop(Connection& c, hvdm_handle*& h, std::string& reason);
    void reap();  // joins connections that ended (under mu)
    void tell(const Connection& c, uint32_t kind, uint32_t emulator, const char* reason) const {
        if (event == nullptr) return;
        hv_dm_event ev{};
        ev.size = sizeof ev;
        ev.kind = kind;
        ev.pid = c.pid;
        ev.uid = c.uid;
        ev.connection = c.number;
        ev.emulator = emulator;
        ev.reason = reason;
        event(opaque, &ev);
    }
};

void hv_dm_listener::reap() {
    for (auto it = conns.begin(); it != conns.end();) {
        if (it->done.load(std::memory_order_acquire)) {
            if (it->thread.joinable()) it->thread.join();
            it = conns.erase(it);
        } else {
            ++it;
        }
    }
}

void hv_dm_listener::accept_loop() {
    for (;;) {
        pollfd pf[3] = {{lfd, POLLIN, 0}, {stop_fd, POLLIN, 0}, {reap_fd, POLLIN, 0}};
        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (pf[1].revents != 0) return;
        if (pf[2].revents != 0) {
            // A connection ended: its thread is joined now, not at the next
            // connection (a thread's stack is not held for the whole run).
            uint64_t n = 0;
            (void)!read(reap_fd, &n, sizeof n);
            std::lock_guard lk(mu);
            reap();
        }
        if ((pf[0].revents & POLLIN) == 0) continue;
        const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            // No descriptor or memory left: the connection stays queued and
            // the socket readable, so wait (100 ms, or the stop) before
            // trying again rather than spin. Otherwise the peer went away
            // first: try again at once.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                pollfd st{stop_fd, POLLIN, 0};
                (void)poll(&st, 1, 100);
            }
            continue;
        }
        ucred cr{};
        socklen_t len = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
            close(fd);
            continue;
        }
        bool allowed = false;
        std::string list;
        for (uid_t u : uids) {
            allowed = allowed || u == cr.uid;
            if (!list.empty()) list += ',';  // (not `a + b`: GCC 12 -O3's false -Wrestrict)
            list += std::to_string(u);
        }
        if (!allowed) {
            log_line(*core, hvcore::LogLevel::warning,
                     "device model pid " + std::to_string(cr.pid) + " uid " + std::to_string(cr.uid) +
                         " refused (allowed uids: " + list + ")");
            close(fd);
            continue;
        }
        std::lock_guard lk(mu);
        reap();
        try {
            Connection& c = conns.emplace_back();
            c.fd = fd;
            c.pid = cr.pid;
            c.uid = cr.uid;
            c.number = next++;
            c.thread = std::thread([this, &c] { serve(c); });
        } catch (...) {
            if (!conns.empty() && conns.back().fd == fd && !conns.back().thread.joinable()) conns.pop_back();
            close(fd);
        }
    }
}

void hv_dm_listener::serve(Connection& c) {
    hvdm_handle* h = hvcore::abi::open_local(core);
    std::string reason;
    c.fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h == nullptr || c.fault_fd < 0) reason = "refused: out of memory or descriptors";
    // The private handle's emulator is isolated: a protocol violation in its
    // shared pages costs it its servers (and this connection), not the
    // domain (core/src/dm_ops.cpp, Domain::fault_emulator).
    const hvcore::EmulatorId emulator = h != nullptr ? h->t->emulator() : 0;
    const bool connected = reason.empty();
    if (connected) {
        core->host.emulators().isolate(emulator, [&c](uint16_t domid, const std::string& r) {
            {
                std::lock_guard lk(c.fault_mu);
                if (!c.fault.empty()) return;
                c.fault = "domain " + std::to_string(domid) + ": " + r;
            }
            const uint64_t one = 1;
            (void)!write(c.fault_fd, &one, sizeof one);
        });
        log_line(*core, hvcore::LogLevel::info, who(c) + " connected");
        tell(c, HV_DM_EVENT_CONNECTED, emulator, nullptr);
    }
    // Out of memory while serving (a reply, a log line): this connection
    // ends with that reason, and the host goes on (no exception leaves a
    // thread: std::terminate would end every guest).
    try {
        serve_loop(c, h, reason);
    } catch (const std::bad_alloc&) {
        reason = "dropped: the host ran out of memory serving it";
    } catch (...) {
        reason = "dropped: internal error serving it";
    }
    try {
        log_line(*core, reason == "said goodbye" ? hvcore::LogLevel::info : hvcore::LogLevel::warning,
                 who(c) + " " + reason + (h != nullptr ? ": its ioreq servers are destroyed" : ""));
    } catch (...) {
    }
    if (h != nullptr) (void)hvdm_close(h);
    // Isolated until its servers are gone (a fault meanwhile must not stop
    // the domain); forget() waits for a fault callback in progress.
    if (emulator != 0) core->host.emulators().forget(emulator);
    if (c.fault_fd >= 0) close(c.fault_fd);
    if (connected) tell(c, HV_DM_EVENT_GONE, emulator, reason.c_str());
    close(c.fd);
    c.fd = -1;
    c.done.store(true, std::memory_order_release);
    const uint64_t one = 1;
    (void)!write(reap_fd, &one, sizeof one);  // the acceptor joins this thread now
}

// The requests of one connection until it ends (reason set); h is cleared
// when a goodbye closed it.
void hv_dm_listener::serve_loop(Connection& c, hvdm_handle*& h, std::string& reason) {
    const hvcore::EmulatorId emulator = h != nullptr ? h->t->emulator() : 0;
    bool ready = false;
    std::vector<std::byte> in(wire::max_message + 1);
    std::vector<std::byte> out;
    std::vector<std::byte> copy0, copy1;
    std::vector<hvdm_mem_range> ranges;
    alignas(cmsghdr) static thread_local char ctl[CMSG_SPACE(sizeof(int) * max_fds_in)];
    bool hello = false;
    while (reason.empty()) {
        pollfd pf[3] = {{c.fd, POLLIN, 0}, {stop_fd, POLLIN, 0}, {c.fault_fd, POLLIN, 0}};
        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR) continue;
            reason = std::string("poll failed: ") + std::strerror(errno);
            break;
        }
        if (pf[2].revents != 0) {
            // Before any further request: it is not served.
            std::lock_guard lk(c.fault_mu);
            reason = "broke the ioreq protocol (" + c.fault + ")";
            break;
        }
        if (pf[1].revents != 0) {
            reason = "closed by the host (listener closed)";
            break;
        }
        iovec iov{in.data(), in.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        const ssize_t n = recvmsg(c.fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                if ((pf[0].revents & (POLLHUP | POLLERR)) == 0) continue;
                reason = "hung up";
                break;
            }
            reason = errno == ECONNRESET ? "hung up (connection reset)" : std::string("recv failed: ") + std::strerror(errno);
            break;
        }
        if (n == 0) {
            reason = "hung up";
            break;
        }
        // Descriptors a request never carries: counted, then closed.
        unsigned nfds = 0;
        for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); cm != nullptr; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
                nfds = std::max<unsigned>(nfds, 1);  // any other control message: refused as well
                continue;
            }
            const size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; ++i) {
                int x = -1;
                std::memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof x);
                close(x);
            }
            nfds += static_cast<unsigned>(k);
        }
        if ((mh.msg_flags & MSG_CTRUNC) != 0) nfds = std::max<unsigned>(nfds, 1);
        const auto msg = std::span<const std::byte>(in.data(), static_cast<size_t>(n));
        auto hd = wire::decode_header(msg, false);
        if (!hd) {
            const int e = hd.status().code();
            if (e == wire::reject_truncated_header || e == wire::reject_bad_magic) {
                reason = std::string("sent a bad message: ") +
                         (e == wire::reject_bad_magic ? "not the hvcore protocol (bad magic)" : "truncated header");
                break;
            }
            // A header with a seq to answer: the errno, and the stream goes on.
            wire::Header raw;
            std::memcpy(&raw, msg.data(), sizeof raw);
            wire::encode_error(static_cast<uint16_t>(raw.kind & ~wire::reply_bit), raw.seq, e, out);
            if (!send_msg(c.fd, out, nullptr, 0)) reason = "hung up";
            continue;
        }
        const uint16_t raw_kind = hd->kind;
        const uint32_t seq = hd->seq;
        int err = 0;
        if ((mh.msg_flags & MSG_TRUNC) != 0) err = wire::reject_long;  // longer than any message
        auto rq = err == 0 ? wire::decode_request(msg, nfds) : hvcore::Result<wire::Request>(hvcore::Status::err(err));
        if (!rq) {
            wire::encode_error(raw_kind, seq, rq.status().code(), out);
            if (!send_msg(c.fd, out, nullptr, 0)) reason = "hung up";
            continue;
        }
        const wire::Request& r = *rq;
        if (!hello && r.kind != wire::Kind::hello) {
            wire::encode_error(raw_kind, seq, -EPROTO, out);
            (void)send_msg(c.fd, out, nullptr, 0);
            reason = "sent a bad message: a request before HELLO";
            break;
        }
        wire::Reply rep;
        rep.kind = r.kind;
        rep.seq = seq;
        int fds[2] = {-1, -1};
        bool bye = false;
        switch (r.kind) {
        case wire::Kind::hello:
            if (hello) {
                rep.rc = -EALREADY;
                break;
            }
            // Another major version of the C ABI: refused, and still no HELLO.
            if ((r.client_abi >> 16) != HV_VERSION_MAJOR) {
                rep.rc = -EPROTONOSUPPORT;
                break;
            }
            hello = true;
            rep.server_abi = (HV_VERSION_MAJOR << 16) | HV_VERSION_MINOR;
            rep.max_msg = static_cast<uint32_t>(wire::max_message);
            rep.emulator = h->t->emulator();
            break;
        case wire::Kind::restrict_to:
            rep.rc = hvdm_restrict(h, r.domid);
            break;
        case wire::Kind::dm_op: {
            copy0.assign(r.buf[0].begin(), r.buf[0].end());
            copy1.assign(r.buf[1].begin(), r.buf[1].end());
            hvdm_buf b[2] = {{(r.nulls & wire::null_buf0) ? nullptr : copy0.data(), copy0.size()},
                             {(r.nulls & wire::null_buf1) ? nullptr : copy1.data(), copy1.size()}};
            // An empty buffer that is there still has an address.
            std::byte dummy[2];
            if (b[0].ptr != nullptr && copy0.empty()) b[0].ptr = &dummy[0];
            if (b[1].ptr != nullptr && copy1.empty()) b[1].ptr = &dummy[1];
            rep.rc = hvdm_dm_op(h, r.domid, r.nr_bufs, (r.nulls & wire::null_bufs) ? nullptr : b);
            rep.buf[0] = copy0;
            rep.buf[1] = copy1;
            break;
        }
        case wire::Kind::get_mem_type:
            rep.rc = hvdm_get_mem_type(h, r.domid, r.pfn, &rep.mem_type);
            break;
        case wire::Kind::map_ioreq: {
            hvcore::abi::IoreqFds f;
            rep.rc = hvcore::abi::handle_ioreq_fds(h, r.domid, r.id, &f);
            if (rep.rc >= 0) {
                fds[0] = f.pages_fd;
                fds[1] = f.event_fd;
                rep.nr_vcpus = f.nr_vcpus;
                rep.buffered = f.buffered;
                rep.serial = f.serial;
                rep.map_bytes = hvcore::ioreq_map_bytes;
            }
            break;
        }
        case wire::Kind::notify:
            rep.rc = hvdm_ioreq_notify(h, r.domid, r.id, r.vcpu);
            break;
        case wire::Kind::server_serial:
            rep.rc = hvcore::abi::handle_server_serial(h, r.domid, r.id, &rep.serial);
            break;
        case wire::Kind::map_guest: {
            int gfd = -1;
            rep.rc = guard([&] {
                return hvcore::abi::local_guest_memory_fd(h, r.domid, r.first_gfn, r.nr, r.prot, &gfd, &rep.offset,
                                                          &rep.bad_gfn);
            });
            if (rep.rc >= 0) fds[0] = gfd;
            break;
        }
        case wire::Kind::memory_map: {
            unsigned room = r.max < wire::max_mem_ranges ? r.max : wire::max_mem_ranges;
            rep.rc = guard([&] {
                ranges.resize(room);
                return hvcore::abi::local_memory_map(h, r.domid, ranges.empty() ? nullptr : ranges.data(), &room);
            });
            rep.n = room;
            if (rep.rc >= 0)
                rep.ranges =
                    std::span(reinterpret_cast<const std::byte*>(ranges.data()), room * sizeof(hvdm_mem_range));
            break;
        }
        case wire::Kind::ready:
            // Told once the reply is on its way (below): the host may start
            // the guest before the device model reads it.
            rep.rc = ready ? -EALREADY : 0;
            break;
        case wire::Kind::bye:
            // As hvdm_close: the servers go before the answer.
            (void)hvdm_close(h);
            h = nullptr;
            bye = true;
            break;
        }
        unsigned nout = wire::reply_fds(rep.kind, rep.rc);
        if (hvcore::Status s = wire::encode_reply(rep, out); !s) {
            // Too large to answer (a DM_OP reply cannot be, it is the request's size):
            // an error reply carries no descriptor, and each is closed once.
            wire::encode_error(raw_kind, seq, s.code(), out);
            for (int& x : fds) {
                if (x >= 0) close(x);
                x = -1;
            }
            nout = 0;
        }
        const bool sent = send_msg(c.fd, out, fds, nout);
        for (int x : fds)
            if (x >= 0) close(x);
        // READY counts once its reply is sent: a device model that did not
        // get it is not announced as ready (its connection ends below).
        if (sent && r.kind == wire::Kind::ready && rep.rc == 0) {
            ready = true;
            log_line(*core, hvcore::LogLevel::info, who(c) + " is ready");
            tell(c, HV_DM_EVENT_READY, emulator, nullptr);
        }
        if (bye) {
            reason = "said goodbye";
            break;
        }
        if (!sent) reason = "hung up";
    }
}

extern "C" {

int hv_dm_listen(hv_host* host, const char* path, const hv_dm_listen_config* cfg, hv_dm_listener** out) noexcept {
    return guard([&]() -> int {
        if (host == nullptr || path == nullptr || out == nullptr) return -EINVAL;
        // 16: the first published size (without event and opaque).
        constexpr uint32_t first_size = offsetof(hv_dm_listen_config, event);
        static_assert(first_size == 16);
        if (cfg != nullptr && (cfg->size < first_size || (cfg->nr_uids != 0 && cfg->uids == nullptr)))
            return -EINVAL;
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        const size_t len = std::strlen(path);
        if (len == 0) return -EINVAL;
        if (len >= sizeof a.sun_path) return -ENAMETOOLONG;
        std::memcpy(a.sun_path, path, len + 1);
        auto l = std::make_unique<hv_dm_listener>();
        l->core = host->core;
        l->path = path;
        if (cfg != nullptr && cfg->nr_uids != 0)
            l->uids.assign(cfg->uids, cfg->uids + cfg->nr_uids);
        else
            l->uids.push_back(getuid());
        if (cfg != nullptr && cfg->size >= sizeof(hv_dm_listen_config)) {
            l->event = cfg->event;
            l->opaque = cfg->opaque;
        }
        // A stale socket of an earlier run goes: one nobody listens on, so
        // that connect(2) to it is ECONNREFUSED (unix(7)). A live listener
        // keeps its socket and its clients (-EADDRINUSE), and so does any
        // other file (bind fails with EADDRINUSE).
        struct stat st {};
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            const int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (probe < 0) return -errno;
            const int pc = connect(probe, reinterpret_cast<const sockaddr*>(&a), sizeof a);
            const int perr = errno;
            close(probe);
            if (pc == 0 || perr != ECONNREFUSED) return -EADDRINUSE;
            unlink(path);
        }
        l->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (l->lfd < 0) return -errno;
        if (bind(l->lfd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
            const int e = errno;
            close(l->lfd);
            return -e;
        }
        // 0600 before listen(2): the uid check is the policy, the mode a
        // first fence. Until listen nobody can connect (ECONNREFUSED), so
        // the mode bind gave (umask's) is never usable; the process-wide
        // umask is left alone (other threads may create files meanwhile).
        // fchmod(2) on a socket does not reach the path's inode: chmod(2).
        if (chmod(path, S_IRUSR | S_IWUSR) != 0 || listen(l->lfd, 16) != 0) {
            const int e = errno;
            close(l->lfd);
            unlink(path);
            return -e;
        }
        l->stop_fd = eventfd(0, EFD_CLOEXEC);
        l->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (l->stop_fd < 0 || l->reap_fd < 0) {
            const int e = errno;
            if (l->stop_fd >= 0) close(l->stop_fd);
            if (l->reap_fd >= 0) close(l->reap_fd);
            close(l->lfd);
            unlink(path);
            return -e;
        }
        hv_dm_listener* p = l.get();
        try {
            l->acceptor = std::thread([p] { p->accept_loop(); });
        } catch (...) {
            close(l->lfd);
            close(l->stop_fd);
            close(l->reap_fd);
            unlink(path);
            throw;
        }
        *out = l.release();
        return 0;
    });
}

void hv_dm_listener_close(hv_dm_listener* l) noexcept {
    if (l == nullptr) return;
    const uint64_t one = 1;
    (void)!write(l->stop_fd, &one, sizeof one);
    if (l->acceptor.joinable()) l->acceptor.join();
    {
        std::lock_guard lk(l->mu);
        for (auto& c : l->conns)
            if (c.thread.joinable()) c.thread.join();
        l->conns.clear();
    }
    close(l->lfd);
    close(l->stop_fd);
    close(l->reap_fd);
    unlink(l->path.c_str());
    delete l;
}

}  // extern "C"
