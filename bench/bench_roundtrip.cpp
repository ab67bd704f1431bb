// SPDX-License-Identifier: MIT
// The round trip of a guest write to a claimed MMIO page: the vCPU's store
// traps, a device model takes the ioreq, answers, and the vCPU resumes.
// Three ways, interleaved in one run (these machines are shared and noisy),
// reported as counters against the in-process one:
//
//   inproc_us:  the device model in this process, on a handle of hvdm_open,
//               served by hvdm_serve on its own thread (tests/ipc/dm_seq.c).
//   process_us: the same code in its own process (dm_proc, hvdm_connect over
//               hv_dm_listen's socket): the ioreq page and eventfd are shared,
//               the answer's hvdm_ioreq_notify is a socket message.
//               Counter process_over_inproc.
//   direct_us:  the same device model code (dmseq_serve) as a direct handler
//               (hvdm_set_direct_handler): called on the vCPU thread inside
//               hv_vcpu_store, no slot, no eventfd, no second thread.
//               Counter direct_over_inproc.
//   kvm_us:     a plain KVM_EXIT_MMIO loop without hvcore: a real-mode guest
//               storing to a KVM_MEM_READONLY memslot forever, one KVM_RUN per
//               store (only where /dev/kvm opens, or $HVCORE_KVM_DEVICE;
//               otherwise the benchmark's label says why it was skipped).
//               Counter kvm_over_inproc.
//
// BM_KvmRoundTrip (only where /dev/kvm opens): the raw loop's guest on
// hvcore's KVM host (host/kvm): the same two instructions in real mode,
// storing to a page of RAM whose type a device model claimed
// (ioreq_server: a read-only memslot, so each store is a KVM_EXIT_MMIO that
// enters the core through Domain::host_access), beside the raw loop:
//   hvcore_kvm_direct_over_raw: the device model's direct handler
//               (hvdm_set_direct_handler), on the vCPU thread;
//   hvcore_kvm_thread_over_raw: the same device model on its own thread
//               (hvdm_serve), the vCPU thread waiting for its answer.
// Each figure is the time per store between the device model's first and
// last request of a run of kvm_writes, the raw loop's per KVM_RUN.
//
// BM_HostAccessDirect: what hvcore adds to each such exit on a real host,
// without KVM: Domain::host_access (the entry of a KVM_EXIT_MMIO into the
// core) of a 1-byte write to the claimed page, served by a direct handler
// that only counts, per call (direct_ns); beside it the same call writing
// a page of plain RAM (ram_ns: the routing alone).
//
// Each ratio also as *_best: the fastest batch of 100 of each, the figure
// least disturbed by other load on a shared machine.
//
// Every round trip of the first three is checked by the device model (each
// number once and in order, dm_seq.h); a loss fails the benchmark.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/kvm.h>
#endif

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "dm_proc_run.hpp"
#include "dm_seq.h"
#include "hvcore/core/backend.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "hvcore/embed.hpp"
#if defined(HVCORE_BENCH_KVM)
#include "hvcore/kvm/vm.hpp"
#endif

#ifndef HVCORE_BENCH_DM_PROC
#error "HVCORE_BENCH_DM_PROC: the path of the dm_proc program"
#endif

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t mmio_inproc = 0xfebf0000;
constexpr uint64_t mmio_process = 0xfebf1000;
constexpr uint64_t gfn_inproc = 0x100;
constexpr uint64_t gfn_process = 0x101;
constexpr uint64_t mmio_direct = 0xfebf2000;
constexpr uint64_t gfn_direct = 0x102;
constexpr int batch = 100;

// The x86 backend if the build has one (the KVM loop is x86), else the first.
uint32_t bench_arch() {
    for (const auto& b : hvcore::linked_backends()) {
        const auto a = static_cast<uint32_t>(b.arch);
        if (a == HV_ARCH_X86_VMX || a == HV_ARCH_X86_SVM) return a;
    }
    return static_cast<uint32_t>(hvcore::linked_backends().front().arch);
}

// A host with one 16 MiB domain of one vCPU on bench_arch(): false if
// either cannot be created.
bool bench_domain(hv_host** host, hv_domain** dom) {
    hv_domain_config cfg{};
    cfg.size = sizeof cfg;
    cfg.arch = bench_arch();
    cfg.ram_bytes = 16u << 20;
    cfg.nr_vcpus = 1;
    return hv_host_create(host) == 0 && hv_domain_create(*host, &cfg, dom) == 0;
}

