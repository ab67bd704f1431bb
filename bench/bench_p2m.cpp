// SPDX-License-Identifier: MIT
// Benchmarks of the p2m paths a device model depends on. Each reports its
// figure as a ratio against a baseline run in the same process (these
// machines are shared and noisy), as a counter of the benchmark, for every
// linked backend (the name's last part). Times are the thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), not wall-clock time, except for
// BM_StoreToClaimedPage, whose round trip involves the scheduler.
//
//   BM_SetMemTypeRange/<backend>: 1M contiguous pages ram_rw ->
//     ioreq_server -> ram_rw, one P2m::set_type_range call each way.
//     Baseline: Xen's loop (xen/arch/x86/hvm/dm.c set_mem_type: per gfn one
//     p2m lookup and one p2m_change_type_one, i.e. one p2m_set_entry) on
//     the same tables: Stage2::lookup + Stage2::set_4k per page. Counters:
//     hvcore_pages_per_s, xen_loop_pages_per_s, xen_loop_over_hvcore (time
//     ratio, the speed-up; goal >= 10).
//   BM_SetMemTypeList/<backend>/<spread>: 1M scattered pages ram_rw ->
//     ioreq_server -> ram_rw through the path a device model uses in
//     process: one hvdm_set_mem_type_list call each way (hvcore's DMOP
//     0x1000 on an hvdm_open handle), on a domain made with hv_domain_create.
//     No two listed gfns are adjacent. <spread> "alternate": every other gfn
//     of 2M pages (256 a leaf table); "random": 1M gfns drawn at random (a
//     fixed seed) among the 4M even gfns of 8M pages (a 32 GiB span, ~64 a
//     leaf table, gaps of 2 to ~100 pages). Baseline: the same Xen loop as
//     above (lookup + set_4k per listed gfn) on a p2m of the same size.
//     Counters: hvcore_pages_per_s, xen_loop_pages_per_s,
//     xen_loop_over_hvcore (goal >= 10; rate goal >= 20M pages/s), and
//     dmop_per_page_pages_per_s: one hvdm_set_mem_type (nr = 1) per gfn,
//     what a device model on Xen's ABI has to do for scattered pages.
//   BM_DisclaimReset/<backend>/<GiB>: disclaim with 4,096 outstanding
//     ioreq_server entries scattered one per leaf table over a guest of
//     that size, on the backend's tables. hvcore: what Domain's disclaim
//     does to the p2m, the owner dropped and every counted leaf table reset
//     in place (P2m::sweep: no global mark), each merged back into a large
//     leaf. Baseline, on a second p2m of the same size: Xen's
//     p2m_change_entry_type_global (mark_recalc_all) then
//     p2m_finish_type_change (xen/arch/x86/mm/p2m.c), a lookup of every gfn
//     up to the highest mapped one, which resolves the marks. Counter
//     xen_sweep_over_hvcore (goal >= 1000); time per iteration is hvcore's
//     (the mean of 8 claim/disclaim rounds), the merge included; reset_only_us and xen_sweep_over_reset_only: the
//     same without the merge (tables already split: a reclaim of the same
//     pages); merge_read_us: with the merge, the pages claimed in tables
//     left split before the claim (the p2m cannot tell that they are
//     uniform: each is read whole to merge it).
//   BM_DisclaimAbi/<backend>/<GiB>: the same disclaim through the
//     device-model calls (Domain::map_mem_type_to_ioreq_server, flags 0: the
//     sweep in lock holds of sweep_chunk tables) on a 1 TiB domain; the
//     baseline is the table-level sweep of a guest of the same size.
//   BM_SideMemory/<backend>/<GiB>/<contiguous>: the p2m's side structure
//     (per-leaf-table counts) with 4,096 outstanding entries, contiguous
//     or scattered, against the hardware tables that hold them. Counters:
//     side_bytes, table_bytes, side_over_tables_pct (goal <= 1).
//   BM_ClaimCycleTables/<backend>: a 1 GiB guest claimed whole (every page
//     ioreq_server) and disclaimed; counter tables_after (table frames in
//     use after the cycle; the format's minimum is 2 on x86 and Arm64).
//   BM_StoreToClaimedPage: a guest store to a claimed page, answered by a
//     device model, against a store to ordinary RAM. Counter
//     claimed_over_ram.
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/host.hpp"
#include "hvcore/core/p2m.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

