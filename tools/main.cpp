// SPDX-License-Identifier: MIT
// hvcore: the command line. `hvcore run` runs a guest with device models
// attached (on KVM, or as an access trace on the model vCPUs) and prints the
// ioreq statistics (or, with --json, one JSON document: hvcore(1), JSON
// OUTPUT; the long form docs/json-schema.md);
// with no arguments it runs the bundled demo. Options are parsed by CLI11
// (GNU style: --opt=value and --opt value); the manual is docs/man/hvcore.1.
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "guest_abi.h"
#include "guest_image.hpp"
#include "hvcore/kvm/vm.hpp"
#include "run_support.hpp"
#include "runner.hpp"

#ifndef HVCORE_VERSION
#error "HVCORE_VERSION (the project's version) must be defined by the build"
#endif

namespace {

using namespace hvcore::tools;

// The exit statuses (also in --help and hvcore(1)).
enum Exit : int {
    exit_ok = 0,          // every run passed
    exit_check = 1,       // a guest or a device model failed a check
    exit_usage = 2,       // the command line is wrong
    exit_setup = 3,       // no KVM (--on kvm), a missing or bad file, a bad plug-in, stdout not writable
    exit_timeout = 124,   // a guest ran out of --timeout
    exit_signal = 128,    // + N: stopped by signal N (SIGINT, SIGTERM)
};

constexpr const char* description = R"(Usage: hvcore [run] [GUEST] [--dm NAME[:ARGS]]... [OPTIONS]
       hvcore --help | --version
       hvcore dm NAME[:ARGS]    (a plug-in as a process: hvcore dm --help)
       hvcore xen-exec [--socket PATH] CMD [ARGS...]
                                (a Xen device model on hvcore's Xen
                                libraries: hvcore xen-exec --help)

Run a guest with device models attached: real x86-64 code on Linux KVM,
with hvcore's core in charge of the p2m (projected onto KVM memslots) and
of the ioreq servers the device models create. The word `run` is optional
and may follow options (hvcore --json run console). A repeated option
takes its last value, except --dm, which adds a device model each time.

With no GUEST, `hvcore` (or `hvcore run`) is the bundled demo: the console
guest with the uart device model, then the page-table guest with uart and
shadow, on KVM, each device model in a process of its own (--dm-exec
'exec "$HVCORE" dm uart'; --in-process: on threads of hvcore). Without a
usable /dev/kvm it says so in one line and runs the same demo as access
traces on the model vCPUs of every backend this build links.)";

constexpr const char* footer = R"(GUEST:
  console               bundled: prints three lines through the 16550 UART
  pagetable             bundled: builds and rewrites a 4-level page table,
                        reports its checksum, prints it
  PATH                  a file (KVM only): an ELF64 x86-64 executable
                        (ET_EXEC; PT_LOAD segments at their p_paddr, entered
                        at e_entry) or a flat binary image loaded at --load
On the model vCPUs (no KVM, or --on model) the bundled guests run as access
traces: --load, --entry, --stack, --real-mode, --memslots and --irqchip are
refused.

Device models (--dm NAME[:ARGS]): NAME is a bundled model -
  uart    16550 UART on ports 0x3f8-0x3ff (and MMIO 0x09000000); no ARGS
  shadow  write-protects the page-table guest's table, shadows every write,
          checks the guest's checksum; ARGS: base=GPA,pages=N,noreport
or a module path (NAME contains '/' or ends in ".so"): a plug-in built with
<hvcore/hvdm_plugin.h> (plug-in ABI 2; see hvdm_plugin(3)).
Default for the bundled guests: console -> uart; pagetable -> uart, shadow.
At the end each device model is told to stop (stop_fd); one that has not
returned within --dm-grace seconds (all of them together) is named on
stderr and left running: the results are printed and hvcore exits with the
run's status. A SIGINT or SIGTERM during that wait ends it; a second
SIGINT or SIGTERM exits at once with 128+N.

