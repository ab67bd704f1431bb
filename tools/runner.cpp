// SPDX-License-Identifier: MIT
#include "runner.hpp"

#include "dm_exec.hpp"
#include "run_support.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>  // resolve_dm, resolve_guest: lexically_normal
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include "guest_abi.h"
#include "guest_image.hpp"
#include "hvcore/core/error.hpp"
#include "hvcore/embed.hpp"
#include "hvcore/hvdm_plugin.h"
#include "hvcore/kvm/vm.hpp"

namespace hvcore::tools {

namespace {

using Clock = std::chrono::steady_clock;

[[nodiscard]] double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Runs a function at scope exit (teardown on every path).
template <class F>
class Defer {
public:
    explicit Defer(F f) : f_(std::move(f)) {}
    ~Defer() { f_(); }
    Defer(const Defer&) = delete;
    Defer& operator=(const Defer&) = delete;

private:
    F f_;
};

[[nodiscard]] std::string exe_dir() {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    std::string p(buf, static_cast<size_t>(n));
    return p.substr(0, p.find_last_of('/'));
}

// The running program's path (/proc/self/exe).
}  // namespace

[[nodiscard]] std::string self_exe() {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("hvcore");
}

namespace {

[[nodiscard]] bool readable(const std::string& path) { return !path.empty() && access(path.c_str(), R_OK) == 0; }

// The stop handler of the run in progress (request_stop), and whether a
// stop was requested at all (every later run then ends at once).
std::mutex g_stop_mu;
std::function<void()> g_stop;
std::atomic<bool> g_stop_requested{false};
std::atomic<unsigned> g_stop_count{0};  // request_stop calls: a signal cuts the device models' grace short
std::atomic<bool> g_dm_stuck{false};

class StopScope {
public:
    explicit StopScope(std::function<void()> f) {
        std::lock_guard g(g_stop_mu);
        g_stop = std::move(f);
    }
    ~StopScope() {
        std::lock_guard g(g_stop_mu);
        g_stop = nullptr;
    }
    StopScope(const StopScope&) = delete;
    StopScope& operator=(const StopScope&) = delete;
};

// ---------------------------------------------------------------------------
// Device-model plugins, each on a thread of its own.

class DmHost {
public:
    struct Server {
        hvdm_ioservid_t id;
        std::string dm;
        std::string label;
    };

    DmHost(hv_host* host, hvdm_domid_t domid, const RunOptions& opt) : host_(host), domid_(domid), opt_(opt) {
        stop_fd_ = eventfd(0, EFD_CLOEXEC);
        if (stop_fd_ < 0) stop_fd_errno_ = errno != 0 ? errno : EIO;
    }
    ~DmHost() {
        (void)stop();
        for (auto& d : dms_)
            if (d->so != nullptr) dlclose(d->so);
        if (stop_fd_ >= 0) close(stop_fd_);
    }
    DmHost(const DmHost&) = delete;
    DmHost& operator=(const DmHost&) = delete;

