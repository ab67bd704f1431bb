// SPDX-License-Identifier: MIT
// A domain: its p2m (in the backend's table), its ioreq servers, its vCPUs
// and the routing of every access that faults out of stage 2.
//
// Lock order (the only place it is written): Host::mu_ -> Domain::mu_;
// Domain::mem_type_mu_ (held by a set_mem_type for its whole length, across
// its holds of mu_) -> Domain::mu_.
// Domain::mu_ is the p2m lock and the ioreq-server lock in one (Xen holds
// the gfn lock until MMIO handling returns, d909cb9999, so a type cannot
// change under an access being routed). Nothing is called with mu_ held
// that could take Host::mu_. Device models touch the shared ioreq pages
// without any lock; the state byte is accessed atomically.
//
// The lock is a type: a function that needs it takes a Domain::Locked
// token (thread_annotations.hpp), which only the domain makes by taking
// mu_, and the members it guards say so (HV_GUARDED_BY), so clang's
// -Wthread-safety checks every access (HVCORE_THREAD_SAFETY).
//
// The parts, one job each (README.md, "Layout"): ioreq_server.hpp (the
// registry and selection), ioreq_channel.hpp (the shared pages), vcpu_io.hpp
// (a vCPU's request in flight and replay log); in core/src: router.cpp
// (where an access goes), dm_ops.cpp (the DMOP rules and the sweep),
// model_run.cpp and host_run.cpp (the two vCPU drivers), direct_call.cpp
// (a device model's direct handler), domain.cpp (the rest).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/core/emulators.hpp"
#include "hvcore/core/ioreq.hpp"
#include "hvcore/core/ioreq_server.hpp"
#include "hvcore/core/irq.hpp"
#include "hvcore/core/isa.hpp"
#include "hvcore/core/log.hpp"
#include "hvcore/core/p2m.hpp"
#include "hvcore/core/rangeset.hpp"
#include "hvcore/core/thread_annotations.hpp"
#include "hvcore/core/vcpu_io.hpp"

namespace hvcore {

inline constexpr uint32_t max_vcpus = 128;         // slots in one shared ioreq page
// Leaf tables reset per lock hold during a synchronous sweep. Each reset
// rewrites the ioreq_server leaves of one leaf table in place and may merge
// it: ~0.1-0.3 us a table (bench_p2m, BM_DisclaimReset), so a hold lasts
// some 10-40 us, within set_mem_type's mem_type_hold.
inline constexpr uint64_t sweep_chunk = 128;
// set_mem_type's step: the pages after which it may give the domain lock
// up (Xen's set_mem_type checks hypercall_preempt_check every 256 pages,
// xen/arch/x86/hvm/dm.c), and the longest it keeps the lock when nobody is
// seen waiting (a waiter re-taking the lock from a condition-variable wait
// is not counted: thread_annotations.hpp).
inline constexpr uint64_t mem_type_step = 256;
inline constexpr std::chrono::microseconds mem_type_hold{50};
// ... and at least this long when someone waits (every hand-off of the
// lock costs a wake-up; a vCPU then waits for at most about this long).
inline constexpr std::chrono::microseconds mem_type_hold_contended{10};

// Xen's HVMMEM_* values.
namespace hvmmem {
inline constexpr uint16_t ram_rw = 0;
inline constexpr uint16_t ram_ro = 1;
inline constexpr uint16_t mmio_dm = 2;
inline constexpr uint16_t unused = 3;
inline constexpr uint16_t ioreq_server = 4;
}  // namespace hvmmem

// What the typed vCPU calls return (hv_vcpu_status), or a negative errno.
// undecoded: only with DomainConfig::report_undecoded (HV_VCPU_UNDECODED).
enum class VcpuStatus : int { done = 0, ioreq_pending = 1, retry = 2, guest_fault = 3, undecoded = 4 };

struct DomainConfig {
    Arch arch = Arch::x86_vmx;
    uint64_t ram_bytes = 0;
    uint32_t nr_vcpus = 1;
    bool hap = true;
    // An instruction the executor does not emulate, met after a stage-2
    // data abort (Arm64 ISV = 0), is reported to the caller
    // (VcpuStatus::undecoded, vcpu_undecoded) instead of becoming a guest
    // fault (HV_DOMAIN_ARM64_REPORT_UNDECODED).
    bool report_undecoded = false;
    // Multi-owner mode (HV_DOMAIN_MULTI_OWNER; hvcore's own): every ioreq
    // server may claim the ioreq_server type, one claim per device model,
    // with read trapping (flags READ) and posted writes allowed; each page
    // of the type is its claiming server's (Stage2Leaf::owner). Off: Xen's
    // one claim per domain, flags WRITE only (dm_ops.cpp).
    bool multi_owner = false;
};

// The abort a vCPU could not emulate (VcpuStatus::undecoded): the hardware's
// record, the faulting guest-physical address, the instruction and its PC.
struct UndecodedAccess {
    FaultRecord record;
    uint64_t gpa = 0;
    std::vector<uint8_t> insn;
    uint64_t pc = 0;
};

struct VcpuState {
    uint32_t id = 0;
    RegFile regs;
    std::optional<FaultRecord> last_fault;
    std::string guest_fault_detail;  // why the last access became a guest fault

