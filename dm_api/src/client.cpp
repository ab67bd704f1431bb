// SPDX-License-Identifier: MIT
// hvdm_connect: an hvdm_handle on a host in another process (hv_dm_listen),
// the socket transport under the same handle code as in-process (hvdm.cpp).
// One request at a time per handle (a mutex), each answered before the
// next is sent; a connection that is lost, or a reply that breaks the
// protocol, leaves the handle good only for hvdm_close (-ENODEV).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "abi_objects.hpp"
#include "hvcore/core/ioreq.hpp"
#include "wire.hpp"

namespace wire = hvcore::wire;

namespace {

class SocketTransport final : public hvcore::abi::Transport {
public:
    explicit SocketTransport(int fd) : fd_(fd), in_(wire::max_message + 1) {}
    ~SocketTransport() override {
        if (fd_ >= 0) ::close(fd_);
    }
    SocketTransport(const SocketTransport&) = delete;
    SocketTransport& operator=(const SocketTransport&) = delete;

    // HELLO: 0, or a negative errno (the connection is then unusable).
    int hello() {
        wire::Request r;
        r.kind = wire::Kind::hello;
        r.client_abi = (HV_VERSION_MAJOR << 16) | HV_VERSION_MINOR;
        wire::Reply rep;
        const int rc = call(r, rep, nullptr);
        if (rc < 0) return rc;
        if ((rep.server_abi >> 16) != HV_VERSION_MAJOR) {
            lost_ = true;
            return -EPROTONOSUPPORT;
        }
        emulator_ = rep.emulator;
        return 0;
    }

