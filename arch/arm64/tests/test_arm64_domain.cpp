// SPDX-License-Identifier: MIT
// The Arm64 backend inside a domain: guest A64 instructions run by the
// core through the stage-2 walker, the fault record it keeps, and the
// emulation that follows (from the ESR syndrome when ISV = 1, by decoding
// otherwise), seen from the device model's ioreq slot.
#include <doctest/doctest.h>

#include <string_view>
#include <vector>

#include "hvcore/arm64/backend.hpp"
#include "hvcore/arm64/descriptor.hpp"
#include "hvcore/arm64/isa_a64.hpp"
#include "hvcore/arm64/stage2.hpp"
#include "hvcore/core/backend.hpp"
#include "hvcore/core/host.hpp"

using namespace hvcore;
using namespace hvcore::arm64;

namespace {

constexpr uint64_t mib = uint64_t{1} << 20;
constexpr uint32_t claim_write = 2;   // XEN_DMOP_IOREQ_MEM_ACCESS_WRITE
constexpr uint64_t claimed_gfn = 0x300;
constexpr uint64_t claimed_gpa = claimed_gfn << 12;
constexpr uint64_t mmio_gpa = 0x1'0000'0000;  // 4 GiB: beyond RAM, an mmio_dm hole
constexpr int done = 0, pending = 1, guest_fault = 3;

std::vector<uint8_t> le(uint32_t w) {
    return {static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
            static_cast<uint8_t>(w >> 24)};
}

struct Env {
    Host host;
    std::shared_ptr<Domain> d;
    EmulatorId dm{};
    IoservId id{};
    IoreqSlot* slots = nullptr;

    Env() {
        auto r = host.create_domain({.arch = Arch::arm64, .ram_bytes = 16 * mib, .nr_vcpus = 1, .hap = true});
        REQUIRE(r.is_ok());
        d = *r;
        dm = host.new_emulator();
        REQUIRE(d->create_ioreq_server(dm, 0, &id).is_ok());
        REQUIRE(d->set_ioreq_server_state(dm, id, true).is_ok());
        REQUIRE(d->map_ioreq_pages(dm, id, &slots, nullptr).is_ok());
        REQUIRE(d->map_mem_type_to_ioreq_server(dm, id, hvmmem::ioreq_server, claim_write).is_ok());
        REQUIRE(d->set_mem_type(hvmmem::ioreq_server, claimed_gfn, 1).is_ok());
        REQUIRE(d->map_io_range(dm, id, static_cast<uint32_t>(RangeType::memory), mmio_gpa, mmio_gpa + 0xfff).is_ok());
    }
    // The device model answers the pending request of vCPU 0.
    void answer(uint64_t data) {
        slots[0].data = data;
        slot_set_state(slots[0], ioreq::state_resp_ready);
    }
    uint64_t reg(unsigned r) {
        uint64_t v = 0;
        REQUIRE(d->vcpu_get_reg(0, r, &v) == 0);
        return v;
    }
};

}  // namespace

TEST_CASE("the_backend_is_linked_as_arm64_with_the_default_stage2_and_the_a64_executor") {
    const Backend own = hvcore_backend_arm64();
    CHECK(own.arch == Arch::arm64);
    CHECK(std::string_view{own.name} == "arm64 (VMSAv8-64 stage 2)");
    // The generated list of this build has it.
    const Backend* listed = nullptr;
    for (const Backend& b : linked_backends())
        if (b.arch == Arch::arm64) listed = &b;
    REQUIRE(listed != nullptr);
    CHECK((listed->make_stage2 == own.make_stage2));  // function pointers: doctest cannot print them
    auto mem = MachineMemory::create(4 * mib, 64);
    REQUIRE(mem.is_ok());
    auto s2 = listed->make_stage2(**mem);
    REQUIRE(s2.is_ok());
    CHECK((*s2)->arch() == Arch::arm64);
    CHECK((*s2)->gfn_limit() == (uint64_t{1} << 28));  // 40-bit IPA
    CHECK(dynamic_cast<Arm64Stage2&>(**s2).vtcr() == vtcr_default);
    const auto isa = listed->make_isa();
    CHECK(isa->kind() == IsaKind::a64);
}

