// SPDX-License-Identifier: MIT
// hvcore: the command line. `hvcore run` runs a guest with device models
// attached (on KVM, or as an access trace on the model vCPUs) and prints the
// ioreq statistics; with no arguments it runs the bundled demo.
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../examples/guests/guest_abi.h"
#include "hvcore/kvm/vm.hpp"
#include "runner.hpp"

namespace {

using namespace hvcore::tools;

constexpr const char* usage_text = R"(hvcore - run a guest with device models attached: real x86-64 code on Linux
KVM, with hvcore's core in charge of the p2m (projected onto KVM memslots)
and of the ioreq servers the device models create.

usage:
  hvcore                      the bundled demo (same as `hvcore run`)
  hvcore run [GUEST] [--dm NAME[:ARGS]]... [options]
  hvcore --help

With no GUEST, `hvcore run` is the bundled demo: the console guest with the
uart device model, then the page-table guest with uart and shadow, on KVM.
Without a usable /dev/kvm it says so in one line and runs the same demo as
access traces on the model vCPUs of every backend this build links.

GUEST:
  console               bundled: prints three lines through the 16550 UART
  pagetable             bundled: builds and rewrites a 4-level page table
                        (8-byte PTE stores), reports its checksum, prints it
  PATH                  a flat x86 binary image (KVM only), loaded at --load

options:
  --dm NAME[:ARGS]      attach a device model; repeat for more. NAME is
                          uart    16550 UART on ports 0x3f8-0x3ff (and MMIO
                                  0x09000000): prints the guest's lines
                          shadow  claims the ioreq_server type, write-protects
                                  the table pages, shadows every write, checks
                                  the guest's checksum, disclaims; ARGS:
                                  base=GPA,pages=N,noreport
                        or a path to a module exporting hvdm_example_main
                        (examples/dm/hvdm_example.h). Default for the bundled
                        guests: console -> uart; pagetable -> uart, shadow.
  --on kvm|model|auto   where the guest runs (default auto: KVM when /dev/kvm
                        is usable, else the model vCPUs, bundled guests only)
  --arch vmx|svm|arm64|all
                        the backend whose table holds the p2m. On KVM: default
                        the host CPU's (Intel vmx, AMD svm); on the model
                        vCPUs: default all, one run per built backend
  --ram MIB             guest RAM in MiB (default 4)
  --load GPA            where a flat image is loaded (default 0x100000)
  --entry GPA           its first instruction (default: the load address)
  --stack GPA           the initial stack pointer (default 0x80000)
  --real-mode           start in 16-bit real mode (entry below 1 MiB) instead
                        of 64-bit long mode
  --timeout SECONDS     end a guest still running after this long (default 30)
  --memslots N          use at most N KVM memslots (default KVM_CAP_NR_MEMSLOTS)
  --cpu N               run every thread (vCPUs, device models) on CPU N: a
                        synchronous ioreq then hands over by a context switch
                        instead of a cross-CPU wakeup
  -h, --help            this text

environment:
  HVCORE_KVM_DEVICE     the KVM device (default /dev/kvm)
  HVCORE_DM_PATH        a directory searched first for hvdm-NAME.so
  HVCORE_GUEST_PATH     a directory searched first for the bundled guests

A guest ends with HLT or with a write to port 0x604; SIGINT or SIGTERM end the
run cleanly. At the end hvcore prints, for each ioreq server, the ioreqs it
answered and their round-trip latency p50/p99 (on KVM: from the exit to the
answer; on a model vCPU: from the access to its completion).

Exit status: 0 when the guest ended cleanly and every device model passed its
checks, 1 when not, 2 for a usage error.
)";

struct Cli {
    std::string guest;
    std::vector<std::string> dms;
    std::string on = "auto";
    std::string arch;
    RunOptions opt;
    uint64_t load = HVG_LOAD_ADDR;
    std::optional<uint64_t> entry;
    uint64_t stack = HVG_STACK_TOP;
    bool real_mode = false;
    std::optional<unsigned> cpu;
};

int usage_error(const std::string& msg) {
    fmt::print(stderr, "hvcore: {}\nTry 'hvcore --help'.\n", msg);
    return 2;
}

bool parse_u64(const char* s, uint64_t* out) {
    if (s == nullptr || *s == '\0') return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0') return false;
    *out = v;
    return true;
}