Device models in other processes (--listen PATH): each connects to the
socket with hvdm_connect (hvdm.h; HVCORE_DM_SOCKET=PATH) and is one
emulator identity; a peer whose uid is not a --dm-uid (default: hvcore's)
is refused. Connections and hang-ups are logged on stderr; a device model
that hangs up has its servers destroyed (a vCPU waiting on it reads all
ones) and the run goes on.

Device models as child processes (--dm-exec 'CMD ARGS'): /bin/sh -c CMD
with HVCORE_DM_SOCKET (a private socket), HVCORE_DM_DOMID, HVCORE_DM_NAME
and HVCORE (this program) in its environment and a pipe as its stdin; the
guest starts once each has sent READY (hvdm_ready), or the run fails (3)
naming one that exited first or passed --dm-ready-timeout. At the end its
stdin is closed, SIGTERM follows after --dm-grace, SIGKILL after twice
that; each exit is logged, and one that did not exit 0, or died during the
run (its servers are destroyed, the guest goes on), fails the run (1).

Numbers are decimal (leading zeros too: 010 is ten) or 0x-prefixed hex.

Environment:
  HVCORE_KVM_DEVICE     the KVM device (default /dev/kvm)
  HVCORE_DM_PATH        directories (DIR:DIR...) searched first for
                        hvdm-NAME.so
  HVCORE_GUEST_PATH     directories (DIR:DIR...) searched first for the
                        bundled guests
  HVCORE_DM_SOCKET, HVCORE_DM_DOMID
                        read by `hvcore dm` (set by --dm-exec)

Output: results on stdout (with --json one JSON document, schema_version 1,
every field described in `man hvcore`, section JSON OUTPUT; the device
models' own lines then go to stderr); errors on stderr.

Exit status:
  0    every run passed
  1    a guest or a device model failed a check
  2    usage error (unknown option, bad value)
  3    setup error: KVM not usable with --on kvm, a missing or bad guest file
       or device model, or stdout could not be written
  124  a guest ran longer than --timeout
  128+N  stopped by signal N (130: SIGINT, 143: SIGTERM); the rest of a demo
       does not run

The manual: man hvcore.
)";

// --help within 80 columns: CLI11 2.1 does not wrap option descriptions,
// so they are wrapped here; the usage lines are the description's own.
class HelpFormatter : public CLI::Formatter {
public:
    std::string make_usage(const CLI::App*, std::string) const override { return {}; }
    std::string make_option_desc(const CLI::Option* opt) const override {
        const size_t width = 80 - column_width_;
        std::string out, line;
        std::string text = CLI::Formatter::make_option_desc(opt);
        size_t i = 0;
        while (i < text.size()) {
            size_t j = text.find(' ', i);
            if (j == std::string::npos) j = text.size();
            const std::string word = text.substr(i, j - i);
            if (!line.empty() && line.size() + 1 + word.size() > width) {
                out += line + "\n";
                line.clear();
            }
            line += (line.empty() ? "" : " ") + word;
            i = j + 1;
        }
        return out + line;
    }
};

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
    bool json = false;
    bool in_process = false;  // --in-process: the demo's device models on threads of hvcore
    // Given options that only KVM uses (refused on the model vCPUs).
    std::vector<std::string> kvm_only;
};

// The signal that stopped the run (0: none), set by the watcher thread.
std::atomic<int> g_signal{0};

// Output that never throws: a failed write to stdout shows in ferror(stdout)
// and is reported once, at the end.
template <class... Args>
void out(FILE* f, fmt::format_string<Args...> format, Args&&... args) {
    const std::string s = fmt::format(format, std::forward<Args>(args)...);
    (void)std::fwrite(s.data(), 1, s.size(), f);
}

// NUMBER: decimal (leading zeros included) or 0x-hex; nothing else.
bool parse_number(const std::string& s, uint64_t* v) {
    if (s.empty()) return false;
    int base = 10;
    size_t i = 0;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    uint64_t n = 0;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        unsigned d = 0;
        if (c >= '0' && c <= '9')
            d = static_cast<unsigned>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = static_cast<unsigned>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = static_cast<unsigned>(c - 'A' + 10);
        else
            return false;
        if (n > (UINT64_MAX - d) / static_cast<unsigned>(base)) return false;  // overflow
        n = n * static_cast<unsigned>(base) + d;
    }
    *v = n;
    return true;
}

// A CLI11 check: a NUMBER in [lo, hi] (a negative number is out of range;
// GPA ranges are shown in hex).
CLI::Validator number_in(uint64_t lo, uint64_t hi, bool hex = false) {
    return CLI::Validator(
        [lo, hi, hex](std::string& s) -> std::string {
            uint64_t v = 0;
            const std::string range = hex ? fmt::format("{:#x}..{:#x}", lo, hi) : fmt::format("{}..{}", lo, hi);
            if (s.size() > 1 && s[0] == '-' && parse_number(s.substr(1), &v))
                return fmt::format("{} is out of range {}", s, range);
            if (!parse_number(s, &v)) return fmt::format("'{}' is not a number (decimal, or hex with 0x)", s);
            if (v < lo || v > hi) return fmt::format("{} is out of range {}", s, range);
            return {};
        },
        "");
}

uint64_t number(const std::string& s) {
    uint64_t v = 0;
    (void)parse_number(s, &v);  // checked by number_in during the parse
    return v;
}

// --arch NAME (a linked backend's cli_name, checked by the parser) or "all".
std::vector<int> arches_for(const std::string& name) {
    if (const hvcore::Backend* b = find_backend(name)) return {static_cast<int>(b->arch)};
    return built_arches();
}

// The --arch choices: each linked backend's cli_name, then "all".
std::vector<std::string> arch_choices() {
    std::vector<std::string> v;
    for (const hvcore::Backend& b : hvcore::linked_backends()) v.emplace_back(b.cli_name);
    v.emplace_back("all");
    return v;
}

std::vector<std::string> default_dms(BundledGuest g) {
    switch (g) {
    case BundledGuest::console: return {"uart"};
    case BundledGuest::pagetable: return {"uart", "shadow"};
    }
    return {};
}

