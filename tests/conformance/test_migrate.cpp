// SPDX-License-Identifier: MIT
// A live migration of a running guest's memory on the model vCPUs of every
// backend, with a shadowing device model attached: the guest keeps writing
// RAM and its trapped (ioreq_server) pages while a "migrator" copies all of
// RAM, re-copies the pages the log-dirty bitmap names for a bounded number
// of rounds, stops the guest and copies what is left; the copy must equal
// the guest's RAM byte for byte. Xen cannot start log-dirty mode here
// (hap_enable_log_dirty: -EBUSY while ioreq_server entries are outstanding).
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "abi_fixture.hpp"

using namespace conformance;

namespace {

constexpr uint64_t ram = 8 * mib;
constexpr uint64_t pages = ram >> 12;
constexpr uint64_t trapped_first = 0x300;  // the shadowed "page tables"
constexpr uint32_t trapped_pages = 4;
constexpr int max_rounds = 8;              // re-copy rounds before the guest is stopped
constexpr uint64_t stores_per_round = 400; // the guest's writes the migrator waits for each round
constexpr auto time_box = std::chrono::seconds(20);

// The device model: applies each forwarded write to guest RAM (through its
// own mapping, as a shadowing GPU mediator does) and to its shadow.
struct Shadow {
    uint8_t* map = nullptr;  // the trapped pages, mapped writable
    std::vector<uint8_t> shadow = std::vector<uint8_t>(trapped_pages * 4096);
    std::atomic<uint64_t> served{0};
};

int serve(void* opaque, hvdm_ioservid_t, hvdm_ioreq_t* r) {
    auto* s = static_cast<Shadow*>(opaque);
    if (r->dir != HVDM_IOREQ_WRITE || r->data_is_ptr || r->count != 1) return -EINVAL;
    const uint64_t off = r->addr - (trapped_first << 12);
    if (off + r->size > s->shadow.size()) return -EINVAL;
    std::memcpy(s->map + off, &r->data, r->size);
    std::memcpy(s->shadow.data() + off, &r->data, r->size);
    s->served.fetch_add(1, std::memory_order_relaxed);
    return 0;
}

struct Guest {
    hv_domain* d = nullptr;
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> stores{0};
    std::atomic<int> error{0};
    void run() {
        std::mt19937_64 rng(0x6d696772);  // "migr"
        const auto deadline = std::chrono::steady_clock::now() + time_box;
        while (!stop.load(std::memory_order_acquire)) {
            // One write in eight to a trapped page, the rest anywhere in RAM;
            // 8-byte aligned values the migrator can tell apart.
            const bool trapped = rng() % 8 == 0;
            const uint64_t gfn = trapped ? trapped_first + rng() % trapped_pages : rng() % pages;
            const uint64_t gpa = (gfn << 12) + (rng() % 512) * 8;
            const uint64_t value = rng();
            int rc = hv_vcpu_store(d, 0, gpa, 8, value);
            while (rc == HV_VCPU_IOREQ_PENDING && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::yield();
                uint64_t unused = 0;
                rc = hv_vcpu_resume(d, 0, &unused);
            }
            if (rc != HV_VCPU_DONE || std::chrono::steady_clock::now() >= deadline) {
                error.store(rc != HV_VCPU_DONE ? rc : -ETIMEDOUT);
                return;
            }
            stores.fetch_add(1, std::memory_order_release);
        }
    }
};

// The pages set in a bitmap of the whole RAM.
std::vector<uint64_t> dirty_pages(const std::vector<uint8_t>& b) {
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < pages; ++i)
        if ((b[i / 8] >> (i % 8)) & 1) out.push_back(i);
    return out;
}

}  // namespace

