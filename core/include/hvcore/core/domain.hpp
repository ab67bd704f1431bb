// SPDX-License-Identifier: MIT
// A domain: its p2m (in the backend's table), its ioreq servers, its vCPUs
// and the routing of every access that faults out of stage 2.
//
// Lock order (the only place it is written): Host::mu_ -> Domain::mu_.
// Domain::mu_ is the p2m lock and the ioreq-server lock in one (Xen holds
// the gfn lock until MMIO handling returns, d909cb9999, so a type cannot
// change under an access being routed). Nothing is called with mu_ held
// that could take Host::mu_. Device models touch the shared ioreq pages
// without any lock; the state byte is accessed atomically.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
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

#include "hvcore/core/backend.hpp"
#include "hvcore/core/ioreq.hpp"
#include "hvcore/core/isa.hpp"
#include "hvcore/core/log.hpp"
#include "hvcore/core/p2m.hpp"
#include "hvcore/core/rangeset.hpp"

namespace hvcore {

using EmulatorId = uint64_t;  // one per device-model handle

inline constexpr unsigned max_ioreq_servers = 8;   // MAX_NR_IOREQ_SERVERS
inline constexpr uint32_t max_vcpus = 128;         // slots in one shared ioreq page
// Leaf tables resolved per lock hold during a synchronous sweep. Each
// resolution recalculates one whole leaf table (up to 512 entries) and costs
// about 12 us (bench_p2m: 256 entries over 16 tables in ~190 us), so a
// vCPU waits at most ~0.2 ms for the lock.
inline constexpr uint64_t sweep_chunk = 16;

// Xen's HVMMEM_* values.
namespace hvmmem {
inline constexpr uint16_t ram_rw = 0;
inline constexpr uint16_t ram_ro = 1;
inline constexpr uint16_t mmio_dm = 2;
inline constexpr uint16_t unused = 3;
inline constexpr uint16_t ioreq_server = 4;
}  // namespace hvmmem

enum class RangeType : uint32_t { port = 0, memory = 1, pci = 2 };

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
};

// The abort a vCPU could not emulate (VcpuStatus::undecoded): the hardware's
// record, the faulting guest-physical address, the instruction and its PC.
struct UndecodedAccess {
    FaultRecord record;
    uint64_t gpa = 0;
    std::vector<uint8_t> insn;
    uint64_t pc = 0;
};

struct IoreqServer {
    IoservId id;
    uint64_t serial = 0;  // unique for the domain's lifetime: a reused id is a different server
    EmulatorId emulator = 0;
    bool enabled = false;
    uint8_t bufioreq = 0;  // HVDM_BUFIOREQ_OFF / LEGACY / ATOMIC
    // HVDM_BUFIOREQ_WIDE: also post port writes and MMIO writes below 1 MiB
    // (hvcore's opt-in; Xen posts only VGA memory writes).
    bool post_wide = false;
    std::array<RangeSet, 3> ranges;  // indexed by RangeType
    IoreqPages pages;
};

// One piece of the instruction being executed and its outcome, wherever it
// went (RAM, a device model, posted, nobody), kept so that re-executing the
// instruction after a response replays it instead of making it again
// (Xen's per-vCPU MMIO cache).
struct CompletedIo {
    IoreqBody req;
    uint64_t data = 0;
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
    bool waiting = false;
    Op op = Op::exec;
    unsigned size = 0;
    std::vector<uint8_t> insn;
    RegFile entry_regs;  // the registers the instruction started with
    unsigned data_reg = 0;
    IoservId server{};
    uint64_t server_serial = 0;
    IoreqBody sent;       // as routed (what the slot holds)
    IoreqBody sent_orig;  // as the instruction issued it (what replay compares)
    uint8_t seen_state = ioreq::state_none;
    std::vector<CompletedIo> io_done;
    size_t io_cursor = 0;
    bool undecoded = false;  // the last call returned VcpuStatus::undecoded
};

