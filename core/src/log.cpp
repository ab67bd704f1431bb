// SPDX-License-Identifier: MIT
// The host's log and its per-thread deferral (log.hpp).
#include "hvcore/core/log.hpp"

#include <vector>

namespace hvcore {
namespace {

struct Pending {
    std::shared_ptr<Log> log;
    LogLevel level;
    std::string message;
};

thread_local int t_depth = 0;
thread_local std::vector<Pending> t_pending;

}  // namespace

void Log::write(LogLevel level, std::string message) noexcept {
    for (char& c : message)
        if (c == '\n' || c == '\r') c = ' ';
    if (t_depth == 0) {
        deliver(level, message);
        return;
    }
    try {
        t_pending.push_back(Pending{shared_from_this(), level, std::move(message)});
    } catch (...) {
    }
}

void Log::deliver(LogLevel level, const std::string& message) noexcept {
    std::lock_guard g(mu_);
    if (!sink_ || level > max_) return;
    try {
        // A copy: the sink may replace itself (set) while it runs.
        const Sink sink = sink_;
        sink(level, message);
    } catch (...) {
    }
}

LogDeferral::LogDeferral() noexcept { ++t_depth; }

LogDeferral::~LogDeferral() {
    if (--t_depth != 0) return;
    // The outermost scope: every core lock of the call is released. The
    // sink may call into the library, which opens scopes of its own and
    // queues (then delivers) its own messages: take the queue first.
    while (!t_pending.empty()) {
        std::vector<Pending> batch;
        batch.swap(t_pending);
        for (const Pending& p : batch) p.log->deliver(p.level, p.message);
    }
}

}  // namespace hvcore