// 0 on success, else the exit status.
int parse(int argc, char** argv, int first, Cli* c) {
    for (int i = first; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        uint64_t n = 0;
        if (a == "-h" || a == "--help") {
            fmt::print("{}", usage_text);
            return -1;
        } else if (a == "--dm") {
            const char* v = value();
            if (v == nullptr) return usage_error("--dm needs NAME[:ARGS]");
            c->dms.emplace_back(v);
        } else if (a == "--on") {
            const char* v = value();
            if (v == nullptr || (std::strcmp(v, "kvm") != 0 && std::strcmp(v, "model") != 0 && std::strcmp(v, "auto") != 0))
                return usage_error("--on takes kvm, model or auto");
            c->on = v;
        } else if (a == "--arch") {
            const char* v = value();
            if (v == nullptr || (std::strcmp(v, "vmx") != 0 && std::strcmp(v, "svm") != 0 &&
                                 std::strcmp(v, "arm64") != 0 && std::strcmp(v, "all") != 0))
                return usage_error("--arch takes vmx, svm, arm64 or all");
            c->arch = v;
        } else if (a == "--ram") {
            if (!parse_u64(value(), &n) || n == 0 || n > 1024) return usage_error("--ram takes 1..1024 (MiB)");
            c->opt.ram_bytes = n << 20;
        } else if (a == "--load") {
            if (!parse_u64(value(), &n)) return usage_error("--load takes a guest-physical address");
            c->load = n;
        } else if (a == "--entry") {
            if (!parse_u64(value(), &n)) return usage_error("--entry takes a guest-physical address");
            c->entry = n;
        } else if (a == "--stack") {
            if (!parse_u64(value(), &n)) return usage_error("--stack takes a guest-physical address");
            c->stack = n;
        } else if (a == "--real-mode") {
            c->real_mode = true;
        } else if (a == "--timeout") {
            if (!parse_u64(value(), &n) || n == 0 || n > 86400)
                return usage_error("--timeout takes 1..86400 (seconds)");
            c->opt.timeout = std::chrono::seconds(n);
        } else if (a == "--memslots") {
            if (!parse_u64(value(), &n) || n == 0 || n > UINT32_MAX)
                return usage_error("--memslots takes a positive number");
            c->opt.max_memslots = static_cast<uint32_t>(n);
        } else if (a == "--cpu") {
            if (!parse_u64(value(), &n) || n >= CPU_SETSIZE) return usage_error("--cpu takes a CPU number");
            c->cpu = static_cast<unsigned>(n);
        } else if (!a.empty() && a[0] == '-') {
            return usage_error(fmt::format("unknown option {}", a));
        } else if (c->guest.empty()) {
            c->guest = a;
        } else {
            return usage_error(fmt::format("one guest per run ({} and {} given)", c->guest, a));
        }
    }
    return 0;
}

std::vector<int> arches_for(const std::string& name) {
    if (name == "vmx") return {HV_ARCH_X86_VMX};
    if (name == "svm") return {HV_ARCH_X86_SVM};
    if (name == "arm64") return {HV_ARCH_ARM64};
    return built_arches();
}

std::vector<std::string> default_dms(hvcore::tools::BundledGuest g) {
    switch (g) {
    case BundledGuest::console: return {"uart"};
    case BundledGuest::pagetable: return {"uart", "shadow"};
    }
    return {};
}

