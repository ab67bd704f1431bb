// SPDX-License-Identifier: MIT
// set_mem_type in steps (core/src/dm_ops.cpp, Domain::change_types): a long
// change gives the domain lock up between steps of 256 pages, as Xen's
// set_mem_type preempts every 256 pages (xen/arch/x86/hvm/dm.c), so vCPU
// accesses go on meanwhile; and it stays all or nothing across the steps.
// Test suite "concurrent" (threads; the tsan preset runs it).
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "hvcore/core/host.hpp"
#include "hvcore/embed.hpp"

using namespace hvcore;

namespace {

// 128K pages: 512 steps (the 1M-page case is bench/bench_lockhold.cpp's).
constexpr uint64_t pages_many = uint64_t{1} << 17;
constexpr uint32_t claim_write = 2;  // HVDM_IOREQ_MEM_ACCESS_WRITE
constexpr int done = 0;              // hv_vcpu_status

// A HAP domain with `pages` pages of RAM plus 2 MiB beyond them.
std::shared_ptr<Domain> make_domain(Host& host, const Backend& b, uint64_t pages) {
    auto dr = host.create_domain(
        {.arch = b.arch, .ram_bytes = (pages << page_shift) + (uint64_t{2} << 20), .nr_vcpus = 1, .hap = true});
    REQUIRE(dr.is_ok());
    return *dr;
}

P2mType type_of(Domain& d, uint64_t gfn) {
    auto r = d.p2m_type(gfn);
    REQUIRE(r.is_ok());
    return *r;
}

}  // namespace

TEST_SUITE("concurrent") {

TEST_CASE("a_vcpu_thread_completes_accesses_while_a_long_set_mem_type_runs") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(std::string(b.name));
        Host host;
        auto d = make_domain(host, b, pages_many);
        std::atomic<int> pauses{0};
        std::atomic<uint64_t> during{0};
        // While the lock is given up, wait (up to 10 s) for the vCPU thread
        // to complete an access: on a loaded machine it may otherwise not be
        // scheduled at all while the change runs. With the lock held there
        // (a regression), the access could not complete and `during` would
        // stay 0.
        d->set_mem_type_pause([&] {
            pauses.fetch_add(1);
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (during.load() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        });
        std::atomic<bool> running{false}, finished{false};
        const uint64_t gpa = (pages_many + 1) << page_shift;  // RAM the change does not touch
        std::thread vcpu([&] {
            while (!running.load()) std::this_thread::yield();
            while (!finished.load()) {
                REQUIRE(d->vcpu_store(0, gpa, 8, 42) == done);
                if (!finished.load()) during.fetch_add(1);
            }
        });
        running.store(true);
        const Status s = d->set_mem_type(hvmmem::ram_ro, 0, static_cast<uint32_t>(pages_many));
        finished.store(true);
        vcpu.join();
        CHECK(s.is_ok());
        CHECK(type_of(*d, 0) == P2mType::ram_ro);
        CHECK(type_of(*d, pages_many - 1) == P2mType::ram_ro);
        CHECK(type_of(*d, pages_many) == P2mType::ram_rw);
        CHECK(pauses.load() > 0);   // the lock was given up between steps
        CHECK(during.load() > 0);   // and a vCPU access completed meanwhile
        MESSAGE(std::string(b.name) << ": " << during.load() << " vCPU accesses during the change, " << pauses.load()
                       << " lock releases");
    }
}