// NAME[:ARGS] -> a resolved DmSpec; false + *why if the module is not found.
// NAME is a path when it contains '/' or ends in ".so" (a file in the
// current directory: "./" is put before it, as dlopen searches the library
// path for a name without '/'); else a bundled model, hvdm-NAME.so.
bool make_dm(const std::string& text, DmSpec* out_spec, std::string* why) {
    const auto colon = text.find(':');
    std::string name = text.substr(0, colon);
    out_spec->args = colon == std::string::npos ? "" : text.substr(colon + 1);
    const bool is_path = name.find('/') != std::string::npos ||
                         (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0);
    if (is_path && name.find('/') == std::string::npos) name = "./" + name;
    out_spec->path = resolve_dm(name, why);
    out_spec->name = name;
    // A module given by path is named by its file: .../hvdm-foo.so -> foo.
    if (is_path) {
        std::string stem = name.substr(name.rfind('/') + 1);
        if (stem.rfind("hvdm-", 0) == 0) stem = stem.substr(5);
        if (const auto dot = stem.find('.'); dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
        out_spec->name = stem;
    }
    return !out_spec->path.empty();
}

// One run's results as JSON (docs/json-schema.md).
nlohmann::ordered_json latency_json(const hvcore::kvm::LatencyHistogram& h) {
    if (h.empty()) return nullptr;
    return {{"count", h.count()},
            {"p50", h.percentile(50)},
            {"p90", h.percentile(90)},
            {"p99", h.percentile(99)},
            {"max", h.max()}};
}

nlohmann::ordered_json run_json(const std::string& guest, const RunResult& r) {
    nlohmann::ordered_json j;
    j["guest"] = guest;
    j["on"] = r.kvm ? "kvm" : "model";
    j["arch"] = r.arch != 0 ? nlohmann::ordered_json(arch_key(r.arch)) : nlohmann::ordered_json(nullptr);
    j["where"] = r.where;
    j["end"] = r.end;
    j["outcome"] = to_string(r.outcome);
    j["error"] = r.error.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.error);
    j["run_ms"] = r.run_ms;
    if (r.kvm) {
        j["kvm_exits"] = {{"total", r.exits},
                          {"mmio", r.mmio_exits},
                          {"io", r.io_exits},
                          {"other", r.exits - r.mmio_exits - r.io_exits}};
        j["model_accesses"] = nullptr;
        j["p2m_changes"] = r.p2m_changes;
        j["memslot_ops"] = r.slot_ops;
        j["memslot_ms"] = r.slot_ms;
        j["memslots_at_end"] = r.memslots_at_end;
    } else {
        j["kvm_exits"] = nullptr;
        j["model_accesses"] = r.exits;
        j["p2m_changes"] = nullptr;
        j["memslot_ops"] = nullptr;
        j["memslot_ms"] = nullptr;
        j["memslots_at_end"] = nullptr;
    }
    j["holds"] = r.holds;
    j["core"] = {{"accesses", r.core_accesses}, {"latency_ns", latency_json(r.core_latency)}};
    auto servers = nlohmann::ordered_json::array();
    for (const ServerStats& s : r.servers) {
        nlohmann::ordered_json sj;
        sj["id"] = s.id;
        sj["dm"] = s.dm;
        sj["label"] = s.label;
        sj["ioreqs"] = s.ioreqs;
        sj["latency_ns"] = latency_json(s.latency);
        sj["dm_status"] = s.dm_status ? nlohmann::ordered_json(*s.dm_status) : nlohmann::ordered_json(nullptr);
        sj["outcome"] = !s.dm_status ? "not_finished" : *s.dm_status == 0 ? "pass" : "fail";
        servers.push_back(std::move(sj));
    }
    j["servers"] = std::move(servers);
    auto procs = nlohmann::ordered_json::array();
    for (const DmProcess& p : r.processes) {
        nlohmann::ordered_json pj;
        pj["cmd"] = p.cmd;
        pj["pid"] = p.pid;
        pj["ready"] = p.ready;
        pj["end"] = p.end.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(p.end);
        pj["exit_status"] = p.exit_status ? nlohmann::ordered_json(*p.exit_status) : nlohmann::ordered_json(nullptr);
        pj["died_running"] = p.died_running;
        procs.push_back(std::move(pj));
    }
    j["dm_processes"] = std::move(procs);
    return j;
}

// Everything one invocation ran.
struct Report {
    bool json = false;
    nlohmann::ordered_json runs = nlohmann::ordered_json::array();
    std::optional<std::string> kvm_unusable;
    int worst = exit_ok;  // the exit status the runs call for

    void add(const std::string& guest, const RunResult& r) {
        // A run that could not start is a setup error: on stderr too.
        if (r.outcome == RunOutcome::setup) fmt::print(stderr, "hvcore: {}: {}\n", guest, r.error);
        if (json)
            runs.push_back(run_json(guest, r));
        else
            print_result(stdout, guest, r);
        int rc = exit_ok;
        switch (r.outcome) {
        case RunOutcome::pass: rc = exit_ok; break;
        case RunOutcome::failed: rc = exit_check; break;
        case RunOutcome::timeout: rc = exit_timeout; break;
        case RunOutcome::stopped: rc = exit_check; break;  // the signal decides, see main
        case RunOutcome::setup: rc = exit_setup; break;
        }
        worst = combine(worst, rc);
        last_setup = r.outcome == RunOutcome::setup;
    }
    bool last_setup = false;
    // setup > timeout > check > ok
    static int rank(int rc) { return rc == exit_setup ? 3 : rc == exit_timeout ? 2 : rc == exit_check ? 1 : 0; }
    static int combine(int a, int b) { return rank(b) > rank(a) ? b : a; }
};

