// SPDX-License-Identifier: MIT
// Latency statistics in bounded memory: a log-linear histogram of
// nanosecond values (the scheme of HdrHistogram and of Linux's
// tools/perf "hist" buckets): values below 2^sub_bits each have a bucket of
// their own; above, every power of two [2^e, 2^(e+1)) is split into
// 2^sub_bits equal sub-buckets of width 2^(e - sub_bits).
//
// Relative error: a percentile is reported as the middle of the bucket
// that holds the exact (nearest-rank) sample, clamped to the exact minimum
// and maximum. A bucket of [2^e, 2^(e+1)) is 2^(e-sub_bits) wide and every
// value in it is at least 2^e, so the report differs from the exact value
// by at most half a bucket: |reported - exact| <= exact * 2^-(sub_bits+1)
// (1/64, about 1.6 %, with sub_bits = 5). Values below 2^sub_bits are exact.
//
// Memory: a fixed array of buckets_count counters (sizeof is a constant,
// about 15 KiB); recording never allocates.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace hvcore::kvm {

class LatencyHistogram {
public:
    static constexpr unsigned sub_bits = 5;
    static constexpr uint64_t sub_count = uint64_t{1} << sub_bits;
    // Exact buckets 0..2^sub_bits-1, then 2^sub_bits per power of two from
    // 2^sub_bits to 2^63.
    static constexpr size_t buckets_count = sub_count * (64 - sub_bits + 1);
    // The bound documented above, for tests and docs.
    static constexpr double relative_error = 1.0 / static_cast<double>(sub_count * 2);

    void record(uint64_t ns) noexcept {
        ++buckets_[index(ns)];
        ++count_;
        min_ = std::min(min_, ns);
        max_ = std::max(max_, ns);
    }
    void merge(const LatencyHistogram& o) noexcept {
        if (o.count_ == 0) return;
        for (size_t i = 0; i < buckets_count; ++i) buckets_[i] += o.buckets_[i];
        count_ += o.count_;
        min_ = std::min(min_, o.min_);
        max_ = std::max(max_, o.max_);
    }

    [[nodiscard]] uint64_t count() const noexcept { return count_; }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    [[nodiscard]] uint64_t max() const noexcept { return max_; }

    // The nearest-rank p-th percentile (0 < p <= 100): the smallest sample
    // with at least p % of the samples <= it, within relative_error.
    // 0 when empty.
    [[nodiscard]] uint64_t percentile(double p) const noexcept {
        if (count_ == 0) return 0;
        if (p >= 100.0) return max_;
        auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
        rank = std::clamp<uint64_t>(rank, 1, count_);
        uint64_t seen = 0;
        for (size_t i = 0; i < buckets_count; ++i) {
            seen += buckets_[i];
            if (seen >= rank) return std::clamp(middle(i), min(), max_);
        }
        return max_;
    }

    // The bucket of a value, and the value a bucket reports (tests).
    [[nodiscard]] static constexpr size_t index(uint64_t v) noexcept {
        if (v < sub_count) return static_cast<size_t>(v);
        const unsigned e = 63 - static_cast<unsigned>(std::countl_zero(v));  // 2^e <= v
        const uint64_t sub = (v >> (e - sub_bits)) & (sub_count - 1);
        return static_cast<size_t>((e - sub_bits + 1) * sub_count + sub);
    }
    [[nodiscard]] static constexpr uint64_t lower(size_t i) noexcept {
        if (i < sub_count) return i;
        const unsigned e = static_cast<unsigned>(i / sub_count) + sub_bits - 1;
        return (uint64_t{1} << e) + (static_cast<uint64_t>(i % sub_count) << (e - sub_bits));
    }
    [[nodiscard]] static constexpr uint64_t width(size_t i) noexcept {
        if (i < sub_count) return 1;
        const unsigned e = static_cast<unsigned>(i / sub_count) + sub_bits - 1;
        return uint64_t{1} << (e - sub_bits);
    }
    [[nodiscard]] static constexpr uint64_t middle(size_t i) noexcept { return lower(i) + width(i) / 2; }

private:
    std::array<uint64_t, buckets_count> buckets_{};
    uint64_t count_ = 0;
    uint64_t min_ = std::numeric_limits<uint64_t>::max();
    uint64_t max_ = 0;
};

}  // namespace hvcore::kvm
