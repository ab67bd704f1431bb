// SPDX-License-Identifier: MIT
// A device-model program in a child process of the test: its stdin (closing
// it ends the serving) and stdout on pipes, its stderr inherited, on a pipe
// or on a file the test gives; read a line of its stdout within a bound,
// finish it (close its stdin, read the rest of its stdout, reap it). Killed
// and reaped if the test ends before finish(). What test_kvm_irq.cpp,
// test_kvm_xen.cpp (tests/kvm) and test_xen_dm.cpp (tests/xen) share. No
// test framework here: errors are returned, the tests check them.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace hvcore_test {

using DmClock = std::chrono::steady_clock;
// No deadline: only the bound on each wait.
inline constexpr DmClock::time_point dm_no_deadline = DmClock::time_point::max();

// This process's environment without the variables whose "NAME=" is in
// drop, then set.
inline std::vector<std::string> environ_with(const std::vector<std::string>& set,
                                             std::initializer_list<const char*> drop) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string s = *e;
        if (std::none_of(drop.begin(), drop.end(), [&s](const char* d) { return s.rfind(d, 0) == 0; }))
            env.push_back(s);
    }
    env.insert(env.end(), set.begin(), set.end());
    return env;
}

class DmChild {
public:
    static constexpr int stderr_inherit = -1;  // start(): its stderr is ours
    static constexpr int stderr_pipe = -2;     // start(): on a pipe, read with err()

    DmChild() = default;
    ~DmChild() {
        if (in_ >= 0) close(in_);
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            (void)waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) close(out_);
        if (err_ >= 0) close(err_);
    }
    DmChild(const DmChild&) = delete;
    DmChild& operator=(const DmChild&) = delete;

    // Starts args[0] with args, its stdin and stdout on pipes; its stderr
    // stderr_inherit, stderr_pipe or a descriptor of the caller's (not
    // taken); its environment *env, or ours if env is null. Returns what
    // failed ("pipe2: ..."), empty if it started.
    [[nodiscard]] std::string start(const std::vector<std::string>& args, const std::vector<std::string>* env = nullptr,
                                    int stderr_to = stderr_inherit) {
        int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
        const int npipes = stderr_to == stderr_pipe ? 3 : 2;
        for (int i = 0; i < npipes; ++i) {
            if (pipe2(p[i], O_CLOEXEC) != 0) {
                const std::string what = "pipe2: " + std::string(std::strerror(errno));
                for (int j = 0; j < i; ++j) {
                    close(p[j][0]);
                    close(p[j][1]);
                }
                return what;
            }
        }
        std::vector<std::string> a = args, e = env != nullptr ? *env : std::vector<std::string>{};
        std::vector<char*> argv, envp;
        for (auto& s : a) argv.push_back(s.data());
        argv.push_back(nullptr);
        for (auto& s : e) envp.push_back(s.data());
        envp.push_back(nullptr);
        const int err_fd = stderr_to == stderr_pipe ? p[2][1] : stderr_to;
        const pid_t pid = fork();  // the child calls async-signal-safe functions only
        if (pid == 0) {
            dup2(p[0][0], 0);
            dup2(p[1][1], 1);
            if (err_fd >= 0) dup2(err_fd, 2);
            if (env != nullptr)
                execve(argv[0], argv.data(), envp.data());
            else
                execv(argv[0], argv.data());
            _exit(127);
        }
        const int fork_errno = errno;
        close(p[0][0]);
        close(p[1][1]);
        if (npipes == 3) close(p[2][1]);
        if (pid < 0) {
            close(p[0][1]);
            close(p[1][0]);
            if (npipes == 3) close(p[2][0]);
            return "fork: " + std::string(std::strerror(fork_errno));
        }
        pid_ = pid;
        in_ = p[0][1];
        out_ = p[1][0];
        err_ = npipes == 3 ? p[2][0] : -1;
        return {};
    }

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    // One line of its stdout, without the newline, waiting byte_bound at
    // most for each byte and ending by deadline; what came if the line did
    // not end in time (or the output did).
    std::string line(std::chrono::milliseconds byte_bound, DmClock::time_point deadline = dm_no_deadline) {
        std::string s;
        for (;;) {
            const int wait = wait_ms(byte_bound, deadline);
            pollfd p{out_, POLLIN, 0};
            char c = 0;
            if (wait <= 0 || poll(&p, 1, wait) != 1 || read(out_, &c, 1) != 1 || c == '\n') return s;
            s += c;
        }
    }

    // What it wrote on its stderr pipe so far (stderr_pipe; without waiting).
    std::string err() {
        std::string s;
        if (err_ < 0) return s;
        char buf[512];
        pollfd p{err_, POLLIN, 0};
        while (poll(&p, 1, 0) == 1) {
            const ssize_t n = read(err_, buf, sizeof buf);
            if (n <= 0) break;
            s.append(buf, static_cast<size_t>(n));
        }
        return s;
    }

    // Ends its serving (its stdin hangs up), appends the rest of its stdout
    // to *rest until it closes (byte_bound on each wait, ending by
    // deadline), and reaps it into *status (by deadline, if there is one).
    // False if it could not be reaped in time: then it is killed.
    [[nodiscard]] bool finish(std::string* rest, int* status, std::chrono::milliseconds byte_bound,
                              DmClock::time_point deadline = dm_no_deadline) {
        close(in_);
        in_ = -1;
        char buf[512];
        for (;;) {
            const int wait = wait_ms(byte_bound, deadline);
            pollfd p{out_, POLLIN, 0};
            if (wait <= 0 || poll(&p, 1, wait) != 1) break;
            const ssize_t n = read(out_, buf, sizeof buf);
            if (n <= 0) break;
            rest->append(buf, static_cast<size_t>(n));
        }
        *status = 0;
        for (;;) {  // its stdout closed: it is exiting
            const pid_t r = waitpid(pid_, status, deadline == dm_no_deadline ? 0 : WNOHANG);
            if (r == pid_) break;
            if (r != 0 || DmClock::now() > deadline) {
                kill(pid_, SIGKILL);
                (void)waitpid(pid_, status, 0);
                pid_ = -1;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        pid_ = -1;
        return true;
    }

private:
    static int wait_ms(std::chrono::milliseconds byte_bound, DmClock::time_point deadline) {
        if (deadline == dm_no_deadline) return static_cast<int>(byte_bound.count());
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - DmClock::now());
        return static_cast<int>(std::min(left, byte_bound).count());
    }

    pid_t pid_ = -1;
    int in_ = -1;   // our end of its stdin
    int out_ = -1;  // our end of its stdout
    int err_ = -1;  // our end of its stderr (stderr_pipe)
};

}  // namespace hvcore_test