    // Set by the model MMU when the instruction was abandoned.
    enum class Exit : uint8_t { none, stage2, io } exit = Exit::none;
    // The stage-2 fault was on a page after the first of an access that
    // crosses a page boundary: its record names that page only.
    bool fault_past_first_page = false;

    // The instruction waiting for a device model.
    enum class Op : uint8_t { exec, store, load, pio };
    Op op = Op::exec;
    unsigned size = 0;
    std::vector<uint8_t> insn;
    RegFile entry_regs;  // the registers the instruction started with
    unsigned data_reg = 0;
    VcpuIo io;               // the request in flight and the replay log
    bool undecoded = false;  // the last call returned VcpuStatus::undecoded

    // This vCPU's waiter (host_access, on the domain's lock): notified for
    // this vCPU only, by the answer's hvdm_ioreq_notify, by the destruction
    // of the server its request went to, and, while `held` (a write held
    // for a retry), by whatever can clear the retry condition. A stop or a
    // host shutdown notifies every vCPU. One thread at most waits on it:
    // `busy` keeps every other caller off the vCPU.
    std::condition_variable wake;
    bool held = false;
    // A host_access runs on this vCPU (from its first check to its return,
    // waits included): a second host_access and every model vCPU call on
    // the vCPU are -EBUSY. Without it, a vCPU held for a retry (nothing in
    // flight) could be entered again, and the model driver would wipe the
    // held access's replay log.
    bool busy = false;
    // The request in flight goes to this direct handler (send decided so,
    // and counted the call in its `active`): the driver calls it
    // (direct_call) before anything else happens on the vCPU.
    std::shared_ptr<DirectHandler> direct;
};

class Domain;
// Proof that the domain's lock is held (thread_annotations.hpp).
using DomainLocked = LockToken<Domain>;

// Told, under the domain's lock and before the DMOP returns, that the
// effective type of [first, first+nr) may have changed: a host that mirrors
// the p2m (KVM memslots) re-projects it. nr == 0 means "anything may have
// changed" (a disclaim resets pages all over the guest).
// The token lets the observer read the domain back (for_each_type_run)
// without taking the lock again.
class P2mObserver {
public:
    virtual void p2m_changed(const DomainLocked& lk, Gfn first, uint64_t nr) = 0;

protected:
    ~P2mObserver() = default;
};

// Told, under the domain's lock, that a device model shut the domain down
// (XEN_DMOP_remote_shutdown; reason as shutdown_request() gives it): a host
// whose vCPUs run without exiting to hvcore (KVM) ends its run here, as
// for a stop request, rather than when a vCPU next exits. It must not call
// back into the domain.
class ShutdownObserver {
public:
    virtual void remote_shutdown(const DomainLocked& lk, const std::string& reason) = 0;

protected:
    ~ShutdownObserver() = default;
};

// A host that logs the guest's writes to RAM itself (KVM's dirty log,
// KVM_MEM_LOG_DIRTY_PAGES): with one set (Domain::set_dirty_tracker) the
// core write-protects nothing for log-dirty or VRAM tracking; it starts and
// stops the host's log with the tracking and ORs the host's log into its
// own bitmaps (which still get the writes the core makes or forwards)
// before each read. Called under the domain's lock; it must not call back
// into the domain.
class DirtyTracker {
public:
    // Start logging every RAM page the guest writes (0, or a negative
    // errno: the tracking is then not enabled).
    virtual Status start_dirty_log(const DomainLocked& lk) = 0;
    virtual void stop_dirty_log(const DomainLocked& lk) = 0;
    // Every page written since the last call (or the start), as gfns
    // handed to mark; the host's log is cleared. A negative errno: the
    // read fails, nothing is cleared.
    virtual Status collect_dirty_log(const DomainLocked& lk, const std::function<void(Gfn)>& mark) = 0;

protected:
    ~DirtyTracker() = default;
};

// One access a hardware-assisted host (KVM) has already decoded: it enters
// the core at the neutral-access level and follows the same routing as the
// model path.
struct HostAccess {
    bool is_pio = false;
    bool is_write = false;
    uint64_t addr = 0;  // guest-physical address or port
    unsigned size = 0;  // bytes: 1, 2, 4 or 8 (MMIO may be any length up to 8)
    uint64_t data = 0;  // the value written
};

// What one host_access did, for the host's statistics: the synchronous
// ioreqs it sent, by server id, and how often it was held for a retry (once
// when held, once more per wake-up that found it still held; no timer).
struct HostAccessOutcome {
    std::array<uint32_t, max_ioreq_servers> ioreqs{};
    uint32_t holds = 0;
};

class Domain {
public:
    using Locked = DomainLocked;
    // log: where the domain's messages go (its host's log); nullptr drops them.
    // emulators: the host's isolated emulators (emulators.hpp); nullptr: none.
    [[nodiscard]] static Result<std::shared_ptr<Domain>> create(DomId id, const DomainConfig& cfg,
                                                               const Backend& backend,
                                                               std::shared_ptr<Log> log = nullptr,
                                                               std::shared_ptr<Emulators> emulators = nullptr);
    ~Domain();
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    [[nodiscard]] DomId id() const noexcept { return id_; }
    [[nodiscard]] const DomainConfig& config() const noexcept { return cfg_; }