    // dlopen each module and find its entry point. A module that is not a
    // loadable plug-in of this ABI: -ENOEXEC.
    [[nodiscard]] Error load(const std::vector<DmSpec>& specs) {
        if (stop_fd_ < 0) return Error(-stop_fd_errno_, fmt::format("eventfd for the device models' stop: {}",
                                                                   std::strerror(stop_fd_errno_)));
        for (const DmSpec& s : specs) {
            auto d = std::make_unique<Dm>();
            d->host = this;
            d->spec = s;
            d->so = dlopen(s.path.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (d->so == nullptr) return Error(-ENOEXEC, fmt::format("device model {}: dlopen: {}", s.name, dlerror()));
            // The plug-in ABI first, before anything in the module is called
            // (<hvcore/hvdm_plugin.h>, "What a plug-in is").
            const auto* abi = static_cast<const uint32_t*>(dlsym(d->so, HVDM_PLUGIN_ABI_SYMBOL));
            if (abi == nullptr)
                return Error(-ENOEXEC, fmt::format("device model {} ({}) is not an hvcore device-model plug-in: no "
                                                   "{} symbol (HVDM_PLUGIN_DEFINE)",
                                                   s.name, s.path, HVDM_PLUGIN_ABI_SYMBOL));
            if (*abi != HVDM_PLUGIN_ABI)
                return Error(-ENOEXEC, fmt::format("device model {} ({}) was built for plug-in ABI {}; this hvcore "
                                                   "loads ABI {}",
                                                   s.name, s.path, *abi, HVDM_PLUGIN_ABI));
            d->main = reinterpret_cast<hvdm_plugin_main_fn>(dlsym(d->so, HVDM_PLUGIN_MAIN_SYMBOL));
            if (d->main == nullptr)
                return Error(-ENOEXEC, fmt::format("device model {} ({}) does not export {} (see "
                                                   "<hvcore/hvdm_plugin.h>)",
                                                   s.name, s.path, HVDM_PLUGIN_MAIN_SYMBOL));
            d->env.size = sizeof d->env;
            d->env.abi = HVDM_PLUGIN_ABI;
            d->env.host = host_;
            d->env.domid = domid_;
            d->env.name = d->spec.name.c_str();
            d->env.args = d->spec.args.c_str();
            d->env.stop_fd = stop_fd_;
            d->env.out = opt_.out;
            d->env.opaque = d.get();
            d->env.server_created = &server_created;
            d->env.ready = &ready;
            d->env.trace = opt_.trace ? &trace : nullptr;
            d->env.open_handle = &open_handle;
            dms_.push_back(std::move(d));
        }
        return {};
    }

    // Start the models one after the other, each once the previous one is
    // ready: their servers get ids in command-line order, run after run.
    // -ETIMEDOUT: one was not ready in time; -EINTR: a stop was requested
    // meanwhile; -ECANCELED: one returned before it was ready.
    [[nodiscard]] Error start() {
        for (auto& d : dms_) {
            Dm* p = d.get();
            try {
                p->thread = std::thread([p] {
                    const int rc = p->main(&p->env);
                    std::lock_guard g(p->host->mu_);
                    p->rc = rc;
                    p->done = true;
                    p->host->cv_.notify_all();
                });
            } catch (const std::system_error& e) {
                return Error(e.code().value() > 0 ? -e.code().value() : -EAGAIN, fmt::format("device model {}: cannot start its thread: {}",
                                                            p->spec.name, e.what()));
            }
            std::unique_lock g(mu_);
            const auto deadline = Clock::now() + opt_.dm_ready_timeout;
            // A stop (Ctrl-C) also ends the wait: request_stop wakes it.
            while (!p->ready && !p->done && !g_stop_requested) {
                if (cv_.wait_until(g, std::min(deadline, Clock::now() + std::chrono::milliseconds(50))) ==
                        std::cv_status::timeout &&
                    Clock::now() >= deadline)
                    return Error(-ETIMEDOUT, fmt::format("device model {} did not become ready within {} ms",
                                                         p->spec.name, opt_.dm_ready_timeout.count()));
            }
            if (!p->ready && !p->done) {
                stopped_before_ready_ = true;
                return Error(-EINTR, fmt::format("stopped while device model {} was setting up", p->spec.name));
            }
            if (!p->ready)
                return Error(-ECANCELED, fmt::format("device model {} returned {} before it was ready (its setup "
                                                     "failed)",
                                                     p->spec.name, p->rc));
        }
        return {};
    }

    // Make stop_fd readable, wait for every model to return: ok if all
    // returned 0, else which did not: -ETIMEDOUT when one is still running
    // (stuck()), -EIO when one reported failure. All of them get one grace together
    // (RunOptions::dm_grace), cut short by a stop requested (a signal)
    // during it; one still running then is left running (stuck()).
    [[nodiscard]] Error stop() {
        if (stopped_) return result_;
        stopped_ = true;
        const uint64_t one = 1;
        if (stop_fd_ >= 0 && write(stop_fd_, &one, sizeof one) != sizeof one)
            fmt::print(stderr, "hvcore: signalling the device models' stop: {}\n", std::strerror(errno));
        std::string stuck;
        size_t nstuck = 0;
        bool cut_short = false;
        {
            std::unique_lock g(mu_);
            const auto all_done = [this] {
                return std::all_of(dms_.begin(), dms_.end(),
                                   [](const auto& d) { return !d->thread.joinable() || d->done; });
            };
            const auto deadline = Clock::now() + opt_.dm_grace;
            const unsigned stops = g_stop_count;
            while (!all_done() && Clock::now() < deadline) {
                if (g_stop_count != stops) {
                    cut_short = true;
                    break;
                }
                cv_.wait_until(g, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
            }
            for (auto& d : dms_) {
                if (!d->thread.joinable() || d->done) continue;
                stuck += (stuck.empty() ? "" : ", ") + d->spec.name;
                ++nstuck;
                d->stuck = true;
                d->thread.detach();  // it keeps running; the process ends after the results
            }
        }
        std::string why;
        int code = 0;
        if (!stuck.empty()) {
            stuck_ = true;
            g_dm_stuck = true;
            const std::string waited =
                cut_short ? "before a signal ended the wait"
                          : fmt::format("within {} s of the stop (--dm-grace)",
                                        std::chrono::duration_cast<std::chrono::seconds>(opt_.dm_grace).count());
            const char* models = nstuck > 1 ? "models" : "model";
            why = fmt::format("device {} {} did not return {}", models, stuck, waited);
            code = -ETIMEDOUT;
            // The one line on stderr; the results and the exit status follow.
            fmt::print(stderr, "hvcore: device {} {} did not return {}: {} stop_fd; hvcore exits without {}\n",
                       models, stuck, waited, nstuck > 1 ? "they ignore" : "it ignores",
                       nstuck > 1 ? "them" : "it");
        }
        for (auto& d : dms_) {
            if (d->thread.joinable()) {
                d->thread.join();
                status_[d->spec.name] = d->rc;
            }
            if (!d->stuck && d->rc != 0) {
                if (!why.empty()) why += "; ";
                why += fmt::format("device model {} reported failure (status {})", d->spec.name, d->rc);
                if (code == 0) code = -EIO;
            }
        }
        if (code != 0) result_ = Error(code, std::move(why));
        return result_;
    }
    // A device model did not return in time: its thread runs on, so this
    // object, its modules and the domain must outlive it (the caller
    // leaks them; the process ends soon after).
    [[nodiscard]] bool stuck() const noexcept { return stuck_; }

    [[nodiscard]] std::vector<Server> servers() {
        std::lock_guard g(mu_);
        return servers_;
    }
    // What the device model NAME returned (after stop()); none if it did not run.
    [[nodiscard]] std::optional<int> status(const std::string& name) const {
        const auto it = status_.find(name);
        if (it == status_.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] bool stopped_before_ready() const noexcept { return stopped_before_ready_; }

private:
    struct Dm {
        DmHost* host = nullptr;
        DmSpec spec;
        void* so = nullptr;
        hvdm_plugin_main_fn main = nullptr;
        hvdm_plugin_env env{};
        std::thread thread;
        bool ready = false;
        bool done = false;
        bool stuck = false;  // did not return within the grace: its thread was detached
        int rc = 0;
    };

    static void server_created(void* opaque, hvdm_ioservid_t id, const char* label) {
        auto* d = static_cast<Dm*>(opaque);
        std::lock_guard g(d->host->mu_);
        d->host->servers_.push_back({id, d->spec.name, label != nullptr ? label : ""});
    }
    static void ready(void* opaque) {
        auto* d = static_cast<Dm*>(opaque);
        std::lock_guard g(d->host->mu_);
        d->ready = true;
        d->host->cv_.notify_all();
    }
    static hvdm_handle* open_handle(void* opaque) {
        auto* d = static_cast<Dm*>(opaque);
        return hvdm_open(d->host->host_);
    }
    static void trace(void* opaque, hvdm_ioservid_t id, const hvdm_ioreq_t* req) {
        auto* d = static_cast<Dm*>(opaque);
        d->host->opt_.trace(d->spec.name, id, *req);
    }

    hv_host* host_;
    hvdm_domid_t domid_;
    const RunOptions& opt_;
    int stop_fd_ = -1;
    int stop_fd_errno_ = 0;  // why eventfd failed
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Dm>> dms_;
    std::vector<Server> servers_;
    bool stopped_ = false;
    bool stuck_ = false;
    bool stopped_before_ready_ = false;
    Error result_;  // stop()'s
    std::map<std::string, int> status_;
};

const char* log_level_name(int level) {
    switch (level) {
    case HV_LOG_ERROR: return "error";
    case HV_LOG_WARNING: return "warning";
    case HV_LOG_INFO: return "info";
    default: return "debug";
    }
}

// The library's messages (hv_host_set_log) and host/kvm's, on stderr.
}  // namespace

void print_log(void*, int level, const char* message) {
    fmt::print(stderr, "hvcore: {}: {}\n", log_level_name(level), message);
}

namespace {


// One host, one domain: created, and destroyed at scope exit.
struct DomainScope {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hv_dm_listener* listener = nullptr;
    ~DomainScope() {
        // The listener first: its connections' servers go before the
        // domain (each as hvdm_close). It never waits for a device model,
        // and it may outlive a leaked host (it holds the host's core).
        if (listener != nullptr) hv_dm_listener_close(listener);
        if (dom != nullptr) (void)hv_domain_destroy(dom);
        if (host != nullptr) hv_host_destroy(host);
    }
    // A device model still running holds handles on them: keep both.
    void leak() noexcept {
        dom = nullptr;
        host = nullptr;
    }
    // The C calls' negative errno, with which call failed.
    [[nodiscard]] Error create(int arch, uint64_t ram_bytes, uint32_t flags = 0) {
        if (int rc = hv_host_create(&host); rc != 0)
            return Error(rc, fmt::format("hv_host_create: {}", std::strerror(-rc)));
        // The library prints nothing itself: its messages come here.
        if (int rc = hv_host_set_log(host, &print_log, nullptr, HV_LOG_INFO); rc != 0)
            return Error(rc, fmt::format("hv_host_set_log: {}", std::strerror(-rc)));
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(arch);
        cfg.ram_bytes = ram_bytes;
        cfg.nr_vcpus = 1;
        cfg.flags = flags;
        if (int rc = hv_domain_create(host, &cfg, &dom); rc != 0) {
            dom = nullptr;
            return Error(rc, fmt::format("hv_domain_create({}, {} KiB): {} (errno {})", arch_name(arch),
                                         ram_bytes >> 10, std::strerror(-rc), -rc));
        }
        return {};
    }
    // --listen: device-model processes may connect from now until the end
    // of the run (hv_dm_listen logs each connection and hang-up).
    [[nodiscard]] Error listen(const RunOptions& opt) {
        if (opt.listen_path.empty()) return {};
        hv_dm_listen_config cfg{};
        cfg.size = sizeof cfg;
        cfg.nr_uids = static_cast<uint32_t>(opt.dm_uids.size());
        cfg.uids = opt.dm_uids.empty() ? nullptr : opt.dm_uids.data();
        if (int rc = hv_dm_listen(host, opt.listen_path.c_str(), &cfg, &listener); rc != 0) {
            listener = nullptr;
            return Error(rc, fmt::format("--listen {}: {} (errno {})", opt.listen_path, std::strerror(-rc), -rc));
        }
        std::string uids;
        for (uint32_t u : opt.dm_uids) uids += (uids.empty() ? "" : ",") + std::to_string(u);
        print_log(nullptr, HV_LOG_INFO,
                  fmt::format("listening for device models on {} (domain {}, uids {})", opt.listen_path,
                              hv_domain_id(dom), uids.empty() ? std::to_string(getuid()) : uids)
                      .c_str());
        return {};
    }
};

// A --dm-exec command's name in the results: NAME of `... dm NAME[:ARGS]`
// (hvcore dm), else the command.
[[nodiscard]] std::string short_name(const std::string& cmd) {
    const size_t at = cmd.rfind(" dm ");
    if (at == std::string::npos) return cmd;
    std::string n = cmd.substr(at + 4);
    n = n.substr(0, std::min(n.find(' '), n.find(':')));
    return n.empty() ? cmd : n;
}

void fill_servers(RunResult& r, const DmHost& host, const std::vector<DmHost::Server>& servers,
                  const std::array<uint64_t, max_ioreq_servers>& counts,
                  const std::array<kvm::LatencyHistogram, max_ioreq_servers>& latency) {
    for (const auto& s : servers) {
        ServerStats st;
        st.id = s.id;
        st.dm = s.dm;
        st.label = s.label;
        st.dm_status = host.status(s.dm);
        if (s.id < max_ioreq_servers) {
            st.ioreqs = counts[s.id];
            st.latency = latency[s.id];
        }
        r.servers.push_back(std::move(st));
    }
    // Servers of device-model processes: those a --dm-exec process created
    // while it set up, named by its command and pid; any other that
    // requests reached (--listen, or created later) as "process".
    for (const DmProcess& p : r.processes)
        for (hvdm_ioservid_t id : p.servers) {
            ServerStats st;
            st.id = id;
            st.dm = short_name(p.cmd);
            st.label = fmt::format("process pid {}", p.pid);
            st.dm_status = p.died_running ? std::nullopt : p.exit_status;
            if (id < max_ioreq_servers) {
                st.ioreqs = counts[id];
                st.latency = latency[id];
            }
            r.servers.push_back(std::move(st));
        }
    for (unsigned id = 0; id < max_ioreq_servers; ++id) {
        if (counts[id] == 0 ||
            std::any_of(r.servers.begin(), r.servers.end(), [&](const auto& s) { return s.id == id; }))
            continue;
        ServerStats st;
        st.id = static_cast<hvdm_ioservid_t>(id);
        st.dm = "process";
        st.ioreqs = counts[id];
        st.latency = latency[id];
        r.servers.push_back(std::move(st));
    }
    std::sort(r.servers.begin(), r.servers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
}


// ---------------------------------------------------------------------------
// A model vCPU running a bundled guest's accesses.

class ModelCpu final : public AccessCpu {
public:
    ModelCpu(hv_domain* dom, int arch, const std::atomic<bool>& stop, Clock::time_point deadline)
        : dom_(dom), core_(embed::domain_of(dom)), port_io_(find_backend(arch) != nullptr && find_backend(arch)->has_port_io), stop_(stop),
          deadline_(deadline) {}

    int store(uint64_t gpa, unsigned size, uint64_t value) override {
        return complete(nullptr, [&] { return hv_vcpu_store(dom_, 0, gpa, size, value); });
    }
    int load(uint64_t gpa, unsigned size, uint64_t* value) override {
        return complete(value, [&] { return hv_vcpu_load(dom_, 0, gpa, size, value); });
    }
    int dev_write(Device d, unsigned offset, unsigned size, uint64_t value) override {
        if (!port_io_) return store(mmio_base(d) + offset, size, value);  // no port I/O (Arm64): MMIO
        uint64_t v = value;
        const auto port = static_cast<uint16_t>(port_base(d) + offset);
        return complete(nullptr, [&] { return hv_vcpu_pio(dom_, 0, port, size, 1, &v); });
    }
    int dev_read(Device d, unsigned offset, unsigned size, uint64_t* value) override {
        if (!port_io_) return load(mmio_base(d) + offset, size, value);
        const auto port = static_cast<uint16_t>(port_base(d) + offset);
        return complete(value, [&] { return hv_vcpu_pio(dom_, 0, port, size, 0, value); });
    }

    uint64_t accesses = 0;
    uint64_t holds = 0;
    std::array<uint64_t, max_ioreq_servers> ioreqs{};
    std::array<kvm::LatencyHistogram, max_ioreq_servers> latency;
    kvm::LatencyHistogram core_latency;
    std::string fault;
    bool timed_out = false;  // the run's deadline passed (RunOptions::timeout)

private:
    static uint64_t mmio_base(Device d) { return d == Device::uart ? HVG_UART_MMIO : HVG_REPORT_MMIO; }
    static uint64_t port_base(Device d) { return d == Device::uart ? HVG_UART_PORT : HVG_REPORT_PORT; }

    // Makes the access (again: also for a retry) and waits for its answer;
    // the latency runs from the call to the completion.
    template <class Access>
    int complete(uint64_t* value, Access again) {
        const auto t0 = Clock::now();
        if (t0 > deadline_) {
            timed_out = true;
            return -ETIMEDOUT;
        }
        int rc = again();
        ++accesses;
        // HV_VCPU_RETRY: the guest would re-execute the instruction; do so
        // (bounded: a write held forever is a broken device model).
        for (int i = 0; rc == HV_VCPU_RETRY; ++i) {
            ++holds;
            if (i == retry_limit || stop_) return -ETIMEDOUT;
            if (Clock::now() > deadline_) {
                timed_out = true;
                return -ETIMEDOUT;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
            rc = again();
        }
        if (rc == HV_VCPU_GUEST_FAULT) {
            char buf[256] = {};
            (void)hv_vcpu_fault_detail(dom_, 0, buf, sizeof buf);
            fault = buf;
            return -EFAULT;
        }
        if (rc < 0) return rc;
        if (rc == HV_VCPU_DONE) {
            core_latency.record(ns_since(t0));
            return 0;
        }
        // HV_VCPU_IOREQ_PENDING: a device model has the request; poll the
        // resume (it never blocks) until the answer is there.
        const auto server = core_->vcpu_pending_server(0);
        uint64_t unused = 0;
        const auto deadline = std::min(deadline_, Clock::now() + std::chrono::seconds(10));
        for (unsigned spins = 0;; ++spins) {
            rc = hv_vcpu_resume(dom_, 0, value != nullptr ? value : &unused);
            if (rc != HV_VCPU_IOREQ_PENDING) break;
            if (stop_) return -EINTR;
            if (Clock::now() > deadline) {
                timed_out = Clock::now() > deadline_;
                return -ETIMEDOUT;
            }
            if (spins < 1000)
                std::this_thread::yield();
            else
                std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
        if (rc != HV_VCPU_DONE) return rc < 0 ? rc : -EPROTO;
        if (server && server->raw() < max_ioreq_servers) {
            ++ioreqs[server->raw()];
            latency[server->raw()].record(ns_since(t0));
        }
        return 0;
    }

    static uint64_t ns_since(Clock::time_point t0) {
        return static_cast<uint64_t>(
            std::max<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count(), 0));
    }

    static constexpr int retry_limit = 100000;
    hv_domain* dom_;
    // The core domain behind dom_: which ioreq server a pending request went
    // to (per-server counts and latency), which the C ABI does not say.
    std::shared_ptr<Domain> core_;
    bool port_io_;  // the backend's ISA has port I/O; else the devices are reached by MMIO
    const std::atomic<bool>& stop_;
    Clock::time_point deadline_;
};

[[nodiscard]] std::string us(uint64_t ns) {
    if (ns < 1000) return fmt::format("{} ns", ns);
    return fmt::format("{:.1f} us", static_cast<double>(ns) / 1000.0);
}

}  // namespace

// ---------------------------------------------------------------------------

const Backend* find_backend(int arch) noexcept {
    for (const Backend& b : linked_backends())
        if (static_cast<int>(b.arch) == arch) return &b;
    return nullptr;
}

const Backend* find_backend(std::string_view cli_name) noexcept {
    for (const Backend& b : linked_backends())
        if (cli_name == b.cli_name) return &b;
    return nullptr;
}

const char* arch_name(int arch) {
    const Backend* b = find_backend(arch);
    return b != nullptr ? b->display_name : "unknown backend";
}

const char* arch_key(int arch) {
    const Backend* b = find_backend(arch);
    return b != nullptr ? b->key : "unknown";
}

const char* to_string(RunOutcome o) noexcept {
    switch (o) {
    case RunOutcome::pass: return "pass";
    case RunOutcome::failed: return "fail";
    case RunOutcome::timeout: return "timeout";
    case RunOutcome::stopped: return "stopped";
    case RunOutcome::setup: return "setup_error";
    }
    return "?";
}

std::vector<int> built_arches() {
    std::vector<int> v;
    for (const Backend& b : linked_backends()) v.push_back(static_cast<int>(b.arch));
    std::sort(v.begin(), v.end());
    return v;
}

// Where a bundled plug-in or guest is looked for, in order: the directories
// in the environment variable ENV (':'-separated), then relative to the
// directory of the running program (/proc/self/exe) - the installed layout
// (INSTALLED: bindir -> <libdir>/hvcore/dm or <datadir>/hvcore/guests,
// computed from GNUInstallDirs at configure time) and, when the program runs
// from a build tree (its parent directory holds CMakeCache.txt), that
// tree's examples/BUILD_SUB - there the installed layout is searched (and
// named in a message) only if it exists. No path of the machine that built
// it.
struct SearchPath {
    const char* env;
    std::vector<std::string> dirs;
    size_t from_env = 0;  // dirs[0, from_env) came from env

    // "A ($HVCORE_DM_PATH), B, C" or "B, C ($HVCORE_DM_PATH is not set)"
    [[nodiscard]] std::string text() const {
        std::string s;
        for (size_t i = 0; i < dirs.size(); ++i)
            s += fmt::format("{}{}{}", i ? ", " : "", dirs[i], i < from_env ? fmt::format(" (${})", env) : "");
        return from_env == 0 ? fmt::format("{} (${} is not set)", s, env) : s;
    }
};

static SearchPath search_path(const char* env, const char* installed, const char* build_sub) {
    SearchPath p{env, {}, 0};
    if (const char* e = std::getenv(env)) {
        std::string_view v(e);
        while (!v.empty()) {
            const size_t colon = std::min(v.find(':'), v.size());
            if (colon > 0) p.dirs.emplace_back(v.substr(0, colon));
            v.remove_prefix(std::min(colon + 1, v.size()));
        }
    }
    p.from_env = p.dirs.size();
    const std::filesystem::path exe = exe_dir();
    const bool build_tree = readable((exe.parent_path() / "CMakeCache.txt").string());
    const std::string inst = (exe / installed).lexically_normal().string();
    std::error_code ec;
    if (!build_tree || std::filesystem::is_directory(inst, ec)) p.dirs.push_back(inst);
    if (build_tree) p.dirs.push_back((exe.parent_path() / "examples" / build_sub).lexically_normal().string());
    return p;
}

std::string resolve_dm(const std::string& name, std::string* why) {
    // A path names a module: anything with a '/' or ending in ".so".
    if (name.find('/') != std::string::npos || name.ends_with(".so")) {
        if (readable(name)) return name;
        *why = fmt::format("device model module {} is not readable: {}", name, std::strerror(errno));
        return {};
    }
    const std::string file = "hvdm-" + name + ".so";
    const SearchPath path = search_path("HVCORE_DM_PATH", HVCORE_INSTALLED_DM_DIR, "dm");
    for (const auto& d : path.dirs)
        if (readable(d + "/" + file)) return d + "/" + file;
    *why = fmt::format("no device model '{}': {} is not in {}; bundled: uart, shadow; or give the path of a module",
                       name, file, path.text());
    return {};
}

std::string resolve_guest(const std::string& name, std::string* why) {
    const SearchPath path = search_path("HVCORE_GUEST_PATH", HVCORE_INSTALLED_GUEST_DIR, "guests");
    if (!bundled_guest(name)) {
        if (readable(name)) return name;
        const int e = errno;
        // A bare word that is no file: most likely a mistyped guest name.
        if (e == ENOENT && name.find('/') == std::string::npos)
            *why = fmt::format("no guest '{}': it is neither a bundled guest (console, pagetable; their images "
                               "are looked for in {}) nor a file in the current directory",
                               name, path.text());
        else
            *why = fmt::format("guest image {} is not readable: {} (bundled guests: console, pagetable)", name,
                               std::strerror(e));
        return {};
    }
    const std::string file = name + ".bin";
    for (const auto& d : path.dirs)
        if (readable(d + "/" + file)) return d + "/" + file;
    *why = fmt::format("the bundled guest {} was not found: {} is not in {}", name, file, path.text());
    return {};
}

std::unique_ptr<kvm::Device> open_kvm(std::string* why) {
    auto dev = kvm::Device::open();
    if (!dev.is_ok()) {
        *why = dev.error().what();
        return nullptr;
    }
    // Creating a VM is the other half of "usable" (a KVM can open and
    // still refuse it).
    if (kvm::Error e = dev.value()->probe_create_vm(); !e.is_ok()) {
        *why = e.what();
        return nullptr;
    }
    return std::move(dev).value();
}

int kvm_p2m_arch(FILE* note, std::string* why) {
    // The p2m lives in the table of the backend matching the host CPU; the
    // other x86 format serves (with a note) when that one is not built.
    const auto built = built_arches();
    const auto has = [&](int a) { return std::find(built.begin(), built.end(), a) != built.end(); };
    const bool amd = kvm::host_cpu_vendor() == kvm::CpuVendor::amd;
    const int want = amd ? HV_ARCH_X86_SVM : HV_ARCH_X86_VMX;
    const int other = amd ? HV_ARCH_X86_VMX : HV_ARCH_X86_SVM;
    if (has(want)) return want;
    if (has(other)) {
        static std::atomic<bool> noted{false};  // one line per process
        if (note != nullptr && !noted.exchange(true))
            fmt::print(note, "hvcore: {} host, but this build has no {} backend: the p2m is kept in {} format\n",
                       amd ? "AMD" : "Intel", amd ? "NPT" : "EPT", amd ? "EPT" : "NPT");
        return other;
    }
    *why = "this build links no x86 backend (x86_vmx or x86_svm) to hold the p2m of a KVM guest";
    return 0;
}

void request_stop() {
    std::lock_guard g(g_stop_mu);
    g_stop_requested = true;
    ++g_stop_count;
    if (g_stop) g_stop();
}

bool stop_requested() noexcept { return g_stop_requested; }

unsigned stop_count() noexcept { return g_stop_count; }

bool dm_stuck() noexcept { return g_dm_stuck; }

namespace {

// The end of a run whose device models could not start: stopped (Ctrl-C
// during their setup) or a setup error.
void dm_start_failed(RunResult& r, const DmHost& host, const Error& e) {
    r.outcome = host.stopped_before_ready() ? RunOutcome::stopped : RunOutcome::setup;
    if (r.outcome == RunOutcome::stopped) r.end = "stopped (stop requested before the guest started)";
    r.error = e.what();
}

// The same for the device-model processes (--dm-exec): they are stopped
// and reaped first, so the results say how each ended.
void dm_exec_failed(RunResult& r, DmExec& exec, const Error& e) {
    (void)exec.stop();
    r.processes = exec.processes();
    r.outcome = exec.stopped_before_ready() ? RunOutcome::stopped : RunOutcome::setup;
    if (r.outcome == RunOutcome::stopped) r.end = "stopped (stop requested before the guest started)";
    r.error = e.what();
}

}  // namespace

RunResult run_on_kvm(const kvm::Device& dev, const GuestSpec& guest, const std::vector<DmSpec>& dms,
                     const RunOptions& opt) {
    RunResult r;
    const uint64_t ram = opt.ram_bytes != 0 ? opt.ram_bytes : HVG_RAM_BYTES;
    GuestImage image;
    if (!read_guest_image(guest.path, ram, guest.load, GuestRead::contents, &image, &r.error)) return r;

    std::string why;
    const int arch = opt.arch ? *opt.arch : kvm_p2m_arch(opt.out, &why);
    if (arch == 0) {
        r.error = why;
        return r;
    }
    r.arch = arch;
    r.where = fmt::format("KVM, p2m in the {} table", arch_name(arch));
    r.kvm = true;

    DomainScope ds;
    if (Error e = ds.create(arch, ram, opt.multi_owner ? HV_DOMAIN_MULTI_OWNER : 0); !e.is_ok()) {
        r.error = e.what();
        return r;
    }
    if (Error e = ds.listen(opt); !e.is_ok()) {
        r.error = e.what();
        return r;
    }
    kvm::VmOptions vo;
    vo.log = [](const std::string& message) { print_log(nullptr, HV_LOG_WARNING, message.c_str()); };
    vo.max_memslots = opt.max_memslots;
    vo.irqchip = opt.irqchip;
    vo.shutdown_port = HVG_SHUTDOWN_PORT;
    vo.timeout = opt.timeout;
    auto vmo = kvm::Vm::create(dev, embed::domain_of(ds.dom), vo);
    if (!vmo.is_ok()) {
        r.error = vmo.error().what();
        return r;
    }
    std::unique_ptr<kvm::Vm> vm = std::move(vmo).value();
    // An ELF starts at e_entry unless the command line names an entry.
    const uint64_t entry = guest.entry_given || !image.entry ? guest.entry : *image.entry;
    const kvm::VcpuBoot boot{.mode = guest.real_mode ? kvm::CpuMode::real16 : kvm::CpuMode::long64,
                             .entry = entry,
                             .stack = guest.stack};
    for (const GuestSegment& s : image.segments) {
        if (kvm::Error e = vm->load(s.bytes, s.gpa); !e.is_ok()) {
            r.error = fmt::format("guest {}: {}", guest.path, e.what());
            return r;
        }
    }
    if (kvm::Error e = vm->boot(0, boot); !e.is_ok()) {
        r.error = e.what();
        return r;
    }

    // Device models stop (and close their handles, which may change the
    // p2m) before the VM goes: dms is declared after vm.
    auto host = std::make_unique<DmHost>(ds.host, hv_domain_id(ds.dom), opt);
    // A device model that does not return keeps the host, the VM and the
    // domain: left in place (the process ends after the results).
    Defer keep([&] {
        (void)host->stop();
        if (host->stuck()) {
            (void)host.release();
            (void)vm.release();
            ds.leak();
        }
    });
    if (Error e = host->load(dms); !e.is_ok()) {
        r.error = e.what();
        return r;
    }
    if (Error e = host->start(); !e.is_ok()) {
        dm_start_failed(r, *host, e);
        return r;
    }
    DmExec exec(ds.host, hv_domain_id(ds.dom), opt);  // stopped before the VM and the domain go
    if (Error e = exec.start(); !e.is_ok()) {
        dm_exec_failed(r, exec, e);
        return r;
    }
    kvm::Error run_error;
    const auto t0 = Clock::now();
    {
        StopScope stop([&vm] { vm->request_stop(); });
        if (stop_requested())
            vm->request_stop();  // a stop between start() and StopScope
        run_error = vm->run();
    }
    r.run_ms = ms_since(t0);
    r.end = fmt::format("{} ({})", kvm::to_string(vm->end()), vm->end_detail());
    const Error dm_error = host->stop();
    const Error exec_error = exec.stop();
    r.processes = exec.processes();

    kvm::RunStats st = vm->stats();
    r.exits = st.exits;
    r.mmio_exits = st.mmio_exits;
    r.io_exits = st.io_exits;
    r.holds = st.holds;
    r.core_accesses = st.core_latency.count();
    r.core_latency = st.core_latency;
    r.p2m_changes = st.p2m_changes;
    r.slot_ops = st.slot_ops;
    r.slot_ms = static_cast<double>(st.slot_ns) / 1e6;
    r.memslots_at_end = vm->slots().size();
    fill_servers(r, *host, host->servers(), st.ioreqs, st.latency);

    const bool clean = vm->end() == kvm::RunEnd::halted || vm->end() == kvm::RunEnd::shutdown_port ||
                       vm->end() == kvm::RunEnd::dm_shutdown;
    if (!run_error.is_ok())
        r.error = run_error.what();
    else if (!clean)
        r.error = fmt::format("the guest did not finish: {}", r.end);
    if (!dm_error.is_ok()) r.error += (r.error.empty() ? "" : "; ") + dm_error.what();
    if (!exec_error.is_ok()) r.error += (r.error.empty() ? "" : "; ") + exec_error.what();
    r.ok = r.error.empty();
    if (vm->end() == kvm::RunEnd::timeout)
        r.outcome = RunOutcome::timeout;
    else if (vm->end() == kvm::RunEnd::stopped)
        r.outcome = RunOutcome::stopped;
    else
        r.outcome = r.ok ? RunOutcome::pass : RunOutcome::failed;
    return r;
}

RunResult run_on_model(int arch, const GuestSpec& guest, const std::vector<DmSpec>& dms, const RunOptions& opt) {
    RunResult r;
    r.arch = arch;
    r.where = fmt::format("model vCPU, {}", arch_name(arch));
    if (!guest.bundled) {
        r.error = fmt::format("{} is not a bundled guest: the model vCPUs run only the bundled guests' access "
                              "traces (console, pagetable)", guest.name);
        return r;
    }
    DomainScope ds;
    if (Error e = ds.create(arch, opt.ram_bytes != 0 ? opt.ram_bytes : HVG_RAM_BYTES,
                            opt.multi_owner ? HV_DOMAIN_MULTI_OWNER : 0);
        !e.is_ok()) {
        r.error = e.what();
        return r;
    }
    if (Error e = ds.listen(opt); !e.is_ok()) {
        r.error = e.what();
        return r;
    }
    auto host = std::make_unique<DmHost>(ds.host, hv_domain_id(ds.dom), opt);
    Defer keep([&] {  // as in run_on_kvm
        (void)host->stop();
        if (host->stuck()) {
            (void)host.release();
            ds.leak();
        }
    });
    if (Error e = host->load(dms); !e.is_ok()) {
        r.error = e.what();
        return r;
    }
    if (Error e = host->start(); !e.is_ok()) {
        dm_start_failed(r, *host, e);
        return r;
    }
    DmExec exec(ds.host, hv_domain_id(ds.dom), opt);  // stopped before the domain goes
    if (Error e = exec.start(); !e.is_ok()) {
        dm_exec_failed(r, exec, e);
        return r;
    }
    std::atomic<bool> stop{false};
    const auto t0 = Clock::now();
    ModelCpu cpu(ds.dom, arch, stop, t0 + opt.timeout);
    std::string why;
    int rc = 0;
    {
        StopScope scope([&stop] { stop = true; });
        if (stop_requested()) stop = true;
        rc = stop ? -EINTR : run_trace(*guest.bundled, cpu, &why);
        if (rc == -EINTR && why.empty()) why = "stopped";
    }
    r.run_ms = ms_since(t0);
    // A device model's remote_shutdown (DMOP 16) ends the run cleanly, as on KVM.
    const std::optional<std::string> dm_shutdown = embed::domain_of(ds.dom)->shutdown_request();
    if (rc == 0)
        r.end = "halted (the trace is complete)";
    else if (dm_shutdown)
        r.end = fmt::format("{} ({})", kvm::to_string(kvm::RunEnd::dm_shutdown), *dm_shutdown);
    else if (stop)
        r.end = "stopped (stop requested)";
    else if (cpu.timed_out)
        r.end = fmt::format("timeout (after {} ms)", opt.timeout.count());
    else
        r.end = "failed";
    const Error dm_error = host->stop();
    const Error exec_error = exec.stop();
    r.processes = exec.processes();

    r.exits = cpu.accesses;
    r.holds = cpu.holds;
    r.core_accesses = cpu.core_latency.count();
    r.core_latency = cpu.core_latency;
    fill_servers(r, *host, host->servers(), cpu.ioreqs, cpu.latency);
    if (rc != 0 && !dm_shutdown) {
        r.error = fmt::format("{}: {} (errno {}){}", why, std::strerror(-rc), -rc,
                              cpu.fault.empty() ? "" : " - guest fault: " + cpu.fault);
        char reason[256] = {};
        if (hv_domain_stop_reason(ds.dom, reason, sizeof reason) == 1)
            r.error += fmt::format(" - domain stopped: {}", reason);
    }
    if (!dm_error.is_ok()) r.error += (r.error.empty() ? "" : "; ") + dm_error.what();
    if (!exec_error.is_ok()) r.error += (r.error.empty() ? "" : "; ") + exec_error.what();
    r.ok = r.error.empty();
    if (r.ok)
        r.outcome = RunOutcome::pass;
    else if (stop)
        r.outcome = RunOutcome::stopped;
    else if (cpu.timed_out)
        r.outcome = RunOutcome::timeout;
    else
        r.outcome = RunOutcome::failed;
    return r;
}

void print_result(FILE* out, const std::string& guest, const RunResult& r) {
    fmt::print(out, "-- {} on {}: {} in {:.1f} ms\n", guest, r.where, r.end.empty() ? "not run" : r.end, r.run_ms);
    if (r.kvm)
        fmt::print(out, "   KVM exits: {} ({} MMIO, {} port I/O)\n", r.exits, r.mmio_exits, r.io_exits);
    else
        fmt::print(out, "   model vCPU accesses: {}\n", r.exits);
    for (const ServerStats& s : r.servers) {
        if (s.label.empty())
            fmt::print(out, "   ioreq server {} [{}]: {} ioreqs", s.id, s.dm, s.ioreqs);
        else
            fmt::print(out, "   ioreq server {} [{}: {}]: {} ioreqs", s.id, s.dm, s.label, s.ioreqs);
        if (!s.latency.empty())
            fmt::print(out, ", round trip p50 {}, p99 {}, max {}", us(s.latency.percentile(50)),
                       us(s.latency.percentile(99)), us(s.latency.max()));
        fmt::print(out, "\n");
    }
    for (const DmProcess& p : r.processes) {
        std::string peers;
        for (int q : p.peers)
            if (q != p.pid) peers += fmt::format("{}{}", peers.empty() ? "" : ", ", q);
        fmt::print(out, "   device model process '{}': pid {}{}{}, {}\n", p.cmd, p.pid,
                   peers.empty() ? "" : " (connected from pid ", peers.empty() ? "" : peers + ")",
                   p.end.empty() ? "not reaped" : (p.died_running ? "died during the run: " : "") + p.end);
    }
    fmt::print(out, "   completed by the core alone: {} accesses", r.core_accesses);
    if (!r.core_latency.empty())
        fmt::print(out, ", p50 {}, p99 {}", us(r.core_latency.percentile(50)), us(r.core_latency.percentile(99)));
    fmt::print(out, "\n");
    if (r.kvm)
        fmt::print(out, "   p2m: {} changes -> {} memslot operations ({:.2f} ms, vCPUs paused); {} memslots at the end\n",
                   r.p2m_changes, r.slot_ops, r.slot_ms, r.memslots_at_end);
    if (r.holds != 0) fmt::print(out, "   accesses held for a retry: {}\n", r.holds);
    if (r.ok)
        fmt::print(out, "   PASS\n");
    else if (r.outcome == RunOutcome::stopped)
        fmt::print(out, "   STOPPED: {}\n", r.error);
    else
        fmt::print(out, "   FAILED: {}\n", r.error);
    std::fflush(out);
}

}  // namespace hvcore::tools