TEST_CASE("a_running_guest_with_a_shadowing_device_model_migrates_byte_for_byte_on_every_backend") {
    for (const ArchInfo& a : linked_arches()) {
        const std::string arch = a.name;
        CAPTURE(arch);
        Env e(a.arch, ram, 1);

        // The shadowing device model on its own thread.
        hvdm_ioservid_t id = 0;
        REQUIRE(hvdm_create_ioreq_server(e.dm, e.domid, HVDM_BUFIOREQ_OFF, &id) == 0);
        hvdm_shared_iopage* page = nullptr;
        REQUIRE(hvdm_map_ioreq_pages(e.dm, e.domid, id, &page, nullptr) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(e.dm, e.domid, id, 1) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(e.dm, e.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                  HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(e.dm, e.domid, HVDM_MEM_IOREQ_SERVER, trapped_first, trapped_pages) == 0);
        Shadow sh;
        void* map = nullptr;
        REQUIRE(hvdm_map_guest_memory(e.dm, e.domid, trapped_first, trapped_pages, PROT_READ | PROT_WRITE, &map,
                                      nullptr) == 0);
        sh.map = static_cast<uint8_t*>(map);
        const int stop_fd = eventfd(0, EFD_CLOEXEC);
        REQUIRE(stop_fd >= 0);
        std::atomic<int> serve_rc{0};
        std::thread dm([&] { serve_rc = hvdm_serve(e.dm, e.domid, &id, 1, stop_fd, serve, &sh); });

        // Log-dirty on with the claimed pages outstanding (Xen: -EBUSY).
        REQUIRE(hv_log_dirty_enable(e.dom) == 0);
        Guest g;
        g.d = e.dom;
        std::thread guest([&] { g.run(); });
        const auto wait_stores = [&](uint64_t n) {
            const auto until = std::chrono::steady_clock::now() + time_box;
            const uint64_t target = g.stores.load() + n;
            while (g.stores.load() < target && g.error.load() == 0 && std::chrono::steady_clock::now() < until)
                std::this_thread::yield();
        };

        // Round 0: all of RAM, while the guest writes.
        std::vector<uint8_t> dest(ram);
        wait_stores(stores_per_round);
        REQUIRE(hv_guest_read(e.dom, 0, dest.data(), ram) == 0);
        const std::vector<uint8_t> first_copy = dest;
        std::vector<uint8_t> bits(pages / 8);
        uint64_t recopied = 0;
        bool trapped_recopied = false;
        for (int round = 0; round < max_rounds; ++round) {
            wait_stores(stores_per_round);
            REQUIRE(hv_log_dirty_read(e.dom, 0, pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0);
            for (const uint64_t p : dirty_pages(bits)) {
                REQUIRE(hv_guest_read(e.dom, p << 12, dest.data() + (p << 12), 4096) == 0);
                ++recopied;
                trapped_recopied |= p >= trapped_first && p < trapped_first + trapped_pages;
            }
        }
        // Stop and copy: the guest's last store (and its device model's
        // answer) is complete once its thread has returned.
        g.stop = true;
        guest.join();
        REQUIRE(g.error.load() == 0);
        REQUIRE(hv_log_dirty_read(e.dom, 0, pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0);
        const std::vector<uint64_t> last = dirty_pages(bits);
        for (const uint64_t p : last) REQUIRE(hv_guest_read(e.dom, p << 12, dest.data() + (p << 12), 4096) == 0);

        std::vector<uint8_t> now(ram);
        REQUIRE(hv_guest_read(e.dom, 0, now.data(), ram) == 0);
        CHECK(dest == now);
        // The test can fail: the first copy alone is stale, pages were
        // re-copied, the trapped ones among them (their writes reached the
        // bitmap through the device model only).
        CHECK(first_copy != now);
        CHECK(recopied > 0);
        CHECK(trapped_recopied);
        CHECK(sh.served.load() > 0);
        CHECK(std::memcmp(sh.shadow.data(), now.data() + (trapped_first << 12), sh.shadow.size()) == 0);
        // Fewer pages at the end than in RAM: only what was written since
        // the last round.
        CHECK(last.size() < pages);

        const uint64_t one = 1;
        REQUIRE(write(stop_fd, &one, sizeof one) == sizeof one);
        dm.join();
        CHECK(serve_rc.load() == 0);
        ::close(stop_fd);
        CHECK(hvdm_unmap_guest_memory(e.dm, map, trapped_pages) == 0);
        REQUIRE(hv_log_dirty_disable(e.dom) == 0);
    }
}