    // --- device-model operations (validated completely before any change) ---
    [[nodiscard]] Status create_ioreq_server(EmulatorId who, uint8_t bufioreq, IoservId* out);
    [[nodiscard]] Status destroy_ioreq_server(EmulatorId who, IoservId id);
    [[nodiscard]] Status set_ioreq_server_state(EmulatorId who, IoservId id, bool enabled);
    [[nodiscard]] Status map_io_range(EmulatorId who, IoservId id, uint32_t type, uint64_t start,
                                      uint64_t end);
    [[nodiscard]] Status unmap_io_range(EmulatorId who, IoservId id, uint32_t type, uint64_t start,
                                        uint64_t end);
    [[nodiscard]] Status get_ioreq_server_info(EmulatorId who, IoservId id, uint16_t flags,
                                               uint32_t* bufioreq_port);
    [[nodiscard]] Status map_mem_type_to_ioreq_server(EmulatorId who, IoservId id, uint16_t type,
                                                      uint32_t flags);
    // Xen's set_mem_type, all or nothing, in steps (dm_ops.cpp): every page
    // is validated, then changed, mem_type_step pages at a time; at a step's
    // end the domain lock is given up when another thread waits for it, or
    // when the hold has lasted mem_type_hold, so vCPUs are never kept out
    // for longer than a step. Other type changes (set_mem_type,
    // set_mem_type_list) wait for the whole call (mem_type_mu_); a vCPU
    // access never changes a type, and a disclaim meanwhile ends a change
    // to ioreq_server with -EINVAL (the disclaim resets what it had changed:
    // nothing changed). A stop meanwhile: -ESHUTDOWN.
    // progress (may be null): where Xen's continuation would stand at the
    // last step after which the lock was given up during the change:
    // {first_pfn + done, nr - done} (Xen copies these back into the DMOP
    // at each preemption; dmop.cpp does, on success). Untouched if the lock
    // was never given up.
    struct MemTypeProgress {
        uint64_t first_pfn = 0;
        uint32_t nr = 0;
    };
    // who: the device model that asks. In multi-owner mode the pages made
    // ioreq_server become its claiming server's (-EINVAL if it has none),
    // and an ioreq_server page of another device model's claiming server
    // is refused (-EPERM, after every -EINVAL check). Xen's mode ignores it.
    [[nodiscard]] Status set_mem_type(EmulatorId who, uint16_t hvmmem_type, uint64_t first_pfn, uint32_t nr,
                                      MemTypeProgress* progress = nullptr);
    // The same by no device model (tests, the host itself): in multi-owner
    // mode it may neither make ioreq_server pages nor change claimed ones.
    [[nodiscard]] Status set_mem_type(uint16_t hvmmem_type, uint64_t first_pfn, uint32_t nr,
                                      MemTypeProgress* progress = nullptr) {
        return set_mem_type(no_emulator, hvmmem_type, first_pfn, nr, progress);
    }
    // hvcore's batched set_mem_type (dmop::set_mem_type_list): the same
    // change over a strictly increasing list of gfns, all or nothing, in
    // the same steps of 256 gfns, each changed one leaf table at a time
    // (P2m::set_type_list). -EINVAL with
    // *first_refused = the first gfn refused (beyond the last RAM page, not
    // above its predecessor, or a change allow_p2m_type_change refuses);
    // *first_refused = ~0 when no gfn is to blame (empty list, type, claim).
    // check_only: validate, change nothing. who: as set_mem_type's (-EPERM
    // with *first_refused = the first gfn of another device model's server).
    [[nodiscard]] Status set_mem_type_list(EmulatorId who, uint16_t hvmmem_type, std::span<const uint64_t> gfns,
                                           uint64_t* first_refused, bool check_only = false);
    [[nodiscard]] Status set_mem_type_list(uint16_t hvmmem_type, std::span<const uint64_t> gfns,
                                           uint64_t* first_refused, bool check_only = false) {
        return set_mem_type_list(no_emulator, hvmmem_type, gfns, first_refused, check_only);
    }
    // No device model (EmulatorId 0: Host::new_emulator starts at 1).
    static constexpr EmulatorId no_emulator = 0;
    [[nodiscard]] Result<uint16_t> get_mem_type(uint64_t pfn);
    [[nodiscard]] uint32_t nr_vcpus() const noexcept { return cfg_.nr_vcpus; }
    // Destroy every server an emulator created (its handle was closed).
    void destroy_servers_of(EmulatorId who);

