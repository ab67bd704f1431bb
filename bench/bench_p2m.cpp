// SPDX-License-Identifier: MIT
// Benchmarks of the p2m paths a device model depends on. Each reports its
// figure as a ratio against a baseline run in the same process (these
// machines are shared and noisy), as a counter of the benchmark.
//
//   BM_DisclaimSweep/<guest MiB>: resetting 256 outstanding ioreq_server
//     entries after a disclaim. hvcore resolves exactly the outstanding
//     entries; the baseline is Xen's p2m_finish_type_change, which visits
//     every gfn up to the highest mapped one. Counter xen_sweep_over_hvcore.
//     hvcore's own time should stay flat as the guest grows.
//   BM_StoreToClaimedPage: a guest store to a claimed page, answered by a
//     device model, against a store to ordinary RAM. Counter
//     claimed_over_ram.
#include <benchmark/benchmark.h>

#include <chrono>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/host.hpp"
#include "hvcore/core/p2m.hpp"

using namespace hvcore;

namespace {

constexpr uint64_t mib = 1024 * 1024;
constexpr uint32_t claim_write = 2;
constexpr uint64_t outstanding = 256;

using Clock = std::chrono::steady_clock;

struct P2mFixture {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Stage2> s2;
    std::unique_ptr<P2m> p2m;

    P2mFixture(const Backend& b, uint64_t ram) {
        const uint64_t frames = ram / page_size;
        mem = std::move(MachineMemory::create(ram, b.table_frames(frames))).value();
        s2 = std::move(b.make_stage2(*mem)).value();
        p2m = std::make_unique<P2m>(*s2, *mem);
        if (!p2m->build_ram()) std::abort();
    }

    // 256 entries, 16 in each of 16 leaf tables spread over the guest.
    void make_outstanding() {
        p2m->set_ioreq_owner(IoservId{0}, claim_write);
        const uint64_t frames = mem->ram_frames();
        for (uint64_t t = 0; t < 16; ++t)
            if (!p2m->set_type_range(Gfn{t * (frames / 16) + 3}, outstanding / 16, P2mType::ioreq_server))
                std::abort();
        p2m->set_ioreq_owner(std::nullopt, 0);
        p2m->mark_recalc_all();
    }
};

const Backend& first_backend() { return linked_backends().front(); }

void BM_DisclaimSweep(benchmark::State& state) {
    const uint64_t ram = static_cast<uint64_t>(state.range(0)) * mib;
    P2mFixture f(first_backend(), ram);
    double hv_total = 0;
    double xen_total = 0;
    for (auto _ : state) {
        f.make_outstanding();
        auto t0 = Clock::now();
        const uint64_t left = f.p2m->sweep(UINT64_MAX);
        auto t1 = Clock::now();
        benchmark::DoNotOptimize(left);
        const double hv = std::chrono::duration<double>(t1 - t0).count();
        state.SetIterationTime(hv);
        hv_total += hv;

        // Baseline: Xen's sweep, recalc of every gfn up to max_mapped_pfn.
        f.make_outstanding();
        t0 = Clock::now();
        for (uint64_t g = 0; g <= f.p2m->max_gfn(); ++g) benchmark::DoNotOptimize(f.p2m->lookup(Gfn{g}));
        t1 = Clock::now();
        xen_total += std::chrono::duration<double>(t1 - t0).count();
        if (f.p2m->ioreq_entry_count() != 0) state.SkipWithError("baseline left entries");
    }
    state.counters["xen_sweep_over_hvcore"] = xen_total / hv_total;
    state.counters["entries"] = static_cast<double>(outstanding);
}
BENCHMARK(BM_DisclaimSweep)->Arg(64)->Arg(1024)->Arg(8192)->Iterations(30)->UseManualTime()->Unit(benchmark::kMicrosecond);

void BM_StoreToClaimedPage(benchmark::State& state) {
    Host host;
    auto d = std::move(host.create_domain({.arch = first_backend().arch, .ram_bytes = 64 * mib, .nr_vcpus = 1,
                                           .hap = true}))
                 .value();
    const EmulatorId dm = host.new_emulator();
    IoservId id{};
    if (!d->create_ioreq_server(dm, 0, &id) || !d->set_ioreq_server_state(dm, id, true) ||
        !d->map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write) ||
        !d->set_mem_type(hvmmem::ioreq_server, 0x100, 1))
        std::abort();
    IoreqSlot* slots = nullptr;
    if (!d->map_ioreq_pages(dm, id, &slots, nullptr)) std::abort();
    double claimed = 0;
    double ram = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        if (d->vcpu_store(0, 0x100008, 8, 42) != 1) state.SkipWithError("store did not pend");
        // The device model's side: answer and notify.
        slot_set_state(slots[0], ioreq::state_resp_ready);
        if (!d->ioreq_notify(dm, id, 0)) std::abort();
        uint64_t v = 0;
        if (d->vcpu_resume(0, &v) != 0) state.SkipWithError("resume did not finish");
        auto t1 = Clock::now();
        const double c = std::chrono::duration<double>(t1 - t0).count();
        state.SetIterationTime(c);
        claimed += c;
        t0 = Clock::now();
        if (d->vcpu_store(0, 0x200008, 8, 42) != 0) state.SkipWithError("RAM store did not complete");
        t1 = Clock::now();
        ram += std::chrono::duration<double>(t1 - t0).count();
    }
    state.counters["claimed_over_ram"] = claimed / ram;
}
BENCHMARK(BM_StoreToClaimedPage)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
