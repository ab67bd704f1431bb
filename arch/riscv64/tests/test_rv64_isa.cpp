// SPDX-License-Identifier: MIT
// The RV64 executor (isa_rv64.hpp): the eleven RV64I loads and stores
// against a recording port (address, size, data, sign extension, x0, the
// pc, the syndrome handed to the walker), everything else declined as
// undecoded, the record path from htinst, and the typed calls'
// instructions. Encodings from Volume I, "RV32I Base Integer Instruction
// Set" (I-type loads, S-type stores) and "RV64I".
#include "gstage_test_support.hpp"

using namespace rv_test;

namespace {

// I-type load: imm[11:0] rs1 funct3 rd 0000011.
constexpr uint32_t load(unsigned f3, unsigned rd, unsigned rs1, int imm) {
    return (static_cast<uint32_t>(imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x03;
}
// S-type store: imm[11:5] rs2 rs1 funct3 imm[4:0] 0100011.
constexpr uint32_t store(unsigned f3, unsigned rs2, unsigned rs1, int imm) {
    const auto i = static_cast<uint32_t>(imm & 0xfff);
    return ((i >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((i & 0x1f) << 7) | 0x23;
}
static_assert(load(2, 5, 10, 12) == 0x00C52283);   // lw x5, 12(x10)
static_assert(store(3, 6, 10, 8) == 0x00653423);   // sd x6, 8(x10)
static_assert(store(0, 1, 2, -1) == 0xFE110FA3);   // sb x1, -1(x2)

struct Run {
    RegFile regs;
    FakePort port;
    std::unique_ptr<Isa> isa = make_rv64_isa();
    ExecResult exec(uint32_t word) { return isa->execute(regs, le32(word), port); }
};

}  // namespace

TEST_CASE("loads_sign_or_zero_extend_their_width_and_advance_the_pc") {
    struct Case {
        unsigned f3;
        unsigned size;
        uint64_t want;
    };
    // Memory holds 0x8596A7B4C3D2E1F0, little-endian, at 0x1000 + 0x10.
    const Case cases[] = {
        {0, 1, 0xFFFF'FFFF'FFFF'FFF0},  // LB  0xF0
        {1, 2, 0xFFFF'FFFF'FFFF'E1F0},  // LH  0xE1F0
        {2, 4, 0xFFFF'FFFF'C3D2'E1F0},  // LW
        {3, 8, 0x8596'A7B4'C3D2'E1F0},  // LD
        {4, 1, 0xF0},                   // LBU
        {5, 2, 0xE1F0},                 // LHU
        {6, 4, 0xC3D2'E1F0},            // LWU
    };
    for (const Case& c : cases) {
        CAPTURE(c.f3);
        Run r;
        r.port.put(0x1010, 0x8596'A7B4'C3D2'E1F0, 8);
        r.regs.r[10] = 0x1000;
        r.regs.r[reg::pc] = 0x8000'0000;
        const ExecResult e = r.exec(load(c.f3, 5, 10, 0x10));
        REQUIRE(e.status == MemStatus::ok);
        CHECK(r.regs.r[5] == c.want);
        CHECK(r.regs.r[reg::pc] == 0x8000'0004);
        REQUIRE(r.port.log.size() == 1);
        // The walker's syndrome: the transformed load (imm 0, rs1 0), and
        // the page offset of the access (0x010) in bits 43:32.
        const uint64_t transformed = (c.f3 << 12) | (5 << 7) | 0x03;
        CHECK(r.port.log[0] == Access{Kind::read, 0x1010, c.size, 0, transformed | (uint64_t{0x010} << 32)});
    }
}

TEST_CASE("stores_write_their_low_bytes_at_rs1_plus_the_signed_offset") {
    const unsigned sizes[] = {1, 2, 4, 8};
    for (unsigned f3 = 0; f3 < 4; ++f3) {
        CAPTURE(f3);
        Run r;
        r.regs.r[6] = 0x1122'3344'5566'7788;
        r.regs.r[2] = 0x2000;
        const ExecResult e = r.exec(store(f3, 6, 2, -8));
        REQUIRE(e.status == MemStatus::ok);
        const unsigned size = sizes[f3];
        const uint64_t value = size == 8 ? 0x1122'3344'5566'7788 : 0x1122'3344'5566'7788 & ((uint64_t{1} << (8 * size)) - 1);
        const uint64_t transformed = (6 << 20) | (f3 << 12) | 0x23;
        REQUIRE(r.port.log.size() == 1);
        CHECK(r.port.log[0] == Access{Kind::write, 0x1ff8, size, value, transformed | (uint64_t{0xff8} << 32)});
        CHECK(r.regs.r[reg::pc] == 4);
    }
}

TEST_CASE("x0_reads_as_zero_and_a_load_into_it_is_dropped") {
    Run r;
    r.regs.r[0] = 0x5555;  // whatever the slot holds, x0 reads 0
    r.port.put(0x40, 0xAB, 1);
    REQUIRE(r.exec(load(4, 0, 0, 0x40)).status == MemStatus::ok);  // lbu x0, 0x40(x0)
    CHECK(r.port.log.at(0).addr == 0x40);
    CHECK(r.regs.r[0] == 0x5555);  // not written
    REQUIRE(r.exec(store(3, 0, 0, 0x48)).status == MemStatus::ok);  // sd x0, 0x48(x0)
    CHECK(r.port.log.at(1) == Access{Kind::write, 0x48, 8, 0, 0x3023 | (uint64_t{0x48} << 32)});
}

TEST_CASE("a_refused_access_changes_no_register") {
    for (MemStatus s : {MemStatus::exit, MemStatus::pending, MemStatus::retry, MemStatus::guest_fault, MemStatus::stopped}) {
        Run r;
        r.port.answer = s;
        r.regs.r[10] = 0x3000;
        r.regs.r[5] = 7;
        const ExecResult e = r.exec(load(3, 5, 10, 0));
        CHECK(e.status == s);
        CHECK(r.regs.r[5] == 7);
        CHECK(r.regs.r[reg::pc] == 0);
        CHECK(e.detail.empty() == (s != MemStatus::guest_fault && s != MemStatus::stopped));
    }
}

TEST_CASE("everything_else_is_undecoded_and_touches_nothing") {
    const std::vector<std::vector<uint8_t>> others = {
        le32(0x00000013),        // addi x0, x0, 0 (nop)
        le32(load(7, 5, 10, 0)),  // LOAD with funct3 111: reserved
        le32(store(4, 5, 10, 0)), // STORE with funct3 100: reserved
        le32(0x0005302F),        // amoadd.d x0, x0, (x10): not emulated
        {0x08, 0x41},            // c.lw x10, 0(x10): compressed
        {0x03, 0x25},            // two bytes of a 32-bit instruction
    };
    for (const auto& b : others) {
        Run r;
        const ExecResult e = r.isa->execute(r.regs, b, r.port);
        CHECK(e.status == MemStatus::guest_fault);
        CHECK(e.undecoded);
        CHECK_FALSE(e.detail.empty());
        CHECK(r.port.log.empty());
        CHECK(r.regs.r[reg::pc] == 0);
    }
}

TEST_CASE("execute_from_record_replays_a_transformed_load_or_store_from_htinst") {
    Run r;
    r.regs.r[reg::pc] = 0x100;
    r.port.put(0x7ffc, 0x8000'0001, 4);
    FaultRecord rec;
    rec.arch = Arch::riscv64;
    rec.kind = 21;               // load guest-page fault
    rec.syndrome = 0x00002283;   // lw x5, 0(x0) transformed
    rec.gpa = 0x7ffc >> 2;       // htval
    rec.gva = 0x7ffc;            // stval
    auto e = r.isa->execute_from_record(r.regs, rec, r.port);
    REQUIRE(e.has_value());
    CHECK(e->status == MemStatus::ok);
    CHECK(r.regs.r[5] == 0xFFFF'FFFF'8000'0001);  // LW sign-extends
    CHECK(r.regs.r[reg::pc] == 0x104);
    CHECK(r.port.log.at(0).addr == 0x7ffc);
    // A compressed store (bit 1 = 0): c.sd's transformation; the pc moves 2.
    rec.kind = 23;
    rec.syndrome = 0x00603021;   // sd x6, 0(x0) with bit 1 cleared
    rec.gpa = 0x9000 >> 2;
    rec.gva = 0x9000;
    r.regs.r[6] = 0x0102'0304'0506'0708;
    e = r.isa->execute_from_record(r.regs, rec, r.port);
    REQUIRE(e.has_value());
    CHECK(e->status == MemStatus::ok);
    CHECK(r.port.log.at(1).kind == Kind::write);
    CHECK(r.port.log.at(1).addr == 0x9000);
    CHECK(r.port.log.at(1).size == 8);
    CHECK(r.port.log.at(1).value == 0x0102'0304'0506'0708);
    CHECK(r.regs.r[reg::pc] == 0x106);
}

TEST_CASE("execute_from_record_declines_what_htinst_does_not_describe_whole") {
    Run r;
    FaultRecord rec;
    rec.arch = Arch::riscv64;
    rec.kind = 23;
    rec.gpa = 0x9000 >> 2;
    rec.gva = 0x9000;
    for (const uint64_t htinst : {uint64_t{0},                 // no information
                                  uint64_t{0x00003020},        // pseudoinstruction: 64-bit write for VS-stage translation
                                  uint64_t{0x00612023},        // Addr. Offset 2: a later page of a misaligned sw
                                  uint64_t{0x00002283},        // a load, but scause says store
                                  uint64_t{1} << 32 | 0x00602023,  // bits 63:32 not zero
                                  uint64_t{0x0005302F}}) {     // an AMO: not emulated
        CAPTURE(htinst);
        rec.syndrome = htinst;
        CHECK_FALSE(r.isa->execute_from_record(r.regs, rec, r.port).has_value());
    }
    rec.kind = 20;  // instruction guest-page fault
    rec.syndrome = 0;
    CHECK_FALSE(r.isa->execute_from_record(r.regs, rec, r.port).has_value());
    CHECK(r.port.log.empty());
}

TEST_CASE("typed_calls_use_real_encodings_and_there_is_no_port_io") {
    const auto isa = make_rv64_isa();
    CHECK(isa->kind() == IsaKind::rv64);
    CHECK(isa->max_insn_bytes() == 4);
    CHECK_FALSE(isa->has_port_io());
    CHECK(isa->nr_regs() == 33);
    CHECK(isa->pc_reg() == 32);
    // sb/sh/sw/sd x11, 0(x10)
    CHECK(isa->make_store(1).bytes == le32(store(0, 11, 10, 0)));
    CHECK(isa->make_store(8).bytes == le32(0x00B53023));
    // lbu/lhu/lwu/ld x11, 0(x10)
    CHECK(isa->make_load(1).bytes == le32(load(4, 11, 10, 0)));
    CHECK(isa->make_load(2).bytes == le32(load(5, 11, 10, 0)));
    CHECK(isa->make_load(4).bytes == le32(load(6, 11, 10, 0)));
    CHECK(isa->make_load(8).bytes == le32(0x00053583));
    CHECK(isa->make_store(4).addr_reg == 10);
    CHECK(isa->make_store(4).data_reg == 11);
    CHECK(isa->make_store(3).bytes.empty());
    CHECK(isa->make_pio(1, true).bytes.empty());
    CHECK(isa->make_pio(4, false).bytes.empty());
    // The typed store runs: x11's low word at x10.
    Run r;
    r.regs.r[10] = 0x4000;
    r.regs.r[11] = 0xCAFE'F00D;
    REQUIRE(r.isa->execute(r.regs, isa->make_store(4).bytes, r.port).status == MemStatus::ok);
    CHECK(r.port.log.at(0).value == 0xCAFE'F00D);
}