    // --- interrupt DMOPs (core/src/dm_irq.cpp; the rules: irq.hpp) ---
    // -ESHUTDOWN once stopped, then the op's own checks (-EINVAL...).
    [[nodiscard]] Status set_pci_intx_level(uint16_t segment, uint8_t bus, uint8_t device, uint8_t intx,
                                            uint8_t level);
    [[nodiscard]] Status set_isa_irq_level(uint8_t isa_irq, uint8_t level);
    [[nodiscard]] Status set_pci_link_route(uint8_t link, uint8_t isa_irq);
    [[nodiscard]] Status inject_msi(uint64_t addr, uint32_t data);
    // Arm's set_irq_level; pad_ok: the op's pad is zero (checked third).
    [[nodiscard]] Status set_irq_level(uint32_t irq, uint8_t level, bool pad_ok);
    // XEN_DMOP_remote_shutdown: the domain stops with a reason naming the
    // request and the SHUTDOWN_* reason; 0 also when already stopped (Xen's
    // rc is always 0; the first reason stays).
    [[nodiscard]] Status remote_shutdown(uint32_t reason);
    // The stop reason when the domain was stopped by remote_shutdown (not
    // by a fault); nullopt otherwise. A host ends its run cleanly on it.
    [[nodiscard]] std::optional<std::string> shutdown_request();
    [[nodiscard]] IrqState irq_state();
    // What reached vCPU vcpu on the model vCPUs (DomainIrq::vcpu_state);
    // nullopt if vcpu is out of range.
    [[nodiscard]] std::optional<VcpuIrqState> vcpu_irq_state(uint32_t vcpu);
    // A host's interrupt controller (KVM's irqchip); set it before device
    // models run. nullptr: the counts are only recorded.
    void set_irq_sink(IrqSink* s);
    // A host that must hear of remote_shutdown at once (KVM); nullptr: none.
    void set_shutdown_observer(ShutdownObserver* o);

    // --- the shared-memory protocol ---
    [[nodiscard]] Status map_ioreq_pages(EmulatorId who, IoservId id, IoreqSlot** sync,
                                         BufferedPage** buffered);
    [[nodiscard]] Result<int> ioreq_fd(EmulatorId who, IoservId id);
    // The server's pages and eventfd as new descriptors the caller owns
    // (IoreqPages::dup_fds); *buffered: it has a buffered page.
    [[nodiscard]] Status dup_ioreq_fds(EmulatorId who, IoservId id, int* pages_fd, int* event_fd,
                                       bool* buffered, uint64_t* serial = nullptr);
    // The server's serial (IoreqServer::serial: a reused id is another
    // server), checked as every call on it (-ESHUTDOWN, -ENOENT, -EPERM).
    [[nodiscard]] Status ioreq_server_serial(EmulatorId who, IoservId id, uint64_t* serial);
    [[nodiscard]] Status ioreq_notify(EmulatorId who, IoservId id, uint32_t vcpu);
    // hvdm_set_direct_handler (core/src/direct_call.cpp): from now on each
    // synchronous request routed to the server is handed to fn on the vCPU
    // thread that raised it, with the domain lock released, instead of
    // being posted (IoreqServer::direct); fn empty: posted again. The
    // server's own errors first (-ESHUTDOWN, -ENOENT, -EPERM); -EBUSY when
    // setting it while the buffered ring holds records the device model
    // has not taken (they would be overtaken). Returns once no other
    // thread runs the handler it replaces.
    [[nodiscard]] Status set_direct_handler(EmulatorId who, IoservId id, std::function<int(IoreqSlot&)> fn);

    // --- dirty tracking (core/src/log_dirty.cpp) ---
    // XEN_DMOP_track_dirty_vram (P2m::track_vram): -ESHUTDOWN once
    // stopped; -EINVAL for nr beyond 1 GiB of pages (Xen's
    // track_dirty_vram) or first_pfn + nr overflowing; -ENOMEM. bitmap
    // holds at least (nr + 7) / 8 bytes (the DMOP checked it).
    [[nodiscard]] Status track_dirty_vram(uint64_t first_pfn, uint32_t nr, std::span<uint8_t> bitmap);
    // XEN_DMOP_modified_memory: every RAM page of the extents is marked
    // dirty (holes skipped) when log-dirty is on, else nothing (0, as Xen).
    // extents: (first_pfn, nr) pairs, already validated against
    // max_gfn() by the DMOP; -ESHUTDOWN once stopped.
    [[nodiscard]] Status modified_memory(std::span<const std::pair<uint64_t, uint64_t>> extents);
    [[nodiscard]] bool log_dirty_enabled();
    // The toolstack's log-dirty mode (hv_log_dirty_enable and friends):
    // -ESHUTDOWN once stopped; enable: -EINVAL if on, -ENOMEM, or the
    // host's start error; read: P2m::read_dirty's errnos, after the host's
    // log is OR-ed in (its errno, nothing cleared).
    [[nodiscard]] Status log_dirty_enable();
    [[nodiscard]] Status log_dirty_disable();
    [[nodiscard]] Status log_dirty_read(uint64_t first_gfn, uint64_t nr, std::span<uint8_t> bitmap, bool clean);
    // A host that logs writes itself; nullptr: none (the core
    // write-protects). -EBUSY when setting one while a tracking is on.
    [[nodiscard]] Status set_dirty_tracker(DirtyTracker* t);
    // The largest gfn a DMOP may name (Xen's domain_get_maximum_gpfn).
    [[nodiscard]] uint64_t max_gfn();

