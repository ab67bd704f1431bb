// SPDX-License-Identifier: MIT
// libxenevtchn over hvcore's per-server ports (xen/src/evtchn.cpp), in
// process: requests made on model vCPUs (hv_vcpu_pio, hv_vcpu_store),
// their ports read with xenevtchn_pending and answered through the slots
// and xenevtchn_notify, as a Xen device model does (QEMU
// hw/xen/xen-hvm-common.c cpu_get_ioreq / cpu_handle_ioreq).
#include <fcntl.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "xen_fixture.hpp"

namespace {

using xt::Dmod;
using xt::Dom;
using xt::world;

constexpr uint16_t kPortsA = 0xc100;  // server A's 16 I/O ports
constexpr uint16_t kPortsB = 0xc200;  // server B's
constexpr uint64_t kVga = 0xa0000;    // a buffered server's MMIO (posted writes)

struct Server {
    ioservid_t id = 0;
    hvdm_shared_iopage* page = nullptr;
    hvdm_buffered_iopage* buf = nullptr;
};

struct Xce {
    xenevtchn_handle* h = (world(), xenevtchn_open(nullptr, 0));
    Xce() { REQUIRE(h != nullptr); }
    ~Xce() {
        if (h != nullptr) xenevtchn_close(h);
    }
    Xce(const Xce&) = delete;
    Xce& operator=(const Xce&) = delete;
    void nonblocking() {
        const int fd = xenevtchn_fd(h);
        REQUIRE(fd >= 0);
        REQUIRE(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    }
};

// An enabled server holding 16 ports from @p ports and, with a ring, VGA memory.
Server make_server(xendevicemodel_handle* dm, const Dom& d, int bufioreq, uint16_t ports) {
    Server s;
    REQUIRE(xendevicemodel_create_ioreq_server(dm, d.id, bufioreq, &s.id) == 0);
    REQUIRE(xendevicemodel_map_io_range_to_ioreq_server(dm, d.id, s.id, 0, ports, ports + 15u) == 0);
    if (bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
        // VGA memory is RAM in a 16 MiB domain: made MMIO first (as tests/abi server_setup)
        REQUIRE(xendevicemodel_set_mem_type(dm, d.id, HVMMEM_mmio_dm, kVga >> 12, 0x20) == 0);
        REQUIRE(xendevicemodel_map_io_range_to_ioreq_server(dm, d.id, s.id, 1, kVga, kVga + 0x1ffff) == 0);
    }
    REQUIRE(xendevicemodel_set_ioreq_server_state(dm, d.id, s.id, 1) == 0);
    REQUIRE(hvdm_map_ioreq_pages(world().dm, d.id, s.id, &s.page, &s.buf) == 0);
    return s;
}

// A port read by vCPU @p v: it waits for the device model.
void start_read(const Dom& d, uint32_t v, uint16_t port) {
    uint64_t value = 0;
    REQUIRE(hv_vcpu_pio(d.d, v, port, 4, 0, &value) == HV_VCPU_IOREQ_PENDING);
}

// The device model answers vCPU @p v's slot with @p data (Xen's protocol:
// IORESP_READY, then a notification on the slot's port), and the vCPU
// takes it.
void answer(const Dom& d, Server& s, xenevtchn_handle* x, evtchn_port_t local, uint32_t v, uint64_t data) {
    hvdm_ioreq_t& r = s.page->vcpu_ioreq[v];
    REQUIRE(static_cast<unsigned>(r.state) == HVDM_STATE_IOREQ_READY);
    CHECK(r.vp_eport == v);
    r.data = data;
    std::atomic_thread_fence(std::memory_order_release);
    r.state = HVDM_STATE_IORESP_READY;
    REQUIRE(xenevtchn_notify(x, local) == 0);
    uint64_t value = 0;
    REQUIRE(hv_vcpu_resume(d.d, v, &value) == HV_VCPU_DONE);
    CHECK(value == (data & 0xffffffffu));
}

// Nothing pending for @p x (its descriptor must be O_NONBLOCK).
void check_nothing_pending(xenevtchn_handle* x) { XT_FAILS_WITH(EAGAIN, xenevtchn_pending(x)); }

}  // namespace

TEST_CASE("evtchn/a_request_on_vcpu_v_fires_exactly_vs_local_port_across_2_servers_of_4_vcpus") {
    Dom d(4);
    Dmod dm;
    Xce x;
    x.nonblocking();
    Server s[2] = {make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA),
                   make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsB)};
    const uint16_t base[2] = {kPortsA, kPortsB};
    evtchn_port_t local[2][4];
    std::vector<evtchn_port_t> seen;
    for (int k = 0; k < 2; ++k) {
        for (uint32_t v = 0; v < 4; ++v) {
            const int p = xenevtchn_bind_interdomain(x.h, d.id, s[k].page->vcpu_ioreq[v].vp_eport);
            REQUIRE(p >= 1);
            local[k][v] = static_cast<evtchn_port_t>(p);
            for (evtchn_port_t q : seen) CHECK(q != local[k][v]);  // process-wide unique
            seen.push_back(local[k][v]);
        }
    }
    check_nothing_pending(x.h);
    for (int k = 0; k < 2; ++k) {
        for (uint32_t v = 0; v < 4; ++v) {
            CAPTURE(k);
            CAPTURE(v);
            start_read(d, v, static_cast<uint16_t>(base[k] + 4));
            CHECK(xenevtchn_pending(x.h) == static_cast<int>(local[k][v]));
            check_nothing_pending(x.h);  // exactly that port
            answer(d, s[k], x.h, local[k][v], v, 0x1000u * static_cast<unsigned>(k) + v);
            CHECK(xenevtchn_unmask(x.h, local[k][v]) == 0);
        }
    }
    check_nothing_pending(x.h);
}

