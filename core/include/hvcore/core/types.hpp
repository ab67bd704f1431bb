// SPDX-License-Identifier: MIT
// Strong types for every address space and id.
// A Gfn is never silently a Mfn: each wraps the integer and converts only
// through named functions, in every build type.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace hvcore {

template <class Tag, class Rep>
class Strong {
public:
    using rep_type = Rep;
    constexpr Strong() noexcept = default;
    constexpr explicit Strong(Rep v) noexcept : v_(v) {}
    [[nodiscard]] constexpr Rep raw() const noexcept { return v_; }
    constexpr auto operator<=>(const Strong&) const noexcept = default;

private:
    Rep v_{};
};

struct GfnTag;
struct MfnTag;
struct GpaTag;
struct IoservIdTag;
struct VcpuIdTag;
struct DomIdTag;

inline constexpr unsigned page_shift = 12;
inline constexpr uint64_t page_size = uint64_t{1} << page_shift;
inline constexpr uint64_t page_mask = page_size - 1;

// Guest frame number: guest-physical address >> 12.
class Gfn : public Strong<GfnTag, uint64_t> {
public:
    using Strong::Strong;
    [[nodiscard]] constexpr Gfn operator+(uint64_t n) const noexcept { return Gfn{raw() + n}; }
};
// Machine frame number: the host-physical frame backing a gfn or a table.
class Mfn : public Strong<MfnTag, uint64_t> {
public:
    using Strong::Strong;
    [[nodiscard]] constexpr Mfn operator+(uint64_t n) const noexcept { return Mfn{raw() + n}; }
};
// Guest-physical (intermediate-physical on Arm64) byte address.
class Gpa : public Strong<GpaTag, uint64_t> {
public:
    using Strong::Strong;
    [[nodiscard]] constexpr Gfn gfn() const noexcept { return Gfn{raw() >> page_shift}; }
    [[nodiscard]] constexpr uint64_t page_offset() const noexcept { return raw() & page_mask; }
};
[[nodiscard]] constexpr Gpa to_gpa(Gfn g) noexcept { return Gpa{g.raw() << page_shift}; }

using IoservId = Strong<IoservIdTag, uint16_t>;
using VcpuId = Strong<VcpuIdTag, uint32_t>;
using DomId = Strong<DomIdTag, uint16_t>;

}  // namespace hvcore

template <class T>
    requires requires(T t) { typename T::rep_type; t.raw(); }
struct std::hash<T> {
    size_t operator()(const T& v) const noexcept { return std::hash<typename T::rep_type>{}(v.raw()); }
};
