// SPDX-License-Identifier: MIT
// The memslot projection as a function of the p2m, without KVM: these run
// everywhere host/kvm builds.
#include <doctest/doctest.h>

#include "hvcore/embed.hpp"
#include "hvcore/hvdm.h"
#include "hvcore/kvm/slot_plan.hpp"

namespace hvcore::kvm {
namespace {

constexpr uint64_t page = 4096;

TEST_CASE("slot_access_follows_the_p2m_type") {
    CHECK(slot_access(P2mType::ram_rw) == SlotAccess::read_write);
    CHECK(slot_access(P2mType::ram_ro) == SlotAccess::read_only);
    CHECK(slot_access(P2mType::ioreq_server) == SlotAccess::read_only);
    CHECK(slot_access(P2mType::ram_logdirty) == SlotAccess::read_only);
    CHECK(slot_access(P2mType::mmio_dm) == SlotAccess::none);
    CHECK(slot_access(P2mType::mmio_direct) == SlotAccess::none);
    CHECK(slot_access(P2mType::invalid) == SlotAccess::none);
    // An ioreq_server page whose owner claims reads has no slot at all.
    CHECK(slot_access(P2mType::ioreq_server, true) == SlotAccess::none);
}

TEST_CASE("adjacent_runs_of_the_same_access_and_contiguous_frames_merge") {
    const Mfn base = MachineMemory::ram_base_mfn;
    SlotPlanBuilder b(16);
    b.add(Gfn{0}, 2, P2mType::ram_rw, base);
    b.add(Gfn{2}, 1, P2mType::ioreq_server, base + 2);
    b.add(Gfn{3}, 1, P2mType::ram_ro, base + 3);      // read-only too: joins the claimed page
    b.add(Gfn{4}, 1, P2mType::mmio_dm, Mfn{0});        // hole: no slot
    b.add(Gfn{5}, 2, P2mType::ram_rw, base + 5);
    b.add(Gfn{7}, 1, P2mType::ram_rw, base + 9);       // frames not contiguous: a slot of its own
    b.add(Gfn{8}, 1, P2mType::ram_rw, Mfn{0x10});      // not a RAM frame: no slot
    const std::vector<SlotSpec> plan = b.take();
    CHECK(plan == std::vector<SlotSpec>{{0, 2 * page, 0, false},
                                        {2 * page, 2 * page, 2 * page, true},
                                        {5 * page, 2 * page, 5 * page, false},
                                        {7 * page, page, 9 * page, false}});
}

TEST_CASE("the_diff_keeps_slots_present_in_both_projections") {
    const SlotSpec a{0, 2 * page, 0, false};
    const SlotSpec b{2 * page, page, 2 * page, true};
    const SlotSpec c{3 * page, page, 3 * page, false};
    const SlotSpec whole{0, 4 * page, 0, false};
    const SlotDiff split = diff_slots({whole}, {a, b, c});
    CHECK(split.remove == std::vector<SlotSpec>{whole});
    CHECK(split.add == std::vector<SlotSpec>{a, b, c});
    const SlotDiff same = diff_slots({a, b, c}, {a, b, c});
    CHECK(same.empty());
    // Only the slot that changed is touched.
    const SlotSpec b_rw{2 * page, page, 2 * page, false};
    const SlotDiff one = diff_slots({a, b, c}, {a, b_rw, c});
    CHECK(one.remove == std::vector<SlotSpec>{b});
    CHECK(one.add == std::vector<SlotSpec>{b_rw});
}

TEST_CASE("the_projection_of_a_domain_follows_set_mem_type_and_the_disclaim") {
    for (const Backend& be : linked_backends()) {
        CAPTURE(be.name);
        hv_host* host = nullptr;
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(be.arch);
        cfg.ram_bytes = 64 * page;
        cfg.nr_vcpus = 1;
        hv_domain* dom = nullptr;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        hvdm_handle* h = hvdm_open(host);
        hvdm_ioservid_t id = 0;
        const auto domid = hv_domain_id(dom);
        REQUIRE(hvdm_create_ioreq_server(h, domid, 0, &id) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(h, domid, HVDM_MEM_IOREQ_SERVER, 8, 4) == 0);
        const auto project = [&] {
            const auto core = hvcore::embed::domain_of(dom);
            SlotPlanBuilder b(core->memory().ram_frames());
            core->for_each_type_run(64, [&](Gfn g, uint64_t n, P2mType t, Mfn m) { b.add(g, n, t, m); });
            return b.take();
        };
        CHECK(project() == std::vector<SlotSpec>{{0, 8 * page, 0, false},
                                                 {8 * page, 4 * page, 8 * page, true},
                                                 {12 * page, 52 * page, 12 * page, false}});
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, 0) == 0);
        CHECK(project() == std::vector<SlotSpec>{{0, 64 * page, 0, false}});
        hvdm_close(h);
        REQUIRE(hv_domain_destroy(dom) == 0);
        hv_host_destroy(host);
    }
}