// One guest with its device models, on KVM or on the listed model backends.
void run_guest(const Cli& c, const std::string& guest_name, const std::vector<DmSpec>& dms,
               const std::vector<std::string>& exec, hvcore::kvm::Device* dev, const std::vector<int>& model_arches,
               Report& rep) {
    RunOptions base = c.opt;
    base.dm_exec = exec;
    GuestSpec g;
    g.name = guest_name;
    g.bundled = bundled_guest(guest_name);
    g.real_mode = c.real_mode;
    g.load = c.load;
    g.entry = c.entry.value_or(c.load);
    g.entry_given = c.entry.has_value();
    g.stack = c.stack;
    std::string dm_list;
    for (const auto& s : dms) dm_list += (dm_list.empty() ? "" : ", ") + s.name;
    for (const auto& e : exec) dm_list += (dm_list.empty() ? "" : ", ") + fmt::format("process '{}'", e);
    if (dm_list.empty()) dm_list = "none";

    if (dev != nullptr) {
        std::string why;
        g.path = resolve_guest(guest_name, &why);
        if (g.path.empty()) {
            RunResult r;
            r.kvm = true;
            r.outcome = RunOutcome::setup;
            r.error = why;
            rep.add(guest_name, r);
            return;
        }
        if (!rep.json) {
            out(stdout, "== {} on KVM, device models: {}\n", guest_name, dm_list);
            std::fflush(stdout);
        }
        RunOptions opt = base;
        if (c.arch == "vmx" || c.arch == "svm") opt.arch = arches_for(c.arch).front();
        rep.add(guest_name, run_on_kvm(*dev, g, dms, opt));
        return;
    }
    for (int arch : model_arches) {
        if (stop_requested() || dm_stuck()) return;
        if (!rep.json) {
            out(stdout, "== {} on the model vCPU of {}, device models: {}\n", guest_name, arch_name(arch), dm_list);
            std::fflush(stdout);
        }
        rep.add(guest_name, run_on_model(arch, g, dms, base));
        // A run that could not start (a device model's setup) fails the same on every backend.
        if (rep.last_setup) return;
    }
}

// Resolves every device model of a guest; false after one line on stderr.
bool resolve_dms(const std::vector<std::string>& names, std::vector<DmSpec>* dms) {
    for (const auto& n : names) {
        DmSpec s;
        std::string why;
        if (!make_dm(n, &s, &why)) {
            fmt::print(stderr, "hvcore: {}\n", why);
            return false;
        }
        dms->push_back(std::move(s));
    }
    return true;
}

int usage_error(const std::string& msg) {
    fmt::print(stderr, "hvcore: {} (try 'hvcore --help')\n", msg);
    return exit_usage;
}

int setup_error(const std::string& msg) {
    fmt::print(stderr, "hvcore: {}\n", msg);
    return exit_setup;
}

// An option only KVM uses, with the bundled guests on the model vCPUs.
int kvm_only_error(const Cli& c, const std::string& no_kvm = {}) {
    return usage_error(fmt::format("{} applies on KVM only: the model vCPUs{} run the bundled guests as access "
                                   "traces, with no image, entry point, stack, CPU mode, memslots or in-kernel irqchip",
                                   c.kvm_only.front(), no_kvm.empty() ? "" : " (KVM is not usable: " + no_kvm + ")"));
}

