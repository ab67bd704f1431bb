// SPDX-License-Identifier: MIT
// Posted writes (hvdm.h, HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED) against
// synchronous ones: a burst of 512 8-byte PTE writes (one page table, the
// "massive update" of a GPU mediator shadowing it) to a page of type
// ioreq_server, whose owner claimed it WRITE|WRITE_POSTED on one side and
// WRITE (Xen's only claim) on the other. Both sides interleaved in one run
// (these machines are shared and noisy), reported as a ratio.
//
// BM_PostedBurst: the model vCPUs, in process. Two domains, each with a
// device model serving with hvdm_serve on its own thread (ATOMIC ring on
// both). vCPU 0 stores the 512 PTEs with hv_vcpu_store; a synchronous
// store is completed by polling hv_vcpu_resume, as bench_roundtrip's trip
// does. The synchronous device model applies each write to guest RAM
// itself (hv_guest_write: with a WRITE claim nobody else does); the posted
// one finds RAM written by hvcore. A burst ends when the device model has
// seen its 512th write (the posted side: possibly after the vCPU is done).
//   sync_us, posted_us:    one burst each
//   posted_over_sync:      posted_us / sync_us (lower is better)
//   posted_vcpu_us:        the posted burst from the vCPU's side (its 512
//                          stores done, the device model maybe behind)
//   posted_vcpu_over_sync: posted_vcpu_us / sync_us
//   *_best:                the same from the fastest burst of each
//   posted_sync_pct:       the posted side's writes that went synchronously
//                          (the ring full: the device model behind)
//
// BM_KvmPostedBurst (only where /dev/kvm opens, else skipped with the
// reason): the same burst by a real guest on hvcore's KVM host: 64-bit
// code storing the 512 PTEs in a loop (each store a KVM_EXIT_MMIO: the
// page's memslot is read-only), after one port write that marks the start;
// the device model on its own thread (hvdm_serve). The time is the device
// model's, from the marker to the 512th PTE write.
//   kvm_sync_us, kvm_posted_us, kvm_posted_over_sync (and _best),
//   kvm_posted_sync_pct
//
// Every write is checked by the device model (address and value of each
// PTE, in order); a loss or a mismatch fails the benchmark.
#include <benchmark/benchmark.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "hvcore/embed.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#if defined(HVCORE_BENCH_KVM)
#include "hvcore/kvm/vm.hpp"
#endif

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t ptes = 512;          // one page table of 8-byte entries
constexpr uint64_t pt_gpa = 0x200000;   // the page table: gfn 0x200
constexpr uint32_t posted_flags = HVDM_IOREQ_MEM_ACCESS_WRITE | HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED;

// PTE i: frame i, present and writable (SDM Vol. 3A 4.5, Table 4-19: P bit
// 0, R/W bit 1), the frame shifted by the burst number so that each burst
// writes new values.
constexpr uint64_t pte(uint64_t burst, uint64_t i) { return ((burst << 9 | i) << 12) | 0x3; }

// The x86 backend if the build has one, else the first.
uint32_t bench_arch() {
    for (const auto& b : hvcore::linked_backends()) {
        const auto a = static_cast<uint32_t>(b.arch);
        if (a == HV_ARCH_X86_VMX || a == HV_ARCH_X86_SVM) return a;
    }
    return static_cast<uint32_t>(hvcore::linked_backends().front().arch);
}

// A device model counting the PTE writes it is given, checking each one's
// address and value, and (synchronous side) applying it to guest RAM.
struct PteDm {
    hv_domain* dom = nullptr;
    bool apply = false;
    uint64_t burst = 0;
    std::atomic<uint64_t> seen{0};  // PTE writes of the current burst
    std::atomic<uint64_t> bad{0};
    std::atomic<uint64_t> waited{0};  // PTE writes that came synchronously (a WRITE claim, or a full ring)
    Clock::time_point start, last;  // KVM: the marker's arrival, the 512th PTE's
};

