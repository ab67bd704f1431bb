// SPDX-License-Identifier: MIT
#include "dm_exec.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>  // P_tmpdir
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>

#include "hvcore/core/ioreq_server.hpp"
#include "run_support.hpp"

namespace hvcore::tools {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

// ---------------------------------------------------------------------------
// Device models as child processes (--dm-exec 'CMD ARGS'): each started by
// /bin/sh -c in a process group of its own, on a socket of its own in a
// private directory, with HVCORE_DM_SOCKET, HVCORE_DM_DOMID,
// HVCORE_DM_NAME (the command) and HVCORE (this program) in its environment and a pipe as its standard input. The
// guest starts once each has sent READY (hvdm_ready) on one of its
// connections. At the end the pipe is closed (the stop), then SIGTERM to
// its process group after --dm-grace, SIGKILL after twice that; every exit
// is reaped and logged. One that dies during the run is logged at once; its
// connections' hang-up destroys its servers (hv_dm_listen) and the guest
// goes on.

namespace {

// "exited with status S" / "killed by signal N" (waitpid's status).
[[nodiscard]] std::string how_it_ended(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return fmt::format("killed by signal {} ({}){}", WTERMSIG(status), strsignal(WTERMSIG(status)),
                           WCOREDUMP(status) ? ", core dumped" : "");
    return fmt::format("ended with wait status {:#x}", status);
}

}  // namespace

class DmExec::Impl {
public:
    Impl(hv_host* host, hvdm_domid_t domid, const RunOptions& opt) : host_(host), domid_(domid), opt_(opt) {}
    ~Impl() { (void)stop(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    [[nodiscard]] bool empty() const noexcept { return opt_.dm_exec.empty(); }

    // Listens, starts every command, and waits until each is READY:
    // -ETIMEDOUT (the ready timeout), -ECANCELED (one exited first), -EINTR
    // (a stop was requested meanwhile), or the error of a step.
    [[nodiscard]] Error start() {
        if (opt_.dm_exec.empty()) return {};
        // A private directory (0700: mkdtemp) for the sockets.
        // $XDG_RUNTIME_DIR, else $TMPDIR, else the C library's P_tmpdir
        // (also where a path too long for a socket address falls back to).
        const auto usable = [](const char* d) { return d != nullptr && *d == '/'; };
        const char* base = std::getenv("XDG_RUNTIME_DIR");
        if (!usable(base)) base = std::getenv("TMPDIR");
        if (!usable(base)) base = P_tmpdir;
        std::string tmpl = fmt::format("{}/hvcore-dm-XXXXXX", base);
        if (tmpl.size() + 16 >= sizeof(sockaddr_un{}.sun_path)) tmpl = fmt::format("{}/hvcore-dm-XXXXXX", P_tmpdir);
        if (mkdtemp(tmpl.data()) == nullptr)
            return Error(-errno, fmt::format("--dm-exec: mkdtemp({}): {}", tmpl, std::strerror(errno)));
        dir_ = tmpl;
        // One after the other, each once the previous one is ready: their
        // servers get ids in command-line order, run after run, and the
        // servers that appear while one sets up are its own.
        for (size_t i = 0; i < opt_.dm_exec.size(); ++i) {
            auto p = std::make_unique<Proc>();
            p->self = this;
            p->cmd = opt_.dm_exec[i];
            p->sock = fmt::format("{}/dm{}.sock", dir_, i + 1);
            // Its own children run as hvcore's uid; --dm-uid adds the uids
            // a command may switch to (setpriv, su).
            if (uids_.empty()) {
                uids_.push_back(static_cast<uint32_t>(getuid()));
                for (uint32_t u : opt_.dm_uids)
                    if (std::find(uids_.begin(), uids_.end(), u) == uids_.end()) uids_.push_back(u);
            }
            hv_dm_listen_config cfg{};
            cfg.size = sizeof cfg;
            cfg.nr_uids = static_cast<uint32_t>(uids_.size());
            cfg.uids = uids_.data();
            cfg.event = &on_event;
            cfg.opaque = p.get();
            if (int rc = hv_dm_listen(host_, p->sock.c_str(), &cfg, &p->listener); rc != 0) {
                p->listener = nullptr;
                return Error(rc, fmt::format("--dm-exec '{}': listening on {}: {}", p->cmd, p->sock,
                                             std::strerror(-rc)));
            }
            const std::vector<hvdm_ioservid_t> before = server_ids();
            procs_.push_back(std::move(p));
            Proc& q = *procs_.back();
            if (Error e = spawn(q); !e.is_ok()) return e;
            if (Error e = wait_ready(q); !e.is_ok()) return e;
            for (hvdm_ioservid_t id : server_ids())
                if (std::find(before.begin(), before.end(), id) == before.end()) q.servers.push_back(id);
        }
        // From now on a death is news: logged by the monitor as it happens.
        monitor_ = std::thread([this] { monitor(); });
        return {};
    }

    // The stop: stdin closed, SIGTERM after the grace, SIGKILL after twice
    // it (at once if a signal arrives meanwhile); every process reaped and
    // its end logged; then the listeners closed and the directory removed.
    // Error: which device model did not end well (not 0, or killed by
    // us/during the run).
    [[nodiscard]] Error stop() {
        if (stopped_) return result_;
        stopped_ = true;
        {
            std::lock_guard g(mu_);
            monitor_stop_ = true;
        }
        cv_.notify_all();
        if (monitor_.joinable()) monitor_.join();
        {
            // A process whose connections broke during the run (killed:
            // its descriptors close before it can be reaped) ended before
            // the stop: reaped as such, given a moment to become reapable
            // (up to 2 s: on a loaded machine a killed process that mapped
            // guest memory took over 500 ms to become a zombie, and was
            // then logged as ending at the stop).
            std::unique_lock g(mu_);
            const auto until = Clock::now() + std::chrono::milliseconds(2000);
            for (;;) {
                reap_locked(false);
                const bool dying = std::any_of(procs_.begin(), procs_.end(), [](const auto& p) {
                    return p->pid > 0 && !p->exited && p->broke;
                });
                if (!dying || Clock::now() >= until) break;
                cv_.wait_for(g, std::chrono::milliseconds(5));
            }
            stopping_ = true;
        }
        for (auto& p : procs_)
            if (p->stdin_w >= 0) {
                close(p->stdin_w);
                p->stdin_w = -1;
            }
        const auto t0 = Clock::now();
        const unsigned stops = stop_count();
        bool termed = false, killed = false;
        std::unique_lock g(mu_);
        for (;;) {
            reap_locked(true);
            const bool all = std::all_of(procs_.begin(), procs_.end(), [](const auto& p) { return p->pid <= 0 || p->exited; });
            if (all) break;
            const auto waited = Clock::now() - t0;
            const bool signal = stop_count() != stops;  // a signal cuts the grace short
            if (!termed && (waited >= opt_.dm_grace || signal)) {
                termed = true;
                for (auto& p : procs_)
                    if (p->pid > 0 && !p->exited) {
                        log(HV_LOG_WARNING, fmt::format("device model '{}' pid {} did not end within {} ms of the "
                                                        "stop: SIGTERM",
                                                        p->cmd, p->pid, opt_.dm_grace.count()));
                        p->termed = true;
                        (void)kill(-p->pid, SIGTERM);
                    }
            }
            if (!killed && (waited >= 2 * opt_.dm_grace || (signal && termed && waited >= opt_.dm_grace / 10))) {
                killed = true;
                for (auto& p : procs_)
                    if (p->pid > 0 && !p->exited) {
                        log(HV_LOG_WARNING, fmt::format("device model '{}' pid {} did not end after SIGTERM: SIGKILL",
                                                        p->cmd, p->pid));
                        p->killed = true;
                        (void)kill(-p->pid, SIGKILL);
                    }
            }
            if (killed && waited >= 2 * opt_.dm_grace + std::chrono::seconds(5)) break;  // never unbounded
            cv_.wait_for(g, std::chrono::milliseconds(10));
        }
        // What is left of each process group (a shell's children) went as
        // its leader was reaped (reap_locked).
        std::string why;
        for (auto& p : procs_) {
            if (p->pid <= 0) continue;
            if (!p->exited) {
                why += fmt::format("{}device model '{}' pid {} could not be reaped", why.empty() ? "" : "; ", p->cmd,
                                   p->pid);
                continue;
            }
            const bool clean = WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0 && !p->died_running;
            if (!clean)
                why += fmt::format("{}device model '{}' pid {} {}{}", why.empty() ? "" : "; ", p->cmd, p->pid,
                                   p->died_running ? "died during the run: " : "", how_it_ended(p->status));
        }
        g.unlock();
        for (auto& p : procs_)
            if (p->listener != nullptr) {
                hv_dm_listener_close(p->listener);
                p->listener = nullptr;
            }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
        if (!why.empty()) result_ = Error(-EIO, std::move(why));
        return result_;
    }

    [[nodiscard]] bool stopped_before_ready() const noexcept { return stopped_before_ready_; }

    // For the results: each process, its pid, who connected, how it ended.
    [[nodiscard]] std::vector<DmProcess> processes() {
        std::lock_guard g(mu_);
        std::vector<DmProcess> v;
        for (auto& p : procs_) {
            DmProcess d;
            d.cmd = p->cmd;
            d.pid = p->pid;
            d.peers = p->peers;
            d.ready = p->ready;
            d.servers = p->servers;
            if (p->exited) {
                d.end = how_it_ended(p->status);
                if (WIFEXITED(p->status)) d.exit_status = WEXITSTATUS(p->status);
                d.died_running = p->died_running;
            }
            v.push_back(std::move(d));
        }
        return v;
    }

private:
    struct Proc {
        Impl* self = nullptr;
        std::string cmd;
        std::string sock;
        hv_dm_listener* listener = nullptr;
        pid_t pid = -1;
        int stdin_w = -1;
        bool ready = false;
        bool exited = false;
        bool died_running = false;  // before the stop
        bool termed = false, killed = false;
        int status = 0;
        std::vector<int> peers;  // pids that connected (SO_PEERCRED)
        std::vector<hvdm_ioservid_t> servers;  // created while it set up
        bool broke = false;  // a connection of its was lost during the run
    };

    static void log(int level, const std::string& s) { print_log(nullptr, level, s.c_str()); }

    // Until p is READY: -ECANCELED it exited first, -EINTR a stop was
    // requested, -ETIMEDOUT the ready timeout passed.
    [[nodiscard]] Error wait_ready(Proc& p) {
        std::unique_lock g(mu_);
        const auto deadline = Clock::now() + opt_.dm_ready_timeout;
        for (;;) {
            reap_locked(false);
            if (p.ready) return {};
            if (p.exited)
                return Error(-ECANCELED, fmt::format("device model '{}' (pid {}) {} before it was ready", p.cmd, p.pid,
                                                     how_it_ended(p.status)));
            if (stop_requested()) {
                stopped_before_ready_ = true;
                return Error(-EINTR, fmt::format("stopped while device model '{}' was setting up", p.cmd));
            }
            if (Clock::now() >= deadline)
                return Error(-ETIMEDOUT, fmt::format("device model '{}' (pid {}) did not send READY within {} ms "
                                                     "(--dm-ready-timeout)",
                                                     p.cmd, p.pid, opt_.dm_ready_timeout.count()));
            cv_.wait_for(g, std::chrono::milliseconds(20));
        }
    }

    // The ids of the domain's servers: another emulator's server is
    // -EPERM to a handle of our own, a free id -ENOENT (Xen's
    // get_ioreq_server_info order).
    [[nodiscard]] std::vector<hvdm_ioservid_t> server_ids() const {
        std::vector<hvdm_ioservid_t> v;
        hvdm_handle* h = hvdm_open(host_);
        if (h == nullptr) return v;
        for (unsigned id = 0; id < max_ioreq_servers; ++id)
            if (hvdm_get_ioreq_server_info(h, domid_, static_cast<hvdm_ioservid_t>(id), nullptr, nullptr, nullptr) ==
                -EPERM)
                v.push_back(static_cast<hvdm_ioservid_t>(id));
        (void)hvdm_close(h);
        return v;
    }

    static void on_event(void* opaque, const hv_dm_event* ev) {
        auto* p = static_cast<Proc*>(opaque);
        std::lock_guard g(p->self->mu_);
        if (ev->kind == HV_DM_EVENT_CONNECTED &&
            std::find(p->peers.begin(), p->peers.end(), ev->pid) == p->peers.end())
            p->peers.push_back(ev->pid);
        if (ev->kind == HV_DM_EVENT_READY) p->ready = true;
        // A connection lost (not a goodbye) before the stop: it died or hung up.
        if (ev->kind == HV_DM_EVENT_GONE && !p->self->stopping_ && ev->reason != nullptr &&
            std::strcmp(ev->reason, "said goodbye") != 0)
            p->broke = true;
        p->self->cv_.notify_all();
    }

    [[nodiscard]] Error spawn(Proc& p) {
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) != 0)
            return Error(-errno, fmt::format("--dm-exec '{}': pipe: {}", p.cmd, std::strerror(errno)));
        // The environment: hvcore's, with the device model's own variables.
        std::vector<std::string> env;
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string_view v(*e);
            if (v.starts_with("HVCORE_DM_SOCKET=") || v.starts_with("HVCORE_DM_DOMID=") ||
                v.starts_with("HVCORE_DM_NAME=") || v.starts_with("HVCORE="))
                continue;
            env.emplace_back(v);
        }
        // This program, for `exec "$HVCORE" dm NAME` (the demo's commands).
        env.push_back("HVCORE=" + self_exe());
        env.push_back("HVCORE_DM_SOCKET=" + p.sock);
        env.push_back(fmt::format("HVCORE_DM_DOMID={}", domid_));
        env.push_back("HVCORE_DM_NAME=" + p.cmd);
        std::vector<char*> envp;
        for (auto& s : env) envp.push_back(s.data());
        envp.push_back(nullptr);
        std::string sh = "sh", dash_c = "-c", cmd = p.cmd;
        char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        // Every step's result counts: a child without its stdin pipe would
        // never see the stop (its stdin ending).
        int setup = posix_spawn_file_actions_init(&fa);
        if (setup != 0) {
            close(pipefd[0]);
            close(pipefd[1]);
            return Error(-setup, fmt::format("--dm-exec '{}': posix_spawn_file_actions_init: {}", p.cmd,
                                             std::strerror(setup)));
        }
        setup = posix_spawnattr_init(&at);
        if (setup != 0) {
            posix_spawn_file_actions_destroy(&fa);
            close(pipefd[0]);
            close(pipefd[1]);
            return Error(-setup, fmt::format("--dm-exec '{}': posix_spawnattr_init: {}", p.cmd, std::strerror(setup)));
        }
        const auto step = [&setup](int r) {
            if (setup == 0) setup = r;
        };
        step(posix_spawn_file_actions_adddup2(&fa, pipefd[0], STDIN_FILENO));
        // --json: stdout holds the document alone; the device model's lines go to stderr.
        if (opt_.out == stderr) step(posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO));
        // Its own process group: a terminal's Ctrl-C reaches hvcore alone,
        // which stops it in order; signals as hvcore's before it blocked them.
        sigset_t none, deflt;
        sigemptyset(&none);
        sigemptyset(&deflt);
        for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGQUIT}) sigaddset(&deflt, s);
        step(posix_spawnattr_setsigmask(&at, &none));
        step(posix_spawnattr_setsigdefault(&at, &deflt));
        step(posix_spawnattr_setpgroup(&at, 0));
        step(posix_spawnattr_setflags(&at, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                              POSIX_SPAWN_SETSIGDEF)));
        pid_t pid = -1;
        const int rc = setup != 0 ? setup : posix_spawn(&pid, "/bin/sh", &fa, &at, argv, envp.data());
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(pipefd[0]);
        if (rc != 0) {
            close(pipefd[1]);
            return Error(-rc, fmt::format("--dm-exec '{}': posix_spawn /bin/sh: {}", p.cmd, std::strerror(rc)));
        }
        std::lock_guard g(mu_);
        p.pid = pid;
        p.stdin_w = pipefd[1];
        log(HV_LOG_INFO, fmt::format("device model '{}' started: pid {} (HVCORE_DM_SOCKET={}, HVCORE_DM_DOMID={})",
                                     p.cmd, pid, p.sock, domid_));
        return {};
    }

    // waitpid without blocking on each process still there; logs each end.
    // stopping: the end is the expected one (after the stop), else a death.
    void reap_locked(bool stopping) {
        for (auto& p : procs_) {
            if (p->pid <= 0 || p->exited) continue;
            // Ended? Asked without reaping (WNOWAIT): while it is a zombie
            // its pid, which is also its process group's id, cannot be
            // reused, so what is left of its group (a shell's children) is
            // killed first, never a stranger that got the pid later.
            siginfo_t si{};
            if (waitid(P_PID, static_cast<id_t>(p->pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != p->pid)
                continue;
            (void)kill(-p->pid, SIGKILL);
            int st = 0;
            if (waitpid(p->pid, &st, 0) != p->pid) continue;
            p->exited = true;
            p->status = st;
            if (stopping) {
                const bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
                log(clean ? HV_LOG_INFO : HV_LOG_WARNING,
                    fmt::format("device model '{}' pid {} {}", p->cmd, p->pid, how_it_ended(st)));
            } else if (p->ready) {
                p->died_running = true;
                log(HV_LOG_WARNING, fmt::format("device model '{}' pid {} {} during the run: its servers are "
                                                "destroyed (their accesses complete as without a device model: "
                                                "reads all ones), the guest goes on",
                                                p->cmd, p->pid, how_it_ended(st)));
            } else {
                log(HV_LOG_WARNING, fmt::format("device model '{}' pid {} {} before it was ready", p->cmd, p->pid,
                                                how_it_ended(st)));
            }
        }
    }

    void monitor() {
        std::unique_lock g(mu_);
        while (!monitor_stop_) {
            reap_locked(false);
            cv_.wait_for(g, std::chrono::milliseconds(20));
        }
    }

    hv_host* host_;
    hvdm_domid_t domid_;
    const RunOptions& opt_;
    std::vector<uint32_t> uids_;  // allowed on the sockets: hvcore's, then --dm-uid's
    std::string dir_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Proc>> procs_;
    std::thread monitor_;
    bool monitor_stop_ = false;
    bool stopping_ = false;  // stop() began: connections going now are expected
    bool stopped_ = false;
    bool stopped_before_ready_ = false;
    Error result_;
};

DmExec::DmExec(hv_host* host, hvdm_domid_t domid, const RunOptions& opt)
    : impl_(std::make_unique<Impl>(host, domid, opt)) {}
DmExec::~DmExec() = default;
bool DmExec::empty() const noexcept { return impl_->empty(); }
Error DmExec::start() { return impl_->start(); }
Error DmExec::stop() { return impl_->stop(); }
bool DmExec::stopped_before_ready() const noexcept { return impl_->stopped_before_ready(); }
std::vector<DmProcess> DmExec::processes() { return impl_->processes(); }

}  // namespace hvcore::tools
