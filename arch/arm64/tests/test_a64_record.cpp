// SPDX-License-Identifier: MIT
// The executor and the stage-2 walker together, as the core runs them:
// the executor plays the hardware against the model MMU and hands each
// access's ISS to the walker, which writes ESR_EL2/HPFAR_EL2/FAR_EL2; then
// the hypervisor emulates the faulting access either from that record
// alone (execute_from_record, ISV = 1) or by decoding the instruction.
//
// Golden vectors: a QEMU 7.2 TCG run (qemu-system-aarch64 -M
// virt,virtualization=on,gic-version=3 -cpu max): a bare-metal EL2 program
// builds the stage-2 table below (VTCR T0SZ 32, SL0 1, 4 KiB, PS 32 bits),
// erets to EL1 with the stage-1 MMU off, makes each faulting access and
// prints ESR_EL2/FAR_EL2/HPFAR_EL2 on the PL011 (arch/arm64/tests/oracle runs
// such programs over hvcore's own tables).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <vector>

#include "fake_port.hpp"
#include "hvcore/arm64/esr.hpp"
#include "hvcore/arm64/isa_a64.hpp"
#include "hvcore/arm64/stage2.hpp"
#include "hvcore/arm64/vtcr.hpp"

using namespace hvcore;
using namespace hvcore::arm64;
using arm64_test::Access;
using arm64_test::FakePort;
using arm64_test::Kind;
using arm64_test::ModelMmu;

namespace {

constexpr uint64_t mib = uint64_t{1} << 20;
constexpr uint64_t pages_2m = 512;
constexpr uint64_t pages_1g = 512 * 512;
constexpr Perm rwx{.r = true, .w = true, .x = true};
constexpr uint64_t code_gpa = 0x40'0000;
constexpr uint64_t negative = 0xf1e2'd3c4'b5a6'9788;  // negative at every width

constexpr uint64_t pattern(unsigned i) { return 0xf0e0'd0c0'b0a0'9080 + i * 0x0101'0101'0101'0101; }

RegFile initial_regs() {
    RegFile r;
    for (unsigned i = 0; i < RegFile::count; ++i) r.r[i] = pattern(i);
    r.r[reg::pc] = code_gpa;
    return r;
}

std::vector<uint8_t> le(uint32_t w) {
    return {static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8), static_cast<uint8_t>(w >> 16),
            static_cast<uint8_t>(w >> 24)};
}

// ESR_EL2 of a data abort from a lower EL (EC 0x24, IL), from bit positions.
constexpr uint64_t dabt(uint64_t iss_24_14, bool write, uint64_t dfsc) {
    return (uint64_t{0x24} << 26) | (uint64_t{1} << 25) | iss_24_14 | (write ? uint64_t{1} << 6 : 0) | dfsc;
}
constexpr uint64_t iss(unsigned sas, bool sse, unsigned srt, bool sf) {
    return (uint64_t{1} << 24) | (uint64_t{sas} << 22) | (uint64_t{sse} << 21) | (uint64_t{srt} << 16) |
           (uint64_t{sf} << 15);
}
constexpr uint64_t perm_l3 = 0x0f;   // permission fault, level 3
constexpr uint64_t trans_l3 = 0x07;  // translation fault, level 3

// A record as the walker writes it for an access at `ipa` (stage 1 off).
FaultRecord record(uint64_t esr, uint64_t ipa) {
    FaultRecord r;
    r.arch = Arch::arm64;
    r.kind = static_cast<uint32_t>(esr >> 26);
    r.syndrome = esr;
    r.gpa = (ipa >> 12) << 4;
    r.gva = ipa;
    return r;
}

void check_regs(const RegFile& got, const RegFile& want) {
    for (unsigned i = 0; i < RegFile::count; ++i)
        CHECK_MESSAGE(got.r[i] == want.r[i], fmt::format("register {}: got {:#x}, want {:#x}", i, got.r[i], want.r[i]));
}

