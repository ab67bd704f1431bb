// SPDX-License-Identifier: MIT
// Bounded lock holds: the latency of a vCPU access while a 1M-page
// set_mem_type runs beside it on the same domain, against the same access
// with no DMOP running, in the same process.
//
//   BM_LockHold/<backend>: one iteration changes 1M pages (4 GiB) ram_rw ->
//     ram_ro and back (two calls of Domain::set_mem_type, XEN_DMOP_set_mem_type's
//     core path), timed manually, while another thread stores to a RAM page
//     outside the range through the model vCPU (Domain::vcpu_store,
//     hv_vcpu_store's path) as fast as it can; then the same thread goes on
//     alone for as long again. Counters (microseconds): p50/p99/max of an
//     access beside the change and alone, p99_beside_over_alone (the
//     ratio), pages_per_s of the change, accesses_beside (how many vCPU
//     accesses completed during the change). Target: p99 beside < 100 us.
//     Before the change was made in steps (one lock hold for the whole
//     range), an access beside it waited for the whole call (~0.2 s for
//     1M pages; Xen preempts every 256 pages, xen/arch/x86/hvm/dm.c).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/host.hpp"

using namespace hvcore;

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t pages = uint64_t{1} << 20;

struct Samples {
    std::vector<double> us;
    [[nodiscard]] double at(double q) {
        if (us.empty()) return 0;
        std::sort(us.begin(), us.end());
        return us[std::min(us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())))];
    }
};

void BM_LockHold(benchmark::State& state) {
    const Backend& b = linked_backends()[static_cast<size_t>(state.range(0))];
    state.SetLabel(b.test_name);
    Host host;
    auto dr = host.create_domain(
        {.arch = b.arch, .ram_bytes = (pages << page_shift) + (uint64_t{2} << 20), .nr_vcpus = 1, .hap = true});
    if (!dr) {
        state.SkipWithError("cannot create the domain");
        return;
    }
    std::shared_ptr<Domain> d = *dr;
    const uint64_t gpa = (pages + 1) << page_shift;  // RAM outside the changed range
    Samples beside, alone;
    beside.us.reserve(1 << 22);
    alone.us.reserve(1 << 22);
    // 0: idle, 1: record beside, 2: record alone, 3: stop.
    std::atomic<int> mode{0};
    std::atomic<bool> failed{false};
    std::thread vcpu([&] {
        for (int m; (m = mode.load(std::memory_order_acquire)) != 3;) {
            if (m == 0) {
                std::this_thread::yield();
                continue;
            }
            const auto t0 = Clock::now();
            if (d->vcpu_store(0, gpa, 8, 1) != 0) failed.store(true);
            const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
            // The mode when the access ended decides where it counts.
            const int now = mode.load(std::memory_order_acquire);
            if (now == 1 && m == 1) beside.us.push_back(us);
            if (now == 2 && m == 2) alone.us.push_back(us);
        }
    });
    double seconds = 0;
    uint64_t changed = 0;
    for (auto _ : state) {
        mode.store(1, std::memory_order_release);
        const auto t0 = Clock::now();
        const bool ok = d->set_mem_type(hvmmem::ram_ro, 0, static_cast<uint32_t>(pages)).is_ok() &&
                        d->set_mem_type(hvmmem::ram_rw, 0, static_cast<uint32_t>(pages)).is_ok();
        const auto dt = Clock::now() - t0;
        mode.store(0, std::memory_order_release);
        if (!ok) {
            state.SkipWithError("set_mem_type failed");
            break;
        }
        state.SetIterationTime(std::chrono::duration<double>(dt).count());
        seconds += std::chrono::duration<double>(dt).count();
        changed += 2 * pages;
        // The same access, alone, for as long.
        mode.store(2, std::memory_order_release);
        std::this_thread::sleep_for(dt);
        mode.store(0, std::memory_order_release);
    }
    mode.store(3, std::memory_order_release);
    vcpu.join();
    if (failed.load()) state.SkipWithError("a vCPU access failed");
    const double p99_beside = beside.at(0.99), p99_alone = alone.at(0.99);
    state.counters["accesses_beside"] = static_cast<double>(beside.us.size());
    state.counters["p50_us_beside"] = beside.at(0.50);
    state.counters["p99_us_beside"] = p99_beside;
    state.counters["max_us_beside"] = beside.us.empty() ? 0 : beside.us.back();
    state.counters["p50_us_alone"] = alone.at(0.50);
    state.counters["p99_us_alone"] = p99_alone;
    state.counters["max_us_alone"] = alone.us.empty() ? 0 : alone.us.back();
    state.counters["p99_beside_over_alone"] = p99_alone > 0 ? p99_beside / p99_alone : 0;
    state.counters["pages_per_s"] = seconds > 0 ? static_cast<double>(changed) / seconds : 0;
}

void backends(benchmark::internal::Benchmark* bm) {
    for (size_t i = 0; i < linked_backends().size(); ++i) bm->Arg(static_cast<int64_t>(i));
}

}  // namespace

BENCHMARK(BM_LockHold)->Apply(backends)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

BENCHMARK_MAIN();