TEST_CASE("evtchn/bind_takes_the_oldest_server_whose_port_is_free_in_either_creation_order") {
    Dom d(2);
    Dmod dm;
    Xce x;
    x.nonblocking();
    // create A, bind A's port 0, create B, bind B's port 0
    Server a = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    const int la = xenevtchn_bind_interdomain(x.h, d.id, 0);
    Server b = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsB);
    const int lb = xenevtchn_bind_interdomain(x.h, d.id, 0);
    REQUIRE(la == 1);  // the smallest free port >= 1
    REQUIRE(lb == 2);
    // both created before: port 1 of A, then of B
    const int la1 = xenevtchn_bind_interdomain(x.h, d.id, 1);
    const int lb1 = xenevtchn_bind_interdomain(x.h, d.id, 1);
    REQUIRE(la1 == 3);
    REQUIRE(lb1 == 4);
    XT_FAILS_WITH(EINVAL, xenevtchn_bind_interdomain(x.h, d.id, 1));  // every server's port 1 is bound
    start_read(d, 1, kPortsB);
    CHECK(xenevtchn_pending(x.h) == lb1);
    answer(d, b, x.h, static_cast<evtchn_port_t>(lb1), 1, 7);
    start_read(d, 0, kPortsA);
    CHECK(xenevtchn_pending(x.h) == la);
    answer(d, a, x.h, static_cast<evtchn_port_t>(la), 0, 8);
}

TEST_CASE("evtchn/the_rings_port_is_reported_before_the_vcpu_ports_of_the_same_server") {
    Dom d(2);
    Dmod dm;
    Xce x;
    x.nonblocking();
    Server s = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_ATOMIC, kPortsA);
    evtchn_port_t bufport = 0;
    REQUIRE(xendevicemodel_get_ioreq_server_info(dm.h, d.id, s.id, nullptr, nullptr, &bufport) == 0);
    REQUIRE(bufport == 2);  // nr_vcpus
    const int l0 = xenevtchn_bind_interdomain(x.h, d.id, 0);
    const int ring = xenevtchn_bind_interdomain(x.h, d.id, bufport);
    REQUIRE(l0 >= 1);
    REQUIRE(ring >= 1);
    // vCPU 0 reads synchronously, then vCPU 1 posts a write on the ring:
    // hvcore reports port 0 before port 2; the ring's comes first.
    start_read(d, 0, kPortsA);
    REQUIRE(hv_vcpu_store(d.d, 1, kVga, 2, 0xbeef) == HV_VCPU_DONE);
    CHECK(xenevtchn_pending(x.h) == ring);
    CHECK(xenevtchn_pending(x.h) == l0);
    check_nothing_pending(x.h);
    CHECK(s.buf->write_pointer == 1);
    CHECK(xenevtchn_notify(x.h, static_cast<evtchn_port_t>(ring)) == 0);  // the ring's: nothing waits
    answer(d, s, x.h, static_cast<evtchn_port_t>(l0), 0, 1);
}