int run(Cli& c, Report& rep) {
    const bool demo = c.guest.empty();
    if (demo && !c.dms.empty()) return usage_error("--dm needs a GUEST (the demo chooses its own device models)");
    if (demo && !c.opt.dm_exec.empty())
        return usage_error("--dm-exec needs a GUEST (the demo chooses its own device models)");
    if (!demo && c.in_process)
        return usage_error("--in-process applies to the demo only (with a GUEST, --dm runs a plug-in in-process)");
    const auto bundled = bundled_guest(c.guest);
    const uint64_t ram = c.opt.ram_bytes != 0 ? c.opt.ram_bytes : HVG_RAM_BYTES;

    // A guest file is checked before KVM is touched and before it is read.
    if (!demo && !bundled) {
        GuestImage img;
        std::string why;
        // A bare word that is no file: not "No such file" but what was looked for.
        if (c.guest.find('/') == std::string::npos && access(c.guest.c_str(), F_OK) != 0 && errno == ENOENT) {
            (void)resolve_guest(c.guest, &why);
            return setup_error(why);
        }
        if (!read_guest_image(c.guest, ram, c.load, GuestRead::headers, &img, &why)) return setup_error(why);
        if (c.on == "model")
            return usage_error(fmt::format("--on model runs only the bundled guests (console, pagetable), not {}",
                                           c.guest));
    }
    if (c.on == "model" && !c.kvm_only.empty()) return kvm_only_error(c);
    // Device models next: a missing plug-in is a setup error before any run.
    struct Planned {
        std::string guest;
        std::vector<DmSpec> dms;        // plug-ins on threads of hvcore
        std::vector<std::string> exec;  // --dm-exec commands
    };
    std::vector<Planned> plan;
    if (demo) {
        // Each device model in a process of its own (`hvcore dm NAME`,
        // started as --dm-exec; $HVCORE is this program), unless --in-process.
        for (BundledGuest g : {BundledGuest::console, BundledGuest::pagetable}) {
            std::vector<DmSpec> dms;
            if (!resolve_dms(default_dms(g), &dms)) return exit_setup;
            std::vector<std::string> exec;
            if (!c.in_process) {
                for (const DmSpec& d : dms) exec.push_back(fmt::format("exec \"$HVCORE\" dm {}", d.name));
                dms.clear();
            }
            plan.push_back({to_string(g), std::move(dms), std::move(exec)});
        }
    } else {
        std::vector<std::string> names = c.dms;
        if (names.empty() && bundled && c.opt.dm_exec.empty()) names = default_dms(*bundled);
        std::vector<DmSpec> dms;
        if (!resolve_dms(names, &dms)) return exit_setup;
        plan.push_back({c.guest, std::move(dms), c.opt.dm_exec});
    }

    FILE* const note = rep.json ? stderr : stdout;
    std::unique_ptr<hvcore::kvm::Device> dev;
    std::vector<int> model_arches;
    if (c.on != "model") {
        std::string why;
        dev = open_kvm(&why);
        // KVM guests keep their p2m in an x86 backend's table.
        if (const hvcore::Backend* b = find_backend(c.arch);
            dev != nullptr && b != nullptr && b->arch != hvcore::Arch::x86_vmx && b->arch != hvcore::Arch::x86_svm)
            return usage_error(fmt::format("--arch {0}: a KVM guest's p2m is kept in an x86 format (vmx or svm); use "
                                           "--on model for {0}",
                                           c.arch));
        if (dev != nullptr && kvm_p2m_arch(nullptr, &why) == 0) dev.reset();
        if (dev == nullptr) {
            if (c.on == "kvm") return setup_error(fmt::format("KVM is not usable: {}", why));
            if (!demo && !bundled)
                return setup_error(fmt::format("KVM is not usable ({}), and {} is not a bundled guest, which alone "
                                               "the model vCPUs can trace", why, c.guest));
            if (!c.kvm_only.empty()) return kvm_only_error(c, why);
            model_arches = arches_for(c.arch.empty() ? "all" : c.arch);
            std::string names;
            for (int a : model_arches) names += (names.empty() ? "" : ", ") + std::string(arch_name(a));
            rep.kvm_unusable = why;
            // The one line that says why the demo is not on KVM.
            out(note, "hvcore: KVM is not usable ({}); running the same {} as access traces on the model "
                "vCPUs of {}\n", why, demo ? "demo" : "guest", names);
        }
    } else {
        model_arches = arches_for(c.arch.empty() ? "all" : c.arch);
    }
    if (dev == nullptr && model_arches.empty())
        return setup_error("this build links no backend to run the model vCPUs on");

    if (demo && !rep.json)
        out(stdout, "hvcore demo: two {}, device models in plain C {}\n",
            dev != nullptr ? "real x86-64 guests on KVM" : "guests' access traces on the model vCPUs",
            c.in_process ? "on threads of hvcore (--in-process)"
                         : "each in a process of its own (hvcore dm NAME; --in-process: on threads)");
    for (const auto& p : plan) {
        if (stop_requested() || dm_stuck()) break;  // Ctrl-C (or a device model left running) ends the demo
        run_guest(c, p.guest, p.dms, p.exec, dev.get(), model_arches, rep);
    }
    if (demo && !rep.json) {
        const char* verdict = stop_requested() ? "STOPPED" : rep.worst == exit_ok ? "PASS" : "FAILED";
        out(stdout, "hvcore demo: {}\n", verdict);
    }
    return rep.worst;
}

