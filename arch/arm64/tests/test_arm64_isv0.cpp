// SPDX-License-Identifier: MIT
// Arm64 data aborts without syndrome (ESR_EL2.ISV = 0) in a domain, driven
// through the C ABI as a device model author would: registers set with
// hv_vcpu_set_reg, one A64 word run with hv_vcpu_exec at a page claimed
// for writes (ioreq_server) or at an MMIO range, the device model answering
// in its ioreq slot. What the device model sees (the ioreqs, in order), the
// fault record, the registers after, and the policy for an instruction
// hvcore does not emulate (README, "Arm64 ISV=0 policy").
//
// Words: GNU as 2.40 (aarch64-linux-gnu-as), text beside each.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "hvcore/core/backend.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

namespace {

constexpr uint64_t mib = uint64_t{1} << 20;
constexpr uint64_t claimed_gpa = 0x30'0000;      // one page, ioreq_server, claimed for writes
constexpr uint64_t mmio_gpa = 0x1'0000'0000;     // 4 GiB: beyond RAM, a range of the server
constexpr uint64_t code_gpa = 0x8000;            // PC
constexpr uint32_t pc = 32;
// ESR_EL2 pieces (Arm ARM D24.2.46 "ESR_EL2, Exception Syndrome Register
// (EL2)"; Linux arch/arm64/include/asm/esr.h).
constexpr uint64_t ec_dabt = uint64_t{0x24} << 26;
constexpr uint64_t il = uint64_t{1} << 25;
constexpr uint64_t isv = uint64_t{1} << 24;
constexpr uint64_t cm = uint64_t{1} << 8;
constexpr uint64_t wnr = uint64_t{1} << 6;
constexpr uint64_t perm_l3 = 0x0f;   // permission fault, level 3 (the claimed 4 KiB page)
constexpr uint64_t trans_l1 = 0x05;  // translation fault, level 1 (nothing mapped at 4 GiB)

std::array<uint8_t, 4> le(uint32_t w) {
    return {static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
            static_cast<uint8_t>(w >> 24)};
}

struct Req {
    uint64_t addr;
    uint32_t size;
    bool write;
    uint64_t data;
    bool operator==(const Req&) const = default;
};

// An Arm64 domain (16 MiB of RAM) with one enabled server that claims the
// ioreq_server type, one page of it, and the MMIO range at 4 GiB.
struct Dom {
    hv_host* host = nullptr;
    hv_domain* d = nullptr;
    hvdm_handle* dm = nullptr;
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage* page = nullptr;
    std::vector<Req> seen;  // every request the device model was handed