TEST_CASE("evtchn/a_port_fired_while_masked_is_reported_after_unmask") {
    Dom d(2);
    Dmod dm;
    Xce x;
    x.nonblocking();
    Server s = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_ATOMIC, kPortsA);
    const int ring = xenevtchn_bind_interdomain(x.h, d.id, 2);
    REQUIRE(ring >= 1);
    REQUIRE(hv_vcpu_store(d.d, 0, kVga, 1, 1) == HV_VCPU_DONE);
    CHECK(xenevtchn_pending(x.h) == ring);  // now masked
    REQUIRE(hv_vcpu_store(d.d, 0, kVga + 1, 1, 2) == HV_VCPU_DONE);
    check_nothing_pending(x.h);  // latched, not reported
    CHECK(xenevtchn_unmask(x.h, static_cast<evtchn_port_t>(ring)) == 0);
    // the descriptor says so (the internal eventfd), and pending returns it
    pollfd p{xenevtchn_fd(x.h), POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 1);
    CHECK(xenevtchn_pending(x.h) == ring);
    check_nothing_pending(x.h);
    CHECK(xenevtchn_unmask(x.h, static_cast<evtchn_port_t>(ring)) == 0);
    check_nothing_pending(x.h);  // one firing, one report
    CHECK(s.buf->write_pointer == 2);
    // unmask of a port that is not this handle's is ignored (Linux evtchn_write)
    CHECK(xenevtchn_unmask(x.h, 999) == 0);
}

TEST_CASE("evtchn/pending_with_o_nonblock_and_nothing_fired_is_eagain") {
    Dom d(1);
    Dmod dm;
    Xce x;
    x.nonblocking();
    check_nothing_pending(x.h);  // no port at all
    make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    REQUIRE(xenevtchn_bind_interdomain(x.h, d.id, 0) >= 1);
    check_nothing_pending(x.h);
}

TEST_CASE("evtchn/a_blocking_pending_is_woken_by_a_request_from_another_thread") {
    Dom d(2);
    Dmod dm;
    Xce x;
    Server s = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    const int l1 = xenevtchn_bind_interdomain(x.h, d.id, 1);
    REQUIRE(l1 >= 1);
    std::atomic<int> vcpu_rc{-1000};
    std::thread guest([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // pending blocks first
        uint64_t value = 0;
        vcpu_rc = hv_vcpu_pio(d.d, 1, kPortsA, 4, 0, &value);
    });
    const int got = xenevtchn_pending(x.h);  // blocks
    guest.join();
    CHECK(vcpu_rc.load() == HV_VCPU_IOREQ_PENDING);
    CHECK(got == l1);
    answer(d, s, x.h, static_cast<evtchn_port_t>(l1), 1, 0x55);
}

