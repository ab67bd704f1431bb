// SPDX-License-Identifier: MIT
// hvcore::kvm::LatencyHistogram (host/kvm/include/hvcore/kvm/latency.hpp):
// its percentiles against exact nearest-rank ones on random data, within
// the documented relative error, and its memory: a constant size, no
// allocation however many samples it records.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <type_traits>
#include <vector>

#include "hvcore/kvm/latency.hpp"

// Every allocation of this test program, counted.
namespace {
std::atomic<unsigned long> g_allocations{0};
}
void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using hvcore::kvm::LatencyHistogram;

uint64_t exact_percentile(std::vector<uint64_t> v, double p) {
    std::sort(v.begin(), v.end());
    auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    rank = std::clamp<size_t>(rank, 1, v.size());
    return v[rank - 1];
}

void check_within_bound(const std::vector<uint64_t>& samples) {
    LatencyHistogram h;
    for (uint64_t s : samples) h.record(s);
    REQUIRE(h.count() == samples.size());
    CHECK(h.max() == *std::max_element(samples.begin(), samples.end()));
    CHECK(h.min() == *std::min_element(samples.begin(), samples.end()));
    for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 100.0}) {
        const auto exact = static_cast<double>(exact_percentile(samples, p));
        const auto got = static_cast<double>(h.percentile(p));
        CAPTURE(p);
        CAPTURE(exact);
        CAPTURE(got);
        CHECK(std::fabs(got - exact) <= exact * LatencyHistogram::relative_error);
    }
}

TEST_CASE("latency_percentiles_are_within_the_documented_relative_error_on_random_data") {
    CHECK(LatencyHistogram::relative_error == doctest::Approx(1.0 / 64));
    std::mt19937_64 rng(20261205);
    for (int round = 0; round < 20; ++round) {
        std::vector<uint64_t> v(1 + rng() % 20000);
        const int kind = round % 4;
        std::lognormal_distribution<double> lognormal(10.0, 1.5);           // ~ 20 us, heavy tail
        std::uniform_int_distribution<uint64_t> uniform(0, 5'000'000);     // 0..5 ms
        std::exponential_distribution<double> expo(1.0 / 30000.0);          // mean 30 us
        std::uniform_int_distribution<unsigned> shift(0, 63);              // every power of two
        for (auto& x : v) {
            switch (kind) {
            case 0: x = static_cast<uint64_t>(lognormal(rng)); break;
            case 1: x = uniform(rng); break;
            case 2: x = static_cast<uint64_t>(expo(rng)); break;
            default: x = rng() >> shift(rng); break;
            }
        }
        CAPTURE(round);
        check_within_bound(v);
    }
}

TEST_CASE("latency_small_values_are_exact_and_an_empty_histogram_reports_zero") {
    LatencyHistogram h;
    CHECK(h.empty());
    CHECK(h.percentile(50) == 0);
    CHECK(h.max() == 0);
    for (uint64_t v = 0; v < LatencyHistogram::sub_count; ++v) h.record(v);
    CHECK(h.percentile(50) == LatencyHistogram::sub_count / 2 - 1);
    CHECK(h.percentile(100) == LatencyHistogram::sub_count - 1);
}

TEST_CASE("latency_buckets_cover_every_value_and_contain_it") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100000; ++i) {
        const uint64_t v = rng() >> (rng() % 64);
        const size_t b = LatencyHistogram::index(v);
        REQUIRE(b < LatencyHistogram::buckets_count);
        CHECK(LatencyHistogram::lower(b) <= v);
        CHECK(v - LatencyHistogram::lower(b) < LatencyHistogram::width(b));
    }
    CHECK(LatencyHistogram::index(UINT64_MAX) == LatencyHistogram::buckets_count - 1);
}

TEST_CASE("latency_merge_is_the_histogram_of_all_samples") {
    std::mt19937_64 rng(3);
    LatencyHistogram a, b, all;
    for (int i = 0; i < 5000; ++i) {
        const uint64_t v = rng() % 1'000'000;
        (i % 3 == 0 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    CHECK(a.count() == all.count());
    for (double p : {50.0, 90.0, 99.0, 100.0}) CHECK(a.percentile(p) == all.percentile(p));
}

TEST_CASE("latency_memory_does_not_grow_with_the_samples") {
    static_assert(std::is_trivially_copyable_v<LatencyHistogram>, "a fixed array, no heap");
    CHECK(sizeof(LatencyHistogram) <= 16 * 1024);
    auto h = std::make_unique<LatencyHistogram>();
    std::mt19937_64 rng(11);
    const unsigned long before = g_allocations.load();
    for (int i = 0; i < 2'000'000; ++i) h->record(rng() >> (rng() % 64));
    (void)h->percentile(99);
    CHECK(g_allocations.load() == before);
    CHECK(h->count() == 2'000'000);
}

}  // namespace
