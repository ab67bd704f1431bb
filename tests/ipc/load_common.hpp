// SPDX-License-Identifier: MIT
// What the load tests (tests/ipc/test_load.cpp on the model vCPUs,
// tests/kvm/test_kvm_load.cpp on KVM) share: starting dm_proc, reading
// its output, parsing its report (dm_seq.h).
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <sstream>
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

inline Dm spawn_dm_proc(const char* prog, const std::string& sock, hvdm_domid_t domid, const std::string& arch,
                        uint64_t gpa, uint64_t gfn, unsigned irq) {
    int pin[2], pout[2];
    REQUIRE(pipe2(pin, O_CLOEXEC) == 0);
    REQUIRE(pipe2(pout, O_CLOEXEC) == 0);
    std::vector<std::string> args = {prog, "-s", sock, std::to_string(domid), arch, std::to_string(gpa),
                                     std::to_string(gfn), std::to_string(irq)};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    Dm d;
    d.pid = pid;
    d.in = pin[1];
    d.out = pout[0];
    return d;
}

inline std::string read_line(int fd) {
    std::string s;
    char c = 0;
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 10000) == 1 && read(fd, &c, 1) == 1 && c != '\n') s += c;
    return s;
}
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

// The numbers of a report line starting with prefix ("vcpu 3 " or "total ").
inline std::vector<uint64_t> numbers(const std::string& report, const std::string& prefix) {
    std::istringstream in(report);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) != 0) continue;
        std::istringstream ls(line.substr(prefix.size()));
        std::vector<uint64_t> v;
        std::string word;
        while (ls >> word)
            if (word[0] >= '0' && word[0] <= '9') v.push_back(std::strtoull(word.c_str(), nullptr, 10));
        return v;
    }
    return {};
}

}  // namespace hvcore_load
