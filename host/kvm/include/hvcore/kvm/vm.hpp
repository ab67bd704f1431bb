// SPDX-License-Identifier: MIT
// Real x86-64 guest code on Linux KVM, with hvcore's core in charge.
//
// The core stays the single source of truth for guest memory: its p2m (in
// the stage-2 table of the backend matching the host CPU) is projected onto
// KVM memslots (slot_plan.hpp), re-projected from inside the core's p2m
// observer before a DMOP returns, and every access KVM cannot complete
// (KVM_EXIT_MMIO, KVM_EXIT_IO) enters the core through Domain::host_access,
// which routes it by exactly the rules of the model vCPUs and blocks the
// vCPU thread until a device model answers.
//
// Threads: one per vCPU (KVM_RUN loop), plus whichever threads issue DMOPs
// (device models), plus the thread in run(). Lock order (written once,
// here): Domain::mu_ (held by the core around the p2m observer) before any
// of Vm::slots_mu_ (the live memslots), Vm::gate_mu_ (who is inside
// KVM_RUN) and Vm::end_mu_ (how the run ends), which are each taken alone,
// never two at once. A vCPU thread holds none of them across KVM_RUN or
// host_access.
//
// A p2m change stops every vCPU out of KVM_RUN (immediate_exit and a kick
// signal) before the memslots change, so a guest never runs on half of a
// split or merge: the deleted-then-created slot of a type change would
// otherwise leave a window in which an instruction fetch finds no memory.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hvcore/core/domain.hpp"
#include "hvcore/kvm/error.hpp"
#include "hvcore/kvm/latency.hpp"
#include "hvcore/kvm/slot_plan.hpp"

struct kvm_run;

namespace hvcore::kvm {

// The signal that kicks a vCPU thread out of KVM_RUN (an empty handler is
// installed for it, without SA_RESTART). Threads that run vCPUs must not
// block it.
inline constexpr int kick_signal = SIGUSR1;

// /dev/kvm, checked: KVM_GET_API_VERSION 12 and the capabilities host/kvm
// needs (KVM_CAP_USER_MEMORY, KVM_CAP_READONLY_MEM, KVM_CAP_IMMEDIATE_EXIT).
class Device {
public:
    // path nullptr: $HVCORE_KVM_DEVICE if set (tests point it elsewhere to
    // check what happens without KVM), else /dev/kvm.
    [[nodiscard]] static Outcome<std::unique_ptr<Device>> open(const char* path = nullptr);
    ~Device();
    Device(const Device&) = delete;
    Device& operator=(const Device&) = delete;

