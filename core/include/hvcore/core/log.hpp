// SPDX-License-Identifier: MIT
// The host's log: where the core's messages go. The library never writes
// to stdout or stderr itself; the embedder sets a sink (hv_host_set_log)
// and, until it does, messages are dropped.
//
// Thread-safe. The core makes its messages with a Domain's lock held; the
// sink must never be called there (a sink that calls back into the
// library for the same domain would deadlock). So a message made inside a
// LogDeferral scope - the C ABI opens one around every call - is queued on
// the calling thread and delivered when the outermost scope closes, after
// every core lock of that call is released. The sink may then call any
// hv_*/hvdm_* function, hv_host_set_log included. A message made outside
// any scope (a C++ caller of the core, such as host/kvm) is delivered at
// once, possibly under a Domain's lock: such callers' sinks must not call
// back into the core.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace hvcore {

// hv_log_level's values, most severe first.
enum class LogLevel : int { error = 0, warning = 1, info = 2, debug = 3 };

class Log : public std::enable_shared_from_this<Log> {
public:
    using Sink = std::function<void(LogLevel, const std::string&)>;

    // Replaces the sink (an empty one drops every message) and the least
    // severe level it receives. Once this returns the old sink is not
    // called again (a delivery in progress on another thread is waited
    // for; one on this thread - the sink itself calling this - goes on
    // with the old sink's copy and returns to the new one).
    void set(Sink sink, LogLevel max_level) noexcept {
        std::lock_guard g(mu_);
        sink_ = std::move(sink);
        max_ = max_level;
    }

    // One message, one line: a newline in it becomes a space. Never
    // throws (a sink that throws, or no memory to queue, loses the
    // message). The Log must be owned by a shared_ptr.
    void write(LogLevel level, std::string message) noexcept;

    // Calls the sink now (under this log's delivery lock, no other).
    void deliver(LogLevel level, const std::string& message) noexcept;

private:
    std::recursive_mutex mu_;  // the sink and max_; held while the sink runs
    Sink sink_;
    LogLevel max_ = LogLevel::debug;
};

// Messages written on this thread while a scope is open are delivered
// when the outermost one closes (see above). Nests; not movable.
class LogDeferral {
public:
    LogDeferral() noexcept;
    ~LogDeferral();
    LogDeferral(const LogDeferral&) = delete;
    LogDeferral& operator=(const LogDeferral&) = delete;
};

}  // namespace hvcore