    explicit Dom(uint32_t flags = 0, uint32_t arch = HV_ARCH_ARM64) {
        // The backend list lives in the C ABI's library; referencing it
        // also checks this build has Arm64.
        bool arm64 = false;
        for (const hvcore::Backend& b : hvcore::linked_backends()) arm64 = arm64 || b.arch == hvcore::Arch::arm64;
        REQUIRE(arm64);
        REQUIRE(hv_host_create(&host) == 0);
        const hv_domain_config cfg{.size = sizeof(hv_domain_config), .arch = arch, .ram_bytes = 16 * mib,
                                   .nr_vcpus = 1, .flags = flags};
        REQUIRE(hv_domain_create(host, &cfg, &d) == 0);
        dm = hvdm_open(host);
        const hvdm_domid_t dom = hv_domain_id(d);
        REQUIRE(hvdm_create_ioreq_server(dm, dom, HVDM_BUFIOREQ_OFF, &id) == 0);
        REQUIRE(hvdm_map_ioreq_pages(dm, dom, id, &page, nullptr) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(dm, dom, id, 1) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(dm, dom, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(dm, dom, HVDM_MEM_IOREQ_SERVER, claimed_gpa >> 12, 1) == 0);
        REQUIRE(hvdm_map_io_range_to_ioreq_server(dm, dom, id, 1, mmio_gpa, mmio_gpa + 0xfff) == 0);
        set(pc, code_gpa);
    }
    ~Dom() {
        (void)hvdm_close(dm);
        hv_host_destroy(host);
    }
    Dom(const Dom&) = delete;
    Dom& operator=(const Dom&) = delete;

    void set(uint32_t r, uint64_t v) { REQUIRE(hv_vcpu_set_reg(d, 0, r, v) == 0); }
    uint64_t reg(uint32_t r) {
        uint64_t v = 0;
        REQUIRE(hv_vcpu_get_reg(d, 0, r, &v) == 0);
        return v;
    }
    void poke(uint64_t gpa, uint64_t v, size_t n = 8) { REQUIRE(hv_guest_write(d, gpa, &v, n) == 0); }
    uint64_t peek(uint64_t gpa, size_t n = 8) {
        uint64_t v = 0;
        REQUIRE(hv_guest_read(d, gpa, &v, n) == 0);
        return v;
    }
    int exec(uint32_t word) {
        const auto w = le(word);
        return hv_vcpu_exec(d, 0, w.data(), w.size());
    }
    // The pending request as the device model reads it.
    Req pending() {
        const hvdm_ioreq_t& s = page->vcpu_ioreq[0];
        REQUIRE(unsigned{s.state} == HVDM_STATE_IOREQ_READY);
        return {s.addr, s.size, unsigned{s.dir} == HVDM_IOREQ_WRITE, s.data};
    }
    // Answer every request with `read_value` for reads, until the
    // instruction is done; the final status.
    int serve(int rc, uint64_t read_value = 0) {
        for (unsigned guard = 0; rc == HV_VCPU_IOREQ_PENDING && guard < 32; ++guard) {
            const Req r = pending();
            seen.push_back(r);
            hvdm_ioreq_t& s = page->vcpu_ioreq[0];
            if (!r.write) s.data = read_value;
            s.state = HVDM_STATE_IORESP_READY;
            uint64_t unused = 0;
            rc = hv_vcpu_resume(d, 0, &unused);
        }
        return rc;
    }
    hv_fault_record fault() {
        hv_fault_record f{};
        f.size = sizeof f;
        REQUIRE(hv_vcpu_last_fault(d, 0, &f) == 0);
        return f;
    }
    std::string detail() {
        std::array<char, 256> b{};
        (void)hv_vcpu_fault_detail(d, 0, b.data(), b.size());
        return b.data();
    }
};

}  // namespace

TEST_CASE("stp_to_a_claimed_page_has_no_syndrome_and_sends_two_writes_in_address_order") {
    Dom e;
    e.set(8, claimed_gpa + 0x10);
    e.set(1, 0x1111'2222'3333'4444);
    e.set(2, 0x5555'6666'7777'8888);
    // 0xa9000901 = stp x1, x2, [x8]
    const int first = e.exec(0xa9000901);
    REQUIRE(first == HV_VCPU_IOREQ_PENDING);
    // Permission fault at level 3, WnR, no ISV (pairs: D24.2.46 ISV; QEMU
    // never passes ISS for pair forms, target/arm/translate-a64.c).
    CHECK(e.fault().syndrome == (ec_dabt | il | wnr | perm_l3));
    CHECK(e.serve(first) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa + 0x10, 8, true, 0x1111'2222'3333'4444},
                                     {claimed_gpa + 0x18, 8, true, 0x5555'6666'7777'8888}});
    CHECK(e.reg(pc) == code_gpa + 4);
    CHECK(e.peek(claimed_gpa + 0x10) == 0);  // the writes went to the server, not to RAM
}

TEST_CASE("q_stores_to_a_claimed_page_are_split_into_aligned_8_byte_ioreqs") {
    Dom e;
    e.set(8, claimed_gpa + 0x20);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_LO(1), 0xaaaa'aaaa'aaaa'aaa1) == 0);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_HI(1), 0xbbbb'bbbb'bbbb'bbb1) == 0);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_LO(2), 0xcccc'cccc'cccc'ccc2) == 0);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_HI(2), 0xdddd'dddd'dddd'ddd2) == 0);
    // 0x3d800101 = str q1, [x8]: one 16-byte access, two ioreqs.
    CHECK(e.serve(e.exec(0x3d800101)) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa + 0x20, 8, true, 0xaaaa'aaaa'aaaa'aaa1},
                                     {claimed_gpa + 0x28, 8, true, 0xbbbb'bbbb'bbbb'bbb1}});
    // 0xad000901 = stp q1, q2, [x8]: 32 bytes, four ioreqs.
    e.seen.clear();
    e.set(pc, code_gpa);
    CHECK(e.serve(e.exec(0xad000901)) == HV_VCPU_DONE);
    REQUIRE(e.seen.size() == 4);
    CHECK(e.seen[2] == Req{claimed_gpa + 0x30, 8, true, 0xcccc'cccc'cccc'ccc2});
    CHECK(e.seen[3] == Req{claimed_gpa + 0x38, 8, true, 0xdddd'dddd'dddd'ddd2});
}

TEST_CASE("a_q_store_straddling_ram_and_a_claimed_page_writes_ram_and_sends_only_the_claimed_half") {
    Dom e;
    e.set(8, claimed_gpa);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_LO(1), 0x0102'0304'0506'0708) == 0);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_HI(1), 0x1112'1314'1516'1718) == 0);
    // 0x3c9f8101 = stur q1, [x8, #-8]: bytes 0..7 below the claimed page.
    CHECK(e.serve(e.exec(0x3c9f8101)) == HV_VCPU_DONE);
    CHECK(e.peek(claimed_gpa - 8) == 0x0102'0304'0506'0708);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa, 8, true, 0x1112'1314'1516'1718}});
}

TEST_CASE("a_pre_index_store_to_a_claimed_page_writes_the_base_back_only_once_it_completes") {
    Dom e;
    e.set(8, claimed_gpa);
    e.set(9, 0x99);
    // 0xf8010d09 = str x9, [x8, #16]!
    const int rc = e.exec(0xf8010d09);
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    CHECK((e.fault().syndrome & isv) == 0);  // writeback: no syndrome
    CHECK(e.pending() == Req{claimed_gpa + 16, 8, true, 0x99});
    // While the device model works, the vCPU is waiting and nothing changed.
    uint64_t x8 = 0;
    REQUIRE(hv_vcpu_get_reg(e.d, 0, 8, &x8) == 0);
    CHECK(x8 == claimed_gpa);
    CHECK(e.serve(rc) == HV_VCPU_DONE);
    CHECK(e.reg(8) == claimed_gpa + 16);
    CHECK(e.reg(pc) == code_gpa + 4);
}

TEST_CASE("ldadd_on_a_claimed_page_reads_ram_and_sends_one_write_carrying_the_sum") {
    Dom e;
    e.poke(claimed_gpa + 8, 1000);
    e.set(8, claimed_gpa + 8);
    e.set(1, 24);
    // 0xf8210102 = ldadd x1, x2, [x8]
    const int rc = e.exec(0xf8210102);
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    // The read was allowed; the write faulted: WnR = 1 (ESR WnR for atomics).
    CHECK(e.fault().syndrome == (ec_dabt | il | wnr | perm_l3));
    CHECK(e.serve(rc) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa + 8, 8, true, 1024}});
    CHECK(e.reg(2) == 1000);
    // swp x1, x2, [x8] (0xf8218102): one write of x1, x2 = the old value.
    e.seen.clear();
    e.set(pc, code_gpa);
    CHECK(e.serve(e.exec(0xf8218102)) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa + 8, 8, true, 24}});
}