    [[nodiscard]] int fd() const noexcept { return fd_; }
    // Creates and closes a VM: KVM can open and still refuse KVM_CREATE_VM.
    [[nodiscard]] Error probe_create_vm() const;
    [[nodiscard]] uint32_t nr_memslots() const noexcept { return nr_memslots_; }  // KVM_CAP_NR_MEMSLOTS
    [[nodiscard]] size_t vcpu_mmap_size() const noexcept { return vcpu_mmap_size_; }

private:
    Device() = default;
    int fd_ = -1;
    uint32_t nr_memslots_ = 0;
    size_t vcpu_mmap_size_ = 0;
};

// The x86 host CPU's vendor, which picks the backend whose table holds the
// p2m (GenuineIntel -> EPT, AuthenticAMD -> NPT).
enum class CpuVendor : uint8_t { intel, amd, other };
[[nodiscard]] CpuVendor host_cpu_vendor() noexcept;

enum class CpuMode : uint8_t {
    long64,  // 64-bit long mode: identity map of the first 4 GiB, flat GDT
    real16,  // real mode: CS:IP = entry, for small payloads below 1 MiB
};

// Guest-physical pages the loader takes for long mode (the guests know:
// examples/guests/guest_abi.h): a GDT and the identity-mapping tables.
inline constexpr uint64_t boot_gdt = 0x1000;
inline constexpr uint64_t boot_pml4 = 0x2000;
inline constexpr uint64_t boot_pdpt = 0x3000;
inline constexpr uint64_t boot_pd = 0x4000;  // 4 page directories of 2 MiB leaves: 0..4 GiB
inline constexpr uint64_t boot_reserved_end = 0x8000;

struct VcpuBoot {
    CpuMode mode = CpuMode::long64;
    uint64_t entry = 0;  // guest-physical (= linear) address of the first instruction
    uint64_t stack = 0;  // initial RSP (SP in real mode)
};

struct VmOptions {
    // 0: the device's KVM_CAP_NR_MEMSLOTS. A smaller limit makes the
    // slot-limit error reachable in a test.
    uint32_t max_memslots = 0;
    // A write of any value to this port powers the guest off (never routed
    // to a device model). 0 disables it. It is how a guest ends with
    // `irqchip` (below).
    uint16_t shutdown_port = 0x604;
    // KVM's in-kernel interrupt controller (KVM_CREATE_IRQCHIP: two 8259s,
    // an IO-APIC of 24 pins, a local APIC per vCPU), driven by the device
    // models' interrupt DMOPs (KVM_IRQ_LINE, KVM_SIGNAL_MSI). Off by
    // default: with an in-kernel local APIC, HLT no longer exits to user
    // space (the vCPU sleeps in the kernel), so RunEnd::halted never comes;
    // such a guest ends with the shutdown port (or a stop or the timeout,
    // which kick a halted vCPU as any other). The kernel then owns ports
    // 0x20/0x21, 0xa0/0xa1, 0x4d0/0x4d1 and the IO-APIC's and LAPIC's
    // MMIO (0xfec00000, 0xfee00000): device models never see them.
    // Without it the DMOPs are only recorded (hv_domain_irq_state).
    bool irqchip = false;
    // The run ends with RunEnd::timeout after this long (0: never).
    std::chrono::milliseconds timeout{0};
    // Where the Vm's own messages go (one line each, no newline; for
    // example a memslot it could not delete); empty: dropped. host/kvm
    // prints nothing itself.
    std::function<void(const std::string&)> log;
};

enum class RunEnd : uint8_t {
    halted,         // every booted vCPU executed HLT
    shutdown_port,  // the guest wrote the shutdown port
    dm_shutdown,    // a device model shut the domain down (hvdm_shutdown), seen at a vCPU's next exit
    stopped,        // request_stop() (SIGINT/SIGTERM in the CLI)
    timeout,        // VmOptions::timeout elapsed
    failed,         // an error: see run()'s Error
};
[[nodiscard]] const char* to_string(RunEnd e) noexcept;

// What a run did. Latency: from KVM_RUN returning with the exit to the
// moment host_access returned the answer (the vCPU could re-enter).
struct RunStats {
    uint64_t exits = 0;        // KVM_RUN returns, all reasons
    uint64_t mmio_exits = 0;   // KVM_EXIT_MMIO
    uint64_t io_exits = 0;     // KVM_EXIT_IO
    uint64_t kicks = 0;        // KVM_RUN interrupted by a kick (EINTR / KVM_EXIT_INTR)
    uint64_t accesses = 0;     // host_access calls
    uint64_t holds = 0;        // times an access was held for a retry
    std::array<uint64_t, max_ioreq_servers> ioreqs{};  // synchronous ioreqs per server id
    std::array<LatencyHistogram, max_ioreq_servers> latency;  // ns, per access served by that server
    LatencyHistogram core_latency;  // ns, accesses the core completed without a device model
    uint64_t p2m_changes = 0;    // observer calls
    uint64_t slot_ops = 0;       // KVM_SET_USER_MEMORY_REGION calls after the first projection
    uint64_t slot_ns = 0;        // time spent in them, vCPU pause included
    void merge(const RunStats& o);
};

class Vm final : private P2mObserver, private IrqSink, private ShutdownObserver, private DirtyTracker {
public:
    // Creates the VM and its vCPUs (KVM_CREATE_VM, KVM_CREATE_VCPU, the
    // first projection of the p2m) and becomes the domain's p2m observer.
    // Create it before any device model acts on the domain.
    [[nodiscard]] static Outcome<std::unique_ptr<Vm>> create(const Device& dev, std::shared_ptr<Domain> d,
                                                            const VmOptions& opt);
    // Stops the vCPUs if they run, then deletes every memslot, closes every
    // fd and leaves the domain without an observer.
    ~Vm();
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    // Copies a flat image into guest RAM (the loader's view: no p2m rules).
    [[nodiscard]] Error load(std::span<const uint8_t> image, uint64_t gpa);
    // Registers, segments, paging for one vCPU; only booted vCPUs run.
    [[nodiscard]] Error boot(uint32_t vcpu, const VcpuBoot& b);
    // Runs the booted vCPUs, one thread each, until the run ends; an Error
    // when it ended with RunEnd::failed. Once per Vm.
    [[nodiscard]] Error run();
    // From any thread: end the run (RunEnd::stopped).
    void request_stop();

    [[nodiscard]] RunEnd end() const noexcept { return end_; }
    [[nodiscard]] const std::string& end_detail() const noexcept { return end_detail_; }
    // The vCPUs' counts (complete once run() returned) and the p2m changes
    // seen so far (device models may still change the p2m after the run).
    [[nodiscard]] RunStats stats();
    // The current projection (tests compare it with the p2m).
    [[nodiscard]] std::vector<SlotSpec> slots();
    [[nodiscard]] uint32_t max_memslots() const noexcept { return max_slots_; }
    [[nodiscard]] Domain& domain() noexcept { return *d_; }

private:
    struct Vcpu;
    struct Slot {
        SlotSpec spec;
        uint32_t id = 0;
    };

