// SPDX-License-Identifier: MIT
// The fault -> ioreq path on the model vCPUs (issue 12, target 4): a guest
// store to a page of type ioreq_server, through hv_vcpu_store, until the
// ioreq is READY in the claimed server's slot and the call returns
// HV_VCPU_IOREQ_PENDING (fault record, instruction decode, routing, slot,
// notification). Beside it, the baseline: a store to plain RAM through the
// same call (lock, synthetic instruction, decode, model MMU walk).
//
// One benchmark per linked backend, the two interleaved in one loop (the
// machine is shared and noisy), each call timed on its own; counters:
//   ram_ns         a store to RAM (HV_VCPU_DONE)
//   pending_ns     a store to the claimed page, until HV_VCPU_IOREQ_PENDING
//   pending_over_ram  the ratio
//   trip_ns        the round trip: the store, the device model's answer in
//                  the slot (READY -> INPROCESS -> IORESP_READY) and the
//                  hv_vcpu_resume that takes it (HV_VCPU_DONE)
//   trip_over_ram  the ratio
// Each is the median of the means of batches of `batch` calls, less the
// cost of reading the clock (clock_ns, measured the same way).
//
// Two device-model states, as the benchmark's second argument:
//   /awake   the device model is awake (serving, between two looks at its
//            slots: hvdm_serve's event suppression, ioreq.hpp EventPage):
//            hvcore posts without signalling the eventfd.
//   /asleep  the device model sleeps in poll(2) on the eventfd: every post
//            signals it (a write(2)); this is also what a device model that
//            does not use the protocol gets.
// No device-model thread runs: the benchmark answers in the slot itself, so
// the figures are the vCPU side's alone.
//
// The executors keep their last decode (the same bytes run on the model
// MMU, in the emulation and again after the answer), so in the loop above
// the claimed store reuses the RAM store's decode. `/awake/fresh_decode`
// makes the RAM store 4 bytes wide and the claimed one 8: each call then
// decodes its instruction once (x86: one Zydis decode per fault, as a
// guest's stream of different instructions would).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/ioreq.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t ram_gpa = 0x8000;       // plain RAM
constexpr uint64_t claimed_gfn = 0x100;    // RAM page of type ioreq_server
constexpr uint64_t claimed_gpa = claimed_gfn << 12;
constexpr int batch = 64;

double ns(Clock::duration d) { return std::chrono::duration<double, std::nano>(d).count(); }

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

const char* arch_name(uint32_t a) {
    switch (a) {
    case HV_ARCH_X86_VMX: return "vmx";
    case HV_ARCH_X86_SVM: return "svm";
    case HV_ARCH_ARM64: return "arm64";
    default: return "riscv64";
    }
}

struct Setup {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_handle* h = nullptr;
    hvdm_ioservid_t id = 0;
    hvcore::IoreqSlot* slot = nullptr;
    hvcore::EventPage* events = nullptr;
    std::string error;

    bool open(uint32_t arch) {
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = arch;
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = 1;
        if (hv_host_create(&host) != 0 || hv_domain_create(host, &cfg, &dom) != 0) return fail("no domain");
        h = hvdm_open(host);
        const hvdm_domid_t d = hv_domain_id(dom);
        hvdm_shared_iopage* page = nullptr;
        if (h == nullptr || hvdm_create_ioreq_server(h, d, HVDM_BUFIOREQ_OFF, &id) != 0 ||
            hvdm_map_mem_type_to_ioreq_server(h, d, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) != 0 ||
            hvdm_set_mem_type(h, d, HVDM_MEM_IOREQ_SERVER, claimed_gfn, 1) != 0 ||
            hvdm_map_ioreq_pages(h, d, id, &page, nullptr) != 0 || hvdm_set_ioreq_server_state(h, d, id, 1) != 0)
            return fail("claiming the page");
        slot = reinterpret_cast<hvcore::IoreqSlot*>(page);
        // The event page follows the slots (ioreq.hpp, IoreqPages::layout).
        auto* map = reinterpret_cast<std::byte*>(page) - hvcore::ioreq_frame_ioreq * hvcore::page_size;
        events = hvcore::IoreqPages::layout(map, false).events;
        return true;
    }
    bool fail(const char* what) {
        error = what;
        return false;
    }
    ~Setup() {
        if (h != nullptr) (void)hvdm_close(h);
        if (host != nullptr) hv_host_destroy(host);
    }