TEST_CASE("cas_on_a_claimed_page_sends_a_write_only_when_the_comparison_succeeds") {
    Dom e;
    e.poke(claimed_gpa, 7);
    e.set(8, claimed_gpa);
    e.set(2, 8);
    // 0xc8a17d02 = cas x1, x2, [x8]; x1 = 6: fails, no ioreq, x1 = 7.
    e.set(1, 6);
    CHECK(e.serve(e.exec(0xc8a17d02)) == HV_VCPU_DONE);
    CHECK(e.seen.empty());
    CHECK(e.reg(1) == 7);
    CHECK(e.reg(pc) == code_gpa + 4);
    // x1 = 7 now: succeeds, one write of x2.
    e.set(pc, code_gpa);
    CHECK(e.serve(e.exec(0xc8a17d02)) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa, 8, true, 8}});
    CHECK(e.reg(1) == 7);
}

TEST_CASE("an_atomic_on_mmio_is_a_read_then_a_write_and_its_read_fault_says_wnr_0") {
    Dom e;
    e.set(8, mmio_gpa + 0x40);
    e.set(1, 5);
    const int rc = e.exec(0xf8210102);  // ldadd x1, x2, [x8]
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    // The read of an unmapped IPA faults first: WnR = 0 ("set to 0 if a read
    // ... would have generated the fault").
    CHECK(e.fault().syndrome == (ec_dabt | il | trans_l1));
    CHECK(e.serve(rc, 37) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{mmio_gpa + 0x40, 8, false, 0}, {mmio_gpa + 0x40, 8, true, 42}});
    CHECK(e.reg(2) == 37);
}

