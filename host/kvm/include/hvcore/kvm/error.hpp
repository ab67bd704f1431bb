// SPDX-License-Identifier: MIT
// Errors of the KVM host: a negative errno and the sentence that explains
// it (which ioctl, on what, why), so every failure the CLI prints names its
// cause. Values, never exceptions.
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

#include <gsl/assert>

namespace hvcore::kvm {

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
    [[nodiscard]] int code() const noexcept { return code_; }
    [[nodiscard]] const std::string& what() const noexcept { return what_; }

private:
    int code_ = 0;
    std::string what_;
};

// A value or an Error.
template <class T>
class [[nodiscard]] Outcome {
public:
    Outcome(T v) : v_(std::move(v)) {}          // NOLINT(google-explicit-constructor)
    Outcome(Error e) : v_(std::move(e)) { Expects(!std::get<Error>(v_).is_ok()); }  // NOLINT
    [[nodiscard]] bool is_ok() const noexcept { return std::holds_alternative<T>(v_); }
    [[nodiscard]] const Error& error() const { return std::get<Error>(v_); }
    [[nodiscard]] T& value() & { return std::get<T>(v_); }
    [[nodiscard]] T&& value() && { return std::get<T>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

}  // namespace hvcore::kvm
