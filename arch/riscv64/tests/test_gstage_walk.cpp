// SPDX-License-Identifier: MIT
// The G-stage model MMU (walk.hpp) over hand-built tables: every step of
// the privileged spec's "Virtual Address Translation Process" as "Guest
// Physical Address Translation" adapts it, the guest-page fault record
// (scause 20/21/23, htval = gpa >> 2, stval, htinst) and its decode.
#include "gstage_test_support.hpp"

using namespace rv_test;
using namespace bits;

namespace {

constexpr uint64_t ram_leaf(uint64_t mfn) { return ppn(mfn) | d | a | u | x | w | r | v; }

void check_fault(const Translation& t, uint32_t cause, uint64_t gpa, uint64_t stval, uint64_t htinst = 0) {
    REQUIRE_FALSE(t.ok);
    CHECK(t.record.arch == Arch::riscv64);
    CHECK(t.record.kind == cause);
    CHECK(t.record.gpa == (gpa >> 2));
    CHECK(t.record.gva == stval);
    CHECK(t.record.syndrome == htinst);
    CHECK(t.record.insn_len == 0);
}

}  // namespace

TEST_CASE("a_4k_page_three_levels_down_translates_every_access") {
    HandTable h;
    h.entry(0x12345, 0) = ram_leaf(0x40007);
    for (AccessType acc : {AccessType::read, AccessType::write, AccessType::fetch}) {
        const Translation t = h.translate(0x1234'5678, acc);
        CHECK(t.ok);
        CHECK(t.mfn == Mfn{0x40007});
    }
}

TEST_CASE("the_root_has_2048_entries_indexed_by_gpa_bits_40_30_in_sv39x4") {
    HandTable h;
    // gpa 0x1FF'C000'0000 (bits 40:30 = 0x7FF): the last root entry, in the
    // fourth root frame, as a 1 GiB leaf.
    const uint64_t gpa = 0x1FF'C000'0000 + 0x1234'5678;
    h.slot(h.root, 2047) = ram_leaf(0x40000);
    const Translation t = h.translate(gpa, AccessType::read);
    CHECK(t.ok);
    CHECK(t.mfn == Mfn{0x40000 + 0x12345});
    // One bit more is outside the 41-bit space: a guest-page fault.
    check_fault(h.translate(uint64_t{1} << 41, AccessType::read), 21, uint64_t{1} << 41, uint64_t{1} << 41);
}

TEST_CASE("sv48x4_has_four_levels_a_50_bit_space_and_512g_leaves_at_the_root") {
    HandTable h(Mode::sv48x4);
    // Root index = bits 49:39; entry 1024 + 3 covers gpa (1024 + 3) << 39.
    const uint64_t gpa = (uint64_t{1027} << 39) + 0x1000;
    h.slot(h.root, 1027) = ram_leaf(uint64_t{1} << 27);
    const Translation t = h.translate(gpa, AccessType::write);
    CHECK(t.ok);
    CHECK(t.mfn == Mfn{(uint64_t{1} << 27) + 1});
    h.entry(0x5, 0) = ram_leaf(0x40001);
    CHECK(h.translate(0x5000, AccessType::fetch).mfn == Mfn{0x40001});
    check_fault(h.translate(uint64_t{1} << 50, AccessType::fetch), 20, uint64_t{1} << 50, uint64_t{1} << 50);
}

TEST_CASE("step_3_invalid_w_without_r_and_reserved_encodings_fault") {
    HandTable h;
    const uint64_t gpa = 0x7000;
    uint64_t& e = h.entry(7, 0);
    for (const uint64_t bad : {ram_leaf(0x40000) & ~v, ppn(0x40000) | d | a | u | w | v, ram_leaf(0x40000) | reserved54,
                               ram_leaf(0x40000) | pbmt_nc, ram_leaf(0x40000) | napot}) {
        CAPTURE(bad);
        e = bad;
        check_fault(h.translate(gpa, AccessType::read), 21, gpa, gpa);
    }
    e = ram_leaf(0x40000);
    CHECK(h.translate(gpa, AccessType::read).ok);
}

TEST_CASE("step_4_a_pointer_with_d_a_or_u_and_a_pointer_at_level_0_fault") {
    HandTable h;
    h.entry(0, 0) = ram_leaf(0x40000);
    uint64_t& root0 = h.slot(h.root, 0);
    const uint64_t ptr = root0;
    for (const uint64_t extra : {d, a, u}) {
        root0 = ptr | extra;
        check_fault(h.translate(0, AccessType::write), 23, 0, 0);
    }
    root0 = ptr;
    CHECK(h.translate(0, AccessType::write).ok);
    // R = W = X = 0 at level 0: "If i < 0, stop and raise a page-fault exception".
    h.entry(0, 0) = ppn(0x1000010) | v;
    check_fault(h.translate(0x10, AccessType::read), 21, 0x10, 0x10);
}

TEST_CASE("step_5_a_misaligned_superpage_faults") {
    HandTable h;
    h.entry(0, 1) = ram_leaf(0x40001);  // a 2 MiB leaf whose PPN[0] is not 0
    check_fault(h.translate(0x100, AccessType::read), 21, 0x100, 0x100);
    h.entry(0, 1) = ram_leaf(0x40200);
    CHECK(h.translate(0x100, AccessType::read).ok);
}

TEST_CASE("step_6_u_0_faults_and_r_w_x_decide_each_access") {
    HandTable h;
    uint64_t& e = h.entry(3, 0);
    e = ram_leaf(0x40000) & ~u;  // supervisor-only: every G-stage access is user-level
    for (AccessType acc : {AccessType::read, AccessType::write, AccessType::fetch}) CHECK_FALSE(h.translate(0x3000, acc).ok);
    // Execute-only (R = W = 0, X = 1): fetches only; HS-level MXR is 0.
    e = ppn(0x40000) | a | u | x | v;
    CHECK(h.translate(0x3000, AccessType::fetch).ok);
    check_fault(h.translate(0x3004, AccessType::read), 21, 0x3004, 0x3004);
    check_fault(h.translate(0x3004, AccessType::write), 23, 0x3004, 0x3004);
    // Read-only.
    e = ppn(0x40000) | a | u | r | v;
    CHECK(h.translate(0x3000, AccessType::read).ok);
    check_fault(h.translate(0x3008, AccessType::fetch), 20, 0x3008, 0x3008);
}

TEST_CASE("step_7_svade_a_0_faults_and_d_0_faults_stores_only") {
    HandTable h;
    uint64_t& e = h.entry(3, 0);
    e = ram_leaf(0x40000) & ~a;
    check_fault(h.translate(0x3000, AccessType::read), 21, 0x3000, 0x3000);
    e = ram_leaf(0x40000) & ~d;
    CHECK(h.translate(0x3000, AccessType::read).ok);
    CHECK(h.translate(0x3000, AccessType::fetch).ok);
    check_fault(h.translate(0x3000, AccessType::write), 23, 0x3000, 0x3000);
    // The walk is read-only: nothing was set.
    CHECK(e == (ram_leaf(0x40000) & ~d));
}

TEST_CASE("the_record_stval_htinst_and_the_read_of_an_amo") {
    HandTable h;  // empty: every access faults at the root
    // A load with its executor's syndrome: htinst is the transformation.
    const AccessContext ld{.gla = 0xdead'0123, .gla_valid = true, .size = 4, .insn = {},
                           .isa_syndrome = 0x00002283 | (uint64_t{0x123} << 32)};
    check_fault(h.translate(0x5123, AccessType::read, ld), 21, 0x5123, 0xdead'0123, 0x00002283);
    // A fetch never carries htinst.
    check_fault(h.translate(0x5124, AccessType::fetch, ld), 20, 0x5124, 0xdead'0123, 0);
    // The second page of a misaligned `sw` that began at offset 0xffe:
    // stval is that page's first byte, Addr. Offset 2 in bits 19:15.
    const AccessContext st{.gla = 0x9000, .gla_valid = true, .size = 4, .insn = {},
                           .isa_syndrome = 0x00602023 | (uint64_t{0xffe} << 32)};
    check_fault(h.translate(0x9000, AccessType::write, st), 23, 0x9000, 0x9000, 0x00612023);
    // The read of an AMO is a store/AMO fault.
    AccessContext amo{};
    amo.rmw = true;
    check_fault(h.translate(0x6000, AccessType::read, amo), 23, 0x6000, 0x6000);
}

TEST_CASE("decode_gives_back_the_gpa_access_and_the_cause_from_the_table") {
    HandTable h;
    const AccessContext ctx{.gla = 0xffff'0002, .gla_valid = true, .size = 2, .insn = {}, .isa_syndrome = 0};
    const Translation t = h.translate(0x1'2345'6002, AccessType::write, ctx);
    REQUIRE_FALSE(t.ok);
    Stage2Walk walk;
    walk.count = 1;
    walk.level[0] = {.entry = 0, .table = h.root, .index = 0, .level = 2};
    Fault f = decode_guest_page_fault(t.record, &walk);
    CHECK(f.gpa == Gpa{0x1'2345'6002});  // htval << 2 | stval[1:0]
    CHECK(f.access == AccessType::write);
    CHECK(f.gla == 0xffff'0002);
    CHECK(f.cause == FaultCause::not_present);
    // Ending at a valid leaf: a permission fault.
    walk.level[0].entry = ppn(0x40000) | a | u | r | v;
    CHECK(decode_guest_page_fault(t.record, &walk).cause == FaultCause::permission);
    // A typed hole (V = 0): not present.
    walk.level[0].entry = Pte::encode_leaf(Mfn{0}, P2mType::mmio_dm, {}, 2);
    CHECK(decode_guest_page_fault(t.record, &walk).cause == FaultCause::not_present);
    // A mark anywhere on the walk: recalc.
    walk.count = 2;
    walk.level[0].entry = Pte::mark(Pte::encode_table(Mfn{0x1000004}));
    walk.level[1] = {.entry = ram_leaf(0x40000), .table = Mfn{0x1000004}, .index = 0, .level = 1};
    CHECK(decode_guest_page_fault(t.record, &walk).cause == FaultCause::recalc);
    // Beyond the table: not present.
    CHECK(decode_guest_page_fault(t.record, nullptr).cause == FaultCause::not_present);
    // A load fault and an instruction fault decode to their accesses.
    f = decode_guest_page_fault(h.translate(0x8000, AccessType::read).record, nullptr);
    CHECK(f.access == AccessType::read);
    CHECK(f.gla == 0x8000);
    CHECK(decode_guest_page_fault(h.translate(0x8000, AccessType::fetch).record, nullptr).access == AccessType::fetch);
}
