// SPDX-License-Identifier: MIT
// Posted writes on KVM (hvdm.h, HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED): a
// guest store to a page claimed WRITE|WRITE_POSTED leaves the guest as a
// KVM_EXIT_MMIO write (the page's memslot is read-only), which the core
// makes to RAM and posts on the claimant's ring; the vCPU goes on. The
// device model, serving with hvdm_serve on its own thread, sees the posted
// writes as ordinary writes with their full address, in order with the
// vCPU's synchronous requests.
#include <doctest/doctest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "guest_abi.h"
#include "kvm_fixture.hpp"

namespace hvcore::kvm::test {
namespace {

constexpr uint64_t claimed = 0x200000;  // gfn 0x200, above 1 MiB: too high for Xen's buf_ioreq_t

// A device model claiming WRITE|WRITE_POSTED with an ATOMIC ring, serving
// with hvdm_serve on a thread of its own and recording what it is given.
class PostedDm {
public:
    PostedDm(hv_host* host, hvdm_domid_t domid) : domid_(domid) {
        h_ = hvdm_open(host);
        REQUIRE(h_ != nullptr);
        REQUIRE(hvdm_create_ioreq_server(h_, domid_, HVDM_BUFIOREQ_ATOMIC, &id_) == 0);
        hvdm_shared_iopage* slots = nullptr;
        REQUIRE(hvdm_map_ioreq_pages(h_, domid_, id_, &slots, nullptr) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(h_, domid_, id_, 1) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(h_, domid_, id_, HVDM_MEM_IOREQ_SERVER,
                                                  HVDM_IOREQ_MEM_ACCESS_WRITE | HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED) ==
                0);
        stop_ = eventfd(0, EFD_CLOEXEC);
        REQUIRE(stop_ >= 0);
    }
    ~PostedDm() {
        stop();
        hvdm_close(h_);
        close(stop_);
    }
    PostedDm(const PostedDm&) = delete;
    PostedDm& operator=(const PostedDm&) = delete;

    int set_type(uint16_t type, uint64_t gfn, uint32_t nr) { return hvdm_set_mem_type(h_, domid_, type, gfn, nr); }
    int map_mmio(uint64_t lo, uint64_t hi) { return hvdm_map_io_range_to_ioreq_server(h_, domid_, id_, 1, lo, hi); }
    [[nodiscard]] hvdm_ioservid_t id() const noexcept { return id_; }

    void start() {
        thread_ = std::thread([this] { rc_ = hvdm_serve(h_, domid_, &id_, 1, stop_, &PostedDm::fn, this); });
    }
    void stop() {
        if (!thread_.joinable()) return;
        const uint64_t one = 1;
        REQUIRE(write(stop_, &one, sizeof one) == sizeof one);
        thread_.join();
        CHECK(rc_ == 0);
    }
    [[nodiscard]] std::vector<hvdm_ioreq_t> seen() {
        std::lock_guard g(mu_);
        return seen_;
    }

private:
    static int fn(void* opaque, hvdm_ioservid_t, hvdm_ioreq_t* req) {
        auto* self = static_cast<PostedDm*>(opaque);
        std::lock_guard g(self->mu_);
        self->seen_.push_back(*req);
        return 0;
    }

    hvdm_handle* h_ = nullptr;
    hvdm_domid_t domid_;
    hvdm_ioservid_t id_ = 0;
    int stop_ = -1;
    int rc_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::vector<hvdm_ioreq_t> seen_;
};

void check_write(const hvdm_ioreq_t& r, bool posted, uint64_t gpa, uint32_t size, uint64_t data) {
    CHECK(r.type == HVDM_IOREQ_TYPE_COPY);
    CHECK(r.dir == HVDM_IOREQ_WRITE);
    CHECK(r.state == (posted ? HVDM_STATE_IOREQ_READY : HVDM_STATE_IOREQ_INPROCESS));
    CHECK(r.addr == gpa);
    CHECK(r.size == size);
    CHECK(r.data == data);
}

TEST_CASE("posted_writes_land_in_ram_and_reach_the_device_model_in_order_with_synchronous_ones") {
    Guest g({}, 1, ram_bytes, HV_DOMAIN_MULTI_OWNER);  // posted writes are a multi-owner claim
    PostedDm dm(g.host, g.domid);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
    REQUIRE(dm.map_mmio(HVG_UART_MMIO, HVG_UART_MMIO + 0xfff) == 0);
    dm.start();
    // P1 and P2 posted, S (a device register above RAM) synchronous between
    g.boot_script({store(claimed + 0x10, 8, 0x0123456789abcdef), store(HVG_UART_MMIO + 8, 1, 0x77),
                   store(claimed + 0x18, 4, 0xcafef00d)});
    const Error e = g.vm->run();
    REQUIRE_MESSAGE(e.is_ok(), e.what());
    REQUIRE_MESSAGE(g.vm->end() == RunEnd::halted, g.vm->end_detail());
    dm.stop();
    // In RAM, made by the core (the device model applied nothing)
    CHECK(g.ram_u64(claimed + 0x10) == 0x0123456789abcdef);
    CHECK(g.ram_u64(claimed + 0x18) == 0xcafef00d);
    const std::vector<hvdm_ioreq_t> seen = dm.seen();
    REQUIRE(seen.size() == 3);
    check_write(seen[0], true, claimed + 0x10, 8, 0x0123456789abcdef);
    check_write(seen[1], false, HVG_UART_MMIO + 8, 1, 0x77);
    check_write(seen[2], true, claimed + 0x18, 4, 0xcafef00d);
    const RunStats st = g.vm->stats();
    CHECK(st.mmio_exits == 3);
    CHECK(st.ioreqs[dm.id()] == 1);  // only S waited for an answer
}

}  // namespace
}  // namespace hvcore::kvm::test