using namespace hvcore;

namespace {

constexpr uint64_t mib = 1024 * 1024;
constexpr uint64_t gib = 1024 * mib;
constexpr uint32_t claim_write = 2;
constexpr uint64_t entries = 4096;
constexpr uint64_t frames_per_gib = gib / page_size;

// The calling thread's CPU time: every measured path is single-threaded
// computation, and on a shared, loaded machine wall-clock time would mostly
// measure the scheduler.
struct Clock {
    using time_point = double;
    static time_point now() noexcept {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
};

double seconds(Clock::time_point a, Clock::time_point b) { return b - a; }

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bench_p2m: %s\n", what);
    std::abort();
}

// A p2m over `guest` bytes of guest-physical space mapped as ram_rw with
// the largest leaves, built on the backend's tables directly: each GiB is
// mapped onto the same GiB of host RAM (the tables do not care, and no
// format's output width then limits the size), so that guests larger than
// the ABI accepts can be measured.
struct P2mFixture {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Stage2> s2;
    std::unique_ptr<P2m> p2m;
    uint64_t frames = 0;  // gfns mapped: [0, frames)

    P2mFixture(const Backend& b, uint64_t guest, uint64_t extra_tables = 0) {
        const uint64_t ram = std::min(guest, gib);
        frames = guest / page_size;
        auto m = MachineMemory::create(ram, b.table_frames(frames) + extra_tables);
        if (!m) die("MachineMemory::create");
        mem = std::move(m).value();
        auto s = b.make_stage2(*mem);
        if (!s) die("make_stage2");
        s2 = std::move(s).value();
        frames = std::min(frames, s2->gfn_limit());
        p2m = std::make_unique<P2m>(*s2, *mem);
        const Perm rw = p2m_entry_perm(P2mType::ram_rw, {});
        for (uint64_t g = 0; g < frames; g += frames_per_gib) {
            const uint64_t n = std::min(frames_per_gib, frames - g);
            if (!s2->map_range(Gfn{g}, mem->ram_mfn(Gfn{0}), n, P2mType::ram_rw, rw)) die("map_range");
        }
    }

    // 4,096 ioreq_server entries, one per leaf table spread evenly over the
    // guest (scattered) or gfns [512, 512 + 4,096) (contiguous), claimed.
    void claim(bool contiguous) {
        p2m->set_claim(IoservId{0}, claim_write);
        if (contiguous) {
            if (!p2m->set_type_range(Gfn{512}, entries, P2mType::ioreq_server)) die("claim");
            return;
        }
        const uint64_t step = frames / entries;
        for (uint64_t i = 0; i < entries; ++i)
            if (!p2m->set_type_range(Gfn{i * step + 3}, 1, P2mType::ioreq_server)) die("claim");
    }
    // Xen's disclaim: the owner dropped and the whole p2m marked.
    void disclaim_marked() {
        p2m->set_claim(IoservId{0}, 0);
        p2m->mark_recalc_all();
    }
};

// --- set_mem_type over 1M contiguous pages ---------------------------------------

// Xen's per-page loop on the same tables: a lookup and a set per page.
void xen_set_mem_type(P2mFixture& f, uint64_t first, uint64_t nr, P2mType to, Perm perm) {
    if (!f.mem->reserve_tables(f.s2->tables_needed_4k(Gfn{first}, nr))) die("reserve");
    for (uint64_t g = first; g < first + nr; ++g) {
        const Stage2Leaf l = f.s2->lookup(Gfn{g});
        if (!allow_p2m_type_change(l.type, to)) die("xen loop refused");
        if (l.type == to) continue;
        f.s2->set_4k(Gfn{g}, l.mfn, to, perm);
    }
    f.mem->release_reservation();
}

void BM_SetMemTypeRange(benchmark::State& state, const Backend* b) {
    constexpr uint64_t nr = uint64_t{1} << 20;
    constexpr uint64_t first = 0x100000;  // 4 GiB
    P2mFixture f(*b, 8 * gib);
    f.p2m->set_claim(IoservId{0}, claim_write);
    const Perm claimed = p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_write);
    const Perm rw = p2m_entry_perm(P2mType::ram_rw, {});
    // Warm-up: both run on tables already split.
    if (!f.p2m->set_type_range(Gfn{first}, nr, P2mType::ioreq_server) ||
        !f.p2m->set_type_range(Gfn{first}, nr, P2mType::ram_rw))
        die("warm-up");
    double hv = 0;
    double xen = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        if (!f.p2m->set_type_range(Gfn{first}, nr, P2mType::ioreq_server)) die("to ioreq_server");
        if (!f.p2m->set_type_range(Gfn{first}, nr, P2mType::ram_rw)) die("to ram_rw");
        auto t1 = Clock::now();
        state.SetIterationTime(seconds(t0, t1));
        hv += seconds(t0, t1);
        t0 = Clock::now();
        xen_set_mem_type(f, first, nr, P2mType::ioreq_server, claimed);
        xen_set_mem_type(f, first, nr, P2mType::ram_rw, rw);
        t1 = Clock::now();
        xen += seconds(t0, t1);
    }
    const double pages = 2.0 * nr * static_cast<double>(state.iterations());
    state.counters["hvcore_pages_per_s"] = pages / hv;
    state.counters["xen_loop_pages_per_s"] = pages / xen;
    state.counters["xen_loop_over_hvcore"] = xen / hv;
}