TEST_CASE("a_read_trapped_owners_pages_get_no_slot_and_another_owners_stay_read_only") {
    for (const Backend& be : linked_backends()) {
        CAPTURE(be.name);
        hv_host* host = nullptr;
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(be.arch);
        cfg.ram_bytes = 1024 * page;
        cfg.nr_vcpus = 1;
        cfg.flags = HV_DOMAIN_MULTI_OWNER;
        hv_domain* dom = nullptr;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        const auto domid = hv_domain_id(dom);
        // Two device models: one traps writes to gfns 8-11, the other reads
        // and writes of gfns 512-513 (a leaf table of its own: RISC-V
        // keeps a table's several owners beside it, within a budget a small
        // domain cannot give).
        hvdm_handle* w = hvdm_open(host);
        hvdm_handle* rw = hvdm_open(host);
        hvdm_ioservid_t wid = 0, rwid = 0;
        REQUIRE(hvdm_create_ioreq_server(w, domid, 0, &wid) == 0);
        REQUIRE(hvdm_create_ioreq_server(rw, domid, 0, &rwid) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(w, domid, wid, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) ==
                0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(rw, domid, rwid, HVDM_MEM_IOREQ_SERVER,
                                                  HVDM_IOREQ_MEM_ACCESS_READ | HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(w, domid, HVDM_MEM_IOREQ_SERVER, 8, 4) == 0);
        REQUIRE(hvdm_set_mem_type(rw, domid, HVDM_MEM_IOREQ_SERVER, 512, 2) == 0);
        const auto project = [&] {
            const auto core = hvcore::embed::domain_of(dom);
            SlotPlanBuilder b(core->memory().ram_frames());
            core->for_each_access_run(1024, [&](Gfn g, uint64_t n, P2mType t, Mfn m, bool trapped) {
                b.add(g, n, t, m, trapped);
            });
            return b.take();
        };
        CHECK(project() == std::vector<SlotSpec>{{0, 8 * page, 0, false},
                                                 {8 * page, 4 * page, 8 * page, true},
                                                 {12 * page, 500 * page, 12 * page, false},
                                                 {514 * page, 510 * page, 514 * page, false}});
        // The read-trapping owner's disclaim gives its pages their slot back.
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(rw, domid, rwid, HVDM_MEM_IOREQ_SERVER, 0) == 0);
        CHECK(project() == std::vector<SlotSpec>{{0, 8 * page, 0, false},
                                                 {8 * page, 4 * page, 8 * page, true},
                                                 {12 * page, 1012 * page, 12 * page, false}});
        hvdm_close(rw);
        hvdm_close(w);
        REQUIRE(hv_domain_destroy(dom) == 0);
        hv_host_destroy(host);
    }
}

}  // namespace
}  // namespace hvcore::kvm

namespace hvcore::kvm {
namespace {

// The race the KVM tests exposed, on the model vCPU of every backend: a
// write forwarded to the owner, the type disclaimed while it is pending,
// then the answer. Re-executing the instruction finds a RAM page; the
// write was completed by the device model and must not be made again.
TEST_CASE("a_write_answered_after_its_page_was_disclaimed_is_not_written_again") {
    for (const Backend& be : linked_backends()) {
        CAPTURE(be.name);
        hv_host* host = nullptr;
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(be.arch);
        cfg.ram_bytes = 64 * page;
        cfg.nr_vcpus = 1;
        hv_domain* dom = nullptr;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        const auto domid = hv_domain_id(dom);
        hvdm_handle* h = hvdm_open(host);
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage* iopage = nullptr;
        REQUIRE(hvdm_create_ioreq_server(h, domid, 0, &id) == 0);
        REQUIRE(hvdm_map_ioreq_pages(h, domid, id, &iopage, nullptr) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(h, domid, id, 1) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(h, domid, HVDM_MEM_IOREQ_SERVER, 8, 1) == 0);

        const uint64_t gpa = 8 * page + 0x40;  // in the claimed page
        REQUIRE(hv_vcpu_store(dom, 0, gpa, 8, 0x1234) == HV_VCPU_IOREQ_PENDING);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(h, domid, id, HVDM_MEM_IOREQ_SERVER, 0) == 0);
        hvdm_ioreq_t& r = iopage->vcpu_ioreq[0];
        REQUIRE(static_cast<unsigned>(r.state) == HVDM_STATE_IOREQ_READY);
        CHECK(r.addr == gpa);
        r.state = HVDM_STATE_IORESP_READY;  // answered, deliberately not applied to RAM
        REQUIRE(hvdm_ioreq_notify(h, domid, id, 0) == 0);
        uint64_t unused = 0;
        REQUIRE(hv_vcpu_resume(dom, 0, &unused) == HV_VCPU_DONE);
        uint64_t ram = 0;
        REQUIRE(hv_guest_read(dom, gpa, &ram, sizeof ram) == 0);
        CHECK(ram == 0);  // not doubled into RAM
        // The next write is a plain RAM write.
        REQUIRE(hv_vcpu_store(dom, 0, gpa, 8, 0x5678) == HV_VCPU_DONE);
        REQUIRE(hv_guest_read(dom, gpa, &ram, sizeof ram) == 0);
        CHECK(ram == 0x5678);

        hvdm_close(h);
        REQUIRE(hv_domain_destroy(dom) == 0);
        hv_host_destroy(host);
    }
}

}  // namespace
}  // namespace hvcore::kvm
