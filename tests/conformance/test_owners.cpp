// SPDX-License-Identifier: MIT
// Several owners and read trapping (HV_DOMAIN_MULTI_OWNER) on the model
// vCPUs of every backend: one script of claims, type changes and guest
// accesses gives exactly the device-model-visible trace written below
// (which server gets which request, what the guest reads, the types and
// the count), the same on every backend.
#include <array>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "abi_fixture.hpp"

using namespace conformance;

namespace {

constexpr uint64_t page = 4096;
// A write-trapping owner's pages 0x1fe-0x1ff, a read-and-write-trapping
// owner's 0x200-0x3ff, a read-trapping owner's 0x400: adjacent, so an
// access may cross from one owner's page to the next, and each owner's in
// leaf tables (512 pages) of its own (RISC-V keeps the owners of a table
// shared by several beside the table, within a budget a small domain
// cannot give: abi/owners).
constexpr uint64_t gfn_w = 0x1fe, gfn_rw = 0x200, gfn_r = 0x400;
constexpr uint64_t gfn_rw_last = 0x3ff;

struct Dm {
    hvdm_handle* h = nullptr;
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage* page = nullptr;
    uint64_t answer = 0;  // what it answers to reads
    char name = '?';
};

// One script on one backend; returns its trace.
std::vector<std::string> run_script(const ArchInfo& arch) {
    std::vector<std::string> t;
    hv_host* host = nullptr;
    REQUIRE(hv_host_create(&host) == 0);
    hv_domain_config cfg{sizeof(hv_domain_config), arch.arch, 8 * mib, 1, HV_DOMAIN_MULTI_OWNER};
    hv_domain* dom = nullptr;
    REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
    const hvdm_domid_t domid = hv_domain_id(dom);
    hvdm_handle* obs = hvdm_open(host);  // reads the types: no server of its own
    REQUIRE(obs != nullptr);
    std::array<Dm, 3> dms{};
    const std::array<uint32_t, 3> flags{HVDM_IOREQ_MEM_ACCESS_WRITE,
                                        HVDM_IOREQ_MEM_ACCESS_READ | HVDM_IOREQ_MEM_ACCESS_WRITE,
                                        HVDM_IOREQ_MEM_ACCESS_READ};
    const std::array<uint64_t, 3> first{gfn_w, gfn_rw, gfn_r};
    const std::array<uint32_t, 3> nr{2, 512, 1};
    for (size_t i = 0; i < dms.size(); ++i) {
        Dm& d = dms[i];
        d.name = static_cast<char>('A' + i);
        d.answer = 0x1111111111111111ull * (i + 1);
        d.h = hvdm_open(host);
        REQUIRE(d.h != nullptr);
        REQUIRE(hvdm_create_ioreq_server(d.h, domid, HVDM_BUFIOREQ_OFF, &d.id) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(d.h, domid, d.id, 1) == 0);
        REQUIRE(hvdm_map_ioreq_pages(d.h, domid, d.id, &d.page, nullptr) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(d.h, domid, d.id, HVDM_MEM_IOREQ_SERVER, flags[i]) == 0);
        REQUIRE(hvdm_set_mem_type(d.h, domid, HVDM_MEM_IOREQ_SERVER, first[i], nr[i]) == 0);
    }
    // Known RAM under every page: 0x10, 0x20 under A's, 0x30 under B's,
    // 0x40 under C's.
    for (uint64_t g = gfn_w; g <= gfn_r; ++g) {
        std::array<uint8_t, page> fill{};
        fill.fill(static_cast<uint8_t>(g < gfn_rw ? 0x10 * (g - gfn_w + 1) : g < gfn_r ? 0x30 : 0x40));
        REQUIRE(hv_guest_write(dom, g * page, fill.data(), fill.size()) == 0);
    }
    // An access, every request it sends answered in turn (reads with the
    // server's answer), each logged.
    const auto access = [&](bool write, uint64_t gpa, uint32_t size, uint64_t value) {
        uint64_t got = 0;
        int rc = write ? hv_vcpu_store(dom, 0, gpa, size, value) : hv_vcpu_load(dom, 0, gpa, size, &got);
        for (int n = 0; rc == HV_VCPU_IOREQ_PENDING && n < 8; ++n) {
            bool found = false;
            for (Dm& d : dms) {
                hvdm_ioreq_t& r = d.page->vcpu_ioreq[0];
                if (static_cast<unsigned>(r.state) != HVDM_STATE_IOREQ_READY) continue;
                found = true;
                t.push_back(fmt::format("  {} {} {:#x}+{}{}", d.name, r.dir == HVDM_IOREQ_WRITE ? "write" : "read",
                                        r.addr, r.size, r.dir == HVDM_IOREQ_WRITE ? fmt::format(" = {:#x}", r.data) : ""));
                if (r.dir == HVDM_IOREQ_READ) r.data = d.answer;
                r.state = HVDM_STATE_IORESP_READY;
                REQUIRE(hvdm_ioreq_notify(d.h, domid, d.id, 0) == 0);
            }
            REQUIRE(found);
            rc = hv_vcpu_resume(dom, 0, &got);
        }
        t.push_back(fmt::format("{} {:#x}+{}: rc {}{}", write ? "store" : "load", gpa, size, rc,
                                write ? "" : fmt::format(" value {:#x}", got)));
    };
    const auto types = [&] {
        std::string s = "types";
        for (const uint64_t g : {gfn_w, gfn_w + 1, gfn_rw, gfn_rw_last, gfn_r}) {
            uint16_t mt = 0xffff;
            REQUIRE(hvdm_get_mem_type(obs, domid, g, &mt) == 0);
            s += fmt::format(" {}", mt);
        }
        uint64_t n = 0;
        REQUIRE(hv_p2m_ioreq_entry_count(dom, &n) == 0);
        t.push_back(s + fmt::format(", count {}", n));
    };

    types();
    access(true, gfn_w * page + 0x10, 4, 0xaabbccdd);   // A's page: the write to A
    access(false, gfn_w * page + 0x10, 4, 0);           // A's claim is write only: RAM
    access(false, gfn_rw * page + 0x20, 2, 0);          // B's page: the read to B
    access(true, gfn_rw * page + 0x20, 8, 0x0102030405060708);
    access(false, gfn_r * page, 4, 0);                  // C's page: the read to C
    access(true, gfn_r * page, 4, 0x99);                // C claims reads only: RAM
    access(false, gfn_r * page, 4, 0);
    access(false, gfn_rw * page - 4, 8, 0);             // A's RAM, then B's read
    access(true, gfn_r * page - 4, 8, 0x1122334455667788);  // B's write, then C's RAM
    access(false, gfn_r * page - 4, 8, 0);              // B's read, then C's read
    REQUIRE(hvdm_map_mem_type_to_ioreq_server(dms[0].h, domid, dms[0].id, HVDM_MEM_IOREQ_SERVER, 0) == 0);
    types();
    REQUIRE(hvdm_destroy_ioreq_server(dms[1].h, domid, dms[1].id) == 0);
    types();
    access(false, gfn_rw * page + 0x20, 2, 0);  // B's page is RAM again
    for (Dm& d : dms) REQUIRE(hvdm_close(d.h) == 0);
    types();
    REQUIRE(hvdm_close(obs) == 0);
    REQUIRE(hv_domain_destroy(dom) == 0);
    hv_host_destroy(host);
    return t;
}

}  // namespace

