// SPDX-License-Identifier: MIT
// Step<T>: what one step of an instruction produced (a decoded instruction,
// an operand's location, a value read) or the ExecResult that ends the
// instruction there. Errors are values, never exceptions; an ended step is
// never `ok`, so a handler can return it as its result.
#pragma once

#include <gsl/assert>
#include <string_view>
#include <utility>
#include <variant>

#include "hvcore/core/isa.hpp"

namespace hvcore::x86::detail {

template <class T>
class [[nodiscard]] Step {
public:
    Step(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Step(ExecResult end) : v_(std::in_place_index<1>, std::move(end)) {  // NOLINT(google-explicit-constructor)
        Expects(std::get_if<1>(&v_)->status != MemStatus::ok);
    }

    [[nodiscard]] explicit operator bool() const noexcept { return v_.index() == 0; }
    [[nodiscard]] T& operator*() & { return *value_ptr(); }
    [[nodiscard]] const T& operator*() const& { return *value_ptr(); }
    [[nodiscard]] T* operator->() { return value_ptr(); }
    [[nodiscard]] const T* operator->() const { return value_ptr(); }
    // The result that ends the instruction; only when !*this.
    [[nodiscard]] ExecResult end() && {
        ExecResult* r = std::get_if<1>(&v_);
        Expects(r != nullptr);
        return std::move(*r);
    }

private:
    [[nodiscard]] T* value_ptr() {
        T* p = std::get_if<0>(&v_);
        Expects(p != nullptr);
        return p;
    }
    [[nodiscard]] const T* value_ptr() const {
        const T* p = std::get_if<0>(&v_);
        Expects(p != nullptr);
        return p;
    }

    std::variant<T, ExecResult> v_;
};

// Ends an instruction as a guest exception: `what` names the instruction
// (its text, or its bytes when it does not decode), `why` says what is wrong.
[[nodiscard]] ExecResult guest_fault(std::string_view what, std::string_view why);

}  // namespace hvcore::x86::detail
