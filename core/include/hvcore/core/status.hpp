// SPDX-License-Identifier: MIT
// Errors are values carrying a negative errno. No
// exception is thrown on the hypervisor path; these are [[nodiscard]] so an
// ignored failure is a compile error under -Werror.
#pragma once

#include <cerrno>
#include <gsl/assert>
#include <utility>
#include <variant>

namespace hvcore {

class [[nodiscard]] Status {
public:
    constexpr Status() noexcept = default;  // success
    static constexpr Status ok() noexcept { return Status{}; }
    // A failure: negative_errno < 0 (0 would read as success; callers pass
    // -EXXX or -errno right after a call that failed and set it).
    static constexpr Status err(int negative_errno) noexcept {
        Expects(negative_errno < 0);
        Status s;
        s.code_ = negative_errno;
        return s;
    }
    [[nodiscard]] constexpr bool is_ok() const noexcept { return code_ == 0; }
    [[nodiscard]] constexpr explicit operator bool() const noexcept { return is_ok(); }
    // 0 on success, a negative errno otherwise: the C ABI's return value.
    [[nodiscard]] constexpr int code() const noexcept { return code_; }
    [[nodiscard]] constexpr Status status() const noexcept { return *this; }
    constexpr bool operator==(const Status&) const noexcept = default;

private:
    int code_ = 0;
};

// A value or a negative errno.
template <class T>
class [[nodiscard]] Result {
public:
    constexpr Result(T v) : v_(std::move(v)) {}  // NOLINT(google-explicit-constructor)
    constexpr Result(Status s) : v_(s) { Expects(!s.is_ok()); }  // NOLINT
    [[nodiscard]] constexpr bool is_ok() const noexcept { return std::holds_alternative<T>(v_); }
    [[nodiscard]] constexpr explicit operator bool() const noexcept { return is_ok(); }
    [[nodiscard]] constexpr Status status() const noexcept {
        return is_ok() ? Status::ok() : std::get<Status>(v_);
    }
    [[nodiscard]] constexpr T& value() & { return std::get<T>(v_); }
    [[nodiscard]] constexpr const T& value() const& { return std::get<T>(v_); }
    [[nodiscard]] constexpr T&& value() && { return std::get<T>(std::move(v_)); }
    constexpr T* operator->() { return &value(); }
    constexpr const T* operator->() const { return &value(); }
    constexpr T& operator*() & { return value(); }

private:
    std::variant<T, Status> v_;
};

// Propagate a failed Status or Result from the enclosing function.
#define HV_TRY(expr)                                                   \
    do {                                                               \
        if (auto hv_try_s_ = (expr).status(); !hv_try_s_.is_ok())      \
            return hv_try_s_;                                          \
    } while (0)

}  // namespace hvcore
