// SPDX-License-Identifier: MIT
// The domain used from several threads at once, as a host that runs the
// guest itself (host/kvm) uses it: vCPU threads blocked in host_access, a
// device model answering from its own thread, DMOPs and sweeps meanwhile.
// Test suite "concurrent": ctest labels these, and the tsan preset runs
// them under ThreadSanitizer.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "hvcore/core/host.hpp"
#include "hvcore/embed.hpp"
#include "hvcore/hvdm.h"

using namespace hvcore;

namespace {

constexpr uint64_t mib = 1024 * 1024;
constexpr uint32_t range_memory = 1;           // HVDM_IO_RANGE_MEMORY
constexpr uint64_t mmio_gpa = 0xfebf0000;      // above the guest's RAM: nothing maps it
constexpr uint32_t claim_write = 2;            // HVDM_IOREQ_MEM_ACCESS_WRITE
constexpr int done = 0;                        // hv_vcpu_status
// How long a test waits for another thread before it calls the wait failed
// (generous: the tsan build runs each thread several times slower).
constexpr auto patience = std::chrono::seconds(20);

// A device model: one enabled server that claims one MMIO page, its slot
// page and its eventfd.
struct Dm {
    EmulatorId who = 0;
    IoservId id{};
    IoreqSlot* slots = nullptr;
    int fd = -1;
};

Dm make_dm(Host& host, Domain& d) {
    Dm dm;
    dm.who = host.new_emulator();
    REQUIRE(d.create_ioreq_server(dm.who, 0, &dm.id).is_ok());
    REQUIRE(d.set_ioreq_server_state(dm.who, dm.id, true).is_ok());
    REQUIRE(d.map_io_range(dm.who, dm.id, range_memory, mmio_gpa, mmio_gpa + page_size - 1).is_ok());
    REQUIRE(d.map_ioreq_pages(dm.who, dm.id, &dm.slots, nullptr).is_ok());
    auto fd = d.ioreq_fd(dm.who, dm.id);
    REQUIRE(fd.is_ok());
    dm.fd = *fd;
    return dm;
}

// A HAP domain on backend b with `ram_mib` MiB of RAM and `vcpus` vCPUs;
// the shared pointer is the reference a host's vCPU thread would hold.
std::shared_ptr<Domain> make_domain(Host& host, const Backend& b, uint64_t ram_mib = 16, uint32_t vcpus = 1) {
    auto dr = host.create_domain({.arch = b.arch, .ram_bytes = ram_mib * mib, .nr_vcpus = vcpus, .hap = true});
    REQUIRE(dr.is_ok());
    return *dr;
}

// Wait up to timeout_ms for the eventfd, and consume it.
bool wait_fd(int fd, int timeout_ms) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, timeout_ms) != 1) return false;
    uint64_t n = 0;
    [[maybe_unused]] const ssize_t r = read(fd, &n, sizeof n);
    return true;
}

}  // namespace

