// SPDX-License-Identifier: MIT
// An error that explains itself: a negative errno (as Status) and the
// sentence that names its cause (which call, on what, why). For code that
// reports to a person - the KVM host (host/kvm), the command line's runner
// (tools) - where a bare errno would not say which of many steps failed.
// The core's own calls return Status / Result; this is the one type of
// error that carries a message. Values, never exceptions.
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <gsl/assert>

#include "hvcore/core/status.hpp"

namespace hvcore {

class [[nodiscard]] Error {
public:
    Error() = default;  // success
    Error(int negative_errno, std::string what) : code_(negative_errno), what_(std::move(what)) {
        Expects(negative_errno < 0);
    }
    // From errno after a failed system call: "<what>: <strerror> (errno N)".
    [[nodiscard]] static Error from_errno(std::string what) {
        const int e = errno != 0 ? errno : EIO;
        return Error(-e, fmt::format("{}: {} (errno {})", what, std::strerror(e), e));
    }
    [[nodiscard]] bool is_ok() const noexcept { return code_ == 0; }
    // 0 on success, else the negative errno.
    [[nodiscard]] int code() const noexcept { return code_; }
    // Empty on success.
    [[nodiscard]] const std::string& what() const noexcept { return what_; }
    [[nodiscard]] Status status() const noexcept { return is_ok() ? Status::ok() : Status::err(code_); }

private:
    int code_ = 0;
    std::string what_;
};

}  // namespace hvcore