// One store by vCPU 0 to gpa, answered: the RAM word first (the device
// model checks its view of it), then the MMIO store, then the resume
// polled until the answer is taken.
bool trip(hv_domain* d, uint64_t gpa, uint64_t gfn, uint64_t seq) {
    if (hv_guest_write(d, gfn * 4096, &seq, sizeof seq) != 0) return false;
    if (hv_vcpu_store(d, 0, gpa, 8, seq) != HV_VCPU_IOREQ_PENDING) return false;
    for (;;) {
        const int rc = hv_vcpu_resume(d, 0, nullptr);
        if (rc == HV_VCPU_DONE) return true;
        if (rc != HV_VCPU_IOREQ_PENDING) return false;
    }
}

// The same, with the device model's direct handler: the store itself
// completes (HV_VCPU_DONE), the handler having run inside it.
bool trip_direct(hv_domain* d, uint64_t gpa, uint64_t gfn, uint64_t seq) {
    if (hv_guest_write(d, gfn * 4096, &seq, sizeof seq) != 0) return false;
    return hv_vcpu_store(d, 0, gpa, 8, seq) == HV_VCPU_DONE;
}

#if defined(__x86_64__)
// KVM without hvcore: one vCPU in real mode running
//   0: a2 00 80   mov [0x8000], al   ; 0x8000: a KVM_MEM_READONLY slot
//   3: eb fb      jmp 0
// so that every KVM_RUN returns with KVM_EXIT_MMIO (a write).
struct RawKvm {
    int kvm = -1, vm = -1, vcpu = -1;
    kvm_run* run = nullptr;
    size_t run_size = 0;
    void* mem = MAP_FAILED;
    static constexpr size_t mem_size = 0x9000;
    std::string why;

    bool open() {
        const char* path = std::getenv("HVCORE_KVM_DEVICE");
        if (path == nullptr || *path == '\0') path = "/dev/kvm";
        kvm = ::open(path, O_RDWR | O_CLOEXEC);
        if (kvm < 0) return fail(std::string("cannot open ") + path + ": " + std::strerror(errno));
        if (ioctl(kvm, KVM_GET_API_VERSION, 0) != 12) return fail("KVM_GET_API_VERSION is not 12");
        if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0) return fail("no KVM_CAP_READONLY_MEM");
        vm = ioctl(kvm, KVM_CREATE_VM, 0);
        if (vm < 0) return fail(std::string("KVM_CREATE_VM: ") + std::strerror(errno));
        (void)ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);  // real mode without unrestricted guest (VMX)
        mem = mmap(nullptr, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return fail("mmap");
        static const unsigned char code[] = {0xa2, 0x00, 0x80, 0xeb, 0xfb};
        std::memcpy(mem, code, sizeof code);
        kvm_userspace_memory_region ram{0, 0, 0, 0x8000, reinterpret_cast<uint64_t>(mem)};
        kvm_userspace_memory_region ro{1, KVM_MEM_READONLY, 0x8000, 0x1000,
                                       reinterpret_cast<uint64_t>(static_cast<char*>(mem) + 0x8000)};
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &ram) != 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &ro) != 0)
            return fail(std::string("KVM_SET_USER_MEMORY_REGION: ") + std::strerror(errno));
        vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
        if (vcpu < 0) return fail(std::string("KVM_CREATE_VCPU: ") + std::strerror(errno));
        const int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (sz <= 0) return fail("KVM_GET_VCPU_MMAP_SIZE");
        run_size = static_cast<size_t>(sz);
        void* r = mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
        if (r == MAP_FAILED) return fail("mmap of kvm_run");
        run = static_cast<kvm_run*>(r);
        kvm_sregs s{};
        if (ioctl(vcpu, KVM_GET_SREGS, &s) != 0) return fail("KVM_GET_SREGS");
        s.cs.base = 0;
        s.cs.selector = 0;
        s.ds.base = 0;
        s.ds.selector = 0;
        if (ioctl(vcpu, KVM_SET_SREGS, &s) != 0) return fail("KVM_SET_SREGS");
        kvm_regs g{};
        g.rip = 0;
        g.rflags = 2;
        if (ioctl(vcpu, KVM_SET_REGS, &g) != 0) return fail("KVM_SET_REGS");
        if (!trip()) return fail("the first KVM_RUN did not exit with an MMIO write to 0x8000");
        return true;
    }
    bool trip() {
        if (ioctl(vcpu, KVM_RUN, 0) != 0) return false;
        return run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write != 0 && run->mmio.phys_addr == 0x8000;
    }
    bool fail(std::string w) {
        why = std::move(w);
        return false;
    }
    ~RawKvm() {
        if (run != nullptr) munmap(run, run_size);
        if (vcpu >= 0) close(vcpu);
        if (vm >= 0) close(vm);
        if (mem != MAP_FAILED) munmap(mem, mem_size);
        if (kvm >= 0) close(kvm);
    }
};
#else
struct RawKvm {
    std::string why = "not an x86-64 host";
    bool open() { return false; }
    bool trip() { return false; }
};
#endif