    // --- guest memory for device models (hvdm_map_guest_memory) ---
    // Every gfn of [first_gfn, first_gfn+nr) must be RAM: below the RAM
    // size and of a type backed by a RAM frame (p2m_is_ram: ram_rw,
    // ram_logdirty, ram_ro, ioreq_server), else -EFAULT and *bad_gfn (if
    // not null) is the first that is not (a hole above RAM, or a page made
    // mmio_dm; mmio_direct and invalid are not RAM either). nr 0 or an
    // overflowing range: -EINVAL. Then *fd is a new close-on-exec
    // descriptor of the domain's whole RAM (MachineMemory::share_ram_fd:
    // read-only unless writable) and *offset the byte offset of first_gfn
    // in it. Allowed on a stopped domain (Xen maps a crashed domain's
    // memory for its core dump). Nothing changes on an error.
    [[nodiscard]] Status share_guest_memory(uint64_t first_gfn, uint64_t nr, bool writable, int* fd,
                                            uint64_t* offset, uint64_t* bad_gfn);
    // The domain's guest-physical layout, fixed at creation: RAM [0, RAM
    // size) then, if the address space goes further, one hole up to the
    // top of the guest-physical space (the stage-2 table's reach). Per-page
    // types are not in it (get_mem_type), as Xen's XENMEM_memory_map
    // gives the e820 layout, not the p2m.
    struct MemRange {
        enum class Kind : uint32_t { ram = 1, hole = 2 };
        uint64_t first_gfn = 0;
        uint64_t nr = 0;
        Kind kind = Kind::ram;
    };
    [[nodiscard]] std::vector<MemRange> memory_map();

    // --- vCPUs (model execution through the backend's MMU) ---
    [[nodiscard]] int vcpu_store(uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t value);
    [[nodiscard]] int vcpu_load(uint32_t vcpu, uint64_t gpa, uint32_t size, uint64_t* value);
    [[nodiscard]] int vcpu_pio(uint32_t vcpu, uint16_t port, uint32_t size, bool is_write,
                               uint64_t* value);
    [[nodiscard]] int vcpu_exec(uint32_t vcpu, std::span<const uint8_t> insn);
    [[nodiscard]] int vcpu_fetch(uint32_t vcpu, uint64_t gpa);
    [[nodiscard]] int vcpu_resume(uint32_t vcpu, uint64_t* value);
    [[nodiscard]] int vcpu_get_reg(uint32_t vcpu, uint32_t reg, uint64_t* value);
    [[nodiscard]] int vcpu_set_reg(uint32_t vcpu, uint32_t reg, uint64_t value);
    [[nodiscard]] int vcpu_last_fault(uint32_t vcpu, FaultRecord* out);
    [[nodiscard]] std::string vcpu_guest_fault_detail(uint32_t vcpu);
    // What the last call that returned VcpuStatus::undecoded could not
    // emulate; -ENOENT if the last call did not return it.
    [[nodiscard]] int vcpu_undecoded(uint32_t vcpu, UndecodedAccess* out);

    // --- hosts that run the guest themselves (host/kvm) ---
    // Route one decoded access and block the calling (vCPU) thread until it
    // is complete: a device model's answer, or the retry condition clearing.
    // Returns 0 with *value for reads, -ESHUTDOWN once shutdown_host() or a
    // stop ended the wait, -EPROTO on a protocol violation, -EBUSY when the
    // vCPU is in use: another host_access runs on it (held for a retry
    // too), or a model vCPU call left a request pending.
    [[nodiscard]] int host_access(uint32_t vcpu, const HostAccess& a, uint64_t* value,
                                  HostAccessOutcome* outcome = nullptr);
    // Wake and fail every blocked host_access (clean shutdown).
    void shutdown_host();
    // Called between two chunks of a synchronous sweep, with the domain lock
    // released: what a vCPU thread sees (tests use it to prove the sweep
    // never holds the lock for more than one chunk).
    void set_sweep_pause(std::function<void()> fn);
    // Called each time a set_mem_type gives the lock up between two of its
    // steps, with the lock released (tests: a vCPU access made there
    // completes while the change is in progress).
    void set_mem_type_pause(std::function<void()> fn);
    // The observer is called with the lock held; set it before vCPUs run.
    void set_p2m_observer(P2mObserver* o);
    // Runs of equal effective type over [0, end), in gfn order, merged.
    void for_each_type_run(uint64_t end, const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn);
    // The same, from inside P2mObserver::p2m_changed (with its token).
    void for_each_type_run(const Locked& lk, uint64_t end,
                           const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn);
    // The same runs, also cut where reads become trapped: read_trapped is
    // true for ioreq_server pages whose owner claims reads
    // (HVDM_IOREQ_MEM_ACCESS_READ), which a mirroring host must not map at
    // all (every access of theirs comes to host_access).
    using AccessRunFn = std::function<void(Gfn, uint64_t, P2mType, Mfn, bool read_trapped)>;
    void for_each_access_run(uint64_t end, const AccessRunFn& fn);
    void for_each_access_run(const Locked& lk, uint64_t end, const AccessRunFn& fn);
    // The server a model vCPU's pending request went to (between
    // HV_VCPU_IOREQ_PENDING and the resume that completes it); nullopt if
    // nothing is pending. For a host's statistics.
    [[nodiscard]] std::optional<IoservId> vcpu_pending_server(uint32_t vcpu);
    [[nodiscard]] MachineMemory& memory() noexcept { return *mem_; }

    // --- loader view and introspection ---
    [[nodiscard]] Status guest_read(uint64_t gpa, void* buf, size_t len);
    [[nodiscard]] Status guest_write(uint64_t gpa, const void* buf, size_t len);
    [[nodiscard]] Result<uint64_t> p2m_raw_entry(uint64_t gfn);
    // Every entry on the walk to gfn, as stored (Stage2::walk_entries);
    // -EINVAL beyond the table's reach.
    [[nodiscard]] Result<Stage2Walk> p2m_walk(uint64_t gfn);
    [[nodiscard]] uint64_t ioreq_entry_count();
    // Count the ioreq_server leaves by walking the whole table: the check
    // that entry_count agrees with the table (tests only; O(table)).
    [[nodiscard]] uint64_t ioreq_leaves_in_table();
    [[nodiscard]] Result<P2mType> p2m_type(uint64_t gfn);