// The stage-2 layout of that run, in hvcore's table: level 1 [0] a
// Device 1 GiB block (the PL011), [1] a level-2 table of 2 MiB Normal-WB
// blocks where 0x40400000 is read-only (S2AP 01), 0x40600000 has AF = 0
// and 0x40800000 is XN = 10; [2] invalid. PS is 40 bits instead of QEMU's
// 32 because hvcore's table frames sit at 64 GiB (Arm64Stage2::create);
// PS does not enter any of these records.
struct C9 {
    std::unique_ptr<MachineMemory> mem;
    std::unique_ptr<Arm64Stage2> s2;
    C9() {
        auto m = MachineMemory::create(4 * mib, 64);
        REQUIRE(m.is_ok());
        mem = std::move(m).value();
        auto s = Arm64Stage2::create(*mem, Vtcr::make(32, level_1, 40));
        REQUIRE(s.is_ok());
        s2 = std::move(s).value();
        REQUIRE(s2->map_range(Gfn{0}, Mfn{0}, pages_1g, P2mType::mmio_direct, Perm{.r = true, .w = true}).is_ok());
        REQUIRE(s2->map_range(Gfn{0x40000}, Mfn{0x40000}, pages_2m, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(s2->map_range(Gfn{0x40400}, Mfn{0x40400}, pages_2m, P2mType::ram_ro, Perm{.r = true, .x = true}).is_ok());
        REQUIRE(s2->map_range(Gfn{0x40600}, Mfn{0x40600}, pages_2m, P2mType::ram_rw, rwx).is_ok());
        REQUIRE(s2->map_range(Gfn{0x40800}, Mfn{0x40800}, pages_2m, P2mType::ram_rw, Perm{.r = true, .w = true}).is_ok());
        // AF = 0 on the 0x40600000 block: a descriptor hvcore never writes.
        const Mfn l2 = S2Desc::frame(reinterpret_cast<uint64_t*>(mem->frame(s2->root()))[1]);
        reinterpret_cast<uint64_t*>(mem->frame(l2))[3] &= ~S2Desc::af;
    }
};

}  // namespace

TEST_CASE("qemu_c9_golden_records_from_the_executor_and_the_walker") {
    C9 c9;
    auto isa = make_a64_isa();
    struct Case {
        const char* what;
        uint32_t word;    // llvm-mc encoding
        unsigned base;    // the address register
        uint64_t va;
        uint64_t esr;     // QEMU's ESR_EL2
        uint64_t hpfar;   // QEMU's HPFAR_EL2
    };
    const Case cases[] = {
        {"case 0: str x9, [x8] to the read-only block", 0xf9000109, 8, 0x4040'0000, 0x93c9804e, 0x404000},
        {"case 1: ldr x9, [x10] to the AF = 0 block", 0xf9400149, 10, 0x4060'0000, 0x93c9800a, 0x406000},
        {"case 2: strb w3, [x11] to IPA 0x80001000", 0x39000163, 11, 0x8000'1000, 0x93030045, 0x800010},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        ModelMmu mmu(*c9.s2);
        RegFile regs = initial_regs();
        regs.r[c.base] = c.va;
        const RegFile before = regs;
        CHECK(isa->execute(regs, le(c.word), mmu).status == MemStatus::exit);
        check_regs(regs, before);
        REQUIRE(mmu.fault.has_value());
        CHECK(mmu.fault->kind == 0x24);
        CHECK(mmu.fault->syndrome == c.esr);
        CHECK(mmu.fault->gpa == c.hpfar);
        CHECK(mmu.fault->gva == c.va);  // FAR_EL2
    }
    // Cases 3 and 4, stp x1, x2, [x8] and str x4, [x8], #8: the hardware
    // reports ISV = 0 (pair, writeback). The executor does not run them
    // (guest fault), so the walker gets the record as the hardware makes it.
    for (const uint32_t w : {0xa9000901U, 0xf8008504U}) {
        FakePort none;
        RegFile regs = initial_regs();
        CHECK(isa->execute(regs, le(w), none).status == MemStatus::guest_fault);
    }
    const AccessContext isv0{.gla = 0x4040'0000, .gla_valid = true, .size = 16, .insn = {}, .isa_syndrome = 0};
    const Translation t34 = c9.s2->translate(Gpa{0x4040'0000}, AccessType::write, isv0);
    CHECK(t34.record.syndrome == 0x9200004e);
    CHECK(t34.record.gpa == 0x404000);
    // Case 5, blr into the XN block: an instruction abort, IFSC permission L2.
    const AccessContext fetch{.gla = 0x4080'0000, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = 0};
    const Translation t5 = c9.s2->translate(Gpa{0x4080'0000}, AccessType::fetch, fetch);
    CHECK(t5.record.kind == 0x20);
    CHECK(t5.record.syndrome == 0x8200000e);
    CHECK(t5.record.gva == 0x4080'0000);
    CHECK(t5.record.gpa == 0x408000);
    // The Device block at level 1 is reachable (the PL011 at 0x09000000).
    const AccessContext uart{.gla = 0x0900'0000, .gla_valid = true, .size = 4, .insn = {}, .isa_syndrome = 0};
    CHECK(c9.s2->translate(Gpa{0x0900'0000}, AccessType::write, uart).ok);
}

TEST_CASE("a_store_is_replayed_from_the_qemu_c9_record_alone") {
    auto isa = make_a64_isa();
    // Case 0's record: str x9 (SAS 3, SRT 9, SF), write to 0x40400000.
    FakePort dm;
    RegFile regs = initial_regs();
    const RegFile before = regs;
    const std::optional<ExecResult> r = isa->execute_from_record(regs, record(0x93c9804e, 0x4040'0000), dm);
    REQUIRE(r.has_value());
    CHECK(r->status == MemStatus::ok);
    CHECK(dm.log == std::vector<Access>{{Kind::write, 0x4040'0000, 8, pattern(9), 0x01c9'8000}});
    RegFile want = before;
    want.r[reg::pc] += 4;
    check_regs(regs, want);
    // Case 2's record: strb w3 (SAS 0, SRT 3): the low byte of X3.
    FakePort dm2;
    RegFile regs2 = initial_regs();
    REQUIRE(isa->execute_from_record(regs2, record(0x93030045, 0x8000'1000), dm2).has_value());
    CHECK(dm2.log == std::vector<Access>{{Kind::write, 0x8000'1000, 1, pattern(3) & 0xff, 0x0103'0000}});
}

TEST_CASE("loads_from_a_record_extend_by_sse_and_sf_into_srt") {
    struct Case {
        const char* as;  // the instruction the syndrome describes
        uint64_t iss;
        unsigned size;
        uint64_t x5_after;
    };
    const Case cases[] = {
        {"ldrb w5", iss(0, false, 5, false), 1, 0x88},
        {"ldrsb w5", iss(0, true, 5, false), 1, 0xffff'ff88},
        {"ldrsb x5", iss(0, true, 5, true), 1, 0xffff'ffff'ffff'ff88},
        {"ldrh w5", iss(1, false, 5, false), 2, 0x9788},
        {"ldrsh w5", iss(1, true, 5, false), 2, 0xffff'9788},
        {"ldrsh x5", iss(1, true, 5, true), 2, 0xffff'ffff'ffff'9788},
        {"ldr w5", iss(2, false, 5, false), 4, 0xb5a6'9788},
        {"ldrsw x5", iss(2, true, 5, true), 4, 0xffff'ffff'b5a6'9788},
        {"ldr x5", iss(3, false, 5, true), 8, negative},
    };
    auto isa = make_a64_isa();
    for (const Case& c : cases) {
        INFO(c.as);
        FakePort dm;
        dm.put(0x9000'0010, negative, 8);
        RegFile regs = initial_regs();
        const RegFile before = regs;
        const std::optional<ExecResult> r =
            isa->execute_from_record(regs, record(dabt(c.iss, false, trans_l3), 0x9000'0010), dm);
        REQUIRE(r.has_value());
        CHECK(r->status == MemStatus::ok);
        CHECK(dm.log == std::vector<Access>{{Kind::read, 0x9000'0010, c.size, 0, c.iss}});
        RegFile want = before;
        want.r[5] = c.x5_after;
        want.r[reg::pc] += 4;
        check_regs(regs, want);
    }
}

TEST_CASE("srt_31_in_a_record_is_xzr_for_loads_and_stores") {
    auto isa = make_a64_isa();
    // ldr xzr: the read happens, no register but PC changes (31 is not SP).
    FakePort dm;
    RegFile regs = initial_regs();
    const RegFile before = regs;
    REQUIRE(isa->execute_from_record(regs, record(dabt(iss(3, false, 31, true), false, perm_l3), 0x5000), dm)
                .has_value());
    CHECK(dm.log.size() == 1);
    RegFile want = before;
    want.r[reg::pc] += 4;
    check_regs(regs, want);
    // str wzr: writes zero.
    FakePort dm2;
    RegFile regs2 = initial_regs();
    REQUIRE(isa->execute_from_record(regs2, record(dabt(iss(2, false, 31, false), true, perm_l3), 0x5000), dm2)
                .has_value());
    CHECK(dm2.log == std::vector<Access>{{Kind::write, 0x5000, 4, 0, iss(2, false, 31, false)}});
}

TEST_CASE("a_record_without_isv_or_not_a_data_abort_is_declined") {
    auto isa = make_a64_isa();
    const std::vector<FaultRecord> declined = {
        record(0x9200004e, 0x4040'0000),  // QEMU case 3/4: ISV = 0 (STP, post-index)
        record(0x8200000e, 0x4080'0000),  // QEMU case 5: instruction abort
    };
    for (const FaultRecord& r : declined) {
        FakePort dm;
        RegFile regs = initial_regs();
        const RegFile before = regs;
        CHECK_FALSE(isa->execute_from_record(regs, r, dm).has_value());
        CHECK(dm.log.empty());
        check_regs(regs, before);
    }
    FaultRecord x86 = record(0x93c9804e, 0x4040'0000);
    x86.arch = Arch::x86_vmx;
    FakePort dm;
    RegFile regs = initial_regs();
    CHECK_FALSE(isa->execute_from_record(regs, x86, dm).has_value());
    CHECK(dm.log.empty());
}

TEST_CASE("a_refused_access_from_a_record_leaves_every_register_unchanged") {
    auto isa = make_a64_isa();
    for (MemStatus refusal : {MemStatus::exit, MemStatus::pending, MemStatus::retry, MemStatus::guest_fault,
                              MemStatus::stopped}) {
        for (const uint64_t esr : {uint64_t{0x93c9804e}, dabt(iss(3, false, 9, true), false, trans_l3)}) {
            FakePort dm;
            dm.answer = refusal;
            RegFile regs = initial_regs();
            const RegFile before = regs;
            const std::optional<ExecResult> r = isa->execute_from_record(regs, record(esr, 0x4040'0000), dm);
            REQUIRE(r.has_value());
            CHECK(r->status == refusal);
            check_regs(regs, before);
        }
    }
    FakePort dm;
    dm.answer = MemStatus::guest_fault;
    RegFile regs = initial_regs();
    CHECK(isa->execute_from_record(regs, record(0x93c9804e, 0x4040'0000), dm)->detail ==
          "ESR 0x93c9804e: 8-byte write at 0x40400000 faulted");
}

TEST_CASE("the_diagnostic_text_is_made_only_when_a_fault_is_reported_and_is_unchanged") {
    // The normal ways out (an exit, a request sent, a retry) carry no text;
    // a guest fault or a stop names the access, from the record (ESR) or
    // from the instruction (its word and text).
    auto isa = make_a64_isa();
    const auto str_x9 = le(0xf9000009);  // str x9, [x0]
    for (MemStatus refusal : {MemStatus::exit, MemStatus::pending, MemStatus::retry, MemStatus::guest_fault,
                              MemStatus::stopped}) {
        CAPTURE(static_cast<int>(refusal));
        const bool reported = refusal == MemStatus::guest_fault || refusal == MemStatus::stopped;
        const std::string end = refusal == MemStatus::stopped ? "stopped the domain" : "faulted";
        FakePort dm;
        dm.answer = refusal;
        RegFile regs = initial_regs();
        const std::optional<ExecResult> r = isa->execute_from_record(regs, record(0x93c9804e, 0x4040'0000), dm);
        REQUIRE(r.has_value());
        CHECK(r->detail == (reported ? "ESR 0x93c9804e: 8-byte write at 0x40400000 " + end : std::string{}));
        FakePort dm2;
        dm2.answer = refusal;
        RegFile regs2 = initial_regs();
        regs2.r[0] = 0x4040'0000;
        const ExecResult d = isa->execute(regs2, str_x9, dm2);
        CHECK(d.status == refusal);
        CHECK(d.detail == (reported ? "0xf9000009 (str x9, [x0]): 8-byte write at 0x40400000 " + end : std::string{}));
    }
}

TEST_CASE("the_same_faulting_access_gives_the_same_device_model_result_via_the_record_and_via_decoding") {
    // For every emulated form and width: the executor faults against the
    // model MMU (a claimed ioreq_server page for stores, an mmio_dm hole for
    // loads, as the core sees them), then the device-model side is run
    // twice from the entry registers: from the record alone, and by
    // decoding the instruction. Accesses, values and registers must agree.
    struct Form {
        uint32_t word;  // llvm-mc encoding
        const char* text;
        uint64_t x10;   // index register of the register forms
    };
    const Form forms[] = {
        {0x39000109, "strb w9, [x8]", 0},
        {0x79000509, "strh w9, [x8, #2]", 0},
        {0xb9000509, "str w9, [x8, #4]", 0},
        {0xf9000509, "str x9, [x8, #8]", 0},
        {0x381ff109, "sturb w9, [x8, #-1]", 0},
        {0xf81f8109, "stur x9, [x8, #-8]", 0},
        {0x782a7909, "strh w9, [x8, x10, lsl #1]", 0x30},
        {0xf82ad909, "str x9, [x8, w10, sxtw #3]", 0x1234'5678'ffff'fff0},
        {0xf9000be9, "str x9, [sp, #16]", 0},
        {0xf900011f, "str xzr, [x8]", 0},
        {0x39400109, "ldrb w9, [x8]", 0},
        {0x79400109, "ldrh w9, [x8]", 0},
        {0xb9400109, "ldr w9, [x8]", 0},
        {0xf9400109, "ldr x9, [x8]", 0},
        {0x39c00109, "ldrsb w9, [x8]", 0},
        {0x39800109, "ldrsb x9, [x8]", 0},
        {0x79c00109, "ldrsh w9, [x8]", 0},
        {0x79800109, "ldrsh x9, [x8]", 0},
        {0xb9800109, "ldrsw x9, [x8]", 0},
        {0x789fe109, "ldursh x9, [x8, #-2]", 0},
        {0xb8aad909, "ldrsw x9, [x8, w10, sxtw #2]", 0xabcd'ef00'ffff'fffe},
        {0xb86a5be9, "ldr w9, [sp, w10, uxtw #2]", 1},
        {0xf940011f, "ldr xzr, [x8]", 0},
        {0xf9400108, "ldr x8, [x8]", 0},
    };
    auto isa = make_a64_isa();
    for (const bool load : {false, true}) {
        auto mem = MachineMemory::create(4 * mib, 64);
        REQUIRE(mem.is_ok());
        auto s2 = Arm64Stage2::create(**mem);
        REQUIRE(s2.is_ok());
        // X8 and SP point into gfns 0x100 and 0x200; the pages around both
        // (offsets reach -128 and +16) get the type under test.
        for (const uint64_t g : {uint64_t{0xff}, uint64_t{0x1ff}}) {
            const P2mType t = load ? P2mType::mmio_dm : P2mType::ioreq_server;
            const Perm p = load ? Perm{} : Perm{.r = true};  // claimed ioreq_server: read only
            REQUIRE((*s2)->map_range(Gfn{g}, (*mem)->ram_mfn(Gfn{g}), 2, t, p).is_ok());
        }
        for (const Form& f : forms) {
            const bool is_load = (f.word & 0x00c0'0000) != 0;  // opc != 00 in these encodings
            if (is_load != load) continue;
            INFO(f.text);
            RegFile entry = initial_regs();
            entry.r[8] = 0x10'0000;
            entry.r[reg::sp] = 0x20'0000;
            entry.r[10] = f.x10;
            // The hardware: fault with a record.
            ModelMmu mmu(**s2);
            RegFile hw = entry;
            REQUIRE(isa->execute(hw, le(f.word), mmu).status == MemStatus::exit);
            REQUIRE(mmu.fault.has_value());
            CHECK((mmu.fault->syndrome & (uint64_t{1} << 24)) != 0);  // ISV = 1 for every one of these forms
            CHECK((*s2)->decode_fault(*mmu.fault).cause == (load ? FaultCause::not_present : FaultCause::permission));
            // The hypervisor, both ways.
            FakePort by_record;
            FakePort by_decoding;
            for (FakePort* dm : {&by_record, &by_decoding})
                for (const uint64_t a : {uint64_t{0xff000}, uint64_t{0x1ff000}})
                    for (uint64_t off = 0; off < 0x2000; off += 8) dm->put(a + off, negative ^ (a + off), 8);
            RegFile via_record = entry;
            RegFile via_decoding = entry;
            const std::optional<ExecResult> r1 = isa->execute_from_record(via_record, *mmu.fault, by_record);
            REQUIRE(r1.has_value());
            CHECK(r1->status == MemStatus::ok);
            CHECK(isa->execute(via_decoding, le(f.word), by_decoding).status == MemStatus::ok);
            CHECK(by_record.log == by_decoding.log);
            REQUIRE(by_record.log.size() == 1);
            check_regs(via_record, via_decoding);
        }
    }
}

TEST_CASE("a_split_store_faulting_on_its_second_page_keeps_isv_and_only_decoding_gives_the_whole_access") {
    // str x9, [x8] with x8 = 0x100ffc: bytes 0x100ffc-0x100fff are RAM,
    // 0x101000-0x101003 a claimed ioreq_server page. The record names page
    // 0x101 only (FAR = its first byte) and keeps ISV = 1 with SAS = 8
    // bytes, as the hardware does: replayed from the record, the 8 bytes
    // would land at 0x101000. Decoding the instruction gives the whole
    // access at 0x100ffc, which the emulation port splits by page; the core
    // decodes for such a fault (its model MMU split the access;
    // core/src/model_run.cpp Domain::emulate, test_arm64_isv0 checks the
    // device model's view).
    auto mem = MachineMemory::create(4 * mib, 64);
    REQUIRE(mem.is_ok());
    auto s2 = Arm64Stage2::create(**mem);
    REQUIRE(s2.is_ok());
    REQUIRE((*s2)->map_range(Gfn{0x100}, (*mem)->ram_mfn(Gfn{0x100}), 1, P2mType::ram_rw, rwx).is_ok());
    REQUIRE((*s2)->map_range(Gfn{0x101}, (*mem)->ram_mfn(Gfn{0x101}), 1, P2mType::ioreq_server, Perm{.r = true}).is_ok());
    auto isa = make_a64_isa();
    ModelMmu mmu(**s2);
    RegFile regs = initial_regs();
    regs.r[8] = 0x10'0ffc;
    REQUIRE(isa->execute(regs, le(0xf9000109), mmu).status == MemStatus::exit);
    REQUIRE(mmu.fault.has_value());
    CHECK(mmu.fault->syndrome == dabt(iss(3, false, 9, true), true, perm_l3));
    CHECK(mmu.fault->gva == 0x10'1000);
    CHECK((*s2)->decode_fault(*mmu.fault).gpa == Gpa{0x10'1000});
    FakePort from_record;
    RegFile scratch = regs;
    REQUIRE(isa->execute_from_record(scratch, *mmu.fault, from_record).has_value());
    CHECK(from_record.log == std::vector<Access>{{Kind::write, 0x10'1000, 8, pattern(9), iss(3, false, 9, true)}});
    FakePort dm;
    CHECK(isa->execute(regs, le(0xf9000109), dm).status == MemStatus::ok);
    CHECK(dm.log == std::vector<Access>{{Kind::write, 0x10'0ffc, 8, pattern(9), iss(3, false, 9, true)}});
}
