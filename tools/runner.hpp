// SPDX-License-Identifier: MIT
// The engine of `hvcore run`: loads device-model plugins (the contract:
// <hvcore/hvdm_plugin.h>) and runs a guest with them attached, either as
// real code on KVM (host/kvm) or, for the bundled guests, as the guest's
// access trace on the model vCPUs of a backend (hv_vcpu_store/load/pio).
// Used by the CLI (tools/main.cpp) and by the KVM tests (tests/kvm).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/hvdm.h"
#include "hvcore/kvm/latency.hpp"
#include "model_trace.hpp"

namespace hvcore::kvm {
class Device;
}

namespace hvcore::tools {

// --dm NAME[:ARGS]: NAME is a bundled model (uart, shadow) or a path to a
// module; resolved to a file by resolve_dm.
struct DmSpec {
    std::string name;
    std::string args;
    std::string path;
};

// The guest: a flat image file (for KVM), and its trace when it is one of
// the bundled guests (for the model vCPUs).
struct GuestSpec {
    std::string name;
    std::string path;
    std::optional<BundledGuest> bundled;
    bool real_mode = false;
    uint64_t load = 0;
    uint64_t entry = 0;
    bool entry_given = false;  // entry overrides an ELF's e_entry
    uint64_t stack = 0;
};

struct RunOptions {
    uint64_t ram_bytes = 0;                        // 0: the bundled guests' 4 MiB
    std::chrono::milliseconds timeout{30000};      // of the guest's run
    std::chrono::milliseconds dm_ready_timeout{10000};
    // After the stop, how long all the device models together get to return
    // (--dm-grace); one that does not is left running (dm_stuck()).
    std::chrono::milliseconds dm_grace{10000};
    uint32_t max_memslots = 0;                     // 0: KVM_CAP_NR_MEMSLOTS
    bool irqchip = false;                          // KVM: kvm::VmOptions::irqchip (--irqchip)
    bool multi_owner = false;                      // HV_DOMAIN_MULTI_OWNER (--multi-owner)
    // --listen PATH: device models in other processes connect here
    // (hvdm_connect) during the run; --dm-uid: the peer uids allowed
    // (empty: hvcore's own uid).
    std::string listen_path;
    std::vector<uint32_t> dm_uids;
    // --dm-exec 'CMD ARGS': device models started as child processes
    // (/bin/sh -c), each on a socket of its own; the guest starts once each
    // has sent READY (hvdm_ready) within dm_ready_timeout. At the end:
    // stdin closed, SIGTERM after dm_grace, SIGKILL after twice it.
    std::vector<std::string> dm_exec;
    std::optional<int> arch;                       // KVM: the p2m's backend (default: the host CPU's)
    FILE* out = stdout;
    // Every request a device model serves, as it serves it (tests).
    std::function<void(const std::string& dm, hvdm_ioservid_t, const hvdm_ioreq_t&)> trace;
};

// A device model started by --dm-exec, for the results.
struct DmProcess {
    std::string cmd;
    int pid = -1;
    std::vector<int> peers;          // the pids that connected (SO_PEERCRED)
    std::vector<hvdm_ioservid_t> servers;  // the servers it created before it was ready
    bool ready = false;
    std::string end;                 // "exited with status 0", "killed by signal 9 (Killed)"; empty: not reaped
    std::optional<int> exit_status;  // when it exited
    bool died_running = false;       // it ended during the run, before the stop
};

struct ServerStats {
    hvdm_ioservid_t id = 0;
    std::string dm;     // the model that created it
    std::string label;  // what it serves
    uint64_t ioreqs = 0;
    kvm::LatencyHistogram latency;  // ns, per access it answered: exit (or model call) -> answer
    std::optional<int> dm_status;   // what its device model returned (none: it did not return)
};

// How a run ended, from best to worst for the exit status (tools/main.cpp
// maps them: pass 0, failed 1, timeout 124, stopped 128+signal, setup 3).
enum class RunOutcome : uint8_t {
    pass,     // the guest ended cleanly and every device model passed its checks
    failed,   // the guest or a device model failed a check (or the guest faulted)
    timeout,  // RunOptions::timeout elapsed
    stopped,  // request_stop()
    setup,    // the run could not start: image, plug-in, KVM, domain
};
[[nodiscard]] const char* to_string(RunOutcome o) noexcept;

struct RunResult {
    bool ok = false;           // the guest ended cleanly and every device model passed
    RunOutcome outcome = RunOutcome::setup;
    bool kvm = false;          // ran on KVM (else on a model vCPU)
    int arch = 0;              // HV_ARCH_* of the table holding the p2m
    std::string where;         // "KVM, p2m in the x86 VMX (EPT) table", "model vCPU, Arm64 stage 2"
    std::string end;           // how the guest's run ended
    std::string error;         // why not ok
    double run_ms = 0;         // the guest's run
    uint64_t exits = 0;        // KVM exits, or model accesses made
    uint64_t mmio_exits = 0;
    uint64_t io_exits = 0;
    uint64_t holds = 0;
    uint64_t core_accesses = 0;  // completed by the core alone (RAM, all ones, dropped)
    kvm::LatencyHistogram core_latency;  // ns
    uint64_t p2m_changes = 0;
    uint64_t slot_ops = 0;
    double slot_ms = 0;
    size_t memslots_at_end = 0;
    std::vector<ServerStats> servers;
    std::vector<DmProcess> processes;  // --dm-exec
};

// A bundled model name or a path -> the module file; empty + *why if none.
[[nodiscard]] std::string resolve_dm(const std::string& name, std::string* why);
// A bundled guest name or a path -> the image file; empty + *why if none.
[[nodiscard]] std::string resolve_guest(const std::string& name, std::string* why);

// Opens /dev/kvm and checks it can create a VM: nullptr and *why (one
// sentence with the errno) if it cannot.
[[nodiscard]] std::unique_ptr<kvm::Device> open_kvm(std::string* why);

[[nodiscard]] RunResult run_on_kvm(const kvm::Device& dev, const GuestSpec& guest, const std::vector<DmSpec>& dms,
                                   const RunOptions& opt);
// arch: HV_ARCH_*; the guest must be a bundled one.
[[nodiscard]] RunResult run_on_model(int arch, const GuestSpec& guest, const std::vector<DmSpec>& dms,
                                     const RunOptions& opt);
// The backend whose table holds a KVM guest's p2m: the host CPU's (Intel
// EPT, AMD NPT), else the other x86 one with a note on `note`; 0 and *why
// when this build links no x86 backend.
[[nodiscard]] int kvm_p2m_arch(FILE* note, std::string* why);
// The backends this build links, as HV_ARCH_* values.
[[nodiscard]] std::vector<int> built_arches();
// The linked backend with HV_ARCH_* value `arch`, or with --arch name
// `cli_name` ("vmx"); nullptr when this build does not link it.
[[nodiscard]] const Backend* find_backend(int arch) noexcept;
[[nodiscard]] const Backend* find_backend(std::string_view cli_name) noexcept;
// The backend's display name ("x86 VMX (EPT)"; Backend::display_name).
[[nodiscard]] const char* arch_name(int arch);
// "x86_vmx", "x86_svm", "arm64", "riscv64": the JSON names (Backend::key).
[[nodiscard]] const char* arch_key(int arch);

// Ends the run in progress (from the CLI's signal thread) and makes every
// later run end before its guest starts (RunOutcome::stopped); a device model
// still in its setup is told to stop (stop_fd). Harmless if nothing runs.
void request_stop();
[[nodiscard]] bool stop_requested() noexcept;
// A device model did not return within RunOptions::dm_grace of its stop: its
// thread still runs, and its module, host and domain are left in place. The
// run that had it is reported (failed, unless it timed out or was stopped);
// no later run starts, and the process must end with _Exit once the results
// are printed (exit would destroy what the thread may still use).
[[nodiscard]] bool dm_stuck() noexcept;

void print_result(FILE* out, const std::string& guest, const RunResult& r);

// `hvcore dm NAME[:ARGS]` (tools/dm_process.cpp): the plug-in spec in this
// process, connected to HVCORE_DM_SOCKET as HVCORE_DM_DOMID's device model.
// The exit status: 0 the plug-in returned 0, 1 it did not, 2 no
// HVCORE_DM_DOMID, 3 the module or the host could not be reached.
[[nodiscard]] int run_dm_process(const DmSpec& spec);

}  // namespace hvcore::tools