TEST_CASE("a_page_refused_after_the_lock_was_given_up_leaves_every_page_as_it_was") {
    // Xen changes the pages before a refused one and keeps them changed;
    // hvcore validates every step before the first change.
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        // 1M pages: validating them takes well over the 50 us after which
        // a step gives the lock up even when no waiter was seen in time
        // (an optimised build validates 64K pages faster than that).
        const uint64_t pages = 1024 * 1024;
        auto d = make_domain(host, b, pages);
        REQUIRE(d->set_mem_type(hvmmem::mmio_dm, pages - 1, 1).is_ok());  // mmio_dm never becomes RAM again
        std::atomic<int> pauses{0};
        d->set_mem_type_pause([&] {
            pauses.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::microseconds(10));
        });
        // Force a release at every step: another thread waits for the lock.
        std::atomic<bool> stop{false};
        std::thread vcpu([&] {
            while (!stop.load()) (void)d->p2m_type(pages);
        });
        const Status s = d->set_mem_type(hvmmem::ram_ro, 0, static_cast<uint32_t>(pages));
        stop.store(true);
        vcpu.join();
        CHECK(s.code() == -EINVAL);
        CHECK(pauses.load() > 0);
        CHECK(type_of(*d, 0) == P2mType::ram_rw);
        CHECK(type_of(*d, pages - 2) == P2mType::ram_rw);
        CHECK(type_of(*d, pages - 1) == P2mType::mmio_dm);
    }
}

TEST_CASE("a_long_scattered_list_gives_the_lock_up_between_steps_of_256_gfns") {
    // set_mem_type_list goes through the same steps (one leaf table at a
    // time inside each): every other page of 2 x 128K pages.
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        auto d = make_domain(host, b, 2 * pages_many);
        std::vector<uint64_t> list;
        for (uint64_t g = 0; g < 2 * pages_many; g += 2) list.push_back(g);
        std::atomic<int> pauses{0};
        d->set_mem_type_pause([&] { pauses.fetch_add(1); });
        std::atomic<bool> running{false}, finished{false};
        std::atomic<uint64_t> during{0};
        const uint64_t gpa = (2 * pages_many + 1) << page_shift;  // RAM the list does not reach
        std::thread vcpu([&] {
            while (!running.load()) std::this_thread::yield();
            while (!finished.load()) {
                REQUIRE(d->vcpu_store(0, gpa, 8, 42) == done);
                if (!finished.load()) during.fetch_add(1);
            }
        });
        running.store(true);
        uint64_t refused = 0;
        const Status s = d->set_mem_type_list(hvmmem::ram_ro, list, &refused);
        finished.store(true);
        vcpu.join();
        CHECK(s.is_ok());
        CHECK(refused == ~uint64_t{0});
        for (const uint64_t g : {uint64_t{0}, uint64_t{2}, 2 * pages_many - 2}) CHECK(type_of(*d, g) == P2mType::ram_ro);
        for (const uint64_t g : {uint64_t{1}, uint64_t{3}, 2 * pages_many - 1, 2 * pages_many})
            CHECK(type_of(*d, g) == P2mType::ram_rw);
        CHECK(pauses.load() > 0);
        CHECK(during.load() > 0);
    }
}

TEST_CASE("a_list_refused_after_the_lock_was_given_up_leaves_every_page_as_it_was_and_names_the_gfn") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        // Every other page of 1M pages (512K gfns, 2,048 steps), the last
        // one refused (mmio_dm never becomes RAM again).
        const uint64_t pages = 1024 * 1024;
        auto d = make_domain(host, b, pages);
        std::vector<uint64_t> list;
        for (uint64_t g = 1; g < pages; g += 2) list.push_back(g);
        REQUIRE(d->set_mem_type(hvmmem::mmio_dm, list.back(), 1).is_ok());
        std::atomic<int> pauses{0};
        d->set_mem_type_pause([&] {
            pauses.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::microseconds(10));
        });
        std::atomic<bool> stop{false};
        std::thread vcpu([&] {
            while (!stop.load()) (void)d->p2m_type(pages);
        });
        uint64_t refused = 0;
        const Status s = d->set_mem_type_list(hvmmem::ram_ro, list, &refused);
        stop.store(true);
        vcpu.join();
        CHECK(s.code() == -EINVAL);
        CHECK(refused == list.back());
        CHECK(pauses.load() > 0);
        CHECK(type_of(*d, 1) == P2mType::ram_rw);
        CHECK(type_of(*d, list[list.size() - 2]) == P2mType::ram_rw);
        CHECK(type_of(*d, list.back()) == P2mType::mmio_dm);
    }
}

