// SPDX-License-Identifier: MIT
// Event suppression loses no wake-up (core/include/hvcore/core/ioreq.hpp,
// EventPage): hvcore signals the eventfd only while the device model may
// sleep (dm_awake 0), and the device model notifies an answer only while a
// thread of hvcore sleeps on the slot (vcpu_waiting). Each test makes
// thousands of requests, some in a burst (the device model stays awake and
// is not signalled) and some after a pause (it has gone to sleep in poll
// and must be signalled), and checks that every one is answered, once and
// in order (tests/ipc/dm_seq.h), within a deadline: a lost wake-up leaves a
// request unanswered for ever. The device model runs in a thread on an
// hvdm_open handle, in a thread on an hvdm_connect handle (the socket
// transport: the same shared pages), and in its own process (dm_proc).
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "abi_objects.hpp"
#include "dm_seq.h"
#include "hvcore/core/backend.hpp"
#include "hvcore/core/domain.hpp"
#include "hvcore/core/ioreq.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "load_common.hpp"

#ifndef HVCORE_DM_PROC
#error "HVCORE_DM_PROC: the path of the dm_proc program"
#endif

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t mmio = 0xfebf0000;
constexpr uint64_t gfn = 0x100;
constexpr uint64_t requests = 2000;
constexpr auto deadline = std::chrono::seconds(20);  // per request: far above any scheduling delay

bool is_x86(uint32_t arch) { return arch == HV_ARCH_X86_VMX || arch == HV_ARCH_X86_SVM; }
std::string arch_name(uint32_t arch) {
    switch (arch) {
    case HV_ARCH_ARM64: return "arm64";
    case HV_ARCH_RISCV64: return "riscv64";
    default: return "x86";
    }
}

// Every 8th request or so (a fixed pseudo-random pattern) comes after a
// pause long enough for the device model to go to sleep.
bool pause_before(uint64_t n) { return (n * 2654435761u >> 7) % 8 == 0; }
void pause_a_while() { std::this_thread::sleep_for(std::chrono::microseconds(300)); }

struct Guest {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    uint32_t arch = 0;
    explicit Guest(uint32_t a) : arch(a) {
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = a;
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = 1;
        REQUIRE(hv_host_create(&host) == 0);
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
    }
    ~Guest() { hv_host_destroy(host); }
    Guest(const Guest&) = delete;
    Guest& operator=(const Guest&) = delete;
    [[nodiscard]] hvdm_domid_t domid() const { return hv_domain_id(dom); }

    // dm_seq's protocol for vCPU 0: the RAM word, then the write of n to
    // the claimed page; then hv_vcpu_resume until it is answered. An empty
    // string, or what went wrong.
    std::string model_write(uint64_t n) {
        if (hv_guest_write(dom, gfn * 4096, &n, sizeof n) != 0) return "hv_guest_write";
        const int rc = hv_vcpu_store(dom, 0, mmio, 8, n);
        if (rc == HV_VCPU_DONE) return "";
        if (rc != HV_VCPU_IOREQ_PENDING) return "hv_vcpu_store " + std::to_string(rc);
        const auto until = Clock::now() + deadline;
        for (;;) {
            const int r = hv_vcpu_resume(dom, 0, nullptr);
            if (r == HV_VCPU_DONE) return "";
            if (r != HV_VCPU_IOREQ_PENDING) return "hv_vcpu_resume " + std::to_string(r);
            if (Clock::now() > until) return "request " + std::to_string(n) + " never answered (a lost wake-up)";
            std::this_thread::yield();
        }
    }
    // The device model's count of vCPU 0's writes (dm_seq: an 8-byte read).
    uint64_t received() {
        uint64_t v = 0;
        int rc = hv_vcpu_load(dom, 0, mmio, 8, &v);
        const auto until = Clock::now() + deadline;
        while (rc == HV_VCPU_IOREQ_PENDING && Clock::now() < until) {
            std::this_thread::yield();
            rc = hv_vcpu_resume(dom, 0, &v);
        }
        CHECK(rc == HV_VCPU_DONE);
        return v;
    }
};

