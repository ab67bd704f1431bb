// SPDX-License-Identifier: MIT
// dm_proc (tests/ipc/dm_proc.c) in a process of its own, and its output:
// what the load tests (load_common.hpp) and the round-trip benchmark
// (bench/bench_roundtrip.cpp) share. No test framework here: the
// benchmark includes it too.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hvcore/hvdm.h"

namespace hvcore_load {

// One device-model process: its stdin (closing it ends the process) and stdout.
struct Dm {
    pid_t pid = -1;
    int in = -1;   // our end of its stdin
    int out = -1;  // our end of its stdout
    bool killed = false;
    std::string report;
};

// Starts `prog -s sock domid arch gpa gfn irq` (dm_proc's command line) with
// its stdin and stdout on pipes; pid -1 if it could not be started.
inline Dm start_dm_proc(const char* prog, const std::string& sock, hvdm_domid_t domid, const std::string& arch,
                        uint64_t gpa, uint64_t gfn, unsigned irq) {
    Dm d;
    int pin[2], pout[2];
    if (pipe2(pin, O_CLOEXEC) != 0) return d;
    if (pipe2(pout, O_CLOEXEC) != 0) {
        close(pin[0]);
        close(pin[1]);
        return d;
    }
    std::vector<std::string> args = {prog, "-s", sock, std::to_string(domid), arch, std::to_string(gpa),
                                     std::to_string(gfn), std::to_string(irq)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    if (pid < 0) {
        close(pin[1]);
        close(pout[0]);
        return d;
    }
    d.pid = pid;
    d.in = pin[1];
    d.out = pout[0];
    return d;
}

// One line (without its newline); what came if nothing more does for 10 s.
inline std::string read_line(int fd) {
    std::string s;
    char c = 0;
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 10000) == 1 && read(fd, &c, 1) == 1 && c != '\n') s += c;
    return s;
}
// Everything up to the end of the output (or a 10 s silence).
inline std::string read_all(int fd) {
    std::string s;
    char buf[512];
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        if (poll(&p, 1, 10000) != 1) break;
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        s.append(buf, static_cast<size_t>(n));
    }
    return s;
}

}  // namespace hvcore_load
