// SPDX-License-Identifier: MIT
// Device models as processes: a live listener (hv_dm_listen) against
// malformed messages, other connections, a device-model process killed
// with SIGKILL while a vCPU waits on it, and a peer whose uid is refused.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/dmop_abi.hpp"
#include "hvcore/core/ioreq.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "wire.hpp"

namespace w = hvcore::wire;

#ifndef HVCORE_IPC_DM
#error "HVCORE_IPC_DM: the path of the ipc_dm program"
#endif

namespace {

constexpr uint64_t mmio_gpa = 0xfebf0000;
constexpr int hung_up = INT_MIN;

// A host with one domain (the first backend this build has) and a listener.
struct Host {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_domid_t domid = 0;
    hv_dm_listener* l = nullptr;
    std::string path;
    std::mutex mu;
    std::vector<std::string> log;

    explicit Host(const std::vector<uint32_t>& uids = {}) {
        static unsigned counter;
        REQUIRE(hv_host_create(&host) == 0);
        REQUIRE(hv_host_set_log(host, &Host::sink, this, HV_LOG_DEBUG) == 0);
        REQUIRE(!hvcore::linked_backends().empty());
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(hvcore::linked_backends().front().arch);
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = 2;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        domid = hv_domain_id(dom);
        // Relative: in the test's working directory (its build directory).
        path = "hvcore-ipc-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".sock";
        hv_dm_listen_config lc{};
        lc.size = sizeof lc;
        lc.nr_uids = static_cast<uint32_t>(uids.size());
        lc.uids = uids.empty() ? nullptr : uids.data();
        REQUIRE(hv_dm_listen(host, path.c_str(), &lc, &l) == 0);
    }
    ~Host() {
        hv_dm_listener_close(l);  // NULL does nothing
        if (dom != nullptr) (void)hv_domain_destroy(dom);
        hv_host_destroy(host);
    }
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    static void sink(void* opaque, int, const char* message) {
        auto* self = static_cast<Host*>(opaque);
        std::lock_guard lk(self->mu);
        self->log.emplace_back(message);
    }
    // Waits up to 5 s for a log line containing all of the parts.
    bool logged(std::initializer_list<std::string> parts) {
        for (int i = 0; i < 500; ++i) {
            {
                std::lock_guard lk(mu);
                for (const auto& m : log) {
                    bool all = true;
                    for (const auto& p : parts) all = all && m.find(p) != std::string::npos;
                    if (all) return true;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    uint16_t mem_type(uint64_t gfn) {
        hvdm_handle* h = hvdm_open(host);
        uint16_t t = 0xffff;
        if (hvdm_get_mem_type(h, domid, gfn, &t) != 0) t = 0xffff;
        (void)hvdm_close(h);
        return t;
    }
    // Waits up to 5 s for the p2m to hold no ioreq_server entry.
    bool entries_swept() {
        for (int i = 0; i < 500; ++i) {
            if (entries() == 0) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    uint64_t entries() {
        uint64_t n = ~0ull;
        (void)hv_p2m_ioreq_entry_count(dom, &n);
        return n;
    }
};

// A raw connection: messages as bytes.
struct Raw {
    int fd = -1;
    explicit Raw(const std::string& path) {
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strcpy(a.sun_path, path.c_str());
        REQUIRE(connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    }
    ~Raw() { close(fd); }
    Raw(const Raw&) = delete;
    Raw& operator=(const Raw&) = delete;

    void send(const std::vector<std::byte>& m, int attach_fd = -1) const {
        iovec iov{const_cast<std::byte*>(m.data()), m.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
        if (attach_fd >= 0) {
            mh.msg_control = ctl;
            mh.msg_controllen = sizeof ctl;
            cmsghdr* c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(c), &attach_fd, sizeof(int));
        }
        REQUIRE(sendmsg(fd, &mh, MSG_NOSIGNAL) == static_cast<ssize_t>(m.size()));
    }
    // The reply's rc (its seq must be seq), or hung_up.
    int reply(uint32_t seq) const {
        std::vector<std::byte> in(w::max_message + 1);
        pollfd p{fd, POLLIN, 0};
        REQUIRE(poll(&p, 1, 5000) == 1);
        const ssize_t n = recv(fd, in.data(), in.size(), 0);
        if (n <= 0) return hung_up;
        REQUIRE(static_cast<size_t>(n) >= w::header_size + w::reply_status_size);
        w::Header h;
        std::memcpy(&h, in.data(), sizeof h);
        CHECK(h.magic == w::magic);
        CHECK((h.kind & w::reply_bit) != 0);
        CHECK(h.seq == seq);
        int32_t rc = 0;
        std::memcpy(&rc, in.data() + w::header_size, sizeof rc);
        return rc;
    }
    int call(const std::vector<std::byte>& m, uint32_t seq, int attach_fd = -1) const {
        send(m, attach_fd);
        return reply(seq);
    }
    int hello() const {
        w::Request r;
        r.kind = w::Kind::hello;
        r.seq = 1;
        r.client_abi = (HV_VERSION_MAJOR << 16) | HV_VERSION_MINOR;
        return call(enc(r), 1);
    }
    static std::vector<std::byte> enc(const w::Request& r) {
        std::vector<std::byte> m;
        REQUIRE(w::encode_request(r, m).is_ok());
        return m;
    }
};

template <class T>
void poke(std::vector<std::byte>& m, size_t off, T v) {
    REQUIRE(off + sizeof v <= m.size());
    std::memcpy(m.data() + off, &v, sizeof v);
}

// A DM_OP message carrying one 32-byte DMOP (header, then payload).
std::vector<std::byte> dm_op_msg(hvdm_domid_t domid, uint32_t seq, uint32_t op, const void* payload, size_t n,
                                 std::byte (&buf)[32]) {
    std::memset(buf, 0, sizeof buf);
    const hvcore::dmop::Header h{op, 0};
    std::memcpy(buf, &h, sizeof h);
    std::memcpy(buf + sizeof h, payload, n);
    w::Request r;
    r.kind = w::Kind::dm_op;
    r.seq = seq;
    r.domid = domid;
    r.nr_bufs = 1;
    r.buf[0] = std::span<const std::byte>(buf, sizeof buf);
    return Raw::enc(r);
}

// A DM_OP message whose DMOP sets gfn's type to ram_ro.
struct SetRo {
    std::byte op[32] = {};
    std::vector<std::byte> msg;
    SetRo(hvdm_domid_t domid, uint64_t gfn, uint32_t seq) {
        hvcore::dmop::SetMemType s{};
        s.nr = 1;
        s.mem_type = HVDM_MEM_RAM_RO;
        s.first_pfn = gfn;
        msg = dm_op_msg(domid, seq, hvcore::dmop::set_mem_type, &s, sizeof s, op);
    }
};

std::string read_line(int fd) {
    std::string s;
    char c = 0;
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 10000) == 1 && read(fd, &c, 1) == 1 && c != '\n') s += c;
    return s;
}

void write_line(int fd, const std::string& s) {
    const std::string l = s + "\n";
    REQUIRE(write(fd, l.data(), l.size()) == static_cast<ssize_t>(l.size()));
}

// Waits for child pid to end: its wait status.
int reap(pid_t pid) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

// A wait status's exit code, or -1 if the child did not exit (a signal).
int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

// ipc_dm started with args and HVCORE_DM_SOCKET=path: its stdout is out,
// its stdin in (with_stdin) or not redirected. A test that ends without
// waiting for it kills it.
struct Dm {
    pid_t pid = -1;
    int out = -1;
    int in = -1;

    Dm(const std::string& path, std::vector<std::string> args, bool with_stdin = false) {
        int p[2];
        int q[2] = {-1, -1};
        REQUIRE(pipe2(p, O_CLOEXEC) == 0);
        if (with_stdin) REQUIRE(pipe2(q, O_CLOEXEC) == 0);
        std::vector<char*> argv;
        std::string prog = HVCORE_IPC_DM;
        argv.push_back(prog.data());
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string env = "HVCORE_DM_SOCKET=" + path;
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            dup2(p[1], 1);
            if (q[0] >= 0) dup2(q[0], 0);
            putenv(const_cast<char*>(env.c_str()));
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(p[1]);
        out = p[0];
        if (with_stdin) {
            close(q[0]);
            in = q[1];
        }
    }
    ~Dm() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        close_in();
        if (out >= 0) close(out);
    }
    Dm(const Dm&) = delete;
    Dm& operator=(const Dm&) = delete;

    std::string line() const { return read_line(out); }
    // Its first line says it has set up ("ready ...").
    bool ready() const { return line().rfind("ready ", 0) == 0; }
    void close_in() {
        if (in >= 0) close(in);
        in = -1;
    }
    // Sends sig (unless 0), then waits for it to end: its wait status.
    int wait(int sig = 0) {
        if (sig != 0) REQUIRE(kill(pid, sig) == 0);
        const int status = reap(pid);
        pid = -1;
        return status;
    }
};

// A server of handle d for [gpa, gpa + 0xfff] of domid, enabled, its
// pages mapped.
struct Served {
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage* page = nullptr;
};
Served serve(hvdm_handle* d, hvdm_domid_t domid, uint64_t gpa) {
    Served s;
    REQUIRE(hvdm_create_ioreq_server(d, domid, HVDM_BUFIOREQ_OFF, &s.id) == 0);
    REQUIRE(hvdm_map_io_range_to_ioreq_server(d, domid, s.id, 1, gpa, gpa + 0xfff) == 0);
    REQUIRE(hvdm_set_ioreq_server_state(d, domid, s.id, 1) == 0);
    REQUIRE(hvdm_map_ioreq_pages(d, domid, s.id, &s.page, nullptr) == 0);
    return s;
}

// vCPU 1 reads gpa, which server s of handle d serves: d's answer (data)
// completes the read.
void check_serves(Host& h, hvdm_handle* d, const Served& s, uint64_t gpa, uint64_t data) {
    uint64_t value = 0;
    REQUIRE(hv_vcpu_load(h.dom, 1, gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);
    CHECK(unsigned{s.page->vcpu_ioreq[1].state} == HVDM_STATE_IOREQ_READY);
    s.page->vcpu_ioreq[1].data = data;
    s.page->vcpu_ioreq[1].state = HVDM_STATE_IORESP_READY;
    REQUIRE(hvdm_ioreq_notify(d, h.domid, s.id, 1) == 0);
    CHECK(hv_vcpu_resume(h.dom, 1, &value) == HV_VCPU_DONE);
    CHECK(value == data);
}

// Resumes vCPU 0 while its read is pending, for 5 s at most: the last
// resume's result (the value read in *value).
int resume_until_done(Host& h, uint64_t* value) {
    int rc = HV_VCPU_IOREQ_PENDING;
    for (int i = 0; i < 500 && rc == HV_VCPU_IOREQ_PENDING; ++i) {
        rc = hv_vcpu_resume(h.dom, 0, value);
        if (rc == HV_VCPU_IOREQ_PENDING) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return rc;
}

// After the servers of the device model that claimed mmio_gpa and gfn 2
// were destroyed: the domain runs on, the range is released (a read there
// goes nowhere: all ones, at once), the claim is disclaimed and the page
// reset to ram_rw, the sweep done.
void check_servers_destroyed(Host& h) {
    char reason[128] = {};
    CHECK(hv_domain_stop_reason(h.dom, reason, sizeof reason) == 0);  // still running
    CHECK(std::string(reason).empty());
    uint64_t value = 0;
    CHECK(hv_vcpu_load(h.dom, 1, mmio_gpa, 4, &value) == HV_VCPU_DONE);
    CHECK(value == 0xffffffffu);
    CHECK(h.mem_type(2) == HVDM_MEM_RAM_RW);
    CHECK(h.entries_swept());
}

}  // namespace

TEST_CASE("malformed messages to a live listener get their errno and change nothing") {
    Host h;
    Raw r(h.path);
    REQUIRE(r.hello() == 0);
    const uint64_t gfn = 0x10;
    REQUIRE(h.mem_type(gfn) == HVDM_MEM_RAM_RW);
    const uint64_t entries = h.entries();
    uint32_t seq = 10;
    std::byte buf[32];
    // No server exists while destroying id 0 on this connection is -ENOENT.
    auto no_server = [&] {
        hvcore::dmop::DestroyIoreqServer d{};
        const auto m = dm_op_msg(h.domid, ++seq, hvcore::dmop::destroy_ioreq_server, &d, sizeof d, buf);
        return r.call(m, seq) == -ENOENT;
    };
    REQUIRE(no_server());
    // Each corruption, of a DMOP that would set gfn's type and of one that
    // would create a server: its errno, and neither happened.
    struct Case {
        const char* what;
        int expect;
        void (*corrupt)(std::vector<std::byte>&);
    };
    const Case cases[] = {
        {"version 2", -EPROTONOSUPPORT, [](std::vector<std::byte>& m) { poke(m, 4, uint16_t{2}); }},
        {"flags != 0", -EINVAL, [](std::vector<std::byte>& m) { poke(m, 12, uint32_t{1}); }},
        {"a pad (DM_OP's nulls) != 0", -EINVAL, [](std::vector<std::byte>& m) { poke(m, 18, uint16_t{8}); }},
        {"unknown kind", -EOPNOTSUPP, [](std::vector<std::byte>& m) { poke(m, 6, uint16_t{99}); }},
        {"the reply bit", -EBADRQC, [](std::vector<std::byte>& m) { poke(m, 6, uint16_t{3 | w::reply_bit}); }},
        {"one byte too many", -EMSGSIZE, [](std::vector<std::byte>& m) { m.push_back(std::byte{0}); }},
        {"one byte short", -EBADMSG, [](std::vector<std::byte>& m) { m.pop_back(); }},
        {"larger than any message", -EMSGSIZE, [](std::vector<std::byte>& m) { m.resize(w::max_message + 100); }},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        auto m1 = SetRo(h.domid, gfn, ++seq).msg;
        c.corrupt(m1);
        CHECK(r.call(m1, seq) == c.expect);
        hvcore::dmop::CreateIoreqServer cr{};
        auto m2 = dm_op_msg(h.domid, ++seq, hvcore::dmop::create_ioreq_server, &cr, sizeof cr, buf);
        c.corrupt(m2);
        CHECK(r.call(m2, seq) == c.expect);
        CHECK(h.mem_type(gfn) == HVDM_MEM_RAM_RW);
        CHECK(h.entries() == entries);
        CHECK(no_server());
    }
    {
        // A descriptor with a request (none is ever expected).
        hvcore::dmop::CreateIoreqServer cr{};
        const auto m = dm_op_msg(h.domid, ++seq, hvcore::dmop::create_ioreq_server, &cr, sizeof cr, buf);
        const int efd = eventfd(0, EFD_CLOEXEC);
        REQUIRE(efd >= 0);
        CHECK(r.call(m, seq, efd) == -ETOOMANYREFS);
        close(efd);
        CHECK(no_server());
    }
    {
        w::Request again;
        again.kind = w::Kind::hello;
        again.seq = ++seq;
        CHECK(r.call(Raw::enc(again), seq) == -EALREADY);
    }
    // The same messages, well-formed, do what they say: the rejects were
    // not rejected for their DMOP.
    const auto set = SetRo(h.domid, gfn, ++seq).msg;
    CHECK(r.call(set, seq) == 0);
    CHECK(h.mem_type(gfn) == HVDM_MEM_RAM_RO);
    hvcore::dmop::CreateIoreqServer cr{};
    const auto create = dm_op_msg(h.domid, ++seq, hvcore::dmop::create_ioreq_server, &cr, sizeof cr, buf);
    CHECK(r.call(create, seq) == 0);
    CHECK(!no_server());
}

TEST_CASE("a stream that cannot be trusted is hung up on and logged") {
    Host h;
    {
        Raw r(h.path);  // a request before HELLO: -EPROTO, then the hang-up
        SetRo m(h.domid, 0x10, 5);
        CHECK(r.call(m.msg, 5) == -EPROTO);
        CHECK(r.reply(5) == hung_up);
        CHECK(h.logged({"before HELLO"}));
    }
    {
        Raw r(h.path);  // a truncated header: no seq to answer
        REQUIRE(r.hello() == 0);
        std::vector<std::byte> m(8, std::byte{0});
        r.send(m);
        CHECK(r.reply(0) == hung_up);
        CHECK(h.logged({"truncated header"}));
    }
    {
        Raw r(h.path);  // a bad magic
        REQUIRE(r.hello() == 0);
        SetRo m(h.domid, 0x10, 6);
        poke(m.msg, 0, uint32_t{0x12345678});
        r.send(m.msg);
        CHECK(r.reply(6) == hung_up);
        CHECK(h.logged({"bad magic"}));
    }
    CHECK(h.mem_type(0x10) == HVDM_MEM_RAM_RW);
}

TEST_CASE("another connection's server is -EPERM, and hvdm_restrict binds a connection") {
    Host h;
    hvdm_handle* a = hvdm_connect(h.path.c_str());
    hvdm_handle* b = hvdm_connect(h.path.c_str());
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    hvdm_ioservid_t id = 0;
    REQUIRE(hvdm_create_ioreq_server(a, h.domid, HVDM_BUFIOREQ_OFF, &id) == 0);
    CHECK(hvdm_set_ioreq_server_state(b, h.domid, id, 1) == -EPERM);
    CHECK(hvdm_destroy_ioreq_server(b, h.domid, id) == -EPERM);
    CHECK(hvdm_map_io_range_to_ioreq_server(b, h.domid, id, 1, mmio_gpa, mmio_gpa + 0xfff) == -EPERM);
    hvdm_shared_iopage* page = nullptr;
    CHECK(hvdm_map_ioreq_pages(b, h.domid, id, &page, nullptr) == -EPERM);
    CHECK(hvdm_set_ioreq_server_state(a, h.domid, id, 1) == 0);
    // restrict: the other domid is -EPERM first, before its arguments
    const hvdm_domid_t other = static_cast<hvdm_domid_t>(h.domid + 1);
    CHECK(hvdm_restrict(b, h.domid) == 0);
    CHECK(hvdm_restrict(b, other) == -EINVAL);
    CHECK(hvdm_create_ioreq_server(b, other, HVDM_BUFIOREQ_OFF, nullptr) == -EPERM);
    uint16_t t = 0;
    CHECK(hvdm_get_mem_type(b, other, 0, &t) == -EPERM);
    CHECK(hvdm_get_mem_type(b, h.domid, 0, &t) == 0);
    // a lost connection: -ENODEV from then on, and hvdm_close frees
    hv_dm_listener_close(h.l);
    h.l = nullptr;
    CHECK(hvdm_get_mem_type(a, h.domid, 0, &t) == -ENODEV);
    CHECK(hvdm_get_mem_type(a, h.domid, 0, &t) == -ENODEV);
    CHECK(hvdm_close(a) == 0);
    CHECK(hvdm_close(b) == 0);
}

TEST_CASE("a device-model process killed with SIGKILL while a vCPU waits: the read completes with all ones, "
          "the hang-up is logged, the domain runs on and another connection keeps working") {
    Host h;
    Dm dm(h.path, {"claim", std::to_string(h.domid), std::to_string(mmio_gpa), "type"});
    const pid_t pid = dm.pid;
    REQUIRE(dm.ready());
    CHECK(h.mem_type(2) == HVDM_MEM_IOREQ_SERVER);  // it claimed the type
    // It wrote guest RAM through its own mapping (MAP_GUEST over the socket).
    uint32_t word = 0;
    REQUIRE(hv_guest_read(h.dom, 4096, &word, sizeof word) == 0);
    CHECK(word == 0x600dcafeu);
    CHECK(h.logged({"pid " + std::to_string(pid), "connected"}));

    // A second device model, connected before the kill, with its own page.
    hvdm_handle* second = hvdm_connect(h.path.c_str());
    REQUIRE(second != nullptr);
    const uint64_t gpa2 = mmio_gpa + 0x1000;
    const Served s2 = serve(second, h.domid, gpa2);

    uint64_t value = 0;
    REQUIRE(hv_vcpu_load(h.dom, 0, mmio_gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);
    CHECK(hv_vcpu_resume(h.dom, 0, &value) == HV_VCPU_IOREQ_PENDING);  // it never answers
    CHECK(WIFSIGNALED(dm.wait(SIGKILL)));
    CHECK(resume_until_done(h, &value) == HV_VCPU_DONE);
    CHECK(value == 0xffffffffu);
    CHECK(h.logged({"pid " + std::to_string(pid), "hung up"}));
    // The domain runs on; its range is released, its claim disclaimed.
    check_servers_destroyed(h);
    // A new device model claims the same range and the type.
    {
        hvdm_handle* again = hvdm_connect(h.path.c_str());
        REQUIRE(again != nullptr);
        hvdm_ioservid_t id3 = 0;
        REQUIRE(hvdm_create_ioreq_server(again, h.domid, HVDM_BUFIOREQ_OFF, &id3) == 0);
        CHECK(hvdm_map_io_range_to_ioreq_server(again, h.domid, id3, 1, mmio_gpa, mmio_gpa + 0xfff) == 0);
        CHECK(hvdm_map_mem_type_to_ioreq_server(again, h.domid, id3, HVDM_MEM_IOREQ_SERVER,
                                                HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        CHECK(hvdm_set_ioreq_server_state(again, h.domid, id3, 1) == 0);
        CHECK(hv_vcpu_load(h.dom, 1, mmio_gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);  // it is served there
        CHECK(hvdm_close(again) == 0);
        CHECK(hv_vcpu_resume(h.dom, 1, &value) == HV_VCPU_DONE);
        CHECK(value == 0xffffffffu);
    }

    // The other device model still serves.
    check_serves(h, second, s2, gpa2, 0x1234);
    CHECK(hvdm_close(second) == 0);
}

TEST_CASE("a peer whose uid is not allowed is refused and logged") {
    if (geteuid() != 0) {
        MESSAGE("SKIP: needs root (the device-model child setuid()s to 65534)");
        return;
    }
    Host h;  // allowed: this process's uid (0) only
    REQUIRE(chmod(h.path.c_str(), 0666) == 0);  // the uid check, not the socket's mode, refuses
    Dm dm(h.path, {"uid", "65534"});
    const pid_t pid = dm.pid;
    CHECK(exit_code(dm.wait()) == 0);  // hvdm_connect: NULL, ECONNREFUSED
    CHECK(h.logged({"pid " + std::to_string(pid), "uid 65534 refused", "allowed uids: 0"}));
}

TEST_CASE("an allowed uid other than hvcore's connects") {
    if (geteuid() != 0) {
        MESSAGE("SKIP: needs root (the device-model child setuid()s to 65534)");
        return;
    }
    Host h({0, 65534});
    REQUIRE(chmod(h.path.c_str(), 0666) == 0);
    Dm dm(h.path, {"uid", "65534"});
    CHECK(exit_code(dm.wait()) == 1);  // connected
}

TEST_CASE("a device model that stops answering (SIGSTOP) does not hold up hv_dm_listener_close, and its waiting "
          "read completes with all ones when the listener closes") {
    Host h;
    Dm dm(h.path, {"claim", std::to_string(h.domid), std::to_string(mmio_gpa)});
    REQUIRE(dm.ready());
    Raw silent(h.path);  // connected, said nothing
    uint64_t value = 0;
    REQUIRE(hv_vcpu_load(h.dom, 0, mmio_gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);
    REQUIRE(kill(dm.pid, SIGSTOP) == 0);
    const auto t0 = std::chrono::steady_clock::now();
    hv_dm_listener_close(h.l);
    h.l = nullptr;
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    CHECK(hv_vcpu_resume(h.dom, 0, &value) == HV_VCPU_DONE);
    CHECK(value == 0xffffffffu);
    CHECK(h.logged({"pid " + std::to_string(dm.pid), "closed by the host"}));
    CHECK(silent.reply(0) == hung_up);  // the silent peer sees the hang-up
    CHECK(WIFSIGNALED(dm.wait(SIGKILL)));
}

TEST_CASE("a listener outlives its host: every call is -ENODEV, mappings stay valid, new connections too, "
          "and it closes cleanly") {
    Host h;
    hvdm_handle* a = hvdm_connect(h.path.c_str());
    REQUIRE(a != nullptr);
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage* page = nullptr;
    REQUIRE(hvdm_create_ioreq_server(a, h.domid, HVDM_BUFIOREQ_OFF, &id) == 0);
    REQUIRE(hvdm_map_ioreq_pages(a, h.domid, id, &page, nullptr) == 0);
    hv_host_destroy(h.host);  // the listener stays open
    h.host = nullptr;
    h.dom = nullptr;
    uint16_t t = 0;
    CHECK(hvdm_get_mem_type(a, h.domid, 0, &t) == -ENODEV);
    CHECK(hvdm_create_ioreq_server(a, h.domid, HVDM_BUFIOREQ_OFF, &id) == -ENODEV);
    page->vcpu_ioreq[0].data = 0x55;  // still mapped
    CHECK(page->vcpu_ioreq[0].data == 0x55);
    hvdm_handle* b = hvdm_connect(h.path.c_str());
    REQUIRE(b != nullptr);
    CHECK(hvdm_get_mem_type(b, h.domid, 0, &t) == -ENODEV);
    CHECK(hvdm_close(a) == 0);
    CHECK(hvdm_close(b) == 0);
}

namespace {

// What a listener's event callback saw (hv_dm_listen_config.event).
struct Events {
    std::mutex mu;
    std::vector<hv_dm_event> seen;
    std::vector<std::string> reasons;
    static void on(void* opaque, const hv_dm_event* ev) {
        auto* self = static_cast<Events*>(opaque);
        std::lock_guard lk(self->mu);
        self->seen.push_back(*ev);
        self->reasons.emplace_back(ev->reason != nullptr ? ev->reason : "");
    }
    // Waits up to 5 s for n events.
    bool wait(size_t n) {
        for (int i = 0; i < 500; ++i) {
            {
                std::lock_guard lk(mu);
                if (seen.size() >= n) return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
};

}  // namespace

TEST_CASE("hvdm_ready: READY reaches the listener's event callback once, with the peer's pid, "
          "a second is -EALREADY, an in-process handle -EOPNOTSUPP") {
    Host h;
    Events ev;
    const std::string path = h.path + ".events";
    hv_dm_listen_config lc{};
    lc.size = sizeof lc;
    lc.event = &Events::on;
    lc.opaque = &ev;
    hv_dm_listener* l = nullptr;
    REQUIRE(hv_dm_listen(h.host, path.c_str(), &lc, &l) == 0);

    CHECK(hvdm_ready(nullptr) == -EINVAL);
    hvdm_handle* local = hvdm_open(h.host);
    REQUIRE(local != nullptr);
    CHECK(hvdm_ready(local) == -EOPNOTSUPP);
    CHECK(hvdm_close(local) == 0);

    hvdm_handle* a = hvdm_connect(path.c_str());
    REQUIRE(a != nullptr);
    REQUIRE(ev.wait(1));
    CHECK(hvdm_ready(a) == 0);
    CHECK(hvdm_ready(a) == -EALREADY);
    REQUIRE(ev.wait(2));
    // the connection goes on after READY
    uint16_t t = 0;
    CHECK(hvdm_get_mem_type(a, h.domid, 0, &t) == 0);
    CHECK(hvdm_close(a) == 0);
    REQUIRE(ev.wait(3));
    {
        std::lock_guard lk(ev.mu);
        REQUIRE(ev.seen.size() == 3);  // no second READY
        CHECK(ev.seen[0].kind == HV_DM_EVENT_CONNECTED);
        CHECK(ev.seen[1].kind == HV_DM_EVENT_READY);
        CHECK(ev.seen[2].kind == HV_DM_EVENT_GONE);
        CHECK(ev.reasons[2] == "said goodbye");
        for (const auto& e : ev.seen) {
            CHECK(e.size == sizeof(hv_dm_event));
            CHECK(e.pid == getpid());
            CHECK(e.uid == getuid());
            CHECK(e.connection == 1);
            CHECK(e.emulator == ev.seen[0].emulator);
        }
    }
    // A config of the first published size (16: no event) is still taken.
    hv_dm_listen_config old{};
    old.size = 16;
    hv_dm_listener* l2 = nullptr;
    CHECK(hv_dm_listen(h.host, (path + "2").c_str(), &old, &l2) == 0);
    hv_dm_listener_close(l2);
    old.size = 15;
    CHECK(hv_dm_listen(h.host, (path + "3").c_str(), &old, &l2) == -EINVAL);
    hv_dm_listener_close(l);
}

namespace {

// vCPU 0 waits on a device model that then breaks the protocol in its
// slot (ipc_dm corrupt ... MODE); a second device model serves vCPU 1.
void corrupt_case(const char* mode, const std::string& what) {
    Host h;
    hvdm_handle* second = hvdm_connect(h.path.c_str());
    REQUIRE(second != nullptr);
    const uint64_t gpa2 = mmio_gpa + 0x1000;
    const Served s2 = serve(second, h.domid, gpa2);

    Dm dm(h.path, {"corrupt", std::to_string(h.domid), std::to_string(mmio_gpa), mode}, true);
    const pid_t pid = dm.pid;
    REQUIRE(dm.ready());
    CHECK(h.mem_type(2) == HVDM_MEM_IOREQ_SERVER);
    uint64_t value = 0;
    REQUIRE(hv_vcpu_load(h.dom, 0, mmio_gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);
    if (std::string(mode) == "state") {
        // Its notify finds state 7: -EPROTO; its next call, the hang-up.
        CHECK(dm.line() == "notify " + std::to_string(-EPROTO) + " next " + std::to_string(-ENODEV));
    } else {
        REQUIRE(dm.line() == "inprocess");
        CHECK(hv_vcpu_resume(h.dom, 0, &value) == HV_VCPU_IOREQ_PENDING);  // seen INPROCESS
        write_line(dm.in, "go");
        REQUIRE(dm.line() == "backwards");
    }
    // The waiting vCPU completes as on a destroyed server: all ones.
    CHECK(resume_until_done(h, &value) == HV_VCPU_DONE);
    CHECK(value == 0xffffffffu);
    if (std::string(mode) != "state") {
        write_line(dm.in, "go");
        CHECK(dm.line() == "next " + std::to_string(-ENODEV));  // hung up on
    }
    CHECK(exit_code(dm.wait()) == 0);
    // One line names the device model and the reason.
    CHECK(h.logged({"device model pid " + std::to_string(pid), "broke the ioreq protocol", what,
                    "its ioreq servers are destroyed"}));
    // The domain runs on; its range is released, its claim disclaimed.
    check_servers_destroyed(h);
    // The other device model still serves.
    check_serves(h, second, s2, gpa2, 0x4321);
    CHECK(hvdm_close(second) == 0);
}

// The descriptors this process has open (below 4096).
int open_fds() {
    int n = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (fcntl(fd, F_GETFD) != -1) ++n;
    return n;
}

// A host that is not hvcore's listener: it answers HELLO, then one
// MAP_IOREQ with `bad` (a reply the client must reject) and two fresh
// descriptors attached, then waits for the hang-up.
void fake_host(int lfd, const w::Reply& bad) {
    const int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    std::vector<std::byte> in(w::max_message + 1), out;
    for (int k = 0; k < 2; ++k) {
        const ssize_t n = recv(c, in.data(), in.size(), 0);
        if (n <= 0) break;
        auto rq = w::decode_request(std::span<const std::byte>(in.data(), static_cast<size_t>(n)), 0);
        if (!rq) break;
        w::Reply rep = bad;
        rep.kind = rq->kind;
        rep.seq = rq->seq;
        int fds[2] = {-1, -1};
        if (rq->kind == w::Kind::hello) {
            rep = w::Reply{};
            rep.kind = w::Kind::hello;
            rep.seq = rq->seq;
            rep.server_abi = (HV_VERSION_MAJOR << 16) | HV_VERSION_MINOR;
            rep.max_msg = static_cast<uint32_t>(w::max_message);
            rep.emulator = 1;
        } else {
            fds[0] = memfd_create("fake-ioreq", MFD_CLOEXEC);
            if (fds[0] >= 0) (void)!ftruncate(fds[0], static_cast<off_t>(hvcore::ioreq_map_bytes));
            fds[1] = eventfd(0, EFD_CLOEXEC);
        }
        if (!w::encode_reply(rep, out)) break;  // the test then fails on the client's side
        iovec iov{out.data(), out.size()};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof fds)] = {};
        if (fds[0] >= 0) {
            mh.msg_control = ctl;
            mh.msg_controllen = sizeof ctl;
            cmsghdr* cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof fds);
            std::memcpy(CMSG_DATA(cm), fds, sizeof fds);
        }
        (void)sendmsg(c, &mh, MSG_NOSIGNAL);
        for (int fd : fds)
            if (fd >= 0) close(fd);
    }
    char x = 0;
    (void)recv(c, &x, 1, 0);  // until the client closes
    close(c);
}

}  // namespace

TEST_CASE("a device-model process that writes an unknown state into its slot loses its servers, not the domain") {
    corrupt_case("state", "wrote unknown state 7 into vCPU 0's slot");
}

TEST_CASE("a device-model process that moves its slot backwards loses its servers, not the domain") {
    corrupt_case("backwards", "moved vCPU 0's slot backwards (2 -> 1)");
}

TEST_CASE("an in-process device model that writes an unknown state into its slot still stops the domain") {
    Host h;
    hvdm_handle* d = hvdm_open(h.host);
    REQUIRE(d != nullptr);
    const Served s = serve(d, h.domid, mmio_gpa);
    uint64_t value = 0;
    REQUIRE(hv_vcpu_load(h.dom, 0, mmio_gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);
    s.page->vcpu_ioreq[0].state = 7;
    CHECK(hvdm_ioreq_notify(d, h.domid, s.id, 0) == -EPROTO);
    char reason[160] = {};
    CHECK(hv_domain_stop_reason(h.dom, reason, sizeof reason) > 0);
    CHECK(std::string(reason).find("wrote unknown state 7 into vCPU 0's slot") != std::string::npos);
    CHECK(hvdm_close(d) == 0);
}

namespace {

// "CMD RC MAPS READABLE SAME HUP" from ipc_dm survive.
struct Seen {
    int rc = 0, maps = 0, readable = 0, same = 0, hup = 0;
};
Seen ask(const Dm& dm, const std::string& cmd) {
    write_line(dm.in, cmd);
    const std::string l = dm.line();
    Seen s;
    char c[16] = {};
    REQUIRE(std::sscanf(l.c_str(), "%15s %d %d %d %d %d", c, &s.rc, &s.maps, &s.readable, &s.same, &s.hup) == 6);
    CHECK(std::string(c) == cmd);
    return s;
}

}  // namespace

TEST_CASE("mapping_survives_destroy: a device-model process keeps its mappings and descriptors through the "
          "destruction of a server, its domain and the host, and learns of each") {
    Host h;
    Dm dm(h.path, {"survive", std::to_string(h.domid)}, true);
    REQUIRE(dm.ready());
    Seen s = ask(dm, "server");  // it destroyed server A itself
    CHECK(s.rc == -ENOENT);
    CHECK(s.maps == 1);
    CHECK(s.readable == 1);  // the destruction woke its eventfd
    CHECK(s.same == 1);
    CHECK(s.hup == 0);
    REQUIRE(hv_domain_destroy(h.dom) == 0);  // and with it server B
    h.dom = nullptr;
    s = ask(dm, "domain");
    CHECK(s.rc == -ESRCH);
    CHECK(s.maps == 1);
    CHECK(s.readable == 1);
    CHECK(s.same == 1);
    CHECK(s.hup == 0);
    hv_host_destroy(h.host);  // the listener stays
    h.host = nullptr;
    s = ask(dm, "host");
    CHECK(s.rc == -ENODEV);
    CHECK(s.maps == 1);
    CHECK(s.same == 1);
    CHECK(s.hup == 0);
    hv_dm_listener_close(h.l);  // the hang-up
    h.l = nullptr;
    s = ask(dm, "gone");
    CHECK(s.rc == -ENODEV);
    CHECK(s.maps == 1);
    CHECK(s.same == 1);
    CHECK(s.hup == 1);
    dm.close_in();  // it closes its handle and exits 0
    CHECK(exit_code(dm.wait()) == 0);
}

TEST_CASE("mapping_survives_destroy: a device-model process keeps its mappings and descriptors when the host "
          "process exits, and every later call is -ENODEV") {
    // The host in a child process of its own, exiting without tearing down.
    const std::string path = "hvcore-ipc-exit-" + std::to_string(getpid()) + ".sock";
    int ready[2], quit[2];
    // Close-on-exec: the device model must not hold the host's quit pipe open.
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    REQUIRE(pipe2(quit, O_CLOEXEC) == 0);
    const pid_t host = fork();
    REQUIRE(host >= 0);
    if (host == 0) {
        close(ready[0]);
        close(quit[1]);
        hv_host* hh = nullptr;
        hv_domain* dd = nullptr;
        hv_dm_listener* ll = nullptr;
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(hvcore::linked_backends().front().arch);
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = 2;
        if (hv_host_create(&hh) != 0 || hv_domain_create(hh, &cfg, &dd) != 0 ||
            hv_dm_listen(hh, path.c_str(), nullptr, &ll) != 0)
            _exit(3);
        const std::string id = std::to_string(hv_domain_id(dd)) + "\n";
        if (write(ready[1], id.data(), id.size()) != static_cast<ssize_t>(id.size())) _exit(4);
        char c = 0;
        (void)!read(quit[0], &c, 1);
        _exit(0);  // no hv_dm_listener_close, no hv_host_destroy
    }
    close(ready[1]);
    close(quit[0]);
    const std::string domid = read_line(ready[0]);
    REQUIRE(!domid.empty());
    Dm dm(path, {"survive", domid}, true);
    REQUIRE(dm.ready());
    Seen s = ask(dm, "server");
    CHECK(s.rc == -ENOENT);
    CHECK(s.readable == 1);
    close(quit[1]);  // the host process exits
    CHECK(exit_code(reap(host)) == 0);
    s = ask(dm, "gone");
    CHECK(s.rc == -ENODEV);
    CHECK(s.maps == 1);  // its ioreq pages, frame and guest RAM: still its own
    CHECK(s.same == 1);
    CHECK(s.hup == 1);
    s = ask(dm, "again");
    CHECK(s.rc == -ENODEV);
    CHECK(s.maps == 1);
    dm.close_in();
    CHECK(exit_code(dm.wait()) == 0);
    close(ready[0]);
    unlink(path.c_str());
}

TEST_CASE("a device model that stops answering (SIGSTOP) does not hold up hv_host_destroy, nor the listener's "
          "close after it") {
    Host h;
    Dm dm(h.path, {"claim", std::to_string(h.domid), std::to_string(mmio_gpa)});
    REQUIRE(dm.ready());
    uint64_t value = 0;
    REQUIRE(hv_vcpu_load(h.dom, 0, mmio_gpa, 4, &value) == HV_VCPU_IOREQ_PENDING);
    REQUIRE(kill(dm.pid, SIGSTOP) == 0);
    const auto t0 = std::chrono::steady_clock::now();
    hv_host_destroy(h.host);
    h.host = nullptr;
    h.dom = nullptr;
    hv_dm_listener_close(h.l);
    h.l = nullptr;
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
    CHECK(WIFSIGNALED(dm.wait(SIGKILL)));
}

TEST_CASE("a HELLO of another major ABI version is -EPROTONOSUPPORT and greets nobody") {
    Host h;
    Raw r(h.path);
    w::Request hello;
    hello.kind = w::Kind::hello;
    hello.seq = 1;
    hello.client_abi = (HV_VERSION_MAJOR + 1u) << 16;
    CHECK(r.call(Raw::enc(hello), 1) == -EPROTONOSUPPORT);
    SetRo m(h.domid, 0x10, 2);  // still before HELLO: -EPROTO, hung up
    CHECK(r.call(m.msg, 2) == -EPROTO);
    CHECK(r.reply(2) == hung_up);
    CHECK(h.mem_type(0x10) == HVDM_MEM_RAM_RW);
}

TEST_CASE("a map_ioreq reply the client rejects (more slots than a page holds, another map size) is -EPROTO, "
          "loses the connection and leaves no received descriptor open") {
    w::Reply too_many;
    too_many.nr_vcpus = hvcore::ioreq_max_slots + 1;  // slots past the synchronous page
    too_many.map_bytes = hvcore::ioreq_map_bytes;
    w::Reply wrong_size;
    wrong_size.nr_vcpus = 1;
    wrong_size.map_bytes = hvcore::ioreq_map_bytes + 4096;
    for (const w::Reply& bad : {too_many, wrong_size}) {
        const int before = open_fds();
        const std::string path = "hvcore-fake-host-" + std::to_string(getpid()) + ".sock";
        unlink(path.c_str());
        const int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        REQUIRE(lfd >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(bind(lfd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(listen(lfd, 1) == 0);
        std::thread host([lfd, bad] { fake_host(lfd, bad); });
        hvdm_handle* h = hvdm_connect(path.c_str());
        REQUIRE(h != nullptr);
        hvdm_shared_iopage* page = nullptr;
        CHECK(hvdm_map_ioreq_pages(h, 0, 0, &page, nullptr) == -EPROTO);
        CHECK(page == nullptr);
        uint16_t t = 0;
        CHECK(hvdm_get_mem_type(h, 0, 0, &t) == -ENODEV);  // the stream is not trusted any more
        CHECK(hvdm_close(h) == 0);
        host.join();
        close(lfd);
        unlink(path.c_str());
        CHECK(open_fds() == before);  // the memfd and eventfd received were closed
    }
}

TEST_CASE("a listener out of descriptors waits instead of spinning on accept, then serves the queued connection") {
    Host h;
    const int client = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    REQUIRE(client >= 0);
    // Every descriptor number below the limit in use: accept4 is EMFILE.
    std::vector<int> fillers;
    int highest = 0;
    for (int fd = 0; fd < 4096; ++fd)
        if (fcntl(fd, F_GETFD) != -1) highest = fd;
    for (int x = dup(client); x >= 0 && x < highest; x = dup(client)) fillers.push_back(x);
    rlimit old{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest + 1);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, h.path.c_str(), h.path.size() + 1);
    const int c = connect(client, reinterpret_cast<const sockaddr*>(&a), sizeof a);  // queued
    rusage r0{}, r1{};
    getrusage(RUSAGE_SELF, &r0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    getrusage(RUSAGE_SELF, &r1);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
    for (int x : fillers) close(x);
    REQUIRE(c == 0);
    const auto us = [](const rusage& r) {
        return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000LL + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
    };
    // A spinning acceptor burns the 300 ms; a waiting one a few polls.
    CHECK(us(r1) - us(r0) < 100000);
    // Descriptors again: the queued connection is accepted.
    CHECK(h.logged({"connected"}));
    close(client);
}

namespace {

// One datagram and the descriptors that came with it (SCM_RIGHTS).
struct WithFds {
    std::vector<std::byte> msg;
    std::vector<int> fds;
};

WithFds recv_with_fds(int fd) {
    WithFds r;
    r.msg.resize(w::max_message + 1);
    iovec iov{r.msg.data(), r.msg.size()};
    alignas(cmsghdr) char ctl[CMSG_SPACE(4 * sizeof(int))] = {};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    pollfd p{fd, POLLIN, 0};
    REQUIRE(poll(&p, 1, 5000) == 1);
    const ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    REQUIRE(n > 0);
    r.msg.resize(static_cast<size_t>(n));
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; ++i) {
            int x = -1;
            std::memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof x);
            r.fds.push_back(x);
        }
    }
    return r;
}

// Sends m on r and receives its reply with its descriptors into got: a
// success, whose buffers are views into got.msg.
w::Reply succeed(const Raw& r, const std::vector<std::byte>& m, WithFds& got) {
    r.send(m);
    got = recv_with_fds(r.fd);
    auto rep = w::decode_reply(got.msg, static_cast<unsigned>(got.fds.size()));
    REQUIRE(rep.is_ok());
    REQUIRE(rep->rc == 0);
    return *rep;
}

// ftruncate to 0 and to twice the size both fail with EPERM, and the size
// is still `bytes`.
bool refuses_resizing(int fd, uint64_t bytes) {
    errno = 0;
    const bool shrink = ftruncate(fd, 0) == -1 && errno == EPERM;
    errno = 0;
    const bool grow = ftruncate(fd, static_cast<off_t>(2 * bytes)) == -1 && errno == EPERM;
    struct stat st {};
    return shrink && grow && fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == bytes;
}

}  // namespace

// The descriptors a device model receives over the socket (MAP_IOREQ's
// pages memfd, MAP_GUEST's RAM memfd) are sealed against resizing: the
// peer's ftruncate is EPERM, and the host then reads and writes the last
// page of guest RAM and the device model its whole mapping of the pages,
// where a truncated file would have raised SIGBUS.
TEST_CASE("a device model that ftruncates the ioreq pages and guest RAM it received gets EPERM and the host "
          "goes on") {
    Host h;
    Raw r(h.path);
    REQUIRE(r.hello() == 0);
    uint32_t seq = 1;
    std::byte buf[32];
    hvcore::dmop::CreateIoreqServer cr{};
    WithFds got;
    w::Reply rep = succeed(r, dm_op_msg(h.domid, ++seq, hvcore::dmop::create_ioreq_server, &cr, sizeof cr, buf), got);
    REQUIRE(rep.buf[0].size() == sizeof buf);
    std::memcpy(&cr, rep.buf[0].data() + sizeof(hvcore::dmop::Header), sizeof cr);

    w::Request mi;
    mi.kind = w::Kind::map_ioreq;
    mi.seq = ++seq;
    mi.domid = h.domid;
    mi.id = cr.id;
    rep = succeed(r, Raw::enc(mi), got);
    REQUIRE(got.fds.size() == 2);
    const int pages = got.fds[0];
    const uint64_t map_bytes = rep.map_bytes;
    CHECK(fcntl(pages, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    CHECK(refuses_resizing(pages, map_bytes));
    close(got.fds[1]);

    w::Request mg;
    mg.kind = w::Kind::map_guest;
    mg.seq = ++seq;
    mg.domid = h.domid;
    mg.prot = PROT_READ | PROT_WRITE;
    mg.first_gfn = 0;
    mg.nr = 1;
    rep = succeed(r, Raw::enc(mg), got);
    REQUIRE(got.fds.size() == 1);
    const int ram = got.fds[0];
    constexpr uint64_t ram_bytes = 16u << 20;  // Host's domain
    CHECK(fcntl(ram, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    CHECK(refuses_resizing(ram, ram_bytes));
    close(ram);

    // The host goes on: its mapping of the RAM is whole...
    const uint32_t v = 0x5ea1ed00;
    uint32_t back = 0;
    CHECK(hv_guest_write(h.dom, ram_bytes - sizeof v, &v, sizeof v) == 0);
    CHECK(hv_guest_read(h.dom, ram_bytes - sizeof v, &back, sizeof back) == 0);
    CHECK(back == v);
    // ...and so are the pages (a fresh mapping of the received descriptor,
    // read to its last byte), and the connection still answers.
    void* m = mmap(nullptr, map_bytes, PROT_READ, MAP_SHARED, pages, 0);
    REQUIRE(m != MAP_FAILED);
    CHECK(std::to_integer<int>(static_cast<volatile std::byte*>(m)[map_bytes - 1]) == 0);
    munmap(m, map_bytes);
    close(pages);
    w::Request gm;
    gm.kind = w::Kind::get_mem_type;
    gm.seq = ++seq;
    gm.domid = h.domid;
    gm.pfn = 0;
    CHECK(r.call(Raw::enc(gm), seq) == 0);
}

// The same from a device-model process of its own (ipc_dm, through
// hvdm_connect): every memfd it holds (its handle's pages memfd) refuses
// ftruncate with EPERM, its mappings stay whole, and the host reads what it
// wrote and the last page of guest RAM.
TEST_CASE("a device-model process that ftruncates every memfd it holds gets EPERM and the guest and host go on") {
    Host h;
    Dm dm(h.path, {"truncate", std::to_string(h.domid)});
    CHECK(dm.line() == "memfds 1 eperm 1 next 0");
    CHECK(exit_code(dm.wait()) == 0);  // no SIGBUS there
    uint32_t v = 0;
    CHECK(hv_guest_read(h.dom, 0, &v, sizeof v) == 0);
    CHECK(v == 0x5ea1ed);
    constexpr uint64_t ram_bytes = 16u << 20;
    CHECK(hv_guest_write(h.dom, ram_bytes - sizeof v, &v, sizeof v) == 0);
    v = 0;
    CHECK(hv_guest_read(h.dom, ram_bytes - sizeof v, &v, sizeof v) == 0);
    CHECK(v == 0x5ea1ed);
}

// hv_dm_listen replaces a stale socket (nobody listens: connect is
// ECONNREFUSED) but not one a live listener accepts on: that listener's
// socket file and its clients stay (-EADDRINUSE).
TEST_CASE("hv_dm_listen on the socket of a live listener is -EADDRINUSE and leaves it serving, and a stale socket "
          "is replaced") {
    Host a;
    hv_dm_listener* second = nullptr;
    CHECK(hv_dm_listen(a.host, a.path.c_str(), nullptr, &second) == -EADDRINUSE);
    CHECK(second == nullptr);
    struct stat st {};
    REQUIRE(stat(a.path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    // The first listener still accepts and serves on that path.
    hvdm_handle* c = hvdm_connect(a.path.c_str());
    REQUIRE(c != nullptr);
    uint16_t t = 0;
    CHECK(hvdm_get_mem_type(c, a.domid, 0, &t) == 0);
    CHECK(t == HVDM_MEM_RAM_RW);
    CHECK(hvdm_close(c) == 0);

    // A stale socket: bound, never listened on, its owner gone.
    const std::string stale = a.path + ".stale";
    {
        const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        REQUIRE(s >= 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strcpy(sa.sun_path, stale.c_str());
        REQUIRE(bind(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
        close(s);
    }
    hv_dm_listener* l = nullptr;
    REQUIRE(hv_dm_listen(a.host, stale.c_str(), nullptr, &l) == 0);
    c = hvdm_connect(stale.c_str());
    CHECK(c != nullptr);
    if (c != nullptr) CHECK(hvdm_close(c) == 0);
    hv_dm_listener_close(l);
    CHECK(access(stale.c_str(), F_OK) != 0);  // the listener unlinked it
}

// The socket is 0600 whatever the umask, set with chmod before listen;
// the process-wide umask is never changed, not even for a moment (another
// thread reading it meanwhile, through /proc/self/status, sees ours).
TEST_CASE("hv_dm_listen makes its socket 0600 without touching the process umask") {
    const mode_t old = umask(0);  // the most permissive: the mode must still be 0600
    std::atomic<bool> stop{false};
    std::atomic<int> other{-1};
    std::atomic<unsigned> seen{0};  // lines read: the kernel has the field (Linux 4.7)
    std::thread watcher([&] {
        while (!stop.load()) {
            FILE* f = std::fopen("/proc/self/status", "r");
            if (f == nullptr) continue;
            char line[256];
            while (std::fgets(line, sizeof line, f) != nullptr) {
                unsigned mask = 0;
                if (std::sscanf(line, "Umask: %o", &mask) != 1) continue;
                seen.fetch_add(1);
                if (mask != 0) other.store(static_cast<int>(mask));
            }
            std::fclose(f);
        }
    });
    hv_host* host = nullptr;
    REQUIRE(hv_host_create(&host) == 0);
    const std::string path = "hvcore-ipc-umask-" + std::to_string(getpid()) + ".sock";
    for (int i = 0; i < 200; ++i) {
        hv_dm_listener* l = nullptr;
        REQUIRE(hv_dm_listen(host, path.c_str(), nullptr, &l) == 0);
        struct stat st {};
        REQUIRE(stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);
        hv_dm_listener_close(l);
    }
    stop.store(true);
    watcher.join();
    CHECK(seen.load() > 0);
    CHECK(other.load() == -1);  // never anything but 0 while it ran
    CHECK(umask(old) == 0);
    hv_host_destroy(host);
}
