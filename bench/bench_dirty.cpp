// SPDX-License-Identifier: MIT
// What dirty tracking costs (issue 14) on the model vCPUs, per backend:
//
// BM_DirtyWrites/<arch>: a guest writing pages, with log-dirty off and on,
// the two interleaved in one loop (two domains of the same size, one with
// log-dirty on). Each round writes one qword to each of `write_pages`
// pages twice through hv_vcpu_store; before the round, the tracked domain's
// bitmap is read and cleaned (untimed), which write-protects those pages
// again, so the first write to each page faults (the write fault on
// ram_logdirty, the mark, the change to ram_rw, the re-execution) and the
// second does not. Counters, per store:
//   off_ns          log-dirty off (the baseline: lock, synthetic store,
//                   decode, model MMU walk)
//   first_ns        log-dirty on, the first write to a page since the clean
//   again_ns        log-dirty on, a write to a page already dirty
//   first_over_off, again_over_off  the ratios
//
// BM_DirtyReadClean/<arch>: reading the bitmap of 1 GiB of RAM (262,144
// pages) in one hv_log_dirty_read, per GiB: peek (no flag) and
// read-and-clean with no page dirty and with 1% of the pages (2,621)
// written by the guest since the last clean (those are write-protected
// again by the clean: one descent per leaf table, P2m::protect). The
// writes are made outside the timed part. Counters:
//   peek_us, clean_us, clean_1pct_us  per GiB
//   clean_over_peek, clean_1pct_over_peek  the ratios
//
// Times are wall-clock medians of the repetitions' means; the machine is
// shared, so the ratios are the figures to quote.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/hv.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t mib = 1024 * 1024;
constexpr uint64_t write_pages = 256;
constexpr uint64_t gib_pages = (uint64_t{1} << 30) >> 12;
constexpr uint64_t dirty_1pct = gib_pages / 100;

double ns(Clock::duration d) { return std::chrono::duration<double, std::nano>(d).count(); }

const char* arch_name(uint32_t a) {
    switch (a) {
    case HV_ARCH_X86_VMX: return "vmx";
    case HV_ARCH_X86_SVM: return "svm";
    case HV_ARCH_ARM64: return "arm64";
    case HV_ARCH_RISCV64: return "riscv64";
    default: return "?";
    }
}

struct Dom {
    hv_host* host = nullptr;
    hv_domain* d = nullptr;
    Dom(uint32_t arch, uint64_t ram) {
        hv_domain_config cfg{sizeof(hv_domain_config), arch, ram, 1, 0};
        if (hv_host_create(&host) != 0 || hv_domain_create(host, &cfg, &d) != 0) d = nullptr;
    }
    ~Dom() {
        if (d != nullptr) (void)hv_domain_destroy(d);
        if (host != nullptr) hv_host_destroy(host);
    }
    Dom(const Dom&) = delete;
    Dom& operator=(const Dom&) = delete;
};

// One store to each page at stride 4 KiB from `first`; the time per store.
double stores(hv_domain* d, uint64_t first, bool* ok) {
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < write_pages; ++i)
        *ok &= hv_vcpu_store(d, 0, (first + i) << 12, 8, i) == HV_VCPU_DONE;
    return ns(Clock::now() - t0) / static_cast<double>(write_pages);
}

void BM_DirtyWrites(benchmark::State& state, uint32_t arch) {
    constexpr uint64_t ram = 64 * mib;
    constexpr uint64_t first = 0x1000;  // 16 MiB in, within one 1 GiB leaf
    Dom off(arch, ram);
    Dom on(arch, ram);
    if (off.d == nullptr || on.d == nullptr || hv_log_dirty_enable(on.d) != 0) {
        state.SkipWithError("cannot create the domains");
        return;
    }
    std::vector<uint8_t> bits(write_pages / 8);
    std::vector<double> o, f, a;
    bool ok = true;
    // The first pass splits the leaves and resolves the lazy change: not timed.
    (void)stores(off.d, first, &ok);
    (void)stores(on.d, first, &ok);
    for (auto _ : state) {
        ok &= hv_log_dirty_read(on.d, first, write_pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0;
        o.push_back(stores(off.d, first, &ok));
        f.push_back(stores(on.d, first, &ok));
        a.push_back(stores(on.d, first, &ok));
        (void)stores(off.d, first, &ok);  // the same work on both sides
    }
    if (!ok) state.SkipWithError("a store or a read failed");
    const auto median = [](std::vector<double>& v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[v.size() / 2];
    };
    const double mo = median(o), mf = median(f), ma = median(a);
    state.counters["off_ns"] = mo;
    state.counters["first_ns"] = mf;
    state.counters["again_ns"] = ma;
    state.counters["first_over_off"] = mo > 0 ? mf / mo : 0;
    state.counters["again_over_off"] = mo > 0 ? ma / mo : 0;
}

void BM_DirtyReadClean(benchmark::State& state, uint32_t arch) {
    Dom dom(arch, uint64_t{1} << 30);
    if (dom.d == nullptr || hv_log_dirty_enable(dom.d) != 0) {
        state.SkipWithError("cannot create the domain");
        return;
    }
    std::vector<uint8_t> bits(gib_pages / 8);
    bool ok = true;
    // Every page the 1% touches, split and write-protected once, untimed.
    const auto dirty_some = [&] {
        for (uint64_t i = 0; i < dirty_1pct; ++i)
            ok &= hv_vcpu_store(dom.d, 0, (i * 100) << 12, 8, i) == HV_VCPU_DONE;
    };
    dirty_some();
    ok &= hv_log_dirty_read(dom.d, 0, gib_pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0;
    std::vector<double> peek, clean, clean1;
    for (auto _ : state) {
        auto t0 = Clock::now();
        ok &= hv_log_dirty_read(dom.d, 0, gib_pages, bits.data(), bits.size(), 0) == 0;
        peek.push_back(ns(Clock::now() - t0));
        t0 = Clock::now();
        ok &= hv_log_dirty_read(dom.d, 0, gib_pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0;
        clean.push_back(ns(Clock::now() - t0));
        state.PauseTiming();
        dirty_some();
        state.ResumeTiming();
        t0 = Clock::now();
        ok &= hv_log_dirty_read(dom.d, 0, gib_pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0;
        clean1.push_back(ns(Clock::now() - t0));
        ok &= bits[0] == 1;  // page 0 was written, and reported
    }
    if (!ok) state.SkipWithError("a store or a read failed");
    const auto median = [](std::vector<double>& v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[v.size() / 2];
    };
    const double p = median(peek) / 1000, c = median(clean) / 1000, c1 = median(clean1) / 1000;
    state.counters["peek_us"] = p;
    state.counters["clean_us"] = c;
    state.counters["clean_1pct_us"] = c1;
    state.counters["clean_over_peek"] = p > 0 ? c / p : 0;
    state.counters["clean_1pct_over_peek"] = p > 0 ? c1 / p : 0;
}

const int registered = [] {
    for (const auto& b : hvcore::linked_backends()) {
        const auto a = static_cast<uint32_t>(b.arch);
        benchmark::RegisterBenchmark((std::string("BM_DirtyWrites/") + arch_name(a)).c_str(), BM_DirtyWrites, a)
            ->MinTime(0.5);
        benchmark::RegisterBenchmark((std::string("BM_DirtyReadClean/") + arch_name(a)).c_str(), BM_DirtyReadClean,
                                     a)
            ->MinTime(0.5);
    }
    return 0;
}();

}  // namespace

BENCHMARK_MAIN();