// Told, under the domain's lock and before the DMOP returns, that the
// effective type of [first, first+nr) may have changed: a host that mirrors
// the p2m (KVM memslots) re-projects it. nr == 0 means "anything may have
// changed" (a disclaim resets pages all over the guest).
class P2mObserver {
public:
    virtual void p2m_changed(Gfn first, uint64_t nr) = 0;

protected:
    ~P2mObserver() = default;
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
// ioreqs it sent, by server id, and how often it was held for a retry.
struct HostAccessOutcome {
    std::array<uint32_t, max_ioreq_servers> ioreqs{};
    uint32_t holds = 0;
};

class Domain {
public:
    // log: where the domain's messages go (its host's log); nullptr drops them.
    [[nodiscard]] static Result<std::shared_ptr<Domain>> create(DomId id, const DomainConfig& cfg,
                                                               const Backend& backend,
                                                               std::shared_ptr<Log> log = nullptr);
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
    [[nodiscard]] Status set_mem_type(uint16_t hvmmem_type, uint64_t first_pfn, uint32_t nr);
    [[nodiscard]] Result<uint16_t> get_mem_type(uint64_t pfn);
    [[nodiscard]] uint32_t nr_vcpus() const noexcept { return cfg_.nr_vcpus; }
    // Destroy every server an emulator created (its handle was closed).
    void destroy_servers_of(EmulatorId who);

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
    // stop ended the wait, -EPROTO on a protocol violation.
    [[nodiscard]] int host_access(uint32_t vcpu, const HostAccess& a, uint64_t* value,
                                  HostAccessOutcome* outcome = nullptr);
    // Wake and fail every blocked host_access (clean shutdown).
    void shutdown_host();
    // Called between two chunks of a synchronous sweep, with the domain lock
    // released: what a vCPU thread sees (tests use it to prove the sweep
    // never holds the lock for more than one chunk).
    void set_sweep_pause(std::function<void()> fn);
    // The observer is called with the lock held; set it before vCPUs run.
    void set_p2m_observer(P2mObserver* o);
    // Runs of equal effective type over [0, end), in gfn order, merged.
    void for_each_type_run(uint64_t end, const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn);
    // The same, from inside P2mObserver::p2m_changed (the lock is already
    // held by this thread; any other caller is a contract violation).
    void for_each_type_run_in_observer(uint64_t end,
                                       const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn);
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
    friend class MmuPort;
    friend class EmulPort;
    Domain(DomId id, const DomainConfig& cfg) : id_(id), cfg_(cfg) {}

    using Lock = std::unique_lock<std::mutex>;
    [[nodiscard]] Result<IoreqServer*> owned_server(EmulatorId who, IoservId id);
    // Both may release the lock (the sweep runs in chunks): a caller holds
    // no server pointer or reference across them, only ids.
    void destroy_server_locked(Lock& lk, IoservId id);
    void disclaim_and_sweep(Lock& lk);
    void stop_locked(std::string reason);
    [[nodiscard]] bool stopped_locked() const noexcept { return stop_reason_.has_value(); }
    void p2m_changed_locked(Gfn first, uint64_t nr);
    void type_runs_locked(uint64_t end, const std::function<void(Gfn, uint64_t, P2mType, Mfn)>& fn);
    // The slot of the vCPU's pending request: nullopt while the device model
    // has not answered; the response data once it has; a negative errno on
    // a protocol violation (the domain is then stopped).
    struct Response {
        bool answered = false;
        uint64_t data = 0;
        int error = 0;
    };
    [[nodiscard]] Response take_response_locked(VcpuState& v);
    [[nodiscard]] int wait_response_locked(Lock& lk, VcpuState& v);

