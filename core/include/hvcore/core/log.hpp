// SPDX-License-Identifier: MIT
// The host's log: where the core's messages go. The library never writes
// to stdout or stderr itself; the embedder sets a sink (hv_host_set_log)
// and, until it does, messages are dropped.
//
// Thread-safe. The sink is called with the log's lock held, one message at
// a time, possibly with a Domain's lock held too (Domain::mu_ -> Log::mu_):
// it must not call back into the core.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <utility>

namespace hvcore {

// hv_log_level's values, most severe first.
enum class LogLevel : int { error = 0, warning = 1, info = 2, debug = 3 };

class Log {
public:
    using Sink = std::function<void(LogLevel, const std::string&)>;

    // Replaces the sink (an empty one drops every message) and the least
    // severe level it receives. Once this returns the old sink is not
    // called again.
    void set(Sink sink, LogLevel max_level) noexcept {
        std::lock_guard g(mu_);
        sink_ = std::move(sink);
        max_ = max_level;
    }

    // One message, one line: a newline in it becomes a space. Never throws
    // (a sink that throws loses its message).
    void write(LogLevel level, std::string message) noexcept {
        std::lock_guard g(mu_);
        if (!sink_ || level > max_) return;
        for (char& c : message)
            if (c == '\n' || c == '\r') c = ' ';
        try {
            sink_(level, message);
        } catch (...) {
        }
    }

private:
    std::mutex mu_;
    Sink sink_;
    LogLevel max_ = LogLevel::debug;
};

}  // namespace hvcore