// --- set_mem_type over 1M scattered pages ----------------------------------------

enum class Spread { alternate, random };

// 1M gfns from `first`, strictly increasing, no two adjacent.
std::vector<uint64_t> scattered_gfns(Spread s, uint64_t first, uint64_t nr) {
    std::vector<uint64_t> g;
    g.reserve(nr);
    if (s == Spread::alternate) {
        for (uint64_t i = 0; i < nr; ++i) g.push_back(first + 2 * i);
        return g;
    }
    // Selection sampling (Knuth, TAOCP vol. 2, 3.4.2, Algorithm S): nr of
    // the 4 nr even gfns of [first, first + 8 nr), each subset equally
    // likely, in increasing order.
    std::mt19937_64 rng(12);
    const uint64_t candidates = 4 * nr;
    for (uint64_t k = 0; k < candidates && g.size() < nr; ++k)
        if (rng() % (candidates - k) < nr - g.size()) g.push_back(first + 2 * k);
    return g;
}

// The span of guest pages a spread covers, for 1M gfns.
uint64_t spread_pages(Spread s, uint64_t nr) { return s == Spread::alternate ? 2 * nr : 8 * nr; }

// Xen's loop over a list: what XEN_DMOP_set_mem_type does per gfn, called
// once per scattered page (a lookup and a set, as xen_set_mem_type).
void xen_set_mem_type_list(P2mFixture& f, const std::vector<uint64_t>& gfns, P2mType to, Perm perm) {
    const uint64_t span = gfns.back() - gfns.front() + 1;
    if (!f.mem->reserve_tables(f.s2->tables_needed_4k(Gfn{gfns.front()}, span))) die("reserve");
    for (const uint64_t g : gfns) {
        const Stage2Leaf l = f.s2->lookup(Gfn{g});
        if (!allow_p2m_type_change(l.type, to)) die("xen loop refused");
        if (l.type == to) continue;
        f.s2->set_4k(Gfn{g}, l.mfn, to, perm);
    }
    f.mem->release_reservation();
}

// A domain and an in-process device-model handle that holds the claim.
struct DmFixture {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_handle* h = nullptr;
    hvdm_domid_t domid = 0;

    DmFixture(const Backend& b, uint64_t ram_bytes) {
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(b.arch);
        cfg.ram_bytes = ram_bytes;
        cfg.nr_vcpus = 1;
        if (hv_host_create(&host) != 0 || hv_domain_create(host, &cfg, &dom) != 0) die("hv_domain_create");
        h = hvdm_open(host);
        domid = hv_domain_id(dom);
        hvdm_ioservid_t id = 0;
        if (h == nullptr || hvdm_create_ioreq_server(h, domid, HVDM_BUFIOREQ_OFF, &id) != 0 ||
            hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) != 0)
            die("claim");
    }
    DmFixture(const DmFixture&) = delete;
    DmFixture& operator=(const DmFixture&) = delete;
    ~DmFixture() {
        if (h != nullptr) (void)hvdm_close(h);
        if (host != nullptr) hv_host_destroy(host);
    }
    void set_list(uint16_t type, const std::vector<uint64_t>& gfns) {
        uint64_t refused = 0;
        if (hvdm_set_mem_type_list(h, domid, type, gfns.data(), static_cast<uint32_t>(gfns.size()), &refused) != 0)
            die("hvdm_set_mem_type_list");
    }
};