TEST_SUITE("concurrent") {

TEST_CASE("a_device_model_thread_answers_the_blocked_accesses_of_a_vcpu_thread") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const std::shared_ptr<Domain> domain = make_domain(host, b);
        Domain& d = *domain;
        const Dm dm = make_dm(host, d);
        // 200 write/read pairs: each read returns the last value written
        // plus one, so a lost, doubled or reordered answer shows.
        constexpr uint64_t rounds = 200;
        std::atomic<bool> stop{false};
        std::atomic<int> model_errors{0};  // doctest's REQUIRE cannot end another thread
        std::thread model([&] {
            uint64_t last = 0;
            while (!stop.load(std::memory_order_acquire)) {
                if (!wait_fd(dm.fd, 10)) continue;
                IoreqSlot& s = dm.slots[0];
                if (slot_state(s) != ioreq::state_ready) continue;
                const uint8_t flags = std::atomic_ref<uint8_t>(s.flags).load(std::memory_order_acquire);
                const bool is_read = (flags >> 5 & 1) == ioreq::dir_read;  // dir: bit 5 (ioreq.hpp)
                if (is_read)
                    s.data = last + 1;
                else
                    last = s.data;
                slot_set_state(s, ioreq::state_resp_ready);
                if (!d.ioreq_notify(dm.who, dm.id, 0).is_ok()) ++model_errors;
            }
        });
        auto vcpu = std::async(std::launch::async, [&] {
            uint64_t bad = 0;
            for (uint64_t i = 1; i <= rounds; ++i) {
                uint64_t v = 0;
                if (d.host_access(0, {.is_write = true, .addr = mmio_gpa, .size = 8, .data = i * 10}, &v) != 0) ++bad;
                if (d.host_access(0, {.is_write = false, .addr = mmio_gpa, .size = 8}, &v) != 0 || v != i * 10 + 1)
                    ++bad;
            }
            return bad;
        });
        const bool finished = vcpu.wait_for(patience) == std::future_status::ready;
        if (!finished) d.shutdown_host();  // fail, but do not hang
        CHECK(finished);
        CHECK(vcpu.get() == 0);
        stop.store(true, std::memory_order_release);
        model.join();
        CHECK(model_errors.load() == 0);
    }
}

TEST_CASE("a_vcpu_thread_waiting_for_a_device_model_fails_eshutdown_when_its_domain_is_destroyed") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        std::shared_ptr<Domain> d = make_domain(host, b);  // the vCPU thread's reference, as a KVM host holds one
        const Dm dm = make_dm(host, *d);
        auto vcpu = std::async(std::launch::async, [&] {
            uint64_t v = 0;
            return d->host_access(0, {.is_write = true, .addr = mmio_gpa, .size = 4, .data = 1}, &v);
        });
        // The request is posted; the device model never answers it.
        REQUIRE(wait_fd(dm.fd, static_cast<int>(std::chrono::milliseconds(patience).count())));
        REQUIRE(host.destroy_domain(d->id()).is_ok());
        const bool woke = vcpu.wait_for(patience) == std::future_status::ready;
        if (!woke) d->shutdown_host();  // what destroy_domain did not do: fail, but do not hang
        CHECK(woke);
        CHECK(vcpu.get() == -ESHUTDOWN);
    }
}

TEST_CASE("a_write_held_for_a_disabled_owner_is_sent_when_another_thread_enables_it") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const std::shared_ptr<Domain> domain = make_domain(host, b);
        Domain& d = *domain;
        Dm dm = make_dm(host, d);
        // gfn 0x100 (GPA 1 MiB) claimed by the server, which is then disabled.
        constexpr uint64_t gfn = 0x100;
        REQUIRE(d.map_mem_type_to_ioreq_server(dm.who, dm.id, hvmmem::ioreq_server, claim_write).is_ok());
        REQUIRE(d.set_mem_type(hvmmem::ioreq_server, gfn, 1).is_ok());
        REQUIRE(d.set_ioreq_server_state(dm.who, dm.id, false).is_ok());
        HostAccessOutcome outcome;
        auto vcpu = std::async(std::launch::async, [&] {
            uint64_t v = 0;
            return d.host_access(0, {.is_write = true, .addr = gfn * page_size, .size = 4, .data = 0xabcd}, &v,
                                 &outcome);
        });
        // Held: nothing is posted while the owner is disabled (the held
        // vCPU waits on its own waiter, woken by set_ioreq_server_state).
        CHECK_FALSE(wait_fd(dm.fd, 100));
        REQUIRE(d.set_ioreq_server_state(dm.who, dm.id, true).is_ok());
        // Enabled: the write is posted; answer it.
        REQUIRE(wait_fd(dm.fd, static_cast<int>(std::chrono::milliseconds(patience).count())));
        IoreqSlot& s = dm.slots[0];
        REQUIRE(slot_state(s) == ioreq::state_ready);
        CHECK(s.addr == gfn * page_size);
        CHECK(s.data == 0xabcd);
        slot_set_state(s, ioreq::state_resp_ready);
        REQUIRE(d.ioreq_notify(dm.who, dm.id, 0).is_ok());
        const bool finished = vcpu.wait_for(patience) == std::future_status::ready;
        if (!finished) d.shutdown_host();
        CHECK(finished);
        CHECK(vcpu.get() == 0);
        CHECK(outcome.holds >= 1);
        CHECK(outcome.ioreqs[dm.id.raw()] == 1);
    }
}