TEST_CASE("evtchn/unbind_and_close_stop_delivery") {
    Dom d(2);
    Dmod dm;
    Xce x;
    x.nonblocking();
    Server s = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    const int l0 = xenevtchn_bind_interdomain(x.h, d.id, 0);
    REQUIRE(l0 >= 1);
    REQUIRE(xenevtchn_unbind(x.h, static_cast<evtchn_port_t>(l0)) == 0);
    start_read(d, 0, kPortsA);
    check_nothing_pending(x.h);
    XT_FAILS_WITH(ENOTCONN, xenevtchn_unbind(x.h, static_cast<evtchn_port_t>(l0)));
    XT_FAILS_WITH(ENOTCONN, xenevtchn_notify(x.h, static_cast<evtchn_port_t>(l0)));
    XT_FAILS_WITH(EINVAL, xenevtchn_unbind(x.h, 1u << 17));  // beyond the port space (Linux: NR_EVENT_CHANNELS)
    // The firing while unbound is the next binder's: it is delivered at bind.
    Xce y;
    y.nonblocking();
    const int m0 = xenevtchn_bind_interdomain(y.h, d.id, 0);
    REQUIRE(m0 == l0);  // the port was freed: the smallest free is reused
    CHECK(xenevtchn_pending(y.h) == m0);
    answer(d, s, y.h, static_cast<evtchn_port_t>(m0), 0, 3);
    REQUIRE(xenevtchn_unmask(y.h, static_cast<evtchn_port_t>(m0)) == 0);
    // close: y's port is free again and y's handle gets nothing more
    REQUIRE(xenevtchn_close(y.h) == 0);
    y.h = nullptr;
    start_read(d, 0, kPortsA);
    const int n0 = xenevtchn_bind_interdomain(x.h, d.id, 0);  // free again after close
    CHECK(n0 == m0);
    CHECK(xenevtchn_pending(x.h) == n0);
    answer(d, s, x.h, static_cast<evtchn_port_t>(n0), 0, 4);
}

TEST_CASE("evtchn/a_port_is_delivered_to_the_handle_that_bound_it_whoever_collects") {
    Dom d(2);
    Dmod dm;
    Xce x;
    Xce y;
    x.nonblocking();
    y.nonblocking();
    Server s = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    const int lx = xenevtchn_bind_interdomain(x.h, d.id, 0);
    const int ly = xenevtchn_bind_interdomain(y.h, d.id, 1);
    REQUIRE(lx >= 1);
    REQUIRE(ly >= 1);
    start_read(d, 1, kPortsA);
    check_nothing_pending(x.h);  // x collected y's port and handed it over
    pollfd p{xenevtchn_fd(y.h), POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 1);
    CHECK(xenevtchn_pending(y.h) == ly);
    XT_FAILS_WITH(ENOTCONN, xenevtchn_notify(x.h, static_cast<evtchn_port_t>(ly)));  // not x's
    answer(d, s, y.h, static_cast<evtchn_port_t>(ly), 1, 9);
}

TEST_CASE("evtchn/ports_of_a_destroyed_server_fire_no_more_and_notify_drops") {
    Dom d(2);
    Dmod dm;
    Xce x;
    x.nonblocking();
    Server a = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    const int l0 = xenevtchn_bind_interdomain(x.h, d.id, 0);
    REQUIRE(l0 >= 1);
    REQUIRE(xendevicemodel_destroy_ioreq_server(dm.h, d.id, a.id) == 0);
    // a new server takes the same id: the old local port is not its
    Server b = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    CHECK(b.id == a.id);
    start_read(d, 0, kPortsA);
    check_nothing_pending(x.h);
    CHECK(xenevtchn_notify(x.h, static_cast<evtchn_port_t>(l0)) == 0);  // connected to nothing: dropped
    const int m0 = xenevtchn_bind_interdomain(x.h, d.id, 0);  // b's port 0, fired while unbound
    REQUIRE(m0 >= 1);
    CHECK(m0 != l0);
    CHECK(xenevtchn_pending(x.h) == m0);
    answer(d, b, x.h, static_cast<evtchn_port_t>(m0), 0, 2);
}

TEST_CASE("evtchn/a_server_gone_with_its_domain_is_forgotten_and_its_ports_fire_no_more") {
    Dmod dm;
    Xce x;
    x.nonblocking();
    hv_domain* dom = nullptr;
    domid_t domid = 0;
    {
        hv_domain_config cfg;
        std::memset(&cfg, 0, sizeof cfg);
        cfg.size = sizeof cfg;
        cfg.arch = HV_ARCH_X86_VMX;
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = 1;
        REQUIRE(hv_domain_create(world().host, &cfg, &dom) == 0);
        domid = hv_domain_id(dom);
    }
    ioservid_t id = 0;
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, domid, 0, &id) == 0);
    const int l0 = xenevtchn_bind_interdomain(x.h, domid, 0);
    REQUIRE(l0 >= 1);
    REQUIRE(hv_domain_destroy(dom) == 0);  // the server goes with it, not through libxendevicemodel
    std::vector<hvx_server> v(hvx_servers(nullptr, 0));
    CHECK(v.size() == 1);  // still recorded: nothing told the registry
    // its eventfd is readable (the server is destroyed); pending finds it
    // gone, forgets it and has nothing, instead of waking forever
    check_nothing_pending(x.h);
    CHECK(hvx_servers(nullptr, 0) == 0);
    pollfd p{xenevtchn_fd(x.h), POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0);
    CHECK(xenevtchn_notify(x.h, static_cast<evtchn_port_t>(l0)) == 0);  // connected to nothing now
    CHECK(xenevtchn_unbind(x.h, static_cast<evtchn_port_t>(l0)) == 0);
}