TEST_CASE("a_disclaim_between_two_steps_ends_a_change_to_ioreq_server_with_no_page_changed") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const uint64_t pages = 64 * 1024;
        auto d = make_domain(host, b, pages);
        const EmulatorId who = host.new_emulator();
        IoservId id{};
        REQUIRE(d->create_ioreq_server(who, 0, &id).is_ok());
        REQUIRE(d->map_mem_type_to_ioreq_server(who, id, hvmmem::ioreq_server, claim_write).is_ok());
        bool disclaimed = false;
        d->set_mem_type_pause([&] {
            // Once the commit has begun (page 0 changed), the owner lets go.
            if (!disclaimed && type_of(*d, 0) == P2mType::ioreq_server) {
                disclaimed = true;
                REQUIRE(d->map_mem_type_to_ioreq_server(who, id, hvmmem::ioreq_server, 0).is_ok());
            }
        });
        std::atomic<bool> stop{false};
        std::thread vcpu([&] {
            while (!stop.load()) (void)d->p2m_type(pages);
        });
        const Status s = d->set_mem_type(hvmmem::ioreq_server, 0, static_cast<uint32_t>(pages));
        stop.store(true);
        vcpu.join();
        CHECK(disclaimed);
        CHECK(s.code() == -EINVAL);
        CHECK(d->ioreq_entry_count() == 0);
        CHECK(d->ioreq_leaves_in_table() == 0);
        CHECK(type_of(*d, 0) == P2mType::ram_rw);
        CHECK(type_of(*d, pages - 1) == P2mType::ram_rw);
    }
}

TEST_CASE("a_preempted_change_reports_where_xens_continuation_would_stand") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const uint64_t pages = 64 * 1024;
        const uint64_t first = 5;
        auto d = make_domain(host, b, pages);
        std::atomic<bool> stop{false};
        std::thread vcpu([&] {
            while (!stop.load()) (void)d->p2m_type(pages);
        });
        Domain::MemTypeProgress p{first, static_cast<uint32_t>(pages - first)};
        const Status s = d->set_mem_type(hvmmem::ram_ro, first, static_cast<uint32_t>(pages - first), &p);
        stop.store(true);
        vcpu.join();
        REQUIRE(s.is_ok());
        // Preempted during the commit: the remaining range, a whole number
        // of 256-page steps in, ending where the call's range ends.
        CHECK(p.first_pfn > first);
        CHECK((p.first_pfn - first) % mem_type_step == 0);
        CHECK(p.first_pfn + p.nr == pages);
        CHECK(p.nr > 0);
    }
}

TEST_CASE("a_second_type_change_waits_for_the_one_running") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const uint64_t pages = 64 * 1024;
        auto d = make_domain(host, b, pages);
        std::thread second;
        d->set_mem_type_pause([&] {
            if (second.joinable()) return;
            second = std::thread([&] {
                // Would be refused in the middle of the first change if it
                // ran between two of its steps (mmio_dm -> ram_ro).
                CHECK(d->set_mem_type(hvmmem::mmio_dm, pages - 1, 1).is_ok());
            });
        });
        std::atomic<bool> stop{false};
        std::thread vcpu([&] {
            while (!stop.load()) (void)d->p2m_type(pages);
        });
        const Status s = d->set_mem_type(hvmmem::ram_ro, 0, static_cast<uint32_t>(pages));
        REQUIRE(second.joinable());
        second.join();
        stop.store(true);
        vcpu.join();
        // The first was not refused: the second (started between two of
        // its steps) ran only once it had finished.
        CHECK(s.is_ok());
        CHECK(type_of(*d, pages - 2) == P2mType::ram_ro);
        CHECK(type_of(*d, pages - 1) == P2mType::mmio_dm);
    }
}

}  // TEST_SUITE