int pte_fn(void* opaque, hvdm_ioservid_t, hvdm_ioreq_t* req) {
    auto* dm = static_cast<PteDm*>(opaque);
    if (req->type == HVDM_IOREQ_TYPE_PIO) {  // KVM: the start marker
        dm->start = Clock::now();
        return 0;
    }
    const uint64_t i = dm->seen.load(std::memory_order_relaxed);
    if (req->dir != HVDM_IOREQ_WRITE || req->size != 8 || req->addr != pt_gpa + 8 * i ||
        req->data != pte(dm->burst, i))
        dm->bad.fetch_add(1, std::memory_order_relaxed);
    if (req->state == HVDM_STATE_IOREQ_INPROCESS) dm->waited.fetch_add(1, std::memory_order_relaxed);
    if (dm->apply && hv_guest_write(dm->dom, req->addr, &req->data, 8) != 0)
        dm->bad.fetch_add(1, std::memory_order_relaxed);
    if (i + 1 == ptes) dm->last = Clock::now();
    dm->seen.store(i + 1, std::memory_order_release);
    return 0;
}

// One side of BM_PostedBurst: a host, a domain, a device model serving on
// its own thread.
struct Side {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_handle* h = nullptr;
    hvdm_ioservid_t id = 0;
    int stop = -1;
    int serve_rc = 0;
    PteDm dm;
    std::thread server;

    bool open(uint32_t flags) {
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = bench_arch();
        cfg.ram_bytes = 16u << 20;
        cfg.nr_vcpus = 1;
        cfg.flags = HV_DOMAIN_MULTI_OWNER;  // posted writes are a multi-owner claim
        if (hv_host_create(&host) != 0 || hv_domain_create(host, &cfg, &dom) != 0) return false;
        const hvdm_domid_t domid = hv_domain_id(dom);
        h = hvdm_open(host);
        hvdm_shared_iopage* slots = nullptr;
        if (h == nullptr || hvdm_create_ioreq_server(h, domid, HVDM_BUFIOREQ_ATOMIC, &id) != 0 ||
            hvdm_map_ioreq_pages(h, domid, id, &slots, nullptr) != 0 ||
            hvdm_set_ioreq_server_state(h, domid, id, 1) != 0 ||
            hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, flags) != 0 ||
            hvdm_set_mem_type(h, domid, HVDM_MEM_IOREQ_SERVER, pt_gpa / 4096, 1) != 0)
            return false;
        dm.dom = dom;
        dm.apply = (flags & HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED) == 0;
        stop = eventfd(0, EFD_CLOEXEC);
        if (stop < 0) return false;
        server = std::thread([this, domid] { serve_rc = hvdm_serve(h, domid, &id, 1, stop, pte_fn, &dm); });
        return true;
    }

    // One burst; the seconds until the device model saw its last write,
    // and in *vcpu_s until the vCPU's last store completed; < 0 on failure.
    double burst(uint64_t b, double* vcpu_s) {
        dm.burst = b;
        dm.seen.store(0, std::memory_order_release);
        const auto t0 = Clock::now();
        for (uint64_t i = 0; i < ptes; ++i) {
            int rc = hv_vcpu_store(dom, 0, pt_gpa + 8 * i, 8, pte(b, i));
            while (rc == HV_VCPU_IOREQ_PENDING) rc = hv_vcpu_resume(dom, 0, nullptr);
            if (rc != HV_VCPU_DONE) return -1;
        }
        *vcpu_s = std::chrono::duration<double>(Clock::now() - t0).count();
        // Time-boxed: a device model that lost a write must not hang the run.
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        while (dm.seen.load(std::memory_order_acquire) != ptes) {
            if (Clock::now() > deadline) return -1;
            std::this_thread::yield();
        }
        return std::chrono::duration<double>(Clock::now() - t0).count();
    }

    // RAM holds burst b's PTEs (made by hvcore, or by the device model).
    bool ram_holds(uint64_t b) const {
        for (uint64_t i = 0; i < ptes; ++i) {
            uint64_t v = 0;
            if (hv_guest_read(dom, pt_gpa + 8 * i, &v, 8) != 0 || v != pte(b, i)) return false;
        }
        return true;
    }

    ~Side() {
        if (server.joinable()) {
            const uint64_t one = 1;
            (void)!write(stop, &one, sizeof one);
            server.join();
        }
        if (stop >= 0) close(stop);
        if (h != nullptr) (void)hvdm_close(h);
        if (host != nullptr) hv_host_destroy(host);
    }
};