    Vm() = default;
    void p2m_changed(const DomainLocked& lk, Gfn first, uint64_t nr) override;
    // IrqSink (VmOptions::irqchip): KVM_IRQ_LINE for ISA irqs and GSIs
    // 16..23; GSIs 24..47 have no IO-APIC pin (counted by the core only);
    // KVM_SIGNAL_MSI.
    void isa_irq_level(unsigned isa_irq, bool level) override;
    void gsi_level(unsigned gsi, bool level) override;
    [[nodiscard]] int msi(uint64_t addr, uint32_t data) override;
    void spi_level(unsigned intid, bool level) override;
    void irq_line(unsigned gsi, bool level);
    // ShutdownObserver: a device model's remote_shutdown ends the run
    // (RunEnd::dm_shutdown) at once, the vCPUs kicked as for request_stop.
    void remote_shutdown(const DomainLocked& lk, const std::string& reason) override;
    // DirtyTracker: the domain's log-dirty and VRAM tracking use KVM's
    // dirty log (KVM_MEM_LOG_DIRTY_PAGES on every read-write slot,
    // KVM_GET_DIRTY_LOG, which returns a slot's bitmap and clears it;
    // Documentation/virt/kvm/api.rst) instead of write-protecting RAM in
    // the core: a guest write exits to KVM once per page and clean, never
    // to hvcore. Writes to read-only slots exit to hvcore (KVM_EXIT_MMIO),
    // which marks them itself. A slot deleted while logging (a p2m change)
    // gives its bitmap up first (harvested_).
    Status start_dirty_log(const DomainLocked& lk) override;
    void stop_dirty_log(const DomainLocked& lk) override;
    Status collect_dirty_log(const DomainLocked& lk, const std::function<void(Gfn)>& mark) override;
    // KVM_GET_DIRTY_LOG of one live read-write slot, each dirty gfn appended (slots_mu_ held).
    [[nodiscard]] Error slot_dirty_log(const Slot& s, std::vector<uint64_t>& out);
    // lk: the domain's token inside p2m_changed; nullptr elsewhere (the
    // domain's lock is then taken).
    [[nodiscard]] std::vector<SlotSpec> project(const DomainLocked* lk);
    [[nodiscard]] Error apply(const std::vector<SlotSpec>& plan);  // slots_ := plan
    [[nodiscard]] Error set_slot(uint32_t id, const SlotSpec* s);   // nullptr deletes
    void pause_vcpus();
    void resume_vcpus();
    void kick_inside_locked();
    void vcpu_loop(Vcpu& c);
    // false: the vCPU's run is over (halt, shutdown, error)
    [[nodiscard]] bool handle_exit(Vcpu& c, std::chrono::steady_clock::time_point t_exit);
    [[nodiscard]] bool do_access(Vcpu& c, const HostAccess& a, uint64_t* value,
                                 std::chrono::steady_clock::time_point t_start);
    void finish(RunEnd e, std::string detail);
    void fail(int negative_errno, std::string detail);  // finish(RunEnd::failed) with its errno
    [[nodiscard]] std::string vcpu_where(const Vcpu& c);  // "vCPU n at rip 0x..."

    std::shared_ptr<Domain> d_;
    VmOptions opt_;
    int vm_fd_ = -1;
    size_t run_size_ = 0;
    uint32_t max_slots_ = 0;
    std::vector<std::unique_ptr<Vcpu>> vcpus_;
    bool observing_ = false;
    bool irq_sink_ = false;  // the domain's IrqSink (VmOptions::irqchip)
    std::vector<std::pair<uint64_t, uint64_t>> loaded_;  // [first, end) of each image loaded

    std::mutex slots_mu_;  // slots_, free_ids_, slot_stats_
    std::vector<Slot> slots_;
    std::vector<uint32_t> free_ids_;
    bool dirty_logging_ = false;          // slots_mu_: read-write slots carry KVM_MEM_LOG_DIRTY_PAGES
    std::vector<uint64_t> harvested_;     // slots_mu_: gfns dirty in slots deleted while logging
    bool dirty_tracker_ = false;          // the domain's DirtyTracker

    std::mutex gate_mu_;
    std::condition_variable gate_cv_;
    unsigned pausing_ = 0;
    bool stopping_ = false;

    std::mutex end_mu_;
    std::condition_variable end_cv_;
    std::optional<RunEnd> end_req_;
    std::string end_req_detail_;
    int end_code_ = 0;  // the errno of a failed run
    unsigned running_ = 0;  // vCPU threads not yet done

    bool ran_ = false;
    RunEnd end_ = RunEnd::failed;
    std::string end_detail_;
    RunStats stats_;       // merged from the vCPU threads after they joined
    RunStats slot_stats_;  // p2m changes, counted in the observer (slots_mu_)
};

}  // namespace hvcore::kvm
