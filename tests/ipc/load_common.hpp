// SPDX-License-Identifier: MIT
// What the load tests (tests/ipc/test_load.cpp on the model vCPUs,
// tests/kvm/test_kvm_load.cpp on KVM) share: starting dm_proc
// (dm_proc_run.hpp), ending it, and the checks of its report (dm_seq.h).
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "dm_proc_run.hpp"

namespace hvcore_load {

// How long a run lasts: $HVCORE_LOAD_MS, else 1000 ms (300 under ASan).
inline int load_ms() {
    if (const char* e = std::getenv("HVCORE_LOAD_MS"); e != nullptr && *e != '\0') return std::atoi(e);
#if defined(__SANITIZE_ADDRESS__)
    return 300;
#else
    return 1000;
#endif
}

inline Dm spawn_dm_proc(const char* prog, const std::string& sock, hvdm_domid_t domid, const std::string& arch,
                        uint64_t gpa, uint64_t gfn, unsigned irq) {
    Dm d = start_dm_proc(prog, sock, domid, arch, gpa, gfn, irq);
    REQUIRE(d.pid > 0);
    return d;
}

// Ends the device models: a live one, its stdin closed, reports (its
// report) and exits 0; a killed one died of SIGKILL.
inline void end_all(std::span<Dm> dms) {
    for (auto& dm : dms) {
        close(dm.in);
        if (!dm.killed) dm.report = read_all(dm.out);
        close(dm.out);
        int status = 0;
        REQUIRE(waitpid(dm.pid, &status, 0) == dm.pid);
        if (dm.killed) {
            CHECK(WIFSIGNALED(status));
            CHECK(WTERMSIG(status) == SIGKILL);
        } else {
            INFO(dm.report);
            CHECK(WIFEXITED(status));
            CHECK(WEXITSTATUS(status) == 0);
        }
    }
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

struct Totals {
    uint64_t sent = 0, received = 0, lost = 0, dup = 0, mem_bad = 0, dropped = 0;
};

// A live device model's report on vCPU v, whose guest wrote 1 ... sent:
// every number arrived once and in order (received and last are sent, none
// lost or duplicated), its view of guest RAM showed each, and the guest's
// one read of the count. Added to t.
inline void check_vcpu_report(const Dm& dm, unsigned v, uint64_t sent, Totals& t) {
    INFO(dm.report);
    const auto n = numbers(dm.report, "vcpu " + std::to_string(v) + " ");
    REQUIRE(n.size() == 6);  // received last lost dup mem_bad reads
    CHECK(n[0] == sent);
    CHECK(n[1] == sent);
    CHECK(n[2] == 0);
    CHECK(n[3] == 0);
    CHECK(n[4] == 0);
    CHECK(n[5] == 1);
    t.sent += sent;
    t.received += n[0];
    t.lost += n[2];
    t.dup += n[3];
    t.mem_bad += n[4];
}

// The live device models' totals: ioreqs were sent, and every one arrived
// once and in order, with the RAM it wrote.
inline void check_exact(const Totals& t) {
    CHECK(t.sent > 0);
    CHECK(t.received == t.sent);
    CHECK(t.lost == 0);
    CHECK(t.dup == 0);
    CHECK(t.mem_bad == 0);
}

}  // namespace hvcore_load