TEST_CASE("vcpu_stores_on_another_thread_complete_while_a_disclaim_sweeps") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const std::shared_ptr<Domain> domain = make_domain(host, b, 64, 2);
        Domain& d = *domain;
        const EmulatorId dm = host.new_emulator();
        IoservId id{};
        REQUIRE(d.create_ioreq_server(dm, 0, &id).is_ok());
        REQUIRE(d.set_ioreq_server_state(dm, id, true).is_ok());
        std::atomic<bool> stop{false};
        std::atomic<uint64_t> running{0};  // stores so far, for the start below
        // vCPU 1 stores to plain RAM at 0x3f00000 (63 MiB, never claimed)
        // the whole time; every store completes.
        auto vcpu = std::async(std::launch::async, [&] {
            uint64_t stores = 0, bad = 0;
            while (!stop.load(std::memory_order_acquire)) {
                if (d.vcpu_store(1, 0x3f00000 + 8 * (stores % 64), 8, stores) == done) ++stores;
                else ++bad;
                running.store(stores + bad, std::memory_order_release);
            }
            return std::pair{stores, bad};
        });
        // The rounds start once the vCPU thread is storing: optimised, they
        // can all be over before a new thread is first scheduled.
        const auto deadline = std::chrono::steady_clock::now() + patience;
        while (running.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
        // Claim, type one page in each of the 32 leaf tables of 64 MiB (a
        // leaf table maps 2 MiB), disclaim (a sweep of several chunks),
        // five times over.
        for (int round = 0; round < 5; ++round) {
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
            for (uint64_t t = 0; t < 32; ++t) REQUIRE(d.set_mem_type(hvmmem::ioreq_server, t * 512 + 1, 1).is_ok());
            REQUIRE(d.map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, 0).is_ok());
            CHECK(d.ioreq_entry_count() == 0);
        }
        stop.store(true, std::memory_order_release);
        const auto [stores, bad] = vcpu.get();
        CHECK(stores > 0);
        CHECK(bad == 0);
    }
}