// The device model in a thread of this process, on `h`.
struct DmThread {
    dmseq s{};
    int stop = eventfd(0, EFD_CLOEXEC);
    int rc = 0;
    std::thread t;
    DmThread(hvdm_handle* h, const Guest& g) {
        const char* what = "";
        REQUIRE(dmseq_setup(&s, h, g.domid(), mmio, gfn, is_x86(g.arch) ? DMSEQ_X86 : DMSEQ_ARM,
                            is_x86(g.arch) ? 4 : 40, &what) == 0);
        t = std::thread([this, h, d = g.domid()] { rc = hvdm_serve(h, d, &s.id, 1, stop, dmseq_serve, &s); });
    }
    void end() {
        const uint64_t one = 1;
        REQUIRE(write(stop, &one, sizeof one) == sizeof one);
        t.join();
        close(stop);
        CHECK(rc == 0);
        CHECK(s.v[0].lost == 0);
        CHECK(s.v[0].dup == 0);
        CHECK(s.v[0].mem_bad == 0);
        CHECK(s.other == 0);
    }
};

void drive_model(Guest& g) {
    for (uint64_t n = 1; n <= requests; ++n) {
        if (pause_before(n)) pause_a_while();
        const std::string err = g.model_write(n);
        if (!err.empty()) FAIL(err);
    }
    CHECK(g.received() == requests);
}

// A listener on the guest's host at a socket named after this process,
// closed at the end of the scope.
struct Listener {
    std::string sock;
    hv_dm_listener* l = nullptr;
    Listener(const Guest& g, const char* prefix) : sock(prefix + std::to_string(getpid()) + ".sock") {
        hv_dm_listen_config lc{};
        lc.size = sizeof lc;
        REQUIRE(hv_dm_listen(g.host, sock.c_str(), &lc, &l) == 0);
    }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener() { hv_dm_listener_close(l); }
};

}  // namespace

TEST_CASE("model_vcpu_requests_are_all_answered_by_a_device_model_thread_that_sleeps_and_wakes") {
    for (const auto& b : hvcore::linked_backends()) {
        Guest g(static_cast<uint32_t>(b.arch));
        CAPTURE(arch_name(g.arch));
        hvdm_handle* h = hvdm_open(g.host);
        REQUIRE(h != nullptr);
        DmThread dm(h, g);
        drive_model(g);
        dm.end();
        CHECK(dm.s.v[0].received == requests);
        CHECK(hvdm_close(h) == 0);
    }
}

TEST_CASE("model_vcpu_requests_are_all_answered_over_the_socket_transport") {
    for (const auto& b : hvcore::linked_backends()) {
        Guest g(static_cast<uint32_t>(b.arch));
        CAPTURE(arch_name(g.arch));
        Listener l(g, "hvcore-wakeup-");
        hvdm_handle* h = hvdm_connect(l.sock.c_str());
        REQUIRE(h != nullptr);
        {
            DmThread dm(h, g);
            drive_model(g);
            dm.end();
            CHECK(dm.s.v[0].received == requests);
        }
        CHECK(hvdm_close(h) == 0);
    }
}

TEST_CASE("model_vcpu_requests_are_all_answered_by_a_device_model_process") {
    for (const auto& b : hvcore::linked_backends()) {
        Guest g(static_cast<uint32_t>(b.arch));
        CAPTURE(arch_name(g.arch));
        Listener l(g, "hvcore-wakeup-p");
        hvcore_load::Dm dm = hvcore_load::spawn_dm_proc(HVCORE_DM_PROC, l.sock, g.domid(), arch_name(g.arch), mmio,
                                                        gfn, is_x86(g.arch) ? 4 : 40);
        const std::string ready = hvcore_load::read_line(dm.out);
        REQUIRE(ready.rfind("ready ", 0) == 0);
        drive_model(g);
        close(dm.in);  // ends its hvdm_serve
        const std::string report = hvcore_load::read_all(dm.out);
        int status = 0;
        REQUIRE(waitpid(dm.pid, &status, 0) == dm.pid);
        close(dm.out);
        CAPTURE(report);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
        const std::vector<uint64_t> total = hvcore_load::numbers(report, "total ");
        REQUIRE(total.size() >= 5);
        CHECK(total[0] == requests);  // received
        CHECK(total[1] == 0);         // lost
        CHECK(total[2] == 0);         // dup
    }
}

