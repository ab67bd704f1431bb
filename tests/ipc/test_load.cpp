// SPDX-License-Identifier: MIT
// Load (label ipc-load): four device-model processes (dm_proc, a C99 device
// model connected with hvdm_connect) serve an 8-vCPU guest on the model
// vCPUs of every backend. vCPU v writes 1, 2, 3, ... to offset v * 8 of
// device model v % 4's claimed MMIO page, storing each number to that
// device model's mapped RAM page first; each device model checks per vCPU
// that every number arrives once and in order and that its view of guest
// RAM shows it (dm_seq.h). The run lasts $HVCORE_LOAD_MS milliseconds
// (default 1000, 300 under ASan). One variant kills a device model with
// SIGKILL halfway: the others stay exact and the guest finishes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "load_common.hpp"

#ifndef HVCORE_DM_PROC
#error "HVCORE_DM_PROC: the path of the dm_proc program"
#endif

using namespace hvcore_load;

namespace {

using Clock = std::chrono::steady_clock;

constexpr unsigned nr_dms = 4;
constexpr unsigned nr_vcpus = 8;
constexpr uint64_t mmio_base = 0xfebf0000;  // DM i claims mmio_base + i * 4096
constexpr uint64_t ram_gfn = 0x100;         // DM i maps gfn ram_gfn + i
constexpr uint64_t all_ones = ~uint64_t{0};

std::string arch_name(uint32_t arch) {
    switch (arch) {
    case HV_ARCH_ARM64: return "arm64";
    case HV_ARCH_RISCV64: return "riscv64";
    default: return "x86";
    }
}
bool is_x86(uint32_t arch) { return arch == HV_ARCH_X86_VMX || arch == HV_ARCH_X86_SVM; }
unsigned dm_irq(uint32_t arch, unsigned i) { return is_x86(arch) ? 3 + i : 40 + i; }

bool irq_high(const hv_irq_state& s, uint32_t arch, unsigned irq) {
    if (is_x86(arch)) return ((s.isa_irq_levels >> irq) & 1u) != 0;
    return ((s.spi_level[irq / 32] >> (irq % 32)) & 1u) != 0;
}

struct VcpuResult {
    uint64_t sent = 0;          // writes the device model answered
    uint64_t dropped = 0;       // writes that completed at once (no device model)
    uint64_t readback = 0;      // the final read of its offset
    int final_rc = -1;          // that read's first status
    std::string error;
};

// Waits for a pending access of vCPU v to complete (the model vCPUs never
// block: poll the resume). HV_VCPU_DONE, or an error status.
int finish(hv_domain* d, unsigned v, uint64_t* value) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (unsigned spins = 0;; ++spins) {
        const int rc = hv_vcpu_resume(d, v, value);
        if (rc != HV_VCPU_IOREQ_PENDING) return rc;
        if (Clock::now() > deadline) return -ETIMEDOUT;
        if (spins < 200)
            std::this_thread::yield();
        else
            std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
}

// victim: v's device model is killed during the run; v goes on past the
// end until one of its writes was dropped (the host has seen the hang-up,
// however slow the machine), so that its last read finds nobody.
void vcpu_loop(hv_domain* d, unsigned v, Clock::time_point end, bool victim, VcpuResult* r) {
    const unsigned dm = v % nr_dms;
    const uint64_t mmio = mmio_base + dm * 4096ull + v * 8ull;
    const uint64_t ram = (ram_gfn + dm) * 4096 + v * 8ull;
    const auto more = [&] {
        const auto now = Clock::now();
        return now < end || (victim && r->dropped == 0 && now < end + std::chrono::seconds(10));
    };
    for (uint64_t seq = 1; more(); ++seq) {
        if (hv_vcpu_store(d, v, ram, 8, seq) != HV_VCPU_DONE) {
            r->error = "RAM store did not complete";
            return;
        }
        int rc = hv_vcpu_store(d, v, mmio, 8, seq);
        if (rc == HV_VCPU_DONE) {  // nobody holds the page any more
            ++r->dropped;
            continue;
        }
        if (rc != HV_VCPU_IOREQ_PENDING || (rc = finish(d, v, nullptr)) != HV_VCPU_DONE) {
            r->error = "MMIO store: status " + std::to_string(rc);
            return;
        }
        ++r->sent;
    }
    uint64_t value = 0;
    r->final_rc = hv_vcpu_load(d, v, mmio, 8, &value);
    int rc = r->final_rc;
    if (rc == HV_VCPU_IOREQ_PENDING) rc = finish(d, v, &value);
    if (rc != HV_VCPU_DONE) r->error = "final read: status " + std::to_string(rc);
    r->readback = value;
}

// The host's log lines (the listener logs a device model's hang-up).
struct Log {
    std::mutex mu;
    std::vector<std::string> lines;
    static void sink(void* opaque, int, const char* message) {
        auto* self = static_cast<Log*>(opaque);
        std::lock_guard lk(self->mu);
        self->lines.emplace_back(message);
    }
    // Waits up to 5 s for a line containing a and b.
    bool has(const std::string& a, const std::string& b) {
        for (int i = 0; i < 500; ++i) {
            {
                std::lock_guard lk(mu);
                for (const auto& m : lines)
                    if (m.find(a) != std::string::npos && m.find(b) != std::string::npos) return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
};

// One run on a domain of arch; with kill_one, device model 3 is killed
// with SIGKILL halfway through.
Totals run(uint32_t arch, bool kill_one) {
    const std::string name = arch == HV_ARCH_X86_VMX   ? "x86_vmx"
                             : arch == HV_ARCH_X86_SVM ? "x86_svm"
                                                       : arch_name(arch);
    CAPTURE(name);
    hv_host* host = nullptr;
    REQUIRE(hv_host_create(&host) == 0);
    Log log;
    REQUIRE(hv_host_set_log(host, &Log::sink, &log, HV_LOG_DEBUG) == 0);
    hv_domain_config cfg{};
    cfg.size = sizeof cfg;
    cfg.arch = arch;
    cfg.ram_bytes = 16u << 20;
    cfg.nr_vcpus = nr_vcpus;
    hv_domain* dom = nullptr;
    REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
    const hvdm_domid_t domid = hv_domain_id(dom);
    const std::string sock = "hvcore-load-" + std::to_string(getpid()) + "-" + std::to_string(arch) +
                             (kill_one ? "k" : "") + ".sock";
    hv_dm_listen_config lc{};
    lc.size = sizeof lc;
    hv_dm_listener* l = nullptr;
    REQUIRE(hv_dm_listen(host, sock.c_str(), &lc, &l) == 0);

    std::array<Dm, nr_dms> dms;
    for (unsigned i = 0; i < nr_dms; ++i)
        dms[i] = spawn_dm_proc(HVCORE_DM_PROC, sock, domid, arch_name(arch), mmio_base + i * 4096ull, ram_gfn + i,
                               dm_irq(arch, i));
    for (unsigned i = 0; i < nr_dms; ++i) REQUIRE(read_line(dms[i].out).rfind("ready ", 0) == 0);

    // Each raised its line before serving.
    hv_irq_state irq{};
    irq.size = sizeof irq;
    REQUIRE(hv_domain_irq_state(dom, &irq) == 0);
    for (unsigned i = 0; i < nr_dms; ++i) CHECK(irq_high(irq, arch, dm_irq(arch, i)));

    const int ms = load_ms();
    const auto start = Clock::now();
    const auto end = start + std::chrono::milliseconds(ms);
    std::array<VcpuResult, nr_vcpus> res;
    std::vector<std::thread> threads;
    for (unsigned v = 0; v < nr_vcpus; ++v) threads.emplace_back(vcpu_loop, dom, v, end, kill_one && v % nr_dms == 3, &res[v]);
    if (kill_one) {
        std::this_thread::sleep_until(start + std::chrono::milliseconds(ms / 2));
        REQUIRE(kill(dms[3].pid, SIGKILL) == 0);
        dms[3].killed = true;
    }
    for (auto& t : threads) t.join();
    // The hang-up was seen (the killed one's vCPUs had a write dropped
    // before they stopped) and logged with the pid.
    if (kill_one) CHECK(log.has("pid " + std::to_string(dms[3].pid), "hung up"));

    // The live device models report and exit.
    end_all(dms);

    Totals t;
    for (unsigned v = 0; v < nr_vcpus; ++v) {
        CAPTURE(v);
        const VcpuResult& r = res[v];
        CHECK(r.error == "");
        const Dm& dm = dms[v % nr_dms];
        if (dm.killed) {
            // Its writes after the hang-up were dropped at once; its last
            // read found nobody: all ones, without waiting.
            CHECK(r.final_rc == HV_VCPU_DONE);
            CHECK(r.readback == all_ones);
            CHECK(r.dropped > 0);
            t.dropped += r.dropped;
            continue;
        }
        CHECK(r.dropped == 0);
        CHECK(r.sent > 0);
        CHECK(r.final_rc == HV_VCPU_IOREQ_PENDING);
        CHECK(r.readback == r.sent);  // the device model's count, read by the guest
        check_vcpu_report(dm, v, r.sent, t);
    }
    for (const Dm& dm : dms) {
        if (dm.killed) continue;
        const auto n = numbers(dm.report, "total ");
        REQUIRE(n.size() == 5);
        CHECK(n[4] == 0);  // no request outside the protocol
    }

    // The guest is still running; the live device models' lines are up.
    char reason[128] = {};
    CHECK(hv_domain_stop_reason(dom, reason, sizeof reason) == 0);
    REQUIRE(hv_domain_irq_state(dom, &irq) == 0);
    for (unsigned i = 0; i < nr_dms; ++i)
        if (!dms[i].killed) CHECK(irq_high(irq, arch, dm_irq(arch, i)));

    hv_dm_listener_close(l);
    (void)hv_domain_destroy(dom);
    hv_host_destroy(host);
    MESSAGE(name, " (arch ", arch, "), ", ms, " ms, ", nr_dms, " device-model processes",
            std::string(kill_one ? " (one killed halfway)" : ""), ", ", nr_vcpus, " vCPUs: ioreqs sent ", t.sent, ", received ",
            t.received, ", lost ", t.lost, ", duplicated or reordered ", t.dup, ", RAM mismatches ", t.mem_bad,
            kill_one ? ", dropped after the kill " + std::to_string(t.dropped) : std::string());
    return t;
}

}  // namespace

TEST_SUITE("ipc-load") {
    TEST_CASE("four device-model processes serve an 8-vCPU guest on the model vCPUs of every backend: every "
              "ioreq arrives once and in order and their view of guest RAM and their interrupts are right") {
        for (const auto& b : hvcore::linked_backends()) {
            check_exact(run(static_cast<uint32_t>(b.arch), false));
        }
    }

    TEST_CASE("a device-model process killed with SIGKILL halfway through: the other three stay exact and the "
              "guest finishes (its writes dropped and its reads all ones)") {
        for (const auto& b : hvcore::linked_backends()) {
            const Totals t = run(static_cast<uint32_t>(b.arch), true);
            check_exact(t);
            CHECK(t.dropped > 0);
        }
    }
}