void BM_PostedBurst(benchmark::State& state) {
    Side sync, posted;
    if (!sync.open(HVDM_IOREQ_MEM_ACCESS_WRITE) || !posted.open(posted_flags)) {
        state.SkipWithError("the domains or device models could not be set up");
        return;
    }
    double t_sync = 0, t_posted = 0, t_vcpu = 0;
    double min_sync = 1e9, min_posted = 1e9, min_vcpu = 1e9;
    uint64_t b = 0;
    bool ok = true;
    for (auto _ : state) {
        ++b;
        double unused = 0, vcpu = 0;
        const double s = sync.burst(b, &unused);
        const double p = posted.burst(b, &vcpu);
        if (s < 0 || p < 0) {
            ok = false;
            break;
        }
        state.SetIterationTime(p);
        t_sync += s;
        t_posted += p;
        t_vcpu += vcpu;
        min_sync = std::min(min_sync, s);
        min_posted = std::min(min_posted, p);
        min_vcpu = std::min(min_vcpu, vcpu);
    }
    if (!ok || sync.dm.bad != 0 || posted.dm.bad != 0 || !sync.ram_holds(b) || !posted.ram_holds(b)) {
        state.SkipWithError("a write was lost, reordered, or not in RAM");
        return;
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["sync_us"] = t_sync / n * 1e6;
    state.counters["posted_us"] = t_posted / n * 1e6;
    state.counters["posted_vcpu_us"] = t_vcpu / n * 1e6;
    state.counters["posted_over_sync"] = t_posted / t_sync;
    state.counters["posted_vcpu_over_sync"] = t_vcpu / t_sync;
    state.counters["posted_over_sync_best"] = min_posted / min_sync;
    state.counters["posted_vcpu_over_sync_best"] = min_vcpu / min_sync;
    state.counters["posted_sync_pct"] = 100.0 * static_cast<double>(posted.dm.waited) / (n * ptes);
}
BENCHMARK(BM_PostedBurst)->Iterations(50)->UseManualTime()->Unit(benchmark::kMicrosecond);

#if defined(HVCORE_BENCH_KVM)
constexpr uint16_t marker_port = 0x510;
constexpr uint64_t code_gpa = 0x100000;

// 64-bit code (CpuMode::long64: identity-mapped, flat):
//   66 ba 10 05           mov dx, 0x510
//   ee                    out dx, al          ; the start marker
//   31 c0                 xor eax, eax
//   bf 00 00 20 00        mov edi, 0x200000   ; the page table
// loop:
//   48 89 c2              mov rdx, rax
//   48 c1 e2 0c           shl rdx, 12
//   48 83 ca 03           or rdx, 3           ; frame i, P | R/W (burst 0)
//   48 89 14 c7           mov [rdi + rax*8], rdx
//   ff c0                 inc eax
//   3d 00 02 00 00        cmp eax, 512
//   75 e8                 jne loop
//   f4                    hlt                 ; RunEnd::halted
constexpr unsigned char kvm_code[] = {0x66, 0xba, 0x10, 0x05, 0xee, 0x31, 0xc0, 0xbf, 0x00, 0x00, 0x20, 0x00,
                                      0x48, 0x89, 0xc2, 0x48, 0xc1, 0xe2, 0x0c, 0x48, 0x83, 0xca, 0x03, 0x48,
                                      0x89, 0x14, 0xc7, 0xff, 0xc0, 0x3d, 0x00, 0x02, 0x00, 0x00, 0x75, 0xe8,
                                      0xf4};

// One burst on hvcore's KVM host: the device model's seconds from the
// marker to the 512th PTE, or a negative value with *why.
double kvm_burst(const hvcore::kvm::Device& dev, uint32_t flags, std::string* why, uint64_t* waited = nullptr) {
    const hvcore::kvm::CpuVendor vendor = hvcore::kvm::host_cpu_vendor();
    if (vendor == hvcore::kvm::CpuVendor::other) {
        *why = "neither an Intel nor an AMD host CPU";
        return -1;
    }
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hv_domain_config cfg{};
    cfg.size = sizeof cfg;
    cfg.arch = vendor == hvcore::kvm::CpuVendor::intel ? HV_ARCH_X86_VMX : HV_ARCH_X86_SVM;
    cfg.ram_bytes = 4u << 20;
    cfg.nr_vcpus = 1;
    cfg.flags = HV_DOMAIN_MULTI_OWNER;  // posted writes are a multi-owner claim
    if (hv_host_create(&host) != 0) {
        *why = "hv_host_create";
        return -1;
    }
    if (hv_domain_create(host, &cfg, &dom) != 0) {
        hv_host_destroy(host);
        *why = "hv_domain_create (is the host CPU's backend built?)";
        return -1;
    }
    double per = -1;
    {
        hvcore::kvm::VmOptions opt;
        opt.timeout = std::chrono::seconds(60);
        auto vm = hvcore::kvm::Vm::create(dev, hvcore::embed::domain_of(dom), opt);
        PteDm dm;
        dm.dom = dom;
        dm.apply = (flags & HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED) == 0;
        const hvdm_domid_t domid = hv_domain_id(dom);
        hvdm_handle* h = hvdm_open(host);
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage* slots = nullptr;
        const int stop = eventfd(0, EFD_CLOEXEC);
        if (!vm.is_ok()) {
            *why = std::string("Vm::create: ") + vm.error().what();
        } else if (h == nullptr || stop < 0 || hvdm_create_ioreq_server(h, domid, HVDM_BUFIOREQ_ATOMIC, &id) != 0 ||
                   hvdm_map_ioreq_pages(h, domid, id, &slots, nullptr) != 0 ||
                   hvdm_set_ioreq_server_state(h, domid, id, 1) != 0 ||
                   hvdm_map_io_range_to_ioreq_server(h, domid, id, 0, marker_port, marker_port) != 0 ||
                   hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, flags) != 0 ||
                   hvdm_set_mem_type(h, domid, HVDM_MEM_IOREQ_SERVER, pt_gpa / 4096, 1) != 0) {
            *why = "the device model's setup failed";
        } else if (!vm.value()->load(kvm_code, code_gpa).is_ok() ||
                   !vm.value()->boot(0, hvcore::kvm::VcpuBoot{.mode = hvcore::kvm::CpuMode::long64,
                                                              .entry = code_gpa, .stack = 0x80000})
                        .is_ok()) {
            *why = "the guest could not be loaded";
        } else {
            std::thread server([&] { (void)hvdm_serve(h, domid, &id, 1, stop, pte_fn, &dm); });
            const hvcore::kvm::Error e = vm.value()->run();
            // The posted side's device model may still be draining the ring.
            const auto deadline = Clock::now() + std::chrono::seconds(10);
            while (dm.seen.load(std::memory_order_acquire) != ptes && Clock::now() < deadline)
                std::this_thread::yield();
            const uint64_t one = 1;
            (void)!write(stop, &one, sizeof one);
            server.join();
            if (!e.is_ok() || vm.value()->end() != hvcore::kvm::RunEnd::halted || dm.seen != ptes || dm.bad != 0)
                *why = std::string("the run did not end as planned: ") + vm.value()->end_detail();
            else
                per = std::chrono::duration<double>(dm.last - dm.start).count();
            if (waited != nullptr) *waited += dm.waited;
        }
        if (vm.is_ok()) vm.value().reset();
        if (stop >= 0) close(stop);
        if (h != nullptr) (void)hvdm_close(h);
    }
    (void)hv_domain_destroy(dom);
    hv_host_destroy(host);
    return per;
}