    // Stopped by a protocol violation: every later call is -ESHUTDOWN.
    [[nodiscard]] std::optional<std::string> stop_reason();

private:
    // The memory ports the executor drives: the hardware (stage-2 walks;
    // core/src/model_run.cpp) and the hypervisor after a fault
    // (core/src/domain_ports.hpp).
    class MmuPort;
    class EmulPort;
    Domain(DomId id, const DomainConfig& cfg) : id_(id), cfg_(cfg), irq_(cfg.nr_vcpus) {}

    // --- domain.cpp ---
    void stop(const Locked& lk, std::string reason) HV_REQUIRES(mu_);
    [[nodiscard]] bool stopped(const Locked&) const HV_REQUIRES(mu_) { return stop_reason_.has_value(); }
    void p2m_changed(const Locked& lk, Gfn first, uint64_t nr) HV_REQUIRES(mu_);
    void type_runs(const Locked& lk, uint64_t end, const AccessRunFn& fn) HV_REQUIRES(mu_);
    // Wake vCPU n only; every vCPU held for a retry; every vCPU.
    void wake(const Locked& lk, uint32_t vcpu) HV_REQUIRES(mu_);
    void wake_held(const Locked& lk) HV_REQUIRES(mu_);
    void wake_all(const Locked& lk) HV_REQUIRES(mu_);

    // Record that hvcore, or a device model it forwarded to, wrote gfn for
    // the guest (no-op when nothing tracks the page): the emulated stores,
    // the RAM side of a REP, the writes forwarded to an ioreq_server page.
    void mark_dirty(const Locked& lk, Gfn gfn) HV_REQUIRES(mu_);
    // A request of r's kind was answered: the RAM its device model may
    // have written is marked again (router.cpp, complete_request).
    void mark_answered(const Locked& lk, const IoreqBody& r) HV_REQUIRES(mu_);
    // The host's log OR-ed into the core's bitmaps (no tracker: nothing).
    [[nodiscard]] Status collect_host_dirty(const Locked& lk) HV_REQUIRES(mu_);
    // Starts or stops the host's log as the tracking needs it.
    [[nodiscard]] Status sync_host_tracking(const Locked& lk) HV_REQUIRES(mu_);

    // --- dm_ops.cpp: the DMOP rules ---
    // Every DMOP on a server starts here: -ESHUTDOWN once the domain is
    // stopped, then `args` (the call's own argument checks, made before the
    // lookup), then the server `who` may operate on (-ENOENT, -EPERM).
    [[nodiscard]] Result<IoreqServer*> live_server(const Locked& lk, EmulatorId who, IoservId id,
                                                   Status args = Status::ok()) HV_REQUIRES(mu_);
    // The server is gone, out of the registry before anything else; true
    // when it claimed the type and its entries must now be swept
    // (sweep_after_disclaim, after the lock is released).
    [[nodiscard]] bool destroy_server(const Locked& lk, IoservId id) HV_REQUIRES(mu_);
    // A protocol violation by who's device model. Isolated (emulators.hpp):
    // its servers on this domain are destroyed (a waiting vCPU completes as
    // for any destroyed server; the claim's sweep is finished lazily and by
    // destroy_servers_of when its handle closes), the registry is told, and
    // the domain runs on: true. Otherwise nothing is done: false (the
    // caller stops the domain, Xen's domain_crash).
    [[nodiscard]] bool fault_emulator(const Locked& lk, EmulatorId who, const std::string& reason)
        HV_REQUIRES(mu_);
    // Server id's claim is gone (P2m::set_claim(id, 0) made): held accesses
    // re-route, the first chunk of its entries is reset in place (the
    // others read as ram_rw until their chunk, P2m::peek); true when stale
    // entries are left. Other servers' claims and entries stay.
    [[nodiscard]] bool disclaim(const Locked& lk, IoservId id) HV_REQUIRES(mu_);
    // Entries of a claim that ended are left (a sweep is unfinished).
    [[nodiscard]] bool stale_entries(const Locked& lk) const HV_REQUIRES(mu_);
    // The server of device model who that claims the type (multi-owner
    // mode: at most one), if any.
    [[nodiscard]] std::optional<IoservId> claim_of(const Locked& lk, EmulatorId who) const HV_REQUIRES(mu_);
    // The sweep's continuation: chunks of sweep_chunk resolutions, each
    // under a lock hold of its own that looks the outstanding entries up
    // again; nothing is held from one chunk to the next. pause: the
    // sweep_pause_ of the hold that disclaimed (run before each chunk).
    void sweep_after_disclaim(std::function<void()> pause) HV_EXCLUDES(mu_);

