// SPDX-License-Identifier: MIT
// `hvcore run --dm-exec 'CMD ARGS'`: device models started as child
// processes, each on a socket of its own (hv_dm_listen) in a private
// directory; the guest starts once each has sent READY. See dm_exec.cpp.
#pragma once

#include <memory>
#include <vector>

#include "hvcore/core/error.hpp"
#include "hvcore/hv.h"
#include "runner.hpp"

namespace hvcore::tools {

class DmExec {
public:
    DmExec(hv_host* host, hvdm_domid_t domid, const RunOptions& opt);
    ~DmExec();  // stop()
    DmExec(const DmExec&) = delete;
    DmExec& operator=(const DmExec&) = delete;

    [[nodiscard]] bool empty() const noexcept;
    // Listens, starts every command, and waits until each is READY:
    // -ETIMEDOUT (the ready timeout), -ECANCELED (one exited first), -EINTR
    // (a stop was requested meanwhile), or the error of a step.
    [[nodiscard]] Error start();
    // stdin closed, SIGTERM after the grace, SIGKILL after twice it; every
    // process reaped and its end logged; the listeners closed. Error: which
    // device model did not end well.
    [[nodiscard]] Error stop();
    [[nodiscard]] bool stopped_before_ready() const noexcept;
    // Each process, its pid, who connected, how it ended (the results).
    [[nodiscard]] std::vector<DmProcess> processes();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hvcore::tools