// Parses the command line: 0 to run, else -1 (help/version printed: exit
// 0) or the exit status of a usage error.
int parse(int argc, char** argv, Cli& c) {
    CLI::App app{description, "hvcore"};
    app.footer(footer);
    app.set_version_flag("--version", "hvcore " HVCORE_VERSION, "print the version and exit");
    app.formatter(std::make_shared<HelpFormatter>());
    app.get_formatter()->column_width(30);
    // GNU: a repeated option takes its last value (--dm overrides: all).
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

    std::string ram, load, entry, stack, timeout, memslots, cpu, grace, ready_timeout;
    app.add_option("GUEST", c.guest, "console, pagetable, or a PATH (see GUEST below); none: the demo")
        ->type_name("");
    app.add_option("--dm", c.dms, "attach a device model; repeat for more")
        ->type_name("NAME[:ARGS]")
        ->expected(1)
        ->allow_extra_args(false)  // `--dm uart console`: console is the GUEST
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                return v.substr(0, v.find(':')).empty() ? "empty NAME (uart, shadow, or a module's path)" : "";
            },
            ""));
    app.add_option("--on", c.on, "where the guest runs: KVM, the model vCPUs, or KVM when /dev/kvm is usable")
        ->type_name("kvm|model|auto")
        ->check(CLI::IsMember({"kvm", "model", "auto"}).description(""));
    app.add_option("--arch", c.arch,
                   "the backend whose table holds the p2m; KVM: the host CPU's by default; model: all by default")
        ->type_name(fmt::format("{}", fmt::join(arch_choices(), "|")))
        ->check(CLI::IsMember(arch_choices()).description(""));
    app.add_option("--ram", ram, "guest RAM in MiB, 1..1024 (default 4)")
        ->type_name("MIB")
        ->check(number_in(1, 1024));
    app.add_option("--load", load, "where a flat image is loaded (default 0x100000)")
        ->type_name("GPA")
        ->check(number_in(0, UINT64_MAX, true));
    app.add_option("--entry", entry, "the first instruction (default: an ELF's e_entry, else the load address)")
        ->type_name("GPA")
        ->check(number_in(0, UINT64_MAX, true));
    app.add_option("--stack", stack, "the initial stack pointer (default 0x80000)")
        ->type_name("GPA")
        ->check(number_in(0, UINT64_MAX, true));
    app.add_flag("--real-mode", c.real_mode, "start in 16-bit real mode (entry below 1 MiB), not 64-bit long mode");
    app.add_option("--timeout", timeout, "end a guest still running after this long, 1..86400 (default 30); exit 124")
        ->type_name("SECONDS")
        ->check(number_in(1, 86400));
    app.add_option("--memslots", memslots, "use at most N KVM memslots (default KVM_CAP_NR_MEMSLOTS)")
        ->type_name("N")
        ->check(number_in(1, UINT32_MAX));
    app.add_flag("--irqchip", c.opt.irqchip,
                 "KVM's in-kernel 8259s/IO-APIC/LAPICs for the device models' interrupts; HLT no longer ends "
                 "the run: the guest writes port 0x604");
    app.add_flag("--multi-owner", c.opt.multi_owner,
                 "create the domain in multi-owner mode (HV_DOMAIN_MULTI_OWNER): each device model may claim "
                 "the ioreq_server type for its own pages, reads too");
    app.add_option("--cpu", cpu, "run every thread (vCPUs, device models) on CPU N")
        ->type_name("N")
        ->check(number_in(0, CPU_SETSIZE - 1));
    app.add_option("--dm-grace", grace,
                   "after the stop, wait this long for the device models to return, 1..3600 (default 10)")
        ->type_name("SECONDS")
        ->check(number_in(1, 3600));
    app.add_option("--listen", c.opt.listen_path, "serve device-model processes (hvdm_connect) on socket PATH")
        ->type_name("PATH");
    app.add_option("--dm-uid", c.opt.dm_uids, "a uid allowed to --listen; repeat for more (default: hvcore's)")
        ->type_name("UID")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->check(number_in(0, UINT32_MAX - 1));
    app.add_option("--dm-exec", c.opt.dm_exec,
                   "start a device model as a child process (/bin/sh -c CMD, e.g. 'hvcore dm uart'); the guest "
                   "starts once it sent READY; repeat for more")
        ->type_name("'CMD ARGS'")
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--dm-ready-timeout", ready_timeout,
                   "how long the device models get to become ready, 1..3600 (default 10)")
        ->type_name("SECONDS")
        ->check(number_in(1, 3600));
    app.add_flag("--in-process", c.in_process,
                 "the demo: run its device models on threads of hvcore, not as processes");
    app.add_flag("--json", c.json, "print the results as one JSON document on stdout (man hvcore: JSON OUTPUT)");

    // The first word that is neither an option nor an option's value is the
    // command: `run` (optional: `hvcore ...` is `hvcore run ...`, and
    // `hvcore --json run` is `hvcore run --json`) or `help`; any other word
    // there is the GUEST, or an unknown command when it is no GUEST at all.
    std::vector<std::string> args(argv + 1, argv + argc);
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") break;  // only operands follow
        if (a.size() > 1 && a[0] == '-') {
            // An option's value is the next word unless given as --opt=value.
            const CLI::Option* o = a.find('=') == std::string::npos ? app.get_option_no_throw(a) : nullptr;
            if (o != nullptr && o->get_expected_min() > 0) ++i;
            continue;
        }
        if (a == "run") {
            args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
        } else if (a == "help") {
            args[i] = "--help";
        } else if (!bundled_guest(a) && a.find('/') == std::string::npos && access(a.c_str(), F_OK) != 0) {
            return usage_error(fmt::format("unknown command '{}' (commands: run, help; a GUEST is console, "
                                           "pagetable or a file)", a));
        }
        break;
    }
    // Extra words are reported here, in their order (CLI11 2.1 lists them
    // reversed).
    app.allow_extras();
    std::vector<const char*> av{argv[0]};
    for (const auto& a : args) av.push_back(a.c_str());
    try {
        app.parse(static_cast<int>(av.size()), av.data());
    } catch (const CLI::CallForHelp&) {
        out(stdout, "{}", app.help());
        return -1;
    } catch (const CLI::CallForVersion& e) {
        out(stdout, "{}\n", e.what());
        return -1;
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        for (char& ch : msg)
            if (ch == '\n') ch = ' ';
        return usage_error(msg);
    }
    if (const auto extra = app.remaining(); !extra.empty()) {
        for (const auto& e : extra)
            if (e.size() > 1 && e[0] == '-' && e != "--") return usage_error(fmt::format("unknown option {}", e));
        std::string list;
        for (const auto& e : extra) list += (list.empty() ? "" : " ") + e;
        return usage_error(fmt::format("unexpected argument{}: {}", extra.size() > 1 ? "s" : "", list));
    }
    if (!ram.empty()) c.opt.ram_bytes = number(ram) << 20;
    if (!load.empty()) c.load = number(load);
    if (!entry.empty()) c.entry = number(entry);
    if (!stack.empty()) c.stack = number(stack);
    if (!timeout.empty()) c.opt.timeout = std::chrono::seconds(number(timeout));
    if (!memslots.empty()) c.opt.max_memslots = static_cast<uint32_t>(number(memslots));
    if (!cpu.empty()) c.cpu = static_cast<unsigned>(number(cpu));
    if (!grace.empty()) c.opt.dm_grace = std::chrono::seconds(number(grace));
    if (!ready_timeout.empty()) c.opt.dm_ready_timeout = std::chrono::seconds(number(ready_timeout));
    for (const char* kvm : {"--load", "--entry", "--stack", "--real-mode", "--memslots", "--irqchip"})
        if (app.count(kvm) != 0) c.kvm_only.emplace_back(kvm);
    return 0;
}