TEST_CASE("a_host_access_whose_first_piece_goes_to_nobody_completes_after_the_device_answers") {
    // The KVM path: an 8-byte access 4 bytes below the device's page. The
    // page below is a hole above RAM (nobody's): its 4 bytes are dropped or
    // read as ones; the device's 4 bytes are one request, answered from
    // another thread. After the answer the access is routed again from its
    // start and must replay the hole piece, not stop the domain.
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const std::shared_ptr<Domain> domain = make_domain(host, b);
        Domain& d = *domain;
        const Dm dm = make_dm(host, d);
        struct Seen {
            uint64_t addr = 0;
            uint32_t size = 0;
        };
        // The device model: waits for the one request, answers it with
        // `data`, and says what it was asked.
        auto answer_one = [&](uint64_t data) {
            return std::async(std::launch::async, [&d, &dm, data] {
                Seen seen;
                if (!wait_fd(dm.fd, static_cast<int>(std::chrono::milliseconds(patience).count()))) return seen;
                IoreqSlot& s = dm.slots[0];
                if (slot_state(s) != ioreq::state_ready) return seen;
                seen = {s.addr, s.size};
                s.data = data;
                slot_set_state(s, ioreq::state_resp_ready);
                (void)d.ioreq_notify(dm.who, dm.id, 0);
                return seen;
            });
        };
        uint64_t value = 0;
        auto model = answer_one(0x1234'5678);
        CHECK(d.host_access(0, {.is_write = false, .addr = mmio_gpa - 4, .size = 8}, &value) == 0);
        Seen seen = model.get();
        CHECK(seen.addr == mmio_gpa);
        CHECK(seen.size == 4);
        CHECK(value == 0x1234'5678'ffff'ffff);  // the hole's half reads as ones
        model = answer_one(0);
        CHECK(d.host_access(0, {.is_write = true, .addr = mmio_gpa - 4, .size = 8, .data = 0x8877'6655'4433'2211},
                            &value) == 0);
        seen = model.get();
        CHECK(seen.addr == mmio_gpa);
        CHECK(seen.size == 4);
        CHECK(!d.stop_reason());
    }
}


TEST_CASE("a_host_access_waits_for_the_notification_of_its_own_vcpu_and_no_timer") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const std::shared_ptr<Domain> domain = make_domain(host, b, 16, 2);
        Domain& d = *domain;
        const Dm dm = make_dm(host, d);
        auto vcpu = std::async(std::launch::async, [&] {
            uint64_t v = 0;
            const int rc = d.host_access(0, {.is_write = false, .addr = mmio_gpa, .size = 4}, &v);
            return std::pair{rc, v};
        });
        REQUIRE(wait_fd(dm.fd, static_cast<int>(std::chrono::milliseconds(patience).count())));
        // The vCPU holds the domain's lock from the post until it sleeps:
        // once this call has had the lock, the vCPU is asleep.
        REQUIRE_FALSE(d.stop_reason());
        IoreqSlot& s = dm.slots[0];
        REQUIRE(slot_state(s) == ioreq::state_ready);
        s.data = 0x5a5a;
        slot_set_state(s, ioreq::state_resp_ready);
        // Answered but not notified: the vCPU sleeps on (no timed poll looks
        // at its slot), and a notification for vCPU 1 does not wake vCPU 0
        // (woken, it would find the answer and return).
        CHECK(vcpu.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
        REQUIRE(d.ioreq_notify(dm.who, dm.id, 1).is_ok());
        CHECK(vcpu.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
        REQUIRE(d.ioreq_notify(dm.who, dm.id, 0).is_ok());
        const bool finished = vcpu.wait_for(patience) == std::future_status::ready;
        if (!finished) d.shutdown_host();
        CHECK(finished);
        const auto [rc, v] = vcpu.get();
        CHECK(rc == 0);
        CHECK(v == 0x5a5a);
    }
}

TEST_CASE("a_write_held_for_a_disabled_owner_goes_to_ram_once_its_page_is_reset_or_its_owner_destroyed") {
    for (const Backend& b : linked_backends()) {
        for (const bool destroy : {false, true}) {
            CAPTURE(b.name);
            CAPTURE(destroy);
            Host host;
            const std::shared_ptr<Domain> domain = make_domain(host, b);
            Domain& d = *domain;
            const Dm dm = make_dm(host, d);
            constexpr uint64_t gfn = 0x100;
            REQUIRE(d.map_mem_type_to_ioreq_server(dm.who, dm.id, hvmmem::ioreq_server, claim_write).is_ok());
            REQUIRE(d.set_mem_type(hvmmem::ioreq_server, gfn, 1).is_ok());
            REQUIRE(d.set_ioreq_server_state(dm.who, dm.id, false).is_ok());
            HostAccessOutcome outcome;
            auto vcpu = std::async(std::launch::async, [&] {
                uint64_t v = 0;
                return d.host_access(0, {.is_write = true, .addr = gfn * page_size, .size = 4, .data = 0xabcd}, &v,
                                     &outcome);
            });
            CHECK_FALSE(wait_fd(dm.fd, 100));  // held: nothing posted
            // What clears the hold wakes the held vCPU (there is no timer):
            // the page back to ram_rw, or the owner gone (its claim with it).
            if (destroy)
                REQUIRE(d.destroy_ioreq_server(dm.who, dm.id).is_ok());
            else
                REQUIRE(d.set_mem_type(hvmmem::ram_rw, gfn, 1).is_ok());
            const bool finished = vcpu.wait_for(patience) == std::future_status::ready;
            if (!finished) d.shutdown_host();
            REQUIRE(finished);
            CHECK(vcpu.get() == 0);
            CHECK(outcome.ioreqs[dm.id.raw()] == 0);  // written to RAM, never sent
            uint32_t in_ram = 0;
            REQUIRE(d.guest_read(gfn * page_size, &in_ram, sizeof in_ram).is_ok());
            CHECK(in_ram == 0xabcd);
        }
    }
}

TEST_CASE("a_vcpu_held_inside_host_access_refuses_a_second_host_access_and_model_calls_until_shutdown_ends_it") {
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        Host host;
        const std::shared_ptr<Domain> domain = make_domain(host, b);
        Domain& d = *domain;
        const Dm dm = make_dm(host, d);
        // gfn 0x100 claimed by a disabled owner: a write there is held.
        constexpr uint64_t gfn = 0x100;
        constexpr uint64_t ram_gpa = 0x200000;  // plain RAM, never claimed
        REQUIRE(d.map_mem_type_to_ioreq_server(dm.who, dm.id, hvmmem::ioreq_server, claim_write).is_ok());
        REQUIRE(d.set_mem_type(hvmmem::ioreq_server, gfn, 1).is_ok());
        REQUIRE(d.set_ioreq_server_state(dm.who, dm.id, false).is_ok());
        auto held = std::async(std::launch::async, [&] {
            uint64_t v = 0;
            return d.host_access(0, {.is_write = true, .addr = gfn * page_size, .size = 4, .data = 0xabcd}, &v);
        });
        // A store to RAM on vCPU 0 completes until the host_access has the
        // vCPU, and is -EBUSY from then on, through the whole hold.
        int store = done;
        const auto deadline = std::chrono::steady_clock::now() + patience;
        while (store == done && std::chrono::steady_clock::now() < deadline) {
            store = d.vcpu_store(0, ram_gpa, 4, 1);
            if (store == done) std::this_thread::yield();
        }
        REQUIRE(store == -EBUSY);
        // Still held (nothing can clear the hold): a second host_access on
        // the vCPU is refused at once instead of sleeping on the same
        // waiter, and so is every model call on it.
        uint64_t value = 0;
        CHECK(d.host_access(0, {.is_write = true, .addr = ram_gpa, .size = 4, .data = 2}, &value) == -EBUSY);
        CHECK(d.vcpu_store(0, ram_gpa, 4, 3) == -EBUSY);
        CHECK(d.vcpu_load(0, ram_gpa, 4, &value) == -EBUSY);
        CHECK(d.vcpu_resume(0, &value) == -EBUSY);
        CHECK(held.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout);
        d.shutdown_host();
        const bool finished = held.wait_for(patience) == std::future_status::ready;
        REQUIRE(finished);  // if it hangs, the test hangs: no other thread can end it
        CHECK(held.get() == -ESHUTDOWN);
        // The vCPU is free again for the model driver; nothing was written.
        CHECK(d.vcpu_store(0, ram_gpa, 4, 4) == done);
        uint32_t in_ram = 0;
        REQUIRE(d.guest_read(gfn * page_size, &in_ram, sizeof in_ram).is_ok());
        CHECK(in_ram == 0);
        REQUIRE(d.guest_read(ram_gpa, &in_ram, sizeof in_ram).is_ok());
        CHECK(in_ram == 4);
    }
}

TEST_CASE("through_hvdm_the_fired_ports_name_the_waiting_vcpus_and_each_answer_wakes_its_own_vcpu_only") {
    // vCPUs 3 and 5 of 8 block in host_access (as KVM's vCPU threads do);
    // the device model learns from hvdm_ioreq_pending which ones, answers
    // both slots, and notifies vCPU 3 only: vCPU 3 returns, vCPU 5 (woken,
    // it would find its answer and return) sleeps on until its own notify.
    for (const Backend& b : linked_backends()) {
        CAPTURE(b.name);
        hv_host* host = nullptr;
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(b.arch);
        cfg.ram_bytes = 16 * mib;
        cfg.nr_vcpus = 8;
        hv_domain* dom = nullptr;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        const hvdm_domid_t domid = hv_domain_id(dom);
        const std::shared_ptr<Domain> d = embed::domain_of(dom);
        hvdm_handle* h = hvdm_open(host);
        REQUIRE(h != nullptr);
        hvdm_ioservid_t id = 0;
        REQUIRE(hvdm_create_ioreq_server(h, domid, HVDM_BUFIOREQ_OFF, &id) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(h, domid, id, 1) == 0);
        REQUIRE(hvdm_map_io_range_to_ioreq_server(h, domid, id, 1, mmio_gpa, mmio_gpa + page_size - 1) == 0);
        hvdm_shared_iopage* page = nullptr;
        REQUIRE(hvdm_map_ioreq_pages(h, domid, id, &page, nullptr) == 0);
        auto* slots = reinterpret_cast<IoreqSlot*>(page);
        const int fd = hvdm_ioreq_fd(h, domid, id);
        REQUIRE(fd >= 0);
        auto access = [&d](uint32_t v) {
            return std::async(std::launch::async, [&d, v] {
                uint64_t value = 0;
                const int rc = d->host_access(v, {.is_write = false, .addr = mmio_gpa + v * 8, .size = 4}, &value);
                return std::pair{rc, value};
            });
        };
        auto v3 = access(3);
        auto v5 = access(5);
        std::vector<uint32_t> fired;
        const auto until = std::chrono::steady_clock::now() + patience;
        while (fired.size() < 2 && std::chrono::steady_clock::now() < until) {
            pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
            if (poll(&p, 1, 100) != 1) continue;
            uint32_t ports[HVDM_MAX_PORTS];
            const int n = hvdm_ioreq_pending(h, domid, id, ports, HVDM_MAX_PORTS);
            REQUIRE(n >= 0);
            fired.insert(fired.end(), ports, ports + n);
        }
        std::sort(fired.begin(), fired.end());  // posted in any order
        CHECK(fired == std::vector<uint32_t>{3, 5});
        // Each vCPU holds the lock from its post until it sleeps: once this
        // call has had the lock, both are asleep.
        REQUIRE_FALSE(d->stop_reason());
        for (const uint32_t v : {3u, 5u}) {
            REQUIRE(slot_state(slots[v]) == ioreq::state_ready);
            slot_set_state(slots[v], ioreq::state_inprocess);
            slots[v].data = 0x100 + v;
            slot_set_state(slots[v], ioreq::state_resp_ready);
        }
        REQUIRE(hvdm_ioreq_notify(h, domid, id, 3) == 0);
        const bool three = v3.wait_for(patience) == std::future_status::ready;
        CHECK(three);
        CHECK(v5.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
        REQUIRE(hvdm_ioreq_notify(h, domid, id, 5) == 0);
        const bool five = v5.wait_for(patience) == std::future_status::ready;
        CHECK(five);
        if (!three || !five) d->shutdown_host();
        const auto [rc3, val3] = v3.get();
        const auto [rc5, val5] = v5.get();
        CHECK(rc3 == 0);
        CHECK(val3 == 0x103);
        CHECK(rc5 == 0);
        CHECK(val5 == 0x105);
        CHECK(hvdm_close(h) == 0);
        CHECK(hv_domain_destroy(dom) == 0);
        hv_host_destroy(host);
    }
}

}  // TEST_SUITE("concurrent")