void BM_SetMemTypeList(benchmark::State& state, const Backend* b, Spread spread) {
    constexpr uint64_t nr = uint64_t{1} << 20;
    constexpr uint64_t first = 0x100000;  // 4 GiB
    const std::vector<uint64_t> gfns = scattered_gfns(spread, first, nr);
    if (gfns.size() != nr) die("scattered_gfns");
    const uint64_t guest = (first + spread_pages(spread, nr)) * page_size;
    DmFixture dm(*b, guest);
    P2mFixture f(*b, guest);
    const Perm claimed = p2m_entry_perm(P2mType::ioreq_server, ioreq_claim_write);
    const Perm rw = p2m_entry_perm(P2mType::ram_rw, {});
    // Warm-up: every path runs on tables already split.
    dm.set_list(HVDM_MEM_IOREQ_SERVER, gfns);
    dm.set_list(HVDM_MEM_RAM_RW, gfns);
    xen_set_mem_type_list(f, gfns, P2mType::ioreq_server, claimed);
    xen_set_mem_type_list(f, gfns, P2mType::ram_rw, rw);
    double hv = 0;
    double xen = 0;
    double per_page = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        dm.set_list(HVDM_MEM_IOREQ_SERVER, gfns);
        dm.set_list(HVDM_MEM_RAM_RW, gfns);
        auto t1 = Clock::now();
        state.SetIterationTime(seconds(t0, t1));
        hv += seconds(t0, t1);
        t0 = Clock::now();
        xen_set_mem_type_list(f, gfns, P2mType::ioreq_server, claimed);
        xen_set_mem_type_list(f, gfns, P2mType::ram_rw, rw);
        t1 = Clock::now();
        xen += seconds(t0, t1);
        t0 = Clock::now();
        for (const uint16_t type : {uint16_t{HVDM_MEM_IOREQ_SERVER}, uint16_t{HVDM_MEM_RAM_RW}})
            for (const uint64_t g : gfns)
                if (hvdm_set_mem_type(dm.h, dm.domid, type, g, 1) != 0) die("hvdm_set_mem_type");
        t1 = Clock::now();
        per_page += seconds(t0, t1);
    }
    const double pages = 2.0 * nr * static_cast<double>(state.iterations());
    state.counters["hvcore_pages_per_s"] = pages / hv;
    state.counters["xen_loop_pages_per_s"] = pages / xen;
    state.counters["xen_loop_over_hvcore"] = xen / hv;
    state.counters["dmop_per_page_pages_per_s"] = pages / per_page;
    uint64_t tables = 0;
    for (size_t i = 0; i < gfns.size(); ++i)
        if (i == 0 || (gfns[i] >> 9) != (gfns[i - 1] >> 9)) ++tables;
    state.counters["gfns_per_leaf_table"] = static_cast<double>(nr) / static_cast<double>(tables);
    state.counters["guest_gib"] = static_cast<double>(guest) / gib;
}

// --- disclaim reset ----------------------------------------------------------------