TEST_CASE("the_claimed_page_holds_the_golden_read_only_xn_descriptor") {
    Env e;
    const Result<uint64_t> raw = e.d->p2m_raw_entry(claimed_gfn);
    REQUIRE(raw.is_ok());
    const uint64_t frame = (MachineMemory::ram_base_mfn.raw() + claimed_gfn) << 12;
    // Valid page, Normal WB, S2AP 01, inner shareable, AF, XN 10, type 15.
    CHECK(raw.value() == (0x07C0'0000'0000'077F | frame));
}

TEST_CASE("a_guest_str_to_a_claimed_page_reaches_the_server_with_the_iss_in_the_record") {
    Env e;
    REQUIRE(e.d->vcpu_set_reg(0, 8, claimed_gpa + 0x18) == 0);
    REQUIRE(e.d->vcpu_set_reg(0, 9, 0x1122'3344'5566'7788) == 0);
    REQUIRE(e.d->vcpu_set_reg(0, reg::pc, 0x8000) == 0);
    // 0xf9000109 = str x9, [x8] (llvm-mc)
    CHECK(e.d->vcpu_exec(0, le(0xf9000109)) == pending);
    FaultRecord r;
    REQUIRE(e.d->vcpu_last_fault(0, &r) == 0);
    CHECK(r.arch == Arch::arm64);
    CHECK(r.kind == 0x24);
    // ISV, SAS 3, SRT 9, SF, WnR, permission fault level 3: QEMU's case-0
    // ESR with the level of a page instead of a block.
    CHECK(r.syndrome == 0x93c9804f);
    CHECK(r.gpa == (claimed_gpa >> 12) << 4);  // HPFAR_EL2
    CHECK(r.gva == claimed_gpa + 0x18);        // FAR_EL2
    CHECK(e.slots[0].addr == claimed_gpa + 0x18);
    CHECK(e.slots[0].size == 8);
    CHECK(e.slots[0].data == 0x1122'3344'5566'7788);
    e.answer(0);
    uint64_t v = 0;
    CHECK(e.d->vcpu_resume(0, &v) == done);
    CHECK(e.reg(reg::pc) == 0x8004);
    // RAM under the claimed page is unchanged: the write went to the server.
    uint64_t ram = 1;
    REQUIRE(e.d->guest_read(claimed_gpa + 0x18, &ram, 8).is_ok());
    CHECK(ram == 0);
}

TEST_CASE("a_sign_extending_load_from_mmio_completes_with_the_servers_answer") {
    Env e;
    REQUIRE(e.d->vcpu_set_reg(0, 8, mmio_gpa + 0x20) == 0);
    REQUIRE(e.d->vcpu_set_reg(0, reg::pc, 0x8000) == 0);
    // 0x79800109 = ldrsh x9, [x8]: ESR SAS 1, SSE, SF, translation fault L1
    // (the 4 GiB region has no level-2 table).
    CHECK(e.d->vcpu_exec(0, le(0x79800109)) == pending);
    FaultRecord r;
    REQUIRE(e.d->vcpu_last_fault(0, &r) == 0);
    CHECK(r.syndrome == ((uint64_t{0x24} << 26) | (1 << 25) | (1 << 24) | (1 << 22) | (1 << 21) | (9 << 16) |
                         (1 << 15) | 0x05));
    CHECK(e.slots[0].size == 2);
    e.answer(0x9788);
    uint64_t v = 0;
    CHECK(e.d->vcpu_resume(0, &v) == done);
    CHECK(e.reg(9) == 0xffff'ffff'ffff'9788);
    CHECK(e.reg(reg::pc) == 0x8004);
}

TEST_CASE("an_instruction_the_executor_does_not_decode_is_a_guest_fault_naming_it") {
    // ST1 (SIMD structures) is not emulated: the model CPU refuses it
    // before any access; nothing reaches the device model. (The ISV = 0
    // forms that are emulated: test_arm64_isv0.cpp.)
    Env e;
    REQUIRE(e.d->vcpu_set_reg(0, 8, claimed_gpa) == 0);
    // 0x4c007100 = st1 {v0.16b}, [x8]
    CHECK(e.d->vcpu_exec(0, le(0x4c007100)) == guest_fault);
    CHECK(e.d->vcpu_guest_fault_detail(0) == "0x4c007100 (LD1/ST1 family (SIMD structures)): not emulated");
    CHECK(slot_state(e.slots[0]) == ioreq::state_none);
}

TEST_CASE("typed_stores_and_loads_run_as_str_and_ldr_and_port_io_is_eopnotsupp") {
    Env e;
    CHECK(e.d->vcpu_store(0, 0x2000, 4, 0xcafe'f00d) == done);
    uint64_t v = 0;
    CHECK(e.d->vcpu_load(0, 0x2000, 2, &v) == done);
    CHECK(v == 0xf00d);
    CHECK(e.d->vcpu_store(0, claimed_gpa, 2, 0xbeef) == pending);
    CHECK(e.slots[0].size == 2);
    CHECK(e.slots[0].data == 0xbeef);
    e.answer(0);
    CHECK(e.d->vcpu_resume(0, &v) == done);
    uint64_t port = 0;
    CHECK(e.d->vcpu_pio(0, 0x3f8, 1, true, &port) == -EOPNOTSUPP);
}

TEST_CASE("a_fetch_from_the_claimed_page_is_a_guest_fault_with_an_instruction_abort_record") {
    Env e;
    CHECK(e.d->vcpu_fetch(0, claimed_gpa) == guest_fault);
    FaultRecord r;
    REQUIRE(e.d->vcpu_last_fault(0, &r) == 0);
    CHECK(r.kind == 0x20);
    CHECK(r.syndrome == 0x8200000f);  // EC 0x20, IL, IFSC permission level 3
}