    // Lock-free: a thread whose call waits for the host does not hold up
    // another thread's check (lost_ only ever goes from false to true).
    int check() noexcept override { return lost_.load(std::memory_order_acquire) ? -ENODEV : 0; }
    bool may_access(hvdm_domid_t domid) const noexcept override { return mirror_.may_access(domid); }
    int restrict_to(hvdm_domid_t domid) override {
        wire::Request r = request(wire::Kind::restrict_to, domid);
        wire::Reply rep;
        const int rc = call(r, rep, nullptr);
        if (rc == 0) (void)mirror_.restrict_to(domid);  // the host has it: the mirror follows
        return rc;
    }
    int confirm(hvdm_domid_t domid, int rc) noexcept override {
        // Does the host still exist? A request that changes nothing and
        // whose first check in the host is that one (hvdm_get_mem_type of
        // pfn 0: -ENODEV before the restriction and the domain).
        try {
            wire::Request r = request(wire::Kind::get_mem_type, domid);
            wire::Reply rep;
            const int host = call(r, rep, nullptr);
            return host == -ENODEV || host == -EPROTO ? host : rc;
        } catch (...) {
            return rc;  // no memory to ask: the local verdict
        }
    }
    int dm_op(hvdm_domid_t domid, unsigned nr_bufs, hvdm_buf* bufs) override {
        wire::Request r = request(wire::Kind::dm_op, domid);
        r.nr_bufs = nr_bufs;
        if (bufs == nullptr) r.nulls |= wire::null_bufs;
        for (unsigned i = 0; i < 2 && bufs != nullptr && i < nr_bufs; ++i) {
            if (bufs[i].ptr == nullptr)
                r.nulls |= i == 0 ? wire::null_buf0 : wire::null_buf1;
            else
                r.buf[i] = std::span(static_cast<const std::byte*>(bufs[i].ptr), bufs[i].size);
        }
        wire::Reply rep;
        // Xen copies a DMOP's buffers back on success only; the host sent
        // back exactly the sizes it was sent. The copy is made under the
        // handle's lock: the reply's buffers are views into in_, which the
        // next call (perhaps another thread's) overwrites.
        return call(r, rep, nullptr, [&](const wire::Reply& got) {
            if (got.rc < 0) return got.rc;
            for (unsigned i = 0; i < 2; ++i)
                if (got.buf[i].size() != r.buf[i].size()) return lose_locked();
            for (unsigned i = 0; i < 2; ++i)
                if (!got.buf[i].empty()) std::memcpy(bufs[i].ptr, got.buf[i].data(), got.buf[i].size());
            return got.rc;
        });
    }
    int get_mem_type(hvdm_domid_t domid, uint64_t pfn, uint16_t* type) override {
        wire::Request r = request(wire::Kind::get_mem_type, domid);
        r.pfn = pfn;
        return call_for(r, &wire::Reply::mem_type, type);
    }
    int ioreq_fds(hvdm_domid_t domid, hvdm_ioservid_t id, hvcore::abi::IoreqFds* out) override {
        wire::Request r = request(wire::Kind::map_ioreq, domid);
        r.id = id;
        wire::Reply rep;
        int fds[2] = {-1, -1};
        const int rc = call(r, rep, fds);
        if (rc < 0) return rc;
        // The layout this side maps (ioreq.hpp): slots beyond the
        // synchronous page would be read past it.
        if (rep.map_bytes != hvcore::ioreq_map_bytes || rep.nr_vcpus > hvcore::ioreq_max_slots) {
            ::close(fds[0]);
            ::close(fds[1]);
            return protocol_error();
        }
        out->pages_fd = fds[0];
        out->event_fd = fds[1];
        out->buffered = rep.buffered;
        out->serial = rep.serial;
        out->nr_vcpus = rep.nr_vcpus;
        return 0;
    }
    int server_serial(hvdm_domid_t domid, hvdm_ioservid_t id, uint64_t* serial) override {
        wire::Request r = request(wire::Kind::server_serial, domid);
        r.id = id;
        return call_for(r, &wire::Reply::serial, serial);
    }
    int notify(hvdm_domid_t domid, hvdm_ioservid_t id, uint32_t vcpu) override {
        wire::Request r = request(wire::Kind::notify, domid);
        r.id = id;
        r.vcpu = vcpu;
        wire::Reply rep;
        return call(r, rep, nullptr);
    }
    int guest_memory_fd(hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr, int prot, int* fd, uint64_t* offset,
                        uint64_t* bad_gfn) override {
        wire::Request r = request(wire::Kind::map_guest, domid);
        r.first_gfn = first_gfn;
        r.nr = nr;
        r.prot = prot;
        wire::Reply rep;
        int fds[1] = {-1};
        const int rc = call(r, rep, fds);
        if (rc == -EFAULT && bad_gfn != nullptr) *bad_gfn = rep.bad_gfn;
        if (rc < 0) return rc;
        *fd = fds[0];
        *offset = rep.offset;
        return rc;
    }
    int memory_map(hvdm_domid_t domid, hvdm_mem_range* ranges, unsigned* n) override {
        wire::Request r = request(wire::Kind::memory_map, domid);
        r.max = *n < wire::max_mem_ranges ? *n : wire::max_mem_ranges;
        wire::Reply rep;
        return call(r, rep, nullptr, [&](const wire::Reply& got) {  // under the lock, as dm_op
            if (got.rc == -ENOSPC) *n = got.n;
            if (got.rc < 0) return got.rc;
            if (got.ranges.size() != size_t{got.n} * wire::mem_range_size || got.n > r.max) return lose_locked();
            if (got.n != 0) std::memcpy(ranges, got.ranges.data(), got.ranges.size());
            *n = got.n;
            return got.rc;
        });
    }
    // fn would run in this process, the vCPUs run in the host's.
    int set_direct(hvdm_domid_t, hvdm_ioservid_t, hvdm_serve_fn, void*) override { return -EOPNOTSUPP; }
    [[nodiscard]] bool writes_buffers_back() const noexcept override { return true; }
    int ready() override {
        wire::Request r;
        r.kind = wire::Kind::ready;
        wire::Reply rep;
        return call(r, rep, nullptr);
    }
    void close() noexcept override {
        // Goodbye, answered once the host has destroyed this emulator's
        // servers (as hvdm_close in-process); a lost connection has had it.
        try {
            wire::Request r;
            r.kind = wire::Kind::bye;
            wire::Reply rep;
            (void)call(r, rep, nullptr);
        } catch (...) {
        }
    }
    uint32_t emulator() const noexcept override { return emulator_; }

private:
    // A request of kind k on domid (every kind but HELLO, BYE and READY names one).
    static wire::Request request(wire::Kind k, hvdm_domid_t domid) {
        wire::Request r;
        r.kind = k;
        r.domid = domid;
        return r;
    }
    int protocol_error() noexcept { return lose_locked(); }
    int lose_locked() noexcept {
        lost_.store(true, std::memory_order_release);
        return -EPROTO;
    }

    // One request and its reply. fds receives the reply's descriptors (as
    // many as the kind carries; nullptr when it carries none). The reply's
    // fixed fields are copied to rep; its buffers are views into in_ and
    // must be read by `consume` (called with mu_ held, once a reply that
    // fits the protocol arrived; what it returns is the call's result).
    int call(const wire::Request& req, wire::Reply& rep, int* fds) {
        return call(req, rep, fds, [](const wire::Reply& got) { return got.rc; });
    }
    // A request whose result is one field of its reply, stored in *out
    // when the call succeeds (rc 0).
    template <class T>
    int call_for(const wire::Request& req, T wire::Reply::*field, T* out) {
        wire::Reply rep;
        const int rc = call(req, rep, nullptr);
        if (rc == 0) *out = rep.*field;
        return rc;
    }
    template <class Consume>
    int call(const wire::Request& req, wire::Reply& rep, int* fds, Consume&& consume) {
        std::unique_lock lk(mu_);
        const int rc = exchange(lk, req, rep, fds);
        if (!lk.owns_lock() || !replied_) return rc;
        replied_ = false;
        const int out = consume(static_cast<const wire::Reply&>(rep));
        rep.buf[0] = rep.buf[1] = rep.ranges = {};  // no view outlives the lock
        return out;
    }