// dm_proc in its own process (dm_proc_run.hpp, shared with the load tests).
struct DmProcess {
    hvcore_load::Dm d;
    // Started and ready.
    bool start(const std::string& sock, hvdm_domid_t domid, uint32_t arch) {
        const bool x86 = arch == HV_ARCH_X86_VMX || arch == HV_ARCH_X86_SVM;
        d = hvcore_load::start_dm_proc(HVCORE_BENCH_DM_PROC, sock, domid, x86 ? "x86" : "arm64", mmio_process,
                                       gfn_process, x86 ? 5 : 41);
        return d.pid > 0 && hvcore_load::read_line(d.out).rfind("ready ", 0) == 0;
    }
    // Ends it: its report and whether it exited 0 (no error seen).
    bool stop(std::string* report) {
        close(d.in);
        *report = hvcore_load::read_all(d.out);
        close(d.out);
        int status = 0;
        return waitpid(d.pid, &status, 0) == d.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
};

void BM_RoundTrip(benchmark::State& state) {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    if (!bench_domain(&host, &dom)) {
        state.SkipWithError("no host");
        return;
    }
    const hvdm_domid_t domid = hv_domain_id(dom);
    const uint32_t arch = bench_arch();
    const bool x86 = arch == HV_ARCH_X86_VMX || arch == HV_ARCH_X86_SVM;

    // (b) in-process: dm_seq on a handle of hvdm_open, served on a thread.
    hvdm_handle* h = hvdm_open(host);
    static dmseq local;  // large: not on the stack
    const char* what = "";
    if (dmseq_setup(&local, h, domid, mmio_inproc, gfn_inproc, x86 ? DMSEQ_X86 : DMSEQ_ARM, x86 ? 4 : 40, &what) !=
        0) {
        state.SkipWithError(what);
        return;
    }
    const int stop = eventfd(0, EFD_CLOEXEC);
    int serve_rc = 0;
    std::thread server([&] { serve_rc = hvdm_serve(h, domid, &local.id, 1, stop, dmseq_serve, &local); });

    // (d) direct: the same code on another server of the same handle, as
    // its direct handler.
    static dmseq direct;
    if (dmseq_setup(&direct, h, domid, mmio_direct, gfn_direct, x86 ? DMSEQ_X86 : DMSEQ_ARM, x86 ? 6 : 42,
                    &what) != 0) {
        state.SkipWithError(what);
        return;
    }
    if (hvdm_set_direct_handler(h, domid, direct.id, dmseq_serve, &direct) != 0) {
        state.SkipWithError("hvdm_set_direct_handler failed");
        return;
    }

    // (a) another process: the same code in dm_proc over the socket.
    const std::string sock = "hvcore-bench-" + std::to_string(getpid()) + ".sock";
    hv_dm_listen_config lc{};
    lc.size = sizeof lc;
    hv_dm_listener* l = nullptr;
    DmProcess proc;
    const bool have_proc = hv_dm_listen(host, sock.c_str(), &lc, &l) == 0 && proc.start(sock, domid, arch);

    // (c) raw KVM.
    RawKvm raw;
    const bool have_kvm = raw.open();

    double t_in = 0, t_proc = 0, t_kvm = 0, t_direct = 0;
    // The fastest batch of each: the figure least disturbed by other load.
    double min_in = 1e9, min_proc = 1e9, min_kvm = 1e9, min_direct = 1e9;
    uint64_t seq_in = 0, seq_proc = 0, seq_direct = 0;
    bool ok = have_proc;
    for (auto _ : state) {
        auto t0 = Clock::now();
        for (int i = 0; i < batch; ++i) ok = trip(dom, mmio_inproc, gfn_inproc, ++seq_in) && ok;
        auto t1 = Clock::now();
        const double in = std::chrono::duration<double>(t1 - t0).count();
        state.SetIterationTime(in / batch);
        t_in += in;
        min_in = std::min(min_in, in);
        t0 = Clock::now();
        for (int i = 0; i < batch; ++i) ok = trip_direct(dom, mmio_direct, gfn_direct, ++seq_direct) && ok;
        t1 = Clock::now();
        const double di = std::chrono::duration<double>(t1 - t0).count();
        t_direct += di;
        min_direct = std::min(min_direct, di);
        if (have_proc) {
            t0 = Clock::now();
            for (int i = 0; i < batch; ++i) ok = trip(dom, mmio_process, gfn_process, ++seq_proc) && ok;
            t1 = Clock::now();
            const double pr = std::chrono::duration<double>(t1 - t0).count();
            t_proc += pr;
            min_proc = std::min(min_proc, pr);
        }
        if (have_kvm) {
            t0 = Clock::now();
            for (int i = 0; i < batch; ++i) ok = raw.trip() && ok;
            t1 = Clock::now();
            const double k = std::chrono::duration<double>(t1 - t0).count();
            t_kvm += k;
            min_kvm = std::min(min_kvm, k);
        }
    }
    const double n = static_cast<double>(state.iterations()) * batch;
    state.counters["inproc_us"] = t_in / n * 1e6;
    state.counters["direct_us"] = t_direct / n * 1e6;
    state.counters["direct_over_inproc"] = t_direct / t_in;
    state.counters["direct_over_inproc_best"] = min_direct / min_in;
    if (have_proc) {
        state.counters["process_us"] = t_proc / n * 1e6;
        state.counters["process_over_inproc"] = t_proc / t_in;
        state.counters["process_over_inproc_best"] = min_proc / min_in;
    }
    if (have_kvm) {
        state.counters["kvm_us"] = t_kvm / n * 1e6;
        state.counters["kvm_over_inproc"] = t_kvm / t_in;
        state.counters["kvm_over_inproc_best"] = min_kvm / min_in;
    }
    state.SetLabel(have_kvm ? "KVM loop measured" : "KVM loop skipped: " + raw.why);

    uint64_t one = 1;
    (void)!write(stop, &one, sizeof one);
    server.join();
    close(stop);
    const bool local_ok = dmseq_report(&local, stderr) == 0 && local.v[0].received == seq_in && serve_rc == 0 &&
                          dmseq_report(&direct, stderr) == 0 && direct.v[0].received == seq_direct;
    std::string report;
    const bool proc_ok = have_proc && proc.stop(&report);
    if (have_proc) std::fprintf(stderr, "dm_proc: %s", report.c_str());
    const std::string want = "vcpu 0 received " + std::to_string(seq_proc) + " last " + std::to_string(seq_proc) + " ";
    if (!have_proc)
        state.SkipWithError("the device-model process did not start");
    else if (!ok)
        state.SkipWithError("a round trip failed");
    else if (!local_ok || !proc_ok || report.find(want) == std::string::npos)
        state.SkipWithError("a device model saw a loss, a duplicate or a RAM mismatch");
    std::fprintf(stderr,
                 "round trip, %.0f each: in-process %.2f us, direct %.2f us (x%.3f), process %.2f us (x%.2f), "
                 "raw KVM %s; best batch: in-process %.2f us, direct %.2f us (x%.3f), process %.2f us (x%.2f)%s\n",
                 n, t_in / n * 1e6, t_direct / n * 1e6, t_direct / t_in, t_proc / n * 1e6, t_proc / t_in,
                 have_kvm ? (std::to_string(t_kvm / n * 1e6) + " us (x" + std::to_string(t_kvm / t_in) + ")").c_str()
                          : ("skipped: " + raw.why).c_str(),
                 min_in / batch * 1e6, min_direct / batch * 1e6, min_direct / min_in, min_proc / batch * 1e6,
                 min_proc / min_in,
                 have_kvm ? (", raw KVM " + std::to_string(min_kvm / batch * 1e6) + " us (x" +
                             std::to_string(min_kvm / min_in) + ")")
                                .c_str()
                          : "");
    hv_dm_listener_close(l);
    (void)hvdm_close(h);
    hv_host_destroy(host);
}
BENCHMARK(BM_RoundTrip)->Iterations(50)->UseManualTime()->Unit(benchmark::kMicrosecond);

int count_only(void* opaque, hvdm_ioservid_t, hvdm_ioreq_t*) {
    ++*static_cast<uint64_t*>(opaque);
    return 0;
}

void BM_HostAccessDirect(benchmark::State& state) {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    if (!bench_domain(&host, &dom)) {
        state.SkipWithError("no host");
        return;
    }
    const hvdm_domid_t domid = hv_domain_id(dom);
    hvdm_handle* h = hvdm_open(host);
    hvdm_ioservid_t id = 0;
    uint64_t served = 0;
    constexpr uint64_t claimed = 0x8000;
    if (h == nullptr || hvdm_create_ioreq_server(h, domid, HVDM_BUFIOREQ_OFF, &id) != 0 ||
        hvdm_set_ioreq_server_state(h, domid, id, 1) != 0 ||
        hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) != 0 ||
        hvdm_set_mem_type(h, domid, HVDM_MEM_IOREQ_SERVER, claimed / 4096, 1) != 0 ||
        hvdm_set_direct_handler(h, domid, id, count_only, &served) != 0) {
        state.SkipWithError("the device model's setup failed");
        return;
    }
    const std::shared_ptr<hvcore::Domain> d = hvcore::embed::domain_of(dom);
    const hvcore::HostAccess to_dm{.is_pio = false, .is_write = true, .addr = claimed, .size = 1, .data = 0x5a};
    const hvcore::HostAccess to_ram{.is_pio = false, .is_write = true, .addr = 0x9000, .size = 1, .data = 0x5a};
    constexpr int calls = 1000;
    double t_dm = 0, t_ram = 0;
    bool ok = true;
    uint64_t value = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        for (int i = 0; i < calls; ++i) ok = d->host_access(0, to_dm, &value) == 0 && ok;
        auto t1 = Clock::now();
        const double dm = std::chrono::duration<double>(t1 - t0).count();
        state.SetIterationTime(dm / calls);
        t_dm += dm;
        t0 = Clock::now();
        for (int i = 0; i < calls; ++i) ok = d->host_access(0, to_ram, &value) == 0 && ok;
        t1 = Clock::now();
        t_ram += std::chrono::duration<double>(t1 - t0).count();
    }
    const double n = static_cast<double>(state.iterations()) * calls;
    state.counters["direct_ns"] = t_dm / n * 1e9;
    state.counters["ram_ns"] = t_ram / n * 1e9;
    state.counters["direct_over_ram"] = t_dm / t_ram;
    if (!ok || served != static_cast<uint64_t>(n)) state.SkipWithError("an access failed or was not served once");
    (void)hvdm_close(h);
    hv_host_destroy(host);
}
BENCHMARK(BM_HostAccessDirect)->Iterations(200)->UseManualTime()->Unit(benchmark::kNanosecond);