    // --- dm_ops.cpp: set_mem_type in steps ---
    class GfnRuns;
    // The p2m type a set_mem_type to hvmmem_type makes, and the server
    // whose pages it makes when that is ioreq_server (the claimant; in
    // multi-owner mode who's claiming server), checked as Xen does before
    // its loop (type, HAP, the claim).
    struct MemTypeTarget {
        P2mType to = P2mType::ram_rw;
        IoservId owner{};
    };
    [[nodiscard]] Result<MemTypeTarget> mem_type_target(const Locked& lk, EmulatorId who, uint16_t hvmmem_type)
        HV_REQUIRES(mu_);
    // The owners of ioreq_server leaves who may change (TypeChange::
    // ioreq_owners): every one in Xen's mode; in multi-owner mode all but
    // the claiming servers of other device models.
    [[nodiscard]] uint8_t changeable_owners(const Locked& lk, EmulatorId who) const HV_REQUIRES(mu_);
    // Validate then commit every page of runs in steps (set_mem_type's
    // comment); mem_type_mu_ held by the caller.
    [[nodiscard]] Status change_types(EmulatorId who, uint16_t hvmmem_type, GfnRuns& runs, uint64_t* first_refused,
                                      uint64_t* preempted_done, bool check_only = false) HV_EXCLUDES(mu_);

    // --- router.cpp: where each access goes (Xen's hvmemul_do_io rules) ---
    // Where an emulated access to one guest-physical address lands.
    struct Landing {
        P2mType type = P2mType::invalid;
        std::byte* at = nullptr;  // the byte in the frame, for types backed by one
        IoservId owner{};         // an ioreq_server page's owner (Stage2Leaf::owner)
        uint32_t claim = 0;       // its claim's flags (HVDM_IOREQ_MEM_ACCESS_*)
        // Served from RAM: RAM, ioreq_server included unless its owner
        // claims reads.
        [[nodiscard]] bool ram_readable() const noexcept;
        // Written to the frame (an ioreq_server page whose owner claims
        // reads only too).
        [[nodiscard]] bool ram_writable() const noexcept;
        [[nodiscard]] bool discards_writes() const noexcept;  // ram_ro: a write is dropped, never routed
    };
    [[nodiscard]] Landing landing(const Locked& lk, uint64_t gpa) HV_REQUIRES(mu_);
    [[nodiscard]] MemStatus emul_mem(const Locked& lk, VcpuState& v, uint64_t gpa, unsigned size, bool write,
                                     uint64_t* data) HV_REQUIRES(mu_);
    // A request for the device side: an ioreq_server page's owner, else by
    // range, else nobody. The caller has checked the replay log.
    [[nodiscard]] MemStatus route(const Locked& lk, VcpuState& v, const Landing& to, IoreqBody req,
                                  uint64_t* data) HV_REQUIRES(mu_);
    // A rep string access in one piece (RAM only, or one ioreq with count);
    // nullopt when it must go one element through the split path.
    [[nodiscard]] std::optional<RepResult> emul_rep(const Locked& lk, VcpuState& v, const RepAccess& a)
        HV_REQUIRES(mu_);
    [[nodiscard]] MemStatus emul_pio(const Locked& lk, VcpuState& v, uint16_t port, unsigned size, bool write,
                                     uint64_t* data) HV_REQUIRES(mu_);
    [[nodiscard]] MemStatus send(const Locked& lk, VcpuState& v, IoreqServer& s, const IoreqBody& req,
                                 const IoreqBody& orig, bool bufferable) HV_REQUIRES(mu_);
    // A single write to a page whose owner claimed WRITE|WRITE_POSTED:
    // made to RAM, then posted on the owner's ring (the vCPU goes on), or
    // sent synchronously when the ring cannot take it.
    [[nodiscard]] MemStatus post_write(const Locked& lk, VcpuState& v, IoreqServer& s, const IoreqBody& req,
                                       const Landing& to)
        HV_REQUIRES(mu_);
    // A replayed access of the instruction being re-executed.
    [[nodiscard]] std::optional<MemStatus> replay(const Locked& lk, VcpuState& v, const IoreqBody& req,
                                                  uint64_t* data) HV_REQUIRES(mu_);
    // Take the answer to the vCPU's request in flight, if it has come
    // (VcpuIo::complete): the one completion of both drivers. A protocol
    // violation stops the domain (-EPROTO).
    enum class Completion : uint8_t { pending, completed, violation };
    [[nodiscard]] Completion complete_request(const Locked& lk, VcpuState& v) HV_REQUIRES(mu_);

    // --- model_run.cpp: the model vCPU driver ---
    // The model driver's results: a VcpuStatus or an errno, apart until
    // the public vCPU calls return them as one int (hv_vcpu_status).
    [[nodiscard]] Result<VcpuStatus> run(const Locked& lk, VcpuState& v, VcpuState::Op op,
                                         std::span<const uint8_t> insn, RegFile& regs) HV_REQUIRES(mu_);
    // hvcore differs from Xen: a fetch the entry forbids is a guest fault
    // naming the gpa, never an endless re-fault.
    [[nodiscard]] Result<VcpuStatus> fetch_fault(const Locked& lk, VcpuState& v, Gpa gpa) HV_REQUIRES(mu_);
    [[nodiscard]] Result<VcpuStatus> persistent_misconfig(const Locked& lk, VcpuState& v) HV_REQUIRES(mu_);
    [[nodiscard]] Result<VcpuStatus> emulate(const Locked& lk, VcpuState& v, RegFile& regs) HV_REQUIRES(mu_);
    [[nodiscard]] Result<VcpuStatus> finish(const Locked& lk, VcpuState& v, const RegFile& regs, uint64_t* value)
        HV_REQUIRES(mu_);
    [[nodiscard]] Result<VcpuStatus> synthetic(const Locked& lk, VcpuState& v, VcpuState::Op op,
                                               const SyntheticInsn& si, unsigned size, uint64_t addr, uint64_t data,
                                               uint64_t* value) HV_REQUIRES(mu_);
    // The checks every typed vCPU call starts with: the vCPU, or a negative
    // errno (-ESHUTDOWN, -EINVAL, -EBUSY while a request is pending or a
    // host_access runs on the vCPU).
    [[nodiscard]] Result<VcpuState*> idle_vcpu(const Locked& lk, uint32_t vcpu) HV_REQUIRES(mu_);