TEST_CASE("ldp_from_mmio_is_two_reads_and_the_registers_take_the_answers") {
    Dom e;
    e.set(8, mmio_gpa);
    const int rc = e.exec(0xa9400901);  // ldp x1, x2, [x8]
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    CHECK(e.fault().syndrome == (ec_dabt | il | trans_l1));
    CHECK(e.serve(rc, 0x77) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{mmio_gpa, 8, false, 0}, {mmio_gpa + 8, 8, false, 0}});
    CHECK(e.reg(1) == 0x77);
    CHECK(e.reg(2) == 0x77);
}

TEST_CASE("dc_civac_on_mmio_completes_with_no_ioreq_after_a_cm_abort") {
    Dom e;
    e.set(8, mmio_gpa + 0x80);
    // 0xd50b7e28 = dc civac, x8
    CHECK(e.exec(0xd50b7e28) == HV_VCPU_DONE);
    CHECK(e.seen.empty());
    CHECK(unsigned{e.page->vcpu_ioreq[0].state} == HVDM_STATE_IOREQ_NONE);
    CHECK(e.reg(pc) == code_gpa + 4);
    // The abort was taken and ignored: CM = 1, WnR = 1, ISV = 0.
    CHECK(e.fault().syndrome == (ec_dabt | il | cm | wnr | trans_l1));
    // On the claimed page (readable) there is no abort at all.
    e.set(8, claimed_gpa);
    e.set(pc, code_gpa);
    CHECK(e.exec(0xd50b7e28) == HV_VCPU_DONE);
    hv_fault_record f{};
    f.size = sizeof f;
    CHECK(hv_vcpu_last_fault(e.d, 0, &f) == -ENOENT);
}

TEST_CASE("dc_zva_on_a_claimed_page_sends_eight_8_byte_writes_of_zero") {
    Dom e;
    e.set(8, claimed_gpa + 0x7f);
    // 0xd50b7428 = dc zva, x8: the 64-byte block at 0x40.
    const int rc = e.exec(0xd50b7428);
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    // The abort: a write (WnR), no syndrome, and FAR_EL2 = the register
    // operand, not the block ("If a memory fault ... is generated from a
    // data cache maintenance or other DC instruction, this field holds the
    // address specified in the register argument", Arm ARM DDI 0487 M.a.a
    // D24.2.49 FAR_EL2). HPFAR_EL2 = IPA[47:12] in bits 39:4.
    const hv_fault_record f = e.fault();
    CHECK(f.syndrome == (ec_dabt | il | wnr | perm_l3));
    CHECK(f.gva == claimed_gpa + 0x7f);
    CHECK(f.gpa == (claimed_gpa >> 12) << 4);
    CHECK(e.serve(rc) == HV_VCPU_DONE);
    REQUIRE(e.seen.size() == 8);
    for (unsigned i = 0; i < 8; ++i) CHECK(e.seen[i] == Req{claimed_gpa + 0x40 + 8 * i, 8, true, 0});
}

TEST_CASE("dc_zva_on_mmio_reports_the_register_operand_and_sends_the_aligned_block") {
    Dom e;
    e.set(8, mmio_gpa + 0x9d);
    const int rc = e.exec(0xd50b7428);  // dc zva, x8: the block at 0x80
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    CHECK(e.fault().syndrome == (ec_dabt | il | wnr | trans_l1));
    CHECK(e.fault().gva == mmio_gpa + 0x9d);
    CHECK(e.serve(rc) == HV_VCPU_DONE);
    REQUIRE(e.seen.size() == 8);
    for (unsigned i = 0; i < 8; ++i) CHECK(e.seen[i] == Req{mmio_gpa + 0x80 + 8 * i, 8, true, 0});
}

