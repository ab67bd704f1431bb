// SPDX-License-Identifier: MIT
// Errors of the KVM host: a negative errno and the sentence that explains
// it (which ioctl, on what, why), so every failure the CLI prints names its
// cause. Values, never exceptions.
#pragma once

#include <utility>
#include <variant>

#include <gsl/assert>

#include "hvcore/core/error.hpp"

namespace hvcore::kvm {

// hvcore::Error (hvcore/core/error.hpp): a negative errno and its sentence.
using Error = hvcore::Error;

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