#if defined(HVCORE_BENCH_KVM)
constexpr uint64_t kvm_writes = 2000;  // per run of each kind
constexpr uint64_t kvm_claimed_gpa = 0x8000;  // the raw loop's store target

// The device model of the KVM runs: counts the stores to the claimed page
// and shuts the domain down at the last one (the run then ends with
// RunEnd::dm_shutdown).
struct KvmDm {
    hvdm_handle* h = nullptr;
    hvdm_domid_t domid = 0;
    uint64_t n = 0;
    uint64_t bad = 0;
    Clock::time_point first, last;
};

int kvm_count(void* opaque, hvdm_ioservid_t, hvdm_ioreq_t* req) {
    auto* c = static_cast<KvmDm*>(opaque);
    const Clock::time_point now = Clock::now();
    if (c->n == 0) c->first = now;
    c->last = now;
    if (req->dir != HVDM_IOREQ_WRITE || req->addr != kvm_claimed_gpa || req->size != 1) ++c->bad;
    if (++c->n == kvm_writes) (void)hvdm_shutdown(c->h, c->domid, 0);
    return 0;
}

// One run of kvm_writes stores on hvcore's KVM host: the seconds per store,
// or a negative value with *why.
double hvcore_kvm_run(const hvcore::kvm::Device& dev, bool direct, std::string* why) {
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
        KvmDm dm;
        dm.domid = hv_domain_id(dom);
        dm.h = hvdm_open(host);
        hvdm_ioservid_t id = 0;
        const int stop = eventfd(0, EFD_CLOEXEC);
        std::thread server;
        // The raw loop's guest at 0x10000 (CS 0x1000, IP 0; DS 0).
        static const unsigned char code[] = {0xa2, 0x00, 0x80, 0xeb, 0xfb};
        if (!vm.is_ok()) {
            *why = std::string("Vm::create: ") + vm.error().what();
        } else if (dm.h == nullptr || hvdm_create_ioreq_server(dm.h, dm.domid, HVDM_BUFIOREQ_OFF, &id) != 0 ||
                   hvdm_set_ioreq_server_state(dm.h, dm.domid, id, 1) != 0 ||
                   hvdm_map_mem_type_to_ioreq_server(dm.h, dm.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                     HVDM_IOREQ_MEM_ACCESS_WRITE) != 0 ||
                   hvdm_set_mem_type(dm.h, dm.domid, HVDM_MEM_IOREQ_SERVER, kvm_claimed_gpa / 4096, 1) != 0) {
            *why = "the device model's setup failed";
        } else if (direct ? hvdm_set_direct_handler(dm.h, dm.domid, id, kvm_count, &dm) != 0
                          : hvdm_ioreq_fd(dm.h, dm.domid, id) < 0) {
            *why = "hvdm_set_direct_handler / hvdm_ioreq_fd failed";
        } else if (!vm.value()->load(code, 0x10000).is_ok() ||
                   !vm.value()->boot(0, hvcore::kvm::VcpuBoot{.mode = hvcore::kvm::CpuMode::real16,
                                                              .entry = 0x10000, .stack = 0xf000})
                        .is_ok()) {
            *why = "the guest could not be loaded";
        } else {
            if (!direct) server = std::thread([&] { (void)hvdm_serve(dm.h, dm.domid, &id, 1, stop, kvm_count, &dm); });
            const hvcore::kvm::Error e = vm.value()->run();
            if (!direct) {
                const uint64_t one = 1;
                (void)!write(stop, &one, sizeof one);
                server.join();
            }
            if (!e.is_ok() || vm.value()->end() != hvcore::kvm::RunEnd::dm_shutdown || dm.n != kvm_writes ||
                dm.bad != 0)
                *why = std::string("the run did not end as planned: ") + vm.value()->end_detail();
            else
                per = std::chrono::duration<double>(dm.last - dm.first).count() / static_cast<double>(kvm_writes - 1);
        }
        if (vm.is_ok()) vm.value().reset();
        if (stop >= 0) close(stop);
        if (dm.h != nullptr) (void)hvdm_close(dm.h);
    }
    (void)hv_domain_destroy(dom);
    hv_host_destroy(host);
    return per;
}