void BM_DisclaimReset(benchmark::State& state, const Backend* b, uint64_t guest_gib) {
    P2mFixture f(*b, guest_gib * gib);
    P2mFixture xf(*b, guest_gib * gib);  // Xen's: its marks stay out of hvcore's p2m
    double hv = 0;
    double reset_only = 0;
    double merge_read = 0;
    double xen = 0;
    // hvcore's reset is timed `rounds` times per iteration (the mean is
    // the iteration's time): one Xen sweep at 1 TiB takes ~10 s.
    constexpr int rounds = 8;
    for (auto _ : state) {
        double round_sum = 0;
        for (int r = 0; r < rounds; ++r) {
            f.claim(false);
            const auto t0 = Clock::now();
            f.p2m->set_claim(IoservId{0}, 0);
            const uint64_t left = f.p2m->sweep(UINT64_MAX);
            const auto t1 = Clock::now();
            if (left != 0) die("sweep left entries");
            round_sum += seconds(t0, t1);
        }
        state.SetIterationTime(round_sum / rounds);
        hv += round_sum / rounds;
        Clock::time_point t0 = 0;
        Clock::time_point t1 = 0;

        // The reset without merging the tables back (the tables are then
        // split already for the next claim, as in a guest that claims the
        // same pages again).
        f.p2m->set_merge_on_reset(false);
        f.claim(false);
        t0 = Clock::now();
        f.p2m->set_claim(IoservId{0}, 0);
        if (f.p2m->sweep(UINT64_MAX) != 0) die("sweep left entries");
        t1 = Clock::now();
        reset_only += seconds(t0, t1);
        f.p2m->set_merge_on_reset(true);
        // The same pages claimed again in the tables left split: the p2m
        // does not know that they are uniform, so the merge reads each
        // table whole (and the tables are merged for the next iteration).
        f.claim(false);
        t0 = Clock::now();
        f.p2m->set_claim(IoservId{0}, 0);
        if (f.p2m->sweep(UINT64_MAX) != 0) die("sweep left entries");
        t1 = Clock::now();
        merge_read += seconds(t0, t1);

        xf.claim(false);
        t0 = Clock::now();
        xf.disclaim_marked();
        for (uint64_t g = 0; g < xf.frames; ++g) benchmark::DoNotOptimize(xf.p2m->lookup(Gfn{g}));
        t1 = Clock::now();
        xen += seconds(t0, t1);
        if (xf.p2m->ioreq_entry_count() != 0) die("baseline left entries");
    }
    const double n = static_cast<double>(state.iterations());
    state.counters["xen_sweep_over_hvcore"] = xen / hv;
    state.counters["reset_only_us"] = 1e6 * reset_only / n;
    state.counters["xen_sweep_over_reset_only"] = xen / reset_only;
    state.counters["merge_read_us"] = 1e6 * merge_read / n;
    state.counters["xen_sweep_ms"] = 1e3 * xen / n;
    state.counters["guest_gib"] = static_cast<double>(f.frames) / frames_per_gib;
    state.counters["entries"] = static_cast<double>(entries);
}

void BM_DisclaimAbi(benchmark::State& state, const Backend* b, uint64_t guest_bytes) {
    Host host;
    auto dr = host.create_domain({.arch = b->arch, .ram_bytes = guest_bytes, .nr_vcpus = 1, .hap = true});
    if (!dr) {
        state.SkipWithError(fmt::format("hv_domain_create refused {} bytes", guest_bytes).c_str());
        return;
    }
    auto d = std::move(dr).value();
    const EmulatorId dm = host.new_emulator();
    IoservId id{};
    if (!d->create_ioreq_server(dm, 0, &id) || !d->set_ioreq_server_state(dm, id, true)) die("server");
    const uint64_t frames = guest_bytes / page_size;
    double hv = 0;
    for (auto _ : state) {
        if (!d->map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write)) die("claim");
        for (uint64_t i = 0; i < entries; ++i)
            if (!d->set_mem_type(hvmmem::ioreq_server, i * (frames / entries) + 3, 1)) die("set_mem_type");
        const auto t0 = Clock::now();
        if (!d->map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0)) die("disclaim");
        const auto t1 = Clock::now();
        if (d->ioreq_entry_count() != 0) die("entries left");
        state.SetIterationTime(seconds(t0, t1));
        hv += seconds(t0, t1);
    }
    // The baseline on the tables of a guest of the same size (twice, as a
    // sweep resolves the marks of the first).
    P2mFixture f(*b, guest_bytes);
    double xen = 0;
    for (int i = 0; i < 2; ++i) {
        f.claim(false);
        const auto t0 = Clock::now();
        f.disclaim_marked();
        for (uint64_t g = 0; g < f.frames; ++g) benchmark::DoNotOptimize(f.p2m->lookup(Gfn{g}));
        xen += seconds(t0, Clock::now());
    }
    xen /= 2;
    state.counters["xen_sweep_over_hvcore"] = xen / (hv / static_cast<double>(state.iterations()));
    state.counters["guest_gib"] = static_cast<double>(guest_bytes) / gib;
}

// --- memory and merging ----------------------------------------------------------------

void BM_SideMemory(benchmark::State& state, const Backend* b, uint64_t guest_gib, bool contiguous) {
    P2mFixture f(*b, guest_gib * gib);
    f.claim(contiguous);
    for (auto _ : state) benchmark::DoNotOptimize(f.p2m->side_bytes());
    const double side = static_cast<double>(f.p2m->side_bytes());
    const double tables = static_cast<double>(f.mem->tables_in_use() * page_size);
    state.counters["side_bytes"] = side;
    state.counters["table_bytes"] = tables;
    state.counters["side_over_tables_pct"] = 100.0 * side / tables;
    state.counters["guest_gib"] = static_cast<double>(f.frames) / frames_per_gib;
}

