// SPDX-License-Identifier: MIT
// The load test on KVM (label ipc-load; tests/ipc/test_load.cpp is the same
// on the model vCPUs): four device-model processes (dm_proc) serve an
// 8-vCPU guest running real code (load_guest.S) for $HVCORE_LOAD_MS
// milliseconds (default 1000, 300 under ASan); each checks per vCPU that
// every number arrives once and in order and that its mapping of guest RAM
// shows it. One variant kills a device model with SIGKILL halfway: the
// other three stay exact, the guest runs to its end, and the killed one's
// vCPUs read all ones. Skipped, with the reason, where /dev/kvm cannot run
// a VM (test_main.cpp).
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>

#include "kvm_fixture.hpp"
#include "load_common.hpp"
#include "load_guest.h"

#ifndef HVCORE_DM_PROC
#error "HVCORE_DM_PROC: the path of the dm_proc program"
#endif

using namespace hvcore::kvm;
using namespace hvcore::kvm::test;
using namespace hvcore_load;

namespace {

constexpr unsigned nr_dms = 4;
constexpr unsigned nr_vcpus = 8;

void run(bool kill_one) {
    VmOptions opt;
    opt.timeout = std::chrono::seconds(30);
    Guest g(opt, nr_vcpus);
    const std::string sock = "hvcore-kvm-load-" + std::to_string(getpid()) + (kill_one ? "k" : "") + ".sock";
    hv_dm_listen_config lc{};
    lc.size = sizeof lc;
    hv_dm_listener* l = nullptr;
    REQUIRE(hv_dm_listen(g.host, sock.c_str(), &lc, &l) == 0);
    std::array<Dm, nr_dms> dms;
    for (unsigned i = 0; i < nr_dms; ++i)
        dms[i] = spawn_dm_proc(HVCORE_DM_PROC, sock, g.domid, "x86", LG_MMIO + i * 4096ull, LG_RAM / 4096 + i, 3 + i);
    for (unsigned i = 0; i < nr_dms; ++i) REQUIRE(read_line(dms[i].out).rfind("ready ", 0) == 0);
    hv_irq_state irq{};
    irq.size = sizeof irq;
    REQUIRE(hv_domain_irq_state(g.dom, &irq) == 0);
    for (unsigned i = 0; i < nr_dms; ++i) CHECK(((irq.isa_irq_levels >> (3 + i)) & 1u) != 0);

    const std::vector<uint8_t> img = Guest::read_image(HVCORE_TEST_GUEST_DIR "/load_guest.bin");
    REQUIRE(g.vm->load(img, LG_LOAD).is_ok());
    for (uint32_t v = 0; v < nr_vcpus; ++v)
        REQUIRE(g.vm->boot(v, VcpuBoot{.mode = CpuMode::long64, .entry = LG_LOAD, .stack = LG_STACK - v * 0x10000ull})
                    .is_ok());
    const int ms = load_ms();
    Error err;
    std::thread runner([&] { err = g.vm->run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(ms / 2));
    if (kill_one) {
        REQUIRE(kill(dms[3].pid, SIGKILL) == 0);
        dms[3].killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms - ms / 2));
    const uint64_t one = 1;
    REQUIRE(hv_guest_write(g.dom, LG_STOP, &one, sizeof one) == 0);
    runner.join();
    CHECK_MESSAGE(err.is_ok(), err.what());
    CHECK(g.vm->end() == RunEnd::halted);

    end_all(dms);
    Totals t;
    for (unsigned v = 0; v < nr_vcpus; ++v) {
        CAPTURE(v);
        const uint64_t last = g.ram_u64(LG_RESULT + v * 16);
        const uint64_t readback = g.ram_u64(LG_RESULT + v * 16 + 8);
        const Dm& dm = dms[v % nr_dms];
        if (dm.killed) {
            CHECK(readback == ~uint64_t{0});
            continue;
        }
        CHECK(last > 0);
        CHECK(readback == last);
        check_vcpu_report(dm, v, last, t);
    }
    check_exact(t);
    char reason[128] = {};
    CHECK(hv_domain_stop_reason(g.dom, reason, sizeof reason) == 0);
    hv_dm_listener_close(l);
    MESSAGE("KVM, ", ms, " ms, ", nr_dms, " device-model processes", std::string(kill_one ? " (one killed halfway)" : ""),
            ", ", nr_vcpus, " vCPUs: ioreqs sent ", t.sent, ", received ", t.received, ", lost ", t.lost,
            ", duplicated or reordered ", t.dup, ", RAM mismatches ", t.mem_bad);
}

}  // namespace

TEST_SUITE("ipc-load") {
    TEST_CASE("four device-model processes serve an 8-vCPU KVM guest: every ioreq arrives once and in order") {
        run(false);
    }
    TEST_CASE("a device-model process of a KVM guest killed with SIGKILL halfway through: the others stay exact "
              "and the guest runs to its end") {
        run(true);
    }
}