// The vCPU side: a host's vCPU thread sleeps in host_access until the
// answer is notified, and hvdm_serve notifies only while it sleeps.
TEST_CASE("a_sleeping_vcpu_thread_is_woken_for_every_answer") {
    for (const auto& b : hvcore::linked_backends()) {
        Guest g(static_cast<uint32_t>(b.arch));
        CAPTURE(arch_name(g.arch));
        hvdm_handle* h = hvdm_open(g.host);
        REQUIRE(h != nullptr);
        DmThread dm(h, g);
        hvcore::Domain& d = *g.dom->d;
        // A lost wake-up would block host_access for ever: past the
        // deadline, the watchdog ends it (-ESHUTDOWN) and the test fails.
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
        std::atomic<bool> fired{false};
        std::thread watchdog([&] {
            std::unique_lock lk(mu);
            if (!cv.wait_for(lk, deadline * 3, [&] { return done; })) {
                fired = true;
                d.shutdown_host();
            }
        });
        for (uint64_t n = 1; n <= requests; ++n) {
            if (pause_before(n)) pause_a_while();
            REQUIRE(hv_guest_write(g.dom, gfn * 4096, &n, sizeof n) == 0);
            uint64_t value = 0;
            const int rc = d.host_access(0, hvcore::HostAccess{.is_pio = false, .is_write = true, .addr = mmio,
                                                               .size = 8, .data = n},
                                         &value, nullptr);
            if (rc != 0) {
                CAPTURE(n);
                FAIL("host_access: " << rc << (fired ? " (a lost wake-up: the watchdog ended it)" : ""));
            }
        }
        {
            std::lock_guard lk(mu);
            done = true;
        }
        cv.notify_one();
        watchdog.join();
        dm.end();
        CHECK(dm.s.v[0].received == requests);
        CHECK(hvdm_close(h) == 0);
    }
}

// What each side skips: a post while the device model is awake signals
// nothing; one while it sleeps (or after hvdm_serve has returned, or for a
// device model that never said it is awake) signals the eventfd.
TEST_CASE("hvcore_signals_the_eventfd_only_while_the_device_model_may_sleep") {
    for (const auto& b : hvcore::linked_backends()) {
        Guest g(static_cast<uint32_t>(b.arch));
        CAPTURE(arch_name(g.arch));
        hvdm_handle* h = hvdm_open(g.host);
        REQUIRE(h != nullptr);
        dmseq s{};
        const char* what = "";
        REQUIRE(dmseq_setup(&s, h, g.domid(), mmio, gfn, is_x86(g.arch) ? DMSEQ_X86 : DMSEQ_ARM,
                            is_x86(g.arch) ? 4 : 40, &what) == 0);
        hvdm_shared_iopage* page = nullptr;
        REQUIRE(hvdm_map_ioreq_pages(h, g.domid(), s.id, &page, nullptr) == 0);
        auto* map = reinterpret_cast<std::byte*>(page) - hvcore::ioreq_frame_ioreq * hvcore::page_size;
        hvcore::EventPage& ev = *hvcore::IoreqPages::layout(map, false).events;
        auto* slot = reinterpret_cast<hvcore::IoreqSlot*>(page);
        const int efd = hvdm_ioreq_fd(h, g.domid(), s.id);
        REQUIRE(efd >= 0);
        auto signalled = [&] {
            uint64_t count = 0;
            return read(efd, &count, sizeof count) == sizeof count && count != 0;
        };
        auto answer = [&] {
            REQUIRE(hvcore::slot_state(*slot) == hvcore::ioreq::state_ready);
            hvcore::slot_set_state(*slot, hvcore::ioreq::state_resp_ready);
            REQUIRE(hv_vcpu_resume(g.dom, 0, nullptr) == HV_VCPU_DONE);
        };
        (void)signalled();
        CHECK(ev.dm_awake == 0);  // a new view: signal
        REQUIRE(hv_vcpu_store(g.dom, 0, mmio, 8, 1) == HV_VCPU_IOREQ_PENDING);
        CHECK(signalled());
        answer();
        hvcore::dm_mark_awake(ev);
        REQUIRE(hv_vcpu_store(g.dom, 0, mmio, 8, 2) == HV_VCPU_IOREQ_PENDING);
        CHECK_FALSE(signalled());
        // The device model, about to sleep, finds the port's bit instead.
        CHECK(hvcore::dm_prepare_sleep(ev));
        answer();
        uint32_t ports[4];
        CHECK(hvdm_ioreq_pending(h, g.domid(), s.id, ports, 4) == 1);
        CHECK_FALSE(hvcore::dm_prepare_sleep(ev));
        REQUIRE(hv_vcpu_store(g.dom, 0, mmio, 8, 3) == HV_VCPU_IOREQ_PENDING);
        CHECK(signalled());
        answer();
        // hvdm_serve marks the pages awake while it runs and leaves them
        // asleep (signalled) when it returns.
        const int stop = eventfd(1, EFD_CLOEXEC);
        hvcore::dm_mark_awake(ev);
        CHECK(hvdm_serve(h, g.domid(), &s.id, 1, stop, dmseq_serve, &s) == 0);
        CHECK(ev.dm_awake == 0);
        close(stop);
        CHECK(hvdm_close(h) == 0);
    }
}