TEST_CASE("evtchn/bind_interdomain_refuses_with_xens_errnos") {
    Dom d(2);
    Dmod dm;
    Xce x;
    XT_FAILS_WITH(EINVAL, xenevtchn_bind_interdomain(x.h, d.id, 0));  // no server yet
    make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    XT_FAILS_WITH(EINVAL, xenevtchn_bind_interdomain(x.h, d.id, 2));  // the ring's port, no ring
    XT_FAILS_WITH(EINVAL, xenevtchn_bind_interdomain(x.h, d.id, 3));  // beyond
    XT_FAILS_WITH(ESRCH, xenevtchn_bind_interdomain(x.h, 0x7ff0, 0));  // no such domain
    REQUIRE(xenevtchn_bind_interdomain(x.h, d.id, 0) >= 1);
    XT_FAILS_WITH(EINVAL, xenevtchn_bind_interdomain(x.h, d.id, 0));  // bound already
    XT_FAILS_WITH(ENOTCONN, xenevtchn_notify(x.h, 0));  // Xen's port 0 is never a channel
}

TEST_CASE("evtchn/restrict_refuses_binds_to_other_domains_with_eacces") {
    Dom d(2);
    Dom e(2);
    Dmod dm;
    Xce x;
    make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    make_server(dm.h, e, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    XT_FAILS_WITH(EINVAL, xenevtchn_restrict(x.h, 0));  // domid 0 (Linux: dom0 is never a target)
    XT_FAILS_WITH(EINVAL, xenevtchn_restrict(x.h, DOMID_FIRST_RESERVED));
    REQUIRE(xenevtchn_restrict(x.h, d.id) == 0);
    XT_FAILS_WITH(EACCES, xenevtchn_restrict(x.h, d.id));  // once only
    XT_FAILS_WITH(EACCES, xenevtchn_bind_interdomain(x.h, e.id, 0));
    XT_FAILS_WITH(EACCES, xenevtchn_bind_unbound_port(x.h, d.id));
    XT_FAILS_WITH(EACCES, xenevtchn_bind_virq(x.h, VIRQ_TIMER));
    CHECK(xenevtchn_bind_interdomain(x.h, d.id, 0) >= 1);
    Xce y;  // another handle is not restricted
    CHECK(xenevtchn_bind_interdomain(y.h, e.id, 0) >= 1);
}

TEST_CASE("evtchn/an_unbound_port_never_fires_and_notify_on_it_drops_the_event") {
    Dom d(1);
    Xce x;
    x.nonblocking();
    const int u = xenevtchn_bind_unbound_port(x.h, d.id);
    REQUIRE(u >= 1);
    CHECK(xenevtchn_notify(x.h, static_cast<evtchn_port_t>(u)) == 0);
    check_nothing_pending(x.h);
    CHECK(xenevtchn_unbind(x.h, static_cast<evtchn_port_t>(u)) == 0);
}

TEST_CASE("evtchn/bind_virq_and_fdopen_are_refused_there_is_no_event_channel_device") {
    Xce x;
    XT_FAILS_WITH(EOPNOTSUPP, xenevtchn_bind_virq(x.h, VIRQ_TIMER));
    XT_FAILS_WITH(EINVAL, xenevtchn_bind_virq(x.h, NR_VIRQS));
    errno = 0;
    CHECK(xenevtchn_fdopen(nullptr, xenevtchn_fd(x.h), 0) == nullptr);
    CHECK(errno == EOPNOTSUPP);
    xenevtchn_handle* other = xenevtchn_open(nullptr, 2);  // an unknown flag is ignored, as Xen's
    CHECK(other != nullptr);
    CHECK(xenevtchn_close(other) == 0);
    xenevtchn_handle* nc = xenevtchn_open(nullptr, XENEVTCHN_NO_CLOEXEC);
    REQUIRE(nc != nullptr);
    CHECK((fcntl(xenevtchn_fd(nc), F_GETFD) & FD_CLOEXEC) == 0);
    CHECK((fcntl(xenevtchn_fd(x.h), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(xenevtchn_close(nc) == 0);
    CHECK(xenevtchn_close(nullptr) == 0);
}

TEST_SUITE("concurrent") {
// One handle used from two threads at once (pending, notify, unmask), as
// Linux allows on one /dev/xen/evtchn file, while four vCPU threads make
// requests: every request is reported once, to one thread, and answered.
TEST_CASE("evtchn/one_handle_used_from_two_threads_reports_each_request_once") {
    constexpr uint32_t kVcpus = 4;
    constexpr int kRounds = 50;
    Dom d(kVcpus);
    Dmod dm;
    Xce x;
    x.nonblocking();
    Server s = make_server(dm.h, d, HVM_IOREQSRV_BUFIOREQ_OFF, kPortsA);
    evtchn_port_t local[kVcpus];
    for (uint32_t v = 0; v < kVcpus; ++v) {
        const int p = xenevtchn_bind_interdomain(x.h, d.id, v);
        REQUIRE(p >= 1);
        local[v] = static_cast<evtchn_port_t>(p);
    }
    std::atomic<int> answered{0};
    std::atomic<int> errors{0};  // doctest's CHECK is not for other threads
    std::atomic<int> per_vcpu[kVcpus] = {};
    auto consumer = [&] {
        while (answered.load() < static_cast<int>(kVcpus) * kRounds) {
            pollfd p{xenevtchn_fd(x.h), POLLIN, 0};
            (void)poll(&p, 1, 20);
            const int port = xenevtchn_pending(x.h);
            if (port < 0) {
                if (errno != EAGAIN) ++errors;
                continue;
            }
            uint32_t v = kVcpus;
            for (uint32_t k = 0; k < kVcpus; ++k)
                if (local[k] == static_cast<evtchn_port_t>(port)) v = k;
            if (v == kVcpus) {
                ++errors;
                continue;
            }
            hvdm_ioreq_t& r = s.page->vcpu_ioreq[v];
            std::atomic_thread_fence(std::memory_order_acquire);
            if (static_cast<unsigned>(r.state) != HVDM_STATE_IOREQ_READY) ++errors;  // reported twice?
            r.data = 0x100u + v;
            std::atomic_thread_fence(std::memory_order_release);
            r.state = HVDM_STATE_IORESP_READY;
            if (xenevtchn_notify(x.h, local[v]) != 0) ++errors;
            if (xenevtchn_unmask(x.h, local[v]) != 0) ++errors;
            ++per_vcpu[v];
            ++answered;
        }
    };
    auto vcpu = [&](uint32_t v) {
        for (int i = 0; i < kRounds; ++i) {
            uint64_t value = 0;
            if (hv_vcpu_pio(d.d, v, kPortsA, 4, 0, &value) != HV_VCPU_IOREQ_PENDING) {
                ++errors;
                return;
            }
            int rc = HV_VCPU_IOREQ_PENDING;
            while ((rc = hv_vcpu_resume(d.d, v, &value)) == HV_VCPU_IOREQ_PENDING) std::this_thread::yield();
            if (rc != HV_VCPU_DONE || value != 0x100u + v) ++errors;
        }
    };
    std::vector<std::thread> threads;
    threads.emplace_back(consumer);
    threads.emplace_back(consumer);
    for (uint32_t v = 0; v < kVcpus; ++v) threads.emplace_back(vcpu, v);
    for (auto& t : threads) t.join();
    CHECK(errors.load() == 0);
    CHECK(answered.load() == static_cast<int>(kVcpus) * kRounds);
    for (uint32_t v = 0; v < kVcpus; ++v) CHECK(per_vcpu[v].load() == kRounds);
    check_nothing_pending(x.h);
}
}  // TEST_SUITE("concurrent")