TEST_CASE("owners_and_read_trapping_give_the_same_trace_on_every_backend") {
    // rc 0 done; A answers reads with 0x1111..., B 0x2222..., C 0x3333...;
    // types of gfns 0x1fe, 0x1ff, 0x200, 0x3ff, 0x400: 4 ioreq_server,
    // 0 ram_rw.
    const std::vector<std::string> expected{
        "types 4 4 4 4 4, count 515",
        "  A write 0x1fe010+4 = 0xaabbccdd",
        "store 0x1fe010+4: rc 0",
        "load 0x1fe010+4: rc 0 value 0x10101010",
        "  B read 0x200020+2",
        "load 0x200020+2: rc 0 value 0x2222",
        "  B write 0x200020+8 = 0x102030405060708",
        "store 0x200020+8: rc 0",
        "  C read 0x400000+4",
        "load 0x400000+4: rc 0 value 0x33333333",
        "store 0x400000+4: rc 0",
        "  C read 0x400000+4",
        "load 0x400000+4: rc 0 value 0x33333333",
        // A's page is read from RAM (0x20 x 4), B answers the high half
        "  B read 0x200000+4",
        "load 0x1ffffc+8: rc 0 value 0x2222222220202020",
        // B gets the low half; C's half goes to RAM
        "  B write 0x3ffffc+4 = 0x55667788",
        "store 0x3ffffc+8: rc 0",
        "  B read 0x3ffffc+4",
        "  C read 0x400000+4",
        "load 0x3ffffc+8: rc 0 value 0x3333333322222222",
        // A's disclaim resets its two pages only; B's destroy its 512
        "types 0 0 4 4 4, count 513",
        "types 0 0 0 0 4, count 1",
        "load 0x200020+2: rc 0 value 0x3030",
        "types 0 0 0 0 0, count 0",
    };
    for (const ArchInfo& a : linked_arches()) {
        CAPTURE(a.name);
        const std::vector<std::string> got = run_script(a);
        CHECK(got == expected);
        if (got != expected)
            for (const std::string& line : got) MESSAGE(line);
    }
}