TEST_CASE("a_store_crossing_into_a_claimed_page_faults_there_with_isv_and_the_device_model_gets_its_bytes") {
    Dom e;
    // str x1, [x8] (0xf9000101) with x8 four bytes below the claimed page:
    // bytes 0-3 of x1 go to RAM, bytes 4-7 to the claimed page.
    e.set(8, claimed_gpa - 4);
    e.set(1, 0x1122'3344'5566'7788);
    const int rc = e.exec(0xf9000101);
    REQUIRE(rc == HV_VCPU_IOREQ_PENDING);
    // The fault is on the second page: FAR = HPFAR's page = its first byte,
    // and ISV = 1 with the instruction's syndrome (SAS 0b11, SRT 1, SF),
    // as the hardware writes it.
    const hv_fault_record f = e.fault();
    constexpr uint64_t sas_d = uint64_t{3} << 22, srt_1 = uint64_t{1} << 16, sf = uint64_t{1} << 15;
    CHECK(f.syndrome == (ec_dabt | il | isv | sas_d | srt_1 | sf | wnr | perm_l3));
    CHECK(f.gva == claimed_gpa);
    CHECK(f.gpa == (claimed_gpa >> 12) << 4);
    // Emulated by decoding, not from the record: the device model sees the
    // 4 bytes in its page, RAM the other 4.
    CHECK(e.serve(rc) == HV_VCPU_DONE);
    CHECK(e.seen == std::vector<Req>{{claimed_gpa, 4, true, 0x1122'3344}});
    CHECK(e.peek(claimed_gpa - 4, 4) == 0x5566'7788);
    CHECK(e.reg(pc) == code_gpa + 4);
}

TEST_CASE("a_misaligned_atomic_is_a_guest_alignment_fault_with_no_ioreq") {
    Dom e;
    e.set(8, claimed_gpa + 4);
    CHECK(e.exec(0xf8210102) == HV_VCPU_GUEST_FAULT);
    CHECK(e.detail() == "0xf8210102 (ldadd x1, x2, [x8]): address 0x300004 is not aligned to 8 bytes (Alignment fault)");
    CHECK(e.seen.empty());
}

TEST_CASE("a_store_exclusive_to_a_claimed_page_is_by_default_a_guest_fault_naming_it") {
    Dom e;
    e.set(8, claimed_gpa);
    // 0xc8037d01 = stxr w3, x1, [x8]: the write is checked (and faults),
    // then hvcore declines the instruction; the guest takes the abort.
    CHECK(e.exec(0xc8037d01) == HV_VCPU_GUEST_FAULT);
    CHECK(e.detail() == "0xc8037d01 (stxr w3, x1, [x8]): not emulated: an exclusive needs the exclusive monitor, "
                        "which the model does not keep");
    CHECK(e.fault().syndrome == (ec_dabt | il | wnr | perm_l3));
    CHECK(unsigned{e.page->vcpu_ioreq[0].state} == HVDM_STATE_IOREQ_NONE);
    hv_arm64_undecoded u{};
    u.size = sizeof u;
    CHECK(hv_vcpu_arm64_undecoded(e.d, 0, &u) == -ENOENT);  // not a reporting domain
    // An instruction hvcore does not decode at all: 0x4c007100 = st1 {v0.16b}, [x8].
    CHECK(e.exec(0x4c007100) == HV_VCPU_GUEST_FAULT);
    CHECK(e.detail() == "0x4c007100 (LD1/ST1 family (SIMD structures)): not emulated");
}

TEST_CASE("with_report_undecoded_the_caller_gets_the_esr_and_the_word_and_nothing_happened") {
    Dom e(HV_DOMAIN_ARM64_REPORT_UNDECODED);
    e.set(8, claimed_gpa + 0x28);
    e.set(3, 0x33);
    e.poke(claimed_gpa + 0x28, 0xfeed);
    CHECK(e.exec(0xc8037d01) == HV_VCPU_UNDECODED);  // stxr w3, x1, [x8]
    hv_arm64_undecoded u{};
    u.size = sizeof u;
    REQUIRE(hv_vcpu_arm64_undecoded(e.d, 0, &u) == 0);
    CHECK(u.insn == 0xc8037d01);
    CHECK(u.pc == code_gpa);
    CHECK(u.esr == (ec_dabt | il | wnr | perm_l3));
    CHECK(u.far == claimed_gpa + 0x28);
    CHECK(u.hpfar == (claimed_gpa >> 12) << 4);
    CHECK(u.ipa == claimed_gpa + 0x28);
    // Nothing happened: PC, the status register, memory; no ioreq.
    CHECK(e.reg(pc) == code_gpa);
    CHECK(e.reg(3) == 0x33);
    CHECK(e.peek(claimed_gpa + 0x28) == 0xfeed);
    CHECK(unsigned{e.page->vcpu_ioreq[0].state} == HVDM_STATE_IOREQ_NONE);
    // A load-exclusive from MMIO: the read's translation fault, WnR = 0.
    e.set(8, mmio_gpa + 8);
    CHECK(e.exec(0xc85f7d01) == HV_VCPU_UNDECODED);  // ldxr x1, [x8]
    REQUIRE(hv_vcpu_arm64_undecoded(e.d, 0, &u) == 0);
    CHECK(u.insn == 0xc85f7d01);
    CHECK(u.esr == (ec_dabt | il | trans_l1));
    CHECK(u.ipa == mmio_gpa + 8);
    // The report describes the last call only.
    e.set(8, claimed_gpa);
    CHECK(e.serve(e.exec(0xa9000901)) == HV_VCPU_DONE);  // stp x1, x2, [x8]
    CHECK(hv_vcpu_arm64_undecoded(e.d, 0, &u) == -ENOENT);
    // A struct too small for this version is refused.
    u.size = 8;
    CHECK(hv_vcpu_arm64_undecoded(e.d, 0, &u) == -EINVAL);
}

TEST_CASE("report_undecoded_leaves_undefined_words_and_faultless_refusals_as_guest_faults") {
    Dom e(HV_DOMAIN_ARM64_REPORT_UNDECODED);
    // An exclusive on plain RAM takes no abort: there is nothing to report,
    // and the model CPU cannot run it.
    e.set(8, 0x10'0000);
    CHECK(e.exec(0xc85f7d01) == HV_VCPU_GUEST_FAULT);
    // UNDEFINED is the guest's exception whatever the policy: ldr x1, [x1], #8.
    CHECK(e.exec(0xf8408421) == HV_VCPU_GUEST_FAULT);
    CHECK(e.detail().find("UNDEFINED") != std::string::npos);
}

TEST_CASE("report_undecoded_is_an_arm64_flag_and_its_call_is_arm64_only") {
    hv_host* host = nullptr;
    REQUIRE(hv_host_create(&host) == 0);
    hv_domain* d = nullptr;
    hv_domain_config cfg{.size = sizeof(hv_domain_config), .arch = HV_ARCH_X86_VMX, .ram_bytes = 16 * mib,
                         .nr_vcpus = 1, .flags = HV_DOMAIN_ARM64_REPORT_UNDECODED};
    CHECK(hv_domain_create(host, &cfg, &d) == -EINVAL);
    cfg.flags = 1u << 3;  // not a flag (bit 2 is HV_DOMAIN_MULTI_OWNER)
    cfg.arch = HV_ARCH_ARM64;
    CHECK(hv_domain_create(host, &cfg, &d) == -EINVAL);
    hv_host_destroy(host);
}

TEST_CASE("simd_registers_are_v0_to_v31_through_hv_reg_v_ids") {
    Dom e;
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_LO(31), 0x31) == 0);
    REQUIRE(hv_vcpu_set_reg(e.d, 0, HV_REG_V_HI(31), 0x131) == 0);
    uint64_t v = 0;
    CHECK(hv_vcpu_get_reg(e.d, 0, HV_REG_V_HI(31), &v) == 0);
    CHECK(v == 0x131);
    CHECK(hv_vcpu_get_reg(e.d, 0, HV_REG_V_HI(31) + 1, &v) == -EINVAL);  // id 128
    CHECK(hv_vcpu_get_reg(e.d, 0, 33, &v) == -EINVAL);                  // between PC and V0
    // ldr q1, [x8] (0x3dc00101) from RAM: both halves.
    e.poke(0x10'0000, 0x0a0b);
    e.poke(0x10'0008, 0x0c0d);
    e.set(8, 0x10'0000);
    CHECK(e.exec(0x3dc00101) == HV_VCPU_DONE);
    CHECK(e.reg(HV_REG_V_LO(1)) == 0x0a0b);
    CHECK(e.reg(HV_REG_V_HI(1)) == 0x0c0d);
}