    // Execution.
    [[nodiscard]] int run_locked(VcpuState& v, VcpuState::Op op, std::span<const uint8_t> insn,
                                 RegFile& regs);
    // hvcore differs from Xen: a fetch the entry forbids is a guest fault
    // naming the gpa, never an endless re-fault.
    [[nodiscard]] int fetch_fault_locked(VcpuState& v, Gpa gpa);
    [[nodiscard]] int persistent_misconfig_locked(VcpuState& v);
    [[nodiscard]] int emulate_locked(VcpuState& v, RegFile& regs);
    [[nodiscard]] int finish_locked(VcpuState& v, const RegFile& regs, uint64_t* value);
    [[nodiscard]] int synthetic_locked(VcpuState& v, VcpuState::Op op, const SyntheticInsn& si,
                                       unsigned size, uint64_t addr, uint64_t data, uint64_t* value);

    // Routing (Xen's hvmemul_do_io / ioreq_server_select rules).
    // Where an emulated access to one guest-physical address lands.
    struct Landing {
        P2mType type = P2mType::invalid;
        std::byte* at = nullptr;  // the byte in the frame, for types backed by one
        [[nodiscard]] bool ram_readable() const noexcept;  // served from RAM (ioreq_server included)
        [[nodiscard]] bool ram_writable() const noexcept;  // written to the frame
        [[nodiscard]] bool discards_writes() const noexcept;  // ram_ro: a write is dropped, never routed
    };
    [[nodiscard]] Landing landing_locked(uint64_t gpa);
    [[nodiscard]] MemStatus emul_mem_locked(VcpuState& v, uint64_t gpa, unsigned size, bool write,
                                            uint64_t* data);
    // A request for the device side: the claimed type's owner, else by
    // range, else nobody. The caller has checked the replay log.
    [[nodiscard]] MemStatus route_locked(VcpuState& v, P2mType t, IoreqBody req, uint64_t* data);
    // A rep string access in one piece (RAM only, or one ioreq with count);
    // nullopt when it must go one element through the split path.
    [[nodiscard]] std::optional<RepResult> emul_rep_locked(VcpuState& v, const RepAccess& a);
    [[nodiscard]] MemStatus emul_pio_locked(VcpuState& v, uint16_t port, unsigned size, bool write,
                                            uint64_t* data);
    [[nodiscard]] IoreqServer* select_locked(IoreqBody& req);
    [[nodiscard]] MemStatus send_locked(VcpuState& v, IoreqServer& s, const IoreqBody& req,
                                        const IoreqBody& orig, bool bufferable);
    [[nodiscard]] bool send_buffered_locked(IoreqServer& s, const IoreqBody& req);
    void posted_locked(VcpuState& v, IoreqServer& s, const IoreqBody& orig);
    // Append a piece's outcome to the replay log (and step over it).
    void log_done_locked(VcpuState& v, const IoreqBody& req, uint64_t data);
    // A replayed access of the instruction being re-executed.
    [[nodiscard]] std::optional<MemStatus> replay_locked(VcpuState& v, const IoreqBody& req,
                                                         uint64_t* data);

    DomId id_;
    DomainConfig cfg_;
    const Backend* backend_ = nullptr;
    std::mutex mu_;
    std::unique_ptr<MachineMemory> mem_;
    std::unique_ptr<Stage2> s2_;
    std::unique_ptr<P2m> p2m_;
    std::unique_ptr<Isa> isa_;
    std::array<std::unique_ptr<IoreqServer>, max_ioreq_servers> servers_;
    std::vector<VcpuState> vcpus_;
    uint64_t next_serial_ = 1;
    uint32_t cf8_ = 0;  // latched PCI configuration address (port 0xcf8)
    std::optional<std::string> stop_reason_;
    std::condition_variable cv_;  // responses, state changes, shutdown (waits on mu_)
    bool host_shutdown_ = false;
    P2mObserver* observer_ = nullptr;
    std::function<void()> sweep_pause_;
    std::thread::id observer_thread_;  // the thread inside observer_->p2m_changed, if any
    std::shared_ptr<Log> log_;           // the host's (hv_host_set_log); nullptr: dropped
};

}  // namespace hvcore