    // --- host_run.cpp: the driver of accesses a host decoded ---
    // host_access on its vCPU, marked busy: route, wait, replay until done.
    [[nodiscard]] int host_route(const Locked& lk, VcpuState& v, const HostAccess& a, uint64_t* value,
                                 HostAccessOutcome* outcome) HV_REQUIRES(mu_);
    // Block until the vCPU's request is answered: 0, or -ESHUTDOWN/-EPROTO.
    [[nodiscard]] int wait_answer(const Locked& lk, VcpuState& v) HV_REQUIRES(mu_);

    // --- direct_call.cpp: a device model's direct handler ---
    // The request in flight to v.direct's handler, the lock released
    // meanwhile, and its answer taken (VcpuIo::complete): 0; -ESHUTDOWN
    // if the domain stopped meanwhile; -EPROTO if the handler failed and
    // the domain is stopped for it (fault_emulator otherwise: the vCPU
    // goes on as for a destroyed server).
    [[nodiscard]] int direct_call(const Locked& lk, VcpuState& v) HV_REQUIRES(mu_);
    // The model driver's rest of an access whose request went to a direct
    // handler (rc ioreq_pending with v.direct set): what hv_vcpu_resume
    // would do, at once, until the access is done or waits for a posted
    // request.
    [[nodiscard]] Result<VcpuStatus> run_direct(const Locked& lk, VcpuState& v, Result<VcpuStatus> rc,
                                                uint64_t* value) HV_REQUIRES(mu_);
    // Block until no thread but this one runs h (nullptr: nothing to wait for).
    void wait_direct_idle(const Locked& lk, const DirectHandler* h) HV_REQUIRES(mu_);

    DomId id_;
    DomainConfig cfg_;
    const Backend* backend_ = nullptr;
    Mutex mu_;
    std::unique_ptr<MachineMemory> mem_;  // RAM and tables; frames are the guest's, not the lock's
    std::unique_ptr<Stage2> s2_ HV_PT_GUARDED_BY(mu_);
    std::unique_ptr<P2m> p2m_ HV_PT_GUARDED_BY(mu_);
    std::unique_ptr<Isa> isa_;  // decoder and executor (it keeps its last decode: used under mu_ only)
    // The typed calls' instructions (make_store, make_load, make_pio), made
    // on first use, by log2(size) (pio: [is_write][log2(size)]): no
    // allocation per call. Empty: not made yet, or not encodable.
    std::array<SyntheticInsn, 4> store_insn_ HV_GUARDED_BY(mu_);
    std::array<SyntheticInsn, 4> load_insn_ HV_GUARDED_BY(mu_);
    std::array<std::array<SyntheticInsn, 4>, 2> pio_insn_ HV_GUARDED_BY(mu_);
    IoreqServerRegistry servers_ HV_GUARDED_BY(mu_);
    std::deque<VcpuState> vcpus_ HV_GUARDED_BY(mu_);
    std::optional<std::string> stop_reason_ HV_GUARDED_BY(mu_);
    bool host_shutdown_ HV_GUARDED_BY(mu_) = false;
    P2mObserver* observer_ HV_GUARDED_BY(mu_) = nullptr;
    DomainIrq irq_ HV_GUARDED_BY(mu_);
    bool dm_shutdown_ HV_GUARDED_BY(mu_) = false;  // the stop was remote_shutdown's
    ShutdownObserver* shutdown_observer_ HV_GUARDED_BY(mu_) = nullptr;
    DirtyTracker* dirty_tracker_ HV_GUARDED_BY(mu_) = nullptr;
    bool host_logging_ HV_GUARDED_BY(mu_) = false;  // the tracker's log is started
    std::function<void()> sweep_pause_ HV_GUARDED_BY(mu_);
    std::mutex mem_type_mu_;  // one set_mem_type at a time (lock order: before mu_)
    // Disclaims so far, by server id (a change to ioreq_server checks its
    // owner's per hold).
    std::array<uint64_t, max_ioreq_servers> claim_epoch_ HV_GUARDED_BY(mu_){};
    std::function<void()> mem_type_pause_ HV_GUARDED_BY(mu_);
    std::condition_variable direct_idle_;  // a direct handler's last call ended (wait_direct_idle)
    uint32_t direct_waiters_ HV_GUARDED_BY(mu_) = 0;
    std::shared_ptr<Log> log_;  // the host's (hv_host_set_log); nullptr: dropped
    std::shared_ptr<Emulators> emulators_;  // the host's isolated emulators; nullptr: none
};

}  // namespace hvcore