void BM_KvmRoundTrip(benchmark::State& state) {
    auto dev = hvcore::kvm::Device::open();
    RawKvm raw;
    if (!dev.is_ok()) {
        state.SkipWithError((std::string("no KVM: ") + dev.error().what()).c_str());
        return;
    }
    if (!raw.open()) {
        state.SkipWithError(("raw KVM loop: " + raw.why).c_str());
        return;
    }
    double t_raw = 0, t_direct = 0, t_thread = 0;
    double min_raw = 1e9, min_direct = 1e9, min_thread = 1e9;
    std::string why;
    for (auto _ : state) {
        const auto t0 = Clock::now();
        for (uint64_t i = 0; i < kvm_writes; ++i) {
            if (!raw.trip()) {
                state.SkipWithError("a raw KVM_RUN did not exit with the MMIO write");
                return;
            }
        }
        const double r = std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(kvm_writes);
        const double d = hvcore_kvm_run(*dev.value(), true, &why);
        const double t = d < 0 ? d : hvcore_kvm_run(*dev.value(), false, &why);
        if (d < 0 || t < 0) {
            state.SkipWithError(why.c_str());
            return;
        }
        state.SetIterationTime(d);
        t_raw += r;
        t_direct += d;
        t_thread += t;
        min_raw = std::min(min_raw, r);
        min_direct = std::min(min_direct, d);
        min_thread = std::min(min_thread, t);
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["raw_kvm_us"] = t_raw / n * 1e6;
    state.counters["hvcore_kvm_direct_us"] = t_direct / n * 1e6;
    state.counters["hvcore_kvm_thread_us"] = t_thread / n * 1e6;
    state.counters["hvcore_kvm_direct_over_raw"] = t_direct / t_raw;
    state.counters["hvcore_kvm_thread_over_raw"] = t_thread / t_raw;
    state.counters["hvcore_kvm_direct_over_raw_best"] = min_direct / min_raw;
    state.counters["hvcore_kvm_thread_over_raw_best"] = min_thread / min_raw;
}
BENCHMARK(BM_KvmRoundTrip)->Iterations(5)->UseManualTime()->Unit(benchmark::kMicrosecond);
#endif

}  // namespace

BENCHMARK_MAIN();