// NAME[:ARGS] -> a resolved DmSpec; false + *why if the module is not found.
bool make_dm(const std::string& text, DmSpec* out, std::string* why) {
    const auto colon = text.find(':');
    out->name = text.substr(0, colon);
    out->args = colon == std::string::npos ? "" : text.substr(colon + 1);
    out->path = resolve_dm(out->name, why);
    // A module given by path is named by its file: .../hvdm-foo.so -> foo.
    if (const auto slash = out->name.rfind('/'); slash != std::string::npos) {
        std::string stem = out->name.substr(slash + 1);
        if (stem.rfind("hvdm-", 0) == 0) stem = stem.substr(5);
        if (const auto dot = stem.find('.'); dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
        out->name = stem;
    }
    return !out->path.empty();
}

// One guest with its device models, on KVM or on the listed model backends.
// Returns true if every run passed.
bool run_guest(const Cli& c, const std::string& guest_name, const std::vector<std::string>& dm_names,
               hvcore::kvm::Device* dev, const std::vector<int>& model_arches) {
    GuestSpec g;
    g.name = guest_name;
    g.bundled = bundled_guest(guest_name);
    g.real_mode = c.real_mode;
    g.load = c.load;
    g.entry = c.entry.value_or(c.load);
    g.stack = c.stack;
    std::string why;
    std::vector<DmSpec> dms;
    for (const auto& n : dm_names) {
        DmSpec s;
        if (!make_dm(n, &s, &why)) {
            fmt::print(stderr, "hvcore: {}\n", why);
            return false;
        }
        dms.push_back(std::move(s));
    }
    std::string dm_list;
    for (const auto& s : dms) dm_list += (dm_list.empty() ? "" : ", ") + s.name;
    if (dm_list.empty()) dm_list = "none";

    if (dev != nullptr) {
        g.path = resolve_guest(guest_name, &why);
        if (g.path.empty()) {
            fmt::print(stderr, "hvcore: {}\n", why);
            return false;
        }
        fmt::print("== {} on KVM, device models: {}\n", guest_name, dm_list);
        std::fflush(stdout);
        RunOptions opt = c.opt;
        if (c.arch == "vmx" || c.arch == "svm" || c.arch == "arm64") opt.arch = arches_for(c.arch).front();
        const RunResult r = run_on_kvm(*dev, g, dms, opt);
        print_result(stdout, guest_name, r);
        return r.ok;
    }
    bool ok = true;
    for (int arch : model_arches) {
        fmt::print("== {} on the model vCPU of {}, device models: {}\n", guest_name, arch_name(arch), dm_list);
        std::fflush(stdout);
        const RunResult r = run_on_model(arch, g, dms, c.opt);
        print_result(stdout, guest_name, r);
        ok = ok && r.ok;
    }
    return ok;
}

int run(const Cli& c) {
    const bool demo = c.guest.empty();
    if (demo && !c.dms.empty()) return usage_error("--dm needs a GUEST (the demo chooses its own device models)");
    const auto bundled = bundled_guest(c.guest);

    std::unique_ptr<hvcore::kvm::Device> dev;
    std::vector<int> model_arches;
    if (c.on != "model") {
        std::string why;
        dev = open_kvm(&why);
        // KVM guests keep their p2m in an x86 backend's table.
        if (dev != nullptr && !c.arch.empty() && c.arch != "all" && c.arch != "vmx" && c.arch != "svm") {
            return usage_error(fmt::format("--arch {}: a KVM guest's p2m is kept in an x86 format (vmx or svm); "
                                           "use --on model for {}", c.arch, c.arch));
        }
        if (dev != nullptr && kvm_p2m_arch(nullptr, &why) == 0) dev.reset();
        if (dev == nullptr) {
            if (c.on == "kvm") {
                fmt::print(stderr, "hvcore: KVM is not usable: {}\n", why);
                return 1;
            }
            if (!demo && !bundled) {
                fmt::print(stderr, "hvcore: KVM is not usable ({}), and {} is not a bundled guest, which alone "
                           "the model vCPUs can trace\n", why, c.guest);
                return 1;
            }
        }
        if (dev == nullptr) {
            model_arches = arches_for(c.arch.empty() ? "all" : c.arch);
            std::string names;
            for (int a : model_arches) names += (names.empty() ? "" : ", ") + std::string(arch_name(a));
            // The one line that says why the demo is not on KVM.
            fmt::print("hvcore: KVM is not usable ({}); running the same {} as access traces on the model "
                       "vCPUs of {}\n", why, demo ? "demo" : "guest", names);
        }
    } else {
        if (!demo && !bundled)
            return usage_error(fmt::format("--on model runs only the bundled guests (console, pagetable), not {}", c.guest));
        model_arches = arches_for(c.arch.empty() ? "all" : c.arch);
    }
    if (dev == nullptr && model_arches.empty()) {
        fmt::print(stderr, "hvcore: this build links no backend to run the model vCPUs on\n");
        return 1;
    }

    bool ok = true;
    if (demo) {
        if (dev != nullptr)
            fmt::print("hvcore demo: two real x86-64 guests on KVM, device models in plain C on their own threads\n");
        for (BundledGuest g : {BundledGuest::console, BundledGuest::pagetable})
            ok = run_guest(c, to_string(g), default_dms(g), dev.get(), model_arches) && ok;
        fmt::print("hvcore demo: {}\n", ok ? "PASS" : "FAILED");
    } else {
        std::vector<std::string> dms = c.dms;
        if (dms.empty() && bundled) dms = default_dms(*bundled);
        ok = run_guest(c, c.guest, dms, dev.get(), model_arches);
    }
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Cli c;
    int first = 1;
    if (argc >= 2) {
        const std::string cmd = argv[1];
        if (cmd == "-h" || cmd == "--help" || cmd == "help") {
            fmt::print("{}", usage_text);
            return 0;
        }
        if (cmd != "run") return usage_error(fmt::format("unknown command {}", cmd));
        first = 2;
    }
    if (int rc = parse(argc, argv, first, &c); rc != 0) return rc < 0 ? 0 : rc;

    // Threads inherit the affinity of the thread that creates them.
    if (c.cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(*c.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            fmt::print(stderr, "hvcore: --cpu {}: sched_setaffinity: {} (errno {})\n", *c.cpu, std::strerror(errno), errno);
            return 1;
        }
    }

    // SIGINT/SIGTERM: blocked in every thread, taken by one watcher that
    // ends the run in progress cleanly.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        const timespec tick{0, 100 * 1000 * 1000};
        while (!done) {
            const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
            if (sig > 0) {
                fmt::print(stderr, "hvcore: {}: stopping the run\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
                request_stop();
            }
        }
    });
    const int rc = run(c);
    done = true;
    watcher.join();
    return rc;
}