void BM_ClaimCycleTables(benchmark::State& state, const Backend* b) {
    double tables_after = 0;
    double tables_claimed = 0;
    for (auto _ : state) {
        P2mFixture f(*b, gib);
        f.p2m->set_claim(IoservId{0}, claim_write);
        if (!f.p2m->set_type_range(Gfn{0}, f.frames, P2mType::ioreq_server)) die("claim");
        tables_claimed = static_cast<double>(f.mem->tables_in_use());
        const auto t0 = Clock::now();
        f.p2m->set_claim(IoservId{0}, 0);
        if (f.p2m->sweep(UINT64_MAX) != 0) die("sweep");
        state.SetIterationTime(seconds(t0, Clock::now()));
        tables_after = static_cast<double>(f.mem->tables_in_use());
    }
    state.counters["tables_claimed"] = tables_claimed;
    state.counters["tables_after"] = tables_after;
}

// --- the round trip ----------------------------------------------------------------------

void BM_StoreToClaimedPage(benchmark::State& state) {
    Host host;
    auto d = std::move(host.create_domain({.arch = linked_backends().front().arch, .ram_bytes = 64 * mib,
                                           .nr_vcpus = 1, .hap = true}))
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
        auto t0 = std::chrono::steady_clock::now();
        if (d->vcpu_store(0, 0x100008, 8, 42) != 1) state.SkipWithError("store did not pend");
        // The device model's side: answer and notify.
        slot_set_state(slots[0], ioreq::state_resp_ready);
        if (!d->ioreq_notify(dm, id, 0)) std::abort();
        uint64_t v = 0;
        if (d->vcpu_resume(0, &v) != 0) state.SkipWithError("resume did not finish");
        auto t1 = std::chrono::steady_clock::now();
        const double c = std::chrono::duration<double>(t1 - t0).count();
        state.SetIterationTime(c);
        claimed += c;
        t0 = std::chrono::steady_clock::now();
        if (d->vcpu_store(0, 0x200008, 8, 42) != 0) state.SkipWithError("RAM store did not complete");
        t1 = std::chrono::steady_clock::now();
        ram += std::chrono::duration<double>(t1 - t0).count();
    }
    state.counters["claimed_over_ram"] = claimed / ram;
}

void register_all() {
    for (const Backend& b : linked_backends()) {
        const std::string n = b.cli_name;
        benchmark::RegisterBenchmark(("BM_SetMemTypeRange/" + n).c_str(), BM_SetMemTypeRange, &b)
            ->Iterations(3)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
        for (const Spread s : {Spread::alternate, Spread::random})
            benchmark::RegisterBenchmark(
                fmt::format("BM_SetMemTypeList/{}/{}", n, s == Spread::alternate ? "alternate" : "random").c_str(),
                BM_SetMemTypeList, &b, s)
                ->Iterations(3)
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond);
        for (uint64_t g : {uint64_t{1}, uint64_t{64}, uint64_t{1024}})
            benchmark::RegisterBenchmark(fmt::format("BM_DisclaimReset/{}/{}", n, g).c_str(), BM_DisclaimReset, &b, g)
                ->Iterations(g >= 64 ? 1 : 10)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(fmt::format("BM_DisclaimAbi/{}/1024", n).c_str(), BM_DisclaimAbi, &b,
                                     1024 * gib)
            ->Iterations(3)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        for (uint64_t g : {uint64_t{1}, uint64_t{64}, uint64_t{1024}})
            for (bool contiguous : {true, false})
                benchmark::RegisterBenchmark(fmt::format("BM_SideMemory/{}/{}/{}", n, g, contiguous ? "contiguous" : "scattered").c_str(),
                                             BM_SideMemory, &b, g, contiguous)
                    ->Iterations(1);
        benchmark::RegisterBenchmark(("BM_ClaimCycleTables/" + n).c_str(), BM_ClaimCycleTables, &b)
            ->Iterations(1)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
    benchmark::RegisterBenchmark("BM_StoreToClaimedPage", BM_StoreToClaimedPage)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