// The end of every invocation: stdout must have taken everything.
int finish(int rc) {
    errno = 0;
    const bool flushed = std::fflush(stdout) == 0;
    if (!flushed || std::ferror(stdout) != 0) {
        fmt::print(stderr, "hvcore: writing the results to stdout failed: {}\n",
                   !flushed && errno != 0 ? std::strerror(errno) : "an earlier write failed");
        if (rc < exit_signal) rc = exit_setup;
    }
    return rc;
}

}  // namespace

namespace {

// `hvcore dm NAME[:ARGS]`: a plug-in in a process of its own
// (tools/dm_process.cpp); the first word only.
int dm_command(int argc, char** argv) {
    const std::string usage =
        "Usage: hvcore dm NAME[:ARGS]\n\n"
        "Run the device-model plug-in NAME (uart, shadow, or a module's path) in this process,\n"
        "connected to the host at $HVCORE_DM_SOCKET as the device model of domain\n"
        "$HVCORE_DM_DOMID: `hvcore run --dm-exec 'hvcore dm NAME'` sets both. It says READY once the\n"
        "plug-in is ready, and stops it when its standard input (a pipe) ends or on\n"
        "SIGTERM, SIGINT or SIGHUP. Exit status: 0 the plug-in passed, 1 it failed,\n"
        "2 usage, 3 the module or the host could not be reached. The manual: man hvcore.\n";
    if (argc == 3 && (std::strcmp(argv[2], "--help") == 0 || std::strcmp(argv[2], "-h") == 0)) {
        out(stdout, "{}", usage);
        return finish(exit_ok);
    }
    if (argc != 3 || argv[2][0] == '-' || argv[2][0] == ':' || argv[2][0] == '\0') {
        fmt::print(stderr, "hvcore dm: one NAME[:ARGS] expected (try 'hvcore dm --help')\n");
        return exit_usage;
    }
    DmSpec spec;
    std::string why;
    if (!make_dm(argv[2], &spec, &why)) {
        fmt::print(stderr, "hvcore dm: {}\n", why);
        return exit_setup;
    }
    return finish(run_dm_process(spec));
}

// The directory of hvcore's Xen drop-in libraries for this program: next to
// a build tree's own (the program's parent directory holds CMakeCache.txt:
// HVCORE_XEN_BUILD_DIR, relative to the program's directory), else the
// installed layout (HVCORE_INSTALLED_XEN_DIR: bindir -> <libdir>/hvcore/xen),
// both computed at configure time, as the plug-ins' directory
// (runner.cpp search_path). Empty when this build has no drop-ins.
std::string xen_lib_dir() {
    std::filesystem::path exe = std::filesystem::path(hvcore::tools::self_exe()).parent_path();
    if (exe.empty()) exe = ".";  // /proc/self/exe unreadable
    const bool build_tree = access((exe.parent_path() / "CMakeCache.txt").c_str(), R_OK) == 0;
    const std::string rel = build_tree ? HVCORE_XEN_BUILD_DIR : HVCORE_INSTALLED_XEN_DIR;
    if (rel.empty()) return {};
    return (exe / rel).lexically_normal().string();
}

// `hvcore xen-exec [--socket PATH] CMD [ARGS...]`: CMD with the dynamic
// linker pointed at hvcore's Xen libraries (xen/; docs/xen-dropins.md). The
// options are parsed by CLI11 up to CMD (a prefix command); the rest is
// CMD's.
int xen_exec_command(int argc, char** argv) {
    const std::string usage =
        "Usage: hvcore xen-exec [--socket PATH] CMD [ARGS...]\n\n"
        "Run CMD, a Xen device model built against Xen's libraries\n"
        "(libxendevicemodel.so.1, libxenevtchn.so.1, libxenforeignmemory.so.1), on\n"
        "hvcore's libraries of the same names: their directory is put first in\n"
        "LD_LIBRARY_PATH and CMD replaces this process (execvp: CMD is searched in\n"
        "PATH). The libraries connect to the hvcore at $HVCORE_DM_SOCKET, which\n"
        "`hvcore run --dm-exec` sets:\n"
        "  hvcore run GUEST --dm-exec '\"$HVCORE\" xen-exec ./dm \"$HVCORE_DM_DOMID\"'\n\n"
        "Options:\n"
        "  --socket PATH   set HVCORE_DM_SOCKET=PATH for CMD (`hvcore run --listen PATH`)\n"
        "  -h, --help      this text\n\n"
        "The libraries: {}\n\n"
        "Exit status: CMD's; 2 usage, 3 hvcore's Xen libraries are missing, 126 CMD is\n"
        "not executable, 127 CMD was not found (as a shell). The manual: man hvcore.\n";
    const std::string dir = xen_lib_dir();
    CLI::App app{"", "hvcore xen-exec"};
    app.set_help_flag();  // our own text
    bool help = false;
    std::string socket;
    app.add_flag("-h,--help", help);
    app.add_option("--socket", socket)->type_name("PATH");
    app.prefix_command();
    try {
        app.parse(argc - 1, argv + 1);  // argv[1] is "xen-exec", the program's name to CLI11
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        for (char& ch : msg)
            if (ch == '\n') ch = ' ';
        fmt::print(stderr, "hvcore xen-exec: {} (try 'hvcore xen-exec --help')\n", msg);
        return exit_usage;
    }
    std::vector<std::string> cmd = app.remaining();
    const bool dashdash = !cmd.empty() && cmd.front() == "--";  // then CMD may start with '-'
    if (dashdash) cmd.erase(cmd.begin());
    if (!dashdash && !cmd.empty() && cmd.front().size() > 1 && cmd.front()[0] == '-') {
        fmt::print(stderr, "hvcore xen-exec: unknown option {} (try 'hvcore xen-exec --help')\n", cmd.front());
        return exit_usage;
    }
    if (help) {
        out(stdout, "{}", fmt::format(fmt::runtime(usage), dir.empty() ? "not built into this hvcore" : dir));
        return finish(exit_ok);
    }
    if (app.count("--socket") != 0 && socket.empty()) {
        fmt::print(stderr, "hvcore xen-exec: --socket needs a PATH (try 'hvcore xen-exec --help')\n");
        return exit_usage;
    }
    if (cmd.empty() || cmd.front().empty()) {
        fmt::print(stderr, "hvcore xen-exec: a CMD to run expected (try 'hvcore xen-exec --help')\n");
        return exit_usage;
    }
    if (dir.empty()) {
        fmt::print(stderr, "hvcore xen-exec: this hvcore was built without the Xen libraries (HVCORE_XEN; "
                           "Debian's libxen-dev)\n");
        return exit_setup;
    }
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        fmt::print(stderr, "hvcore xen-exec: hvcore's Xen libraries are not installed: no directory {}{}\n", dir,
                   ec && ec != std::errc::no_such_file_or_directory ? fmt::format(" ({})", ec.message())
                                                                    : std::string());
        return exit_setup;
    }
    const char* old = std::getenv("LD_LIBRARY_PATH");
    const std::string path = old != nullptr && *old != '\0' ? dir + ":" + old : dir;
    if (setenv("LD_LIBRARY_PATH", path.c_str(), 1) != 0 ||
        (!socket.empty() && setenv("HVCORE_DM_SOCKET", socket.c_str(), 1) != 0)) {
        fmt::print(stderr, "hvcore xen-exec: setenv: {}\n", std::strerror(errno));
        return exit_setup;
    }
    std::vector<char*> av;
    for (auto& a : cmd) av.push_back(a.data());
    av.push_back(nullptr);
    std::fflush(stdout);
    execvp(av[0], av.data());
    const int e = errno;
    fmt::print(stderr, "hvcore xen-exec: {}: {}\n", cmd.front(),
               e == ENOENT ? std::string("command not found") : std::string(std::strerror(e)));
    return e == ENOENT ? 127 : 126;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "dm") == 0) return dm_command(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], "xen-exec") == 0) return xen_exec_command(argc, argv);
    Cli c;
    if (int rc = parse(argc, argv, c); rc != 0) return finish(rc < 0 ? exit_ok : rc);
    if (c.json) c.opt.out = stderr;  // the device models' lines: stdout holds the document alone

    // Threads inherit the affinity of the thread that creates them.
    if (c.cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(*c.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            return setup_error(fmt::format("--cpu {}: sched_setaffinity: {} (errno {})", *c.cpu,
                                           std::strerror(errno), errno));
    }

    // SIGINT/SIGTERM: blocked in every thread, taken by one watcher that
    // ends the run in progress and every later one (the rest of a demo).
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
                const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
                int none = 0;
                if (!g_signal.compare_exchange_strong(none, sig)) {
                    // A second one: no more waiting (for a device model that
                    // ignores its stop, say), no results.
                    fmt::print(stderr, "hvcore: {} again: exiting at once\n", name);
                    std::_Exit(exit_signal + sig);
                }
                fmt::print(stderr, "hvcore: {}: stopping\n", name);
                request_stop();
            }
        }
    });
    Report rep;
    rep.json = c.json;
    int rc = run(c, rep);
    done = true;
    watcher.join();
    if (g_signal != 0) rc = exit_signal + g_signal;

    if (c.json && (!rep.runs.empty() || rc == exit_ok || rc >= exit_timeout)) {
        nlohmann::ordered_json doc;
        doc["schema_version"] = 1;
        doc["hvcore_version"] = HVCORE_VERSION;
        doc["mode"] = c.guest.empty() ? "demo" : "run";
        doc["kvm_unusable"] = rep.kvm_unusable ? nlohmann::ordered_json(*rep.kvm_unusable) : nlohmann::ordered_json(nullptr);
        doc["signal"] = g_signal != 0 ? nlohmann::ordered_json(g_signal.load()) : nlohmann::ordered_json(nullptr);
        doc["exit_status"] = rc;
        doc["runs"] = std::move(rep.runs);
        out(stdout, "{}\n", doc.dump(2));
    }
    // A device model still running (it ignored its stop): exit would tear
    // down what its thread may still use.
    if (dm_stuck()) std::_Exit(finish(rc));
    return finish(rc);
}