void BM_KvmPostedBurst(benchmark::State& state) {
    auto dev = hvcore::kvm::Device::open();
    if (!dev.is_ok()) {
        state.SkipWithError((std::string("no KVM: ") + dev.error().what()).c_str());
        return;
    }
    double t_sync = 0, t_posted = 0, min_sync = 1e9, min_posted = 1e9;
    uint64_t waited = 0;
    std::string why;
    for (auto _ : state) {
        const double s = kvm_burst(*dev.value(), HVDM_IOREQ_MEM_ACCESS_WRITE, &why);
        const double p = s < 0 ? s : kvm_burst(*dev.value(), posted_flags, &why, &waited);
        if (s < 0 || p < 0) {
            state.SkipWithError(why.c_str());
            return;
        }
        state.SetIterationTime(p);
        t_sync += s;
        t_posted += p;
        min_sync = std::min(min_sync, s);
        min_posted = std::min(min_posted, p);
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["kvm_sync_us"] = t_sync / n * 1e6;
    state.counters["kvm_posted_us"] = t_posted / n * 1e6;
    state.counters["kvm_posted_over_sync"] = t_posted / t_sync;
    state.counters["kvm_posted_over_sync_best"] = min_posted / min_sync;
    state.counters["kvm_posted_sync_pct"] = 100.0 * static_cast<double>(waited) / (n * ptes);
}
BENCHMARK(BM_KvmPostedBurst)->Iterations(5)->UseManualTime()->Unit(benchmark::kMicrosecond);
#endif

}  // namespace

BENCHMARK_MAIN();