    // The device model's answer to a write: READY -> INPROCESS -> IORESP_READY.
    bool answer() {
        if (hvcore::slot_state(*slot) != hvcore::ioreq::state_ready) return false;
        hvcore::slot_set_state(*slot, hvcore::ioreq::state_inprocess);
        hvcore::slot_set_state(*slot, hvcore::ioreq::state_resp_ready);
        return true;
    }
};

// The device model's state (dm_set_awake), where the event page has one;
// before event suppression, every post signalled.
template <class Page>
void set_awake(Page& e, bool awake) {
    if constexpr (requires { e.dm_awake; }) dm_set_awake(e, awake);
}

void BM_fault(benchmark::State& state, uint32_t arch, bool awake, bool fresh_decode) {
    Setup s;
    if (!s.open(arch)) {
        state.SkipWithError(s.error.c_str());
        return;
    }
    set_awake(*s.events, awake);
    std::vector<double> ram, pending, trip, clock;
    uint64_t value = 0;
    bool ok = true;
    double t_ram = 0, t_pend = 0, t_trip = 0, t_clock = 0;
    int n = 0;
    for (auto _ : state) {
        // The clock alone.
        auto c0 = Clock::now();
        auto c1 = Clock::now();
        t_clock += ns(c1 - c0);
        // A store to RAM.
        auto t0 = Clock::now();
        const int r0 = hv_vcpu_store(s.dom, 0, ram_gpa, fresh_decode ? 4 : 8, ++value);
        auto t1 = Clock::now();
        t_ram += ns(t1 - t0);
        // A store to the claimed page, until PENDING; answered; resumed.
        auto t2 = Clock::now();
        const int r1 = hv_vcpu_store(s.dom, 0, claimed_gpa, 8, value);
        auto t3 = Clock::now();
        const bool answered = s.answer();
        const int r2 = hv_vcpu_resume(s.dom, 0, nullptr);
        auto t4 = Clock::now();
        t_pend += ns(t3 - t2);
        t_trip += ns(t4 - t2);
        if (r0 != HV_VCPU_DONE || r1 != HV_VCPU_IOREQ_PENDING || !answered || r2 != HV_VCPU_DONE) {
            ok = false;
            break;
        }
        if (++n == batch) {
            clock.push_back(t_clock / n);
            ram.push_back(t_ram / n);
            pending.push_back(t_pend / n);
            trip.push_back(t_trip / n);
            t_ram = t_pend = t_trip = t_clock = 0;
            n = 0;
        }
    }
    if (!ok) {
        state.SkipWithError("a store did not go as expected");
        return;
    }
    const double c = median(clock);
    const double r = median(ram) - c;
    const double p = median(pending) - c;
    const double t = median(trip) - c;
    state.counters["clock_ns"] = c;
    state.counters["ram_ns"] = r;
    state.counters["pending_ns"] = p;
    state.counters["trip_ns"] = t;
    state.counters["pending_over_ram"] = r > 0 ? p / r : 0;
    state.counters["trip_over_ram"] = r > 0 ? t / r : 0;
}

const int registered = [] {
    for (const auto& b : hvcore::linked_backends()) {
        const auto a = static_cast<uint32_t>(b.arch);
        if (a == HV_ARCH_RISCV64) continue;  // not a target of issue 12
        for (const bool awake : {true, false}) {
            const std::string name = std::string("fault_to_ioreq/") + arch_name(a) + (awake ? "/awake" : "/asleep");
            benchmark::RegisterBenchmark(name.c_str(), BM_fault, a, awake, false)->MinTime(0.5);
        }
        const std::string fresh = std::string("fault_to_ioreq/") + arch_name(a) + "/awake/fresh_decode";
        benchmark::RegisterBenchmark(fresh.c_str(), BM_fault, a, true, true)->MinTime(0.5);
    }
    return 0;
}();

}  // namespace

BENCHMARK_MAIN();