    // The exchange itself, mu_ held by lk (released only on the path that
    // asks confirm()). Sets replied_ when rep holds a reply.
    int exchange(std::unique_lock<std::mutex>& lk, const wire::Request& req, wire::Reply& rep, int* fds) {
        replied_ = false;
        if (lost_) return -ENODEV;
        wire::Request r = req;
        r.seq = ++seq_;
        if (hvcore::Status s = wire::encode_request(r, out_); !s) {
            // Too large for the wire (a DMOP's buffers beyond max_message):
            // a verdict of this side, after the host's existence.
            lk.unlock();
            return confirm(r.domid, s.code());
        }
        iovec iov{out_.data(), out_.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        for (;;) {
            if (sendmsg(fd_, &mh, MSG_NOSIGNAL) >= 0) break;
            if (errno == EINTR) continue;
            lost_ = true;
            return -ENODEV;
        }
        alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 253)];
        ssize_t n = 0;
        msghdr in{};
        iovec iv{in_.data(), in_.size()};
        for (;;) {
            in = msghdr{};
            in.msg_iov = &iv;
            in.msg_iovlen = 1;
            in.msg_control = ctl;
            in.msg_controllen = sizeof ctl;
            n = recvmsg(fd_, &in, MSG_CMSG_CLOEXEC);
            if (n >= 0 || errno != EINTR) break;
        }
        if (n <= 0) {
            lost_ = true;
            return -ENODEV;
        }
        std::vector<int> got;
        for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr; c = CMSG_NXTHDR(&in, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; ++i) {
                int x = -1;
                std::memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof x);
                got.push_back(x);
            }
        }
        auto d = (in.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0
                     ? hvcore::Result<wire::Reply>(hvcore::Status::err(wire::reject_long))
                     : wire::decode_reply(std::span<const std::byte>(in_.data(), static_cast<size_t>(n)),
                                          static_cast<unsigned>(got.size()));
        if (!d || d->seq != r.seq || d->kind != r.kind || (fds == nullptr && !got.empty())) {
            for (int x : got) ::close(x);
            lost_ = true;  // the stream cannot be trusted any more
            return -EPROTO;
        }
        rep = *d;
        for (size_t i = 0; i < got.size(); ++i) fds[i] = got[i];
        replied_ = true;
        return rep.rc;
    }

    int fd_;
    std::mutex mu_;  // one request at a time; guards replied_, seq_, out_, in_
    std::atomic<bool> lost_{false};  // set under mu_, read without it by check()
    bool replied_ = false;  // exchange() left a reply in rep (views into in_)
    uint32_t seq_ = 0;
    uint32_t emulator_ = 0;
    hvcore::Caller mirror_;  // the restriction the host holds for this connection
    std::vector<std::byte> out_;
    std::vector<std::byte> in_;
};

}  // namespace

extern "C" {

hvdm_handle* hvdm_connect(const char* path) noexcept {
    if (path == nullptr) path = std::getenv("HVCORE_DM_SOCKET");
    if (path == nullptr || *path == '\0') {
        errno = EINVAL;
        return nullptr;
    }
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const size_t len = std::strlen(path);
    if (len >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return nullptr;
    }
    std::memcpy(a.sun_path, path, len + 1);
    const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return nullptr;
    while (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        ::close(fd);
        errno = e;
        return nullptr;
    }
    try {
        auto t = std::make_unique<SocketTransport>(fd);
        if (int rc = t->hello(); rc != 0) {
            // A host that hangs up on HELLO refused this peer (its uid).
            errno = rc == -ENODEV ? ECONNREFUSED : -rc;
            return nullptr;
        }
        auto h = std::make_unique<hvdm_handle>();
        h->t = std::move(t);
        return h.release();
    } catch (...) {
        errno = ENOMEM;
        return nullptr;
    }
}

int hvdm_ready(hvdm_handle* h) noexcept {
    if (h == nullptr) return -EINVAL;
    return hvcore::abi::guard([&] {
        if (int rc = h->t->check(); rc != 0) return rc;
        return h->t->ready();
    });
}

}  // extern "C"
