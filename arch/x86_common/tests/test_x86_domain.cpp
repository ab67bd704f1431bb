// SPDX-License-Identifier: MIT
// The executor inside a domain, on every linked x86 backend: the model MMU
// (the hardware) faults, the hypervisor emulates, and a device model sees
// the ioreqs. Each scenario checks the requests field by field (Xen's
// ioreq_t: addr, data, count, size, dir, df, data_is_ptr), RAM, and the
// registers after the answer.
//
// Guest layout (64 MiB of RAM, linear == guest-physical):
//   claimed  gfn 0x100 (1 MiB), typed ioreq_server and claimed by `s`;
//            gfn 0xff below it and 0x101 above it stay ordinary RAM
//   ram_src  2 MiB, ram_dst 3 MiB: plain RAM
//   mmio     0xfebf0000, above RAM: a MEMORY range of `s` (one page)
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "hvcore/core/host.hpp"
#include "hvcore/x86/isa_x86.hpp"

using namespace hvcore;
using namespace hvcore::x86;

namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint64_t mib = 1024 * 1024;
constexpr uint64_t claimed = 0x100 * page_size;
constexpr uint64_t ram_src = 2 * mib;
constexpr uint64_t ram_dst = 3 * mib;
constexpr uint64_t mmio = 0xfebf'0000;
constexpr uint64_t rip0 = 0x1000;  // RIP before each instruction
constexpr uint32_t claim_write = 2;  // HVDM_IOREQ_MEM_ACCESS_WRITE
constexpr int done = 0, pending = 1, guest_fault = 3;  // hv_vcpu_status
constexpr uint64_t flags_one = 0x2;  // RFLAGS bit 1
constexpr uint64_t zf = 1u << 6, df = 1u << 10;

unsigned xmm_lo(unsigned n) { return RegFile::vec_reg_base + 2 * n; }
unsigned xmm_hi(unsigned n) { return RegFile::vec_reg_base + 2 * n + 1; }

// A request as the device model reads it from its slot.
struct Request {
    uint64_t addr = 0;
    uint64_t data = 0;
    uint32_t count = 0;
    uint32_t size = 0;
    uint8_t state = 0;
    bool data_is_ptr = false;
    uint8_t dir = 0;
    bool df = false;
    uint8_t type = 0;
    bool operator==(const Request&) const = default;
};

std::string show(const Request& r) {
    return fmt::format("addr {:#x} data {:#x} count {} size {} state {} ptr {} dir {} df {} type {}", r.addr, r.data,
                       r.count, r.size, r.state, r.data_is_ptr, r.dir, r.df, r.type);
}

// A write (dir 0) or read (dir 1) of guest memory in state READY.
Request mem_request(uint8_t dir, uint64_t addr, uint32_t size, uint64_t data, uint32_t count = 1, bool ptr = false,
                    bool down = false) {
    return {.addr = addr, .data = data, .count = count, .size = size, .state = ioreq::state_ready,
            .data_is_ptr = ptr, .dir = dir, .df = down, .type = ioreq::type_copy};
}

class Guest {
public:
    explicit Guest(const Backend& b) {
        auto dr = host_.create_domain({.arch = b.arch, .ram_bytes = 64 * mib, .nr_vcpus = 1, .hap = true});
        REQUIRE(dr.is_ok());
        d_ = *dr;
        dm_ = host_.new_emulator();
        REQUIRE(d_->create_ioreq_server(dm_, 0, &id_).is_ok());
        REQUIRE(d_->set_ioreq_server_state(dm_, id_, true).is_ok());
        BufferedPage* buffered = nullptr;
        REQUIRE(d_->map_ioreq_pages(dm_, id_, &slots_, &buffered).is_ok());
        REQUIRE(d_->map_mem_type_to_ioreq_server(dm_, id_, hvmmem::ioreq_server, claim_write).is_ok());
        REQUIRE(d_->set_mem_type(hvmmem::ioreq_server, claimed / page_size, 1).is_ok());
        REQUIRE(d_->map_io_range(dm_, id_, 1, mmio, mmio + page_size - 1).is_ok());  // 1: MEMORY
        set(reg::rip, rip0);
        set(reg::rflags, flags_one);
    }

    Domain& d() { return *d_; }
    // The device model's side: its identity and its server (which owns the claimed type).
    EmulatorId dm() const { return dm_; }
    IoservId server() const { return id_; }
    void set(unsigned reg, uint64_t v) { REQUIRE(d_->vcpu_set_reg(0, reg, v) == 0); }
    uint64_t get(unsigned reg) {
        uint64_t v = 0;
        REQUIRE(d_->vcpu_get_reg(0, reg, &v) == 0);
        return v;
    }
    int exec(const Bytes& insn) { return d_->vcpu_exec(0, insn); }
    void poke(uint64_t gpa, uint64_t v, size_t n) { REQUIRE(d_->guest_write(gpa, &v, n).is_ok()); }
    uint64_t peek(uint64_t gpa, size_t n) {
        uint64_t v = 0;
        REQUIRE(d_->guest_read(gpa, &v, n).is_ok());
        return v;
    }

    Request request() {
        const IoreqSlot& s = slots_[0];
        const uint8_t f = s.flags;
        return {.addr = s.addr, .data = s.data, .count = s.count, .size = s.size, .state = slot_state(s),
                .data_is_ptr = (f & 0x10) != 0, .dir = static_cast<uint8_t>((f >> 5) & 1), .df = (f & 0x40) != 0,
                .type = s.type};
    }
    // The device model answers and the vCPU resumes.
    int answer(uint64_t data = 0) {
        slots_[0].data = data;
        slot_set_state(slots_[0], ioreq::state_resp_ready);
        uint64_t unused = 0;
        return d_->vcpu_resume(0, &unused);
    }
    uint8_t slot_state_now() { return slot_state(slots_[0]); }
    FaultRecord fault() {
        FaultRecord r;
        REQUIRE(d_->vcpu_last_fault(0, &r) == 0);
        return r;
    }

private:
    Host host_;
    std::shared_ptr<Domain> d_;
    EmulatorId dm_ = 0;
    IoservId id_{};
    IoreqSlot* slots_ = nullptr;
};

std::vector<const Backend*> x86_backends() {
    std::vector<const Backend*> v;
    for (const Backend& b : linked_backends())
        if (b.arch == Arch::x86_vmx || b.arch == Arch::x86_svm)  // the x86 executor's backends
            v.push_back(&b);
    return v;
}

// The fault record of a data access at `addr` (linear == guest-physical in
// the model) as each backend's manual writes it, for a page that is not
// present (mmio_dm) or a present one that refused (a claimed ioreq_server
// page: read only).
//   EPT (SDM Vol. 3C §28.2.1, Table 28-7): exit reason 48; qualification
//   bit 0 read / bit 1 write, bits 5:3 the entry's RWX (R alone: 0x8 for
//   the claimed page, 0 when not present), bit 7 guest-linear address
//   valid, bit 8 access to the final translation; GPA and GLA = addr.
//   NPT (APM Vol. 2 §8.4.2, §15.25.6): exit code 0x400; EXITINFO1 bit 0 P
//   (present entry refused), bit 1 R/W, bit 2 U/S (always), bit 32 final
//   guest-physical translation; EXITINFO2 = addr; no linear address.
struct Want {
    bool write;
    bool present;
    uint64_t addr;
};
void check_fault(const Backend& b, const FaultRecord& got, const Want& w) {
    CHECK(got.gpa == w.addr);
    if (b.arch == Arch::x86_vmx) {
        CHECK(got.kind == 48);
        CHECK(got.syndrome == ((w.write ? 0x2u : 0x1u) | (w.present ? 0x8u : 0u) | 0x180u));
        CHECK(got.gva == w.addr);
    } else {
        CHECK(got.kind == 0x400);
        CHECK(got.syndrome == ((uint64_t{1} << 32) | 0x4u | (w.write ? 0x2u : 0u) | (w.present ? 0x1u : 0u)));
        CHECK(got.gva == 0);
    }
}

#define CHECK_REQUEST(g, want)                                      \
    do {                                                            \
        const Request got_ = (g).request();                         \
        CHECK_MESSAGE(got_ == (want), "got " << show(got_) << "\nwant " << show(want)); \
    } while (0)

}  // namespace

TEST_CASE("xadd_on_a_claimed_page_sends_one_write_and_returns_the_value_it_read") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // lock xadd [rax], ebx: F0 0F C1 /r, ModRM 0x18 (reg ebx, rm [rax]).
        const Bytes insn = {0xf0, 0x0f, 0xc1, 0x18};
        g.poke(claimed + 0x100, 40, 4);
        g.set(reg::rax, claimed + 0x100);
        g.set(reg::rbx, 2);
        REQUIRE(g.exec(insn) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + 0x100, 4, 42));
        // The device model applies the write to RAM itself before answering
        // (a shadowing emulator does); the re-execution replays what the
        // instruction read (40), so EBX gets 40, not 42.
        g.poke(claimed + 0x100, 42, 4);
        REQUIRE(g.answer() == done);
        CHECK(g.slot_state_now() == ioreq::state_none);  // no second request
        CHECK(g.get(reg::rbx) == 40);
        CHECK(g.peek(claimed + 0x100, 4) == 42);
        CHECK(g.get(reg::rip) == rip0 + insn.size());
        CHECK(g.get(reg::rflags) == flags_one);  // 40 + 2: no status flag
    }
}

TEST_CASE("cmpxchg_on_a_claimed_page_sends_the_new_value_on_success_and_nothing_on_failure") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // lock cmpxchg [rbx], ecx: F0 0F B1 /r, ModRM 0x0b (reg ecx, rm [rbx]).
        const Bytes insn = {0xf0, 0x0f, 0xb1, 0x0b};
        g.poke(claimed, 40, 4);
        g.set(reg::rbx, claimed);
        g.set(reg::rcx, 9);
        g.set(reg::rax, 40);
        REQUIRE(g.exec(insn) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed, 4, 9));
        REQUIRE(g.answer() == done);
        CHECK((g.get(reg::rflags) & zf) != 0);
        // Compare fails: EAX takes the memory value, ZF = 0, and the
        // unchanged write-back never reaches the device model.
        g.set(reg::rip, rip0);
        g.set(reg::rax, 7);
        CHECK(g.exec(insn) == done);
        CHECK(g.slot_state_now() == ioreq::state_none);
        CHECK(g.get(reg::rax) == 40);
        CHECK((g.get(reg::rflags) & zf) == 0);
    }
}

TEST_CASE("rep_movs_into_a_claimed_page_is_one_ioreq_with_data_is_ptr_truncated_at_the_page") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        const Bytes rep_movsd = {0xf3, 0xa5};
        // 10 dwords to the last 16 bytes of the claimed page and on into the
        // RAM page above it: 4 fit in the claimed page.
        for (unsigned i = 0; i < 10; ++i)
            g.poke(ram_src + 4 * i, 0x100 + i, 4);
        g.set(reg::rsi, ram_src);
        g.set(reg::rdi, claimed + page_size - 16);
        g.set(reg::rcx, 10);
        REQUIRE(g.exec(rep_movsd) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + page_size - 16, 4, ram_src, 4, true));
        REQUIRE(g.answer() == done);
        // 4 done; RIP stays for the guest to execute it again.
        CHECK(g.get(reg::rcx) == 6);
        CHECK(g.get(reg::rsi) == ram_src + 16);
        CHECK(g.get(reg::rdi) == claimed + page_size);
        CHECK(g.get(reg::rip) == rip0);
        CHECK(g.peek(claimed + page_size - 16, 4) == 0);  // the device model decides
        // The rest lies in RAM: the hardware finishes it and retires.
        REQUIRE(g.exec(rep_movsd) == done);
        CHECK(g.slot_state_now() == ioreq::state_none);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rip) == rip0 + 2);
        CHECK(g.peek(claimed + page_size, 4) == 0x104);
        CHECK(g.peek(claimed + page_size + 20, 4) == 0x109);
    }
}

TEST_CASE("rep_movs_backwards_sends_df_and_stops_at_the_start_of_the_page") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // std; rep movsd with RDI at claimed + 8: elements at +8, +4, +0 are
        // in the page (3), the 4th would be in the page below.
        g.set(reg::rflags, flags_one | df);
        g.set(reg::rsi, ram_src + 0x800);
        g.set(reg::rdi, claimed + 8);
        g.set(reg::rcx, 5);
        REQUIRE(g.exec({0xf3, 0xa5}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + 8, 4, ram_src + 0x800, 3, true, true));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rcx) == 2);
        CHECK(g.get(reg::rdi) == claimed - 4);
        CHECK(g.get(reg::rsi) == ram_src + 0x800 - 12);
        CHECK(g.get(reg::rip) == rip0);
    }
}

TEST_CASE("rep_stos_to_mmio_sends_the_value_with_count_then_the_rest_beyond_the_range_is_dropped") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        const Bytes rep_stosd = {0xf3, 0xab};
        // 5 dwords from the last 8 bytes of the MMIO page: 2 in it.
        g.set(reg::rdi, mmio + page_size - 8);
        g.set(reg::rcx, 5);
        g.set(reg::rax, 0xabcd'0123);
        REQUIRE(g.exec(rep_stosd) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + page_size - 8, 4, 0xabcd'0123, 2));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rcx) == 3);
        CHECK(g.get(reg::rip) == rip0);
        // Nobody holds the next page: the 3 stores are dropped and it retires.
        REQUIRE(g.exec(rep_stosd) == done);
        CHECK(g.slot_state_now() == ioreq::state_none);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rdi) == mmio + page_size + 12);
        CHECK(g.get(reg::rip) == rip0 + 2);
    }
}

TEST_CASE("rep_stos_to_a_misaligned_mmio_address_is_still_one_ioreq_with_count") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // rep stosd: 3 dwords from mmio + 0x102 (2 off a dword boundary).
        // Xen's hvmemul_do_io has no alignment condition: one ioreq, count 3.
        g.set(reg::rdi, mmio + 0x102);
        g.set(reg::rcx, 3);
        g.set(reg::rax, 0x0bad'f00d);
        REQUIRE(g.exec({0xf3, 0xab}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x102, 4, 0x0bad'f00d, 3));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rdi) == mmio + 0x10e);
        CHECK(g.get(reg::rip) == rip0 + 2);
        // 3 dwords from 6 bytes below the page's end: the first dword fits
        // (count 1), the second would straddle the page.
        g.set(reg::rip, rip0);
        g.set(reg::rdi, mmio + page_size - 6);
        g.set(reg::rcx, 3);
        REQUIRE(g.exec({0xf3, 0xab}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + page_size - 6, 4, 0x0bad'f00d, 1));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rcx) == 2);
        CHECK(g.get(reg::rip) == rip0);
    }
}

TEST_CASE("rep_stos_and_rep_movs_from_ram_into_a_ram_ro_page_under_a_range_are_discarded_and_send_nothing") {
    // ram_ro is Xen's discard-write type: hvmemul_rep_stos / hvmemul_rep_movs
    // copy with __hvm_copy, which drops the writes; a MEMORY range over the
    // page does not make them requests.
    constexpr uint64_t ro = 0x300 * page_size;  // a RAM page made ram_ro
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.poke(ro + 0x40, 0x0bad'cafe'0bad'cafe, 8);
        g.poke(ram_src, 0x1122'3344'5566'7788, 8);
        REQUIRE(g.d().set_mem_type(hvmmem::ram_ro, ro / page_size, 1).is_ok());
        REQUIRE(g.d().map_io_range(g.dm(), g.server(), 1, ro, ro + page_size - 1).is_ok());  // 1: MEMORY
        g.set(reg::rdi, ro + 0x40);
        g.set(reg::rcx, 2);
        g.set(reg::rax, 0x5a5a'5a5a);
        REQUIRE(g.exec({0xf3, 0xab}) == done);  // rep stosd
        CHECK(g.slot_state_now() == ioreq::state_none);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rdi) == ro + 0x48);
        g.set(reg::rip, rip0);
        g.set(reg::rsi, ram_src);
        g.set(reg::rdi, ro + 0x40);
        g.set(reg::rcx, 8);
        REQUIRE(g.exec({0xf3, 0xa4}) == done);  // rep movsb
        CHECK(g.slot_state_now() == ioreq::state_none);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.peek(ro + 0x40, 8) == 0x0bad'cafe'0bad'cafe);
    }
}

TEST_CASE("rep_movs_from_mmio_into_ram_is_a_read_with_data_is_ptr_to_the_ram") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.set(reg::rsi, mmio + 0x40);
        g.set(reg::rdi, ram_dst);
        g.set(reg::rcx, 4);
        REQUIRE(g.exec({0xf3, 0xa4}) == pending);  // rep movsb
        CHECK_REQUEST(g, mem_request(ioreq::dir_read, mmio + 0x40, 1, ram_dst, 4, true));
        // The device model writes the 4 bytes into guest RAM itself.
        g.poke(ram_dst, 0x44'33'22'11, 4);
        REQUIRE(g.answer() == done);
        CHECK(g.peek(ram_dst, 4) == 0x44'33'22'11);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rsi) == mmio + 0x44);
        CHECK(g.get(reg::rip) == rip0 + 2);
    }
}

TEST_CASE("rep_movs_from_unclaimed_mmio_fills_ram_with_ones") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.poke(ram_dst, 0, 8);
        g.set(reg::rsi, mmio + 2 * page_size);  // nobody's
        g.set(reg::rdi, ram_dst);
        g.set(reg::rcx, 2);
        REQUIRE(g.exec({0xf3, 0xa5}) == done);
        CHECK(g.peek(ram_dst, 8) == ~uint64_t{0});
        CHECK(g.slot_state_now() == ioreq::state_none);
    }
}

TEST_CASE("rep_movs_that_faults_part_way_keeps_the_elements_the_hardware_completed") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // 4 dwords from 8 bytes below the claimed page: the first 2 land in
        // RAM before the 3rd faults on the claimed page.
        g.poke(ram_src, 0x0000'0002'0000'0001, 8);
        g.poke(ram_src + 8, 0x0000'0004'0000'0003, 8);
        g.set(reg::rsi, ram_src);
        g.set(reg::rdi, claimed - 8);
        g.set(reg::rcx, 4);
        REQUIRE(g.exec({0xf3, 0xa5}) == pending);
        CHECK(g.peek(claimed - 8, 8) == 0x0000'0002'0000'0001);
        // Committed while the device model works on the rest.
        CHECK(g.get(reg::rcx) == 2);
        CHECK(g.get(reg::rdi) == claimed);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed, 4, ram_src + 8, 2, true));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rip) == rip0 + 2);
    }
}

TEST_CASE("a_store_across_a_ram_and_a_claimed_page_writes_ram_and_forwards_the_other_bytes") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        const Bytes mov_rax_at_rbx = {0x48, 0x89, 0x03};  // mov [rbx], rax
        g.set(reg::rax, 0x8877'6655'4433'2211);
        // RAM page below, claimed page above: bytes 11..44 to RAM, 55..88 forwarded.
        g.set(reg::rbx, claimed - 4);
        g.poke(claimed, 0, 4);
        REQUIRE(g.exec(mov_rax_at_rbx) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed, 4, 0x8877'6655));
        CHECK(g.peek(claimed - 4, 4) == 0x4433'2211);
        REQUIRE(g.answer() == done);
        CHECK(g.peek(claimed, 4) == 0);
        // Claimed page below, RAM page above: 11..44 forwarded first, then
        // 55..88 land in RAM once the answer came.
        g.set(reg::rip, rip0);
        g.set(reg::rbx, claimed + page_size - 4);
        g.poke(claimed + page_size, 0, 4);
        REQUIRE(g.exec(mov_rax_at_rbx) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + page_size - 4, 4, 0x4433'2211));
        REQUIRE(g.answer() == done);
        CHECK(g.peek(claimed + page_size, 4) == 0x8877'6655);
    }
}

TEST_CASE("sse_16_byte_accesses_to_mmio_become_legal_ioreqs") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.set(xmm_lo(1), 0x1111'2222'3333'4444);
        g.set(xmm_hi(1), 0x5555'6666'7777'8888);
        // movdqu [rbx], xmm1 (F3 0F 7F 0B) at an aligned address: two 8-byte writes.
        g.set(reg::rbx, mmio + 0x10);
        REQUIRE(g.exec({0xf3, 0x0f, 0x7f, 0x0b}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x10, 8, 0x1111'2222'3333'4444));
        REQUIRE(g.answer() == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x18, 8, 0x5555'6666'7777'8888));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rip) == rip0 + 4);
        // Misaligned by 4, inside the page: still two 8-byte writes (Xen's
        // hvmemul_phys_mmio_access cuts by size only, never by alignment).
        g.set(reg::rip, rip0);
        g.set(reg::rbx, mmio + 0x24);
        REQUIRE(g.exec({0xf3, 0x0f, 0x7f, 0x0b}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x24, 8, 0x1111'2222'3333'4444));
        REQUIRE(g.answer() == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x2c, 8, 0x5555'6666'7777'8888));
        REQUIRE(g.answer() == done);
        // Across the page's end, 5 bytes before it: 4 + 1 in this page, 8
        // + 2 + 1 in the next (each part cut into falling powers of two).
        // The next page is nobody's: its pieces are dropped, no request.
        g.set(reg::rip, rip0);
        g.set(reg::rbx, mmio + page_size - 5);
        REQUIRE(g.exec({0xf3, 0x0f, 0x7f, 0x0b}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + page_size - 5, 4, 0x3333'4444));
        REQUIRE(g.answer() == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + page_size - 1, 1, 0x22));
        REQUIRE(g.answer() == done);
        // movdqa xmm2, [rbx] (66 0F 6F 13): two 8-byte reads make up XMM2.
        g.set(reg::rip, rip0);
        g.set(reg::rbx, mmio + 0x40);
        REQUIRE(g.exec({0x66, 0x0f, 0x6f, 0x13}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_read, mmio + 0x40, 8, 0));
        REQUIRE(g.answer(0x0102'0304'0506'0708) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_read, mmio + 0x48, 8, 0));
        REQUIRE(g.answer(0x090a'0b0c'0d0e'0f10) == done);
        CHECK(g.get(xmm_lo(2)) == 0x0102'0304'0506'0708);
        CHECK(g.get(xmm_hi(2)) == 0x090a'0b0c'0d0e'0f10);
        // MOVDQA on an address that is not 16-byte aligned: #GP, nothing sent.
        g.set(reg::rip, rip0);
        g.set(reg::rbx, mmio + 0x48);
        CHECK(g.exec({0x66, 0x0f, 0x6f, 0x13}) == guest_fault);
        CHECK(g.d().vcpu_guest_fault_detail(0).find("#GP") != std::string::npos);
    }
}

TEST_CASE("movs_of_one_element_between_ram_and_mmio_is_a_plain_read_and_write") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // movsd (A5) from RAM into MMIO: Xen's x86_emulate uses its rep
        // hooks only for more than one element, so the device model gets
        // the value itself, not a pointer to it.
        g.poke(ram_src, 0xcafe'f00d, 4);
        g.set(reg::rsi, ram_src);
        g.set(reg::rdi, mmio + 0x20);
        REQUIRE(g.exec({0xa5}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x20, 4, 0xcafe'f00d));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rdi) == mmio + 0x24);
        // rep movsd with RCX = 1, MMIO into RAM: a plain read; its answer
        // lands in RAM.
        g.set(reg::rip, rip0);
        g.set(reg::rsi, mmio + 0x30);
        g.set(reg::rdi, ram_dst);
        g.set(reg::rcx, 1);
        REQUIRE(g.exec({0xf3, 0xa5}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_read, mmio + 0x30, 4, 0));
        REQUIRE(g.answer(0x600d'cafe) == done);
        CHECK(g.peek(ram_dst, 4) == 0x600d'cafe);
        CHECK(g.get(reg::rcx) == 0);
        CHECK(g.get(reg::rip) == rip0 + 2);
    }
}

TEST_CASE("movs_from_a_hole_into_mmio_replays_the_hole_read_after_the_answer") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // movsd (A5): the read goes to nobody (two pages above the MMIO
        // page: all ones), the write to the device model.
        g.set(reg::rsi, mmio + 2 * page_size);
        g.set(reg::rdi, mmio + 0x10);
        REQUIRE(g.exec({0xa5}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x10, 4, 0xffff'ffff));
        // The re-execution meets the hole read first: it is replayed, not
        // taken for a different instruction.
        CHECK(g.answer() == done);
        CHECK(!g.d().stop_reason());
        CHECK(g.get(reg::rsi) == mmio + 2 * page_size + 4);
        CHECK(g.get(reg::rdi) == mmio + 0x14);
        CHECK(g.get(reg::rip) == rip0 + 1);
    }
}

// A REP the device model answered is complete: the resume replays it,
// whatever the page became meanwhile. The device model keeps its own data
// in the page (a shadowing emulator) and resets the type before answering.
namespace {
enum class Reset { disclaim, set_ram_rw };

void reset_claimed_page(Guest& g, Reset how) {
    switch (how) {
    case Reset::disclaim:
        REQUIRE(g.d().map_mem_type_to_ioreq_server(g.dm(), g.server(), hvmmem::ioreq_server, 0).is_ok());
        break;
    case Reset::set_ram_rw: REQUIRE(g.d().set_mem_type(hvmmem::ram_rw, claimed / page_size, 1).is_ok()); break;
    }
    REQUIRE(g.d().p2m_type(claimed / page_size).value() == P2mType::ram_rw);
}
}  // namespace

TEST_CASE("rep_stos_answered_then_its_page_reset_to_ram_is_not_made_again_in_ram") {
    for (const Backend* b : x86_backends()) {
        for (const Reset how : {Reset::disclaim, Reset::set_ram_rw}) {
            CAPTURE(b->name);
            CAPTURE(static_cast<int>(how));
            Guest g(*b);
            // rep stosd: 4 dwords of 0xdddddddd at claimed + 0x100.
            g.set(reg::rdi, claimed + 0x100);
            g.set(reg::rcx, 4);
            g.set(reg::rax, 0xdddd'dddd);
            REQUIRE(g.exec({0xf3, 0xab}) == pending);
            CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + 0x100, 4, 0xdddd'dddd, 4));
            // The device model's own bytes (0x5a...) in the 16 bytes.
            g.poke(claimed + 0x100, 0x5a5a'5a5a'5a5a'5a5a, 8);
            g.poke(claimed + 0x108, 0x5a5a'5a5a'5a5a'5a5a, 8);
            reset_claimed_page(g, how);
            REQUIRE(g.answer() == done);
            CHECK(g.peek(claimed + 0x100, 8) == 0x5a5a'5a5a'5a5a'5a5a);
            CHECK(g.peek(claimed + 0x108, 8) == 0x5a5a'5a5a'5a5a'5a5a);
            CHECK(g.get(reg::rcx) == 0);
            CHECK(g.get(reg::rdi) == claimed + 0x110);
            CHECK(g.get(reg::rip) == rip0 + 2);
        }
    }
}

TEST_CASE("rep_movs_answered_then_its_page_reset_to_ram_is_not_made_again_in_ram") {
    for (const Backend* b : x86_backends()) {
        for (const Reset how : {Reset::disclaim, Reset::set_ram_rw}) {
            CAPTURE(b->name);
            CAPTURE(static_cast<int>(how));
            Guest g(*b);
            // rep movsd: 4 dwords from RAM (0x11...) to claimed + 0x200.
            g.poke(ram_src, 0x1111'1111'1111'1111, 8);
            g.poke(ram_src + 8, 0x1111'1111'1111'1111, 8);
            g.set(reg::rsi, ram_src);
            g.set(reg::rdi, claimed + 0x200);
            g.set(reg::rcx, 4);
            REQUIRE(g.exec({0xf3, 0xa5}) == pending);
            CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + 0x200, 4, ram_src, 4, true));
            g.poke(claimed + 0x200, 0x5a5a'5a5a'5a5a'5a5a, 8);
            g.poke(claimed + 0x208, 0x5a5a'5a5a'5a5a'5a5a, 8);
            reset_claimed_page(g, how);
            REQUIRE(g.answer() == done);
            CHECK(g.peek(claimed + 0x200, 8) == 0x5a5a'5a5a'5a5a'5a5a);
            CHECK(g.peek(claimed + 0x208, 8) == 0x5a5a'5a5a'5a5a'5a5a);
            CHECK(g.get(reg::rcx) == 0);
            CHECK(g.get(reg::rsi) == ram_src + 16);
            CHECK(g.get(reg::rdi) == claimed + 0x210);
            CHECK(g.get(reg::rip) == rip0 + 2);
        }
    }
}

TEST_CASE("rep_movs_between_devices_answered_then_its_destination_reset_to_ram_replays_its_element") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // rep movsd, 2 dwords from MMIO to the claimed page: both sides are
        // devices, so one element per execution, by read then write.
        g.set(reg::rsi, mmio + 0x40);
        g.set(reg::rdi, claimed + 0x300);
        g.set(reg::rcx, 2);
        REQUIRE(g.exec({0xf3, 0xa5}) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_read, mmio + 0x40, 4, 0));
        REQUIRE(g.answer(0x1357'9bdf) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + 0x300, 4, 0x1357'9bdf));
        // The owner keeps its own data, resets the page, then answers: the
        // element is done, not made again in RAM as a rep copy.
        g.poke(claimed + 0x300, 0x5a5a'5a5a, 4);
        reset_claimed_page(g, Reset::set_ram_rw);
        REQUIRE(g.answer() == done);
        CHECK(!g.d().stop_reason());
        CHECK(g.peek(claimed + 0x300, 4) == 0x5a5a'5a5a);
        CHECK(g.get(reg::rcx) == 1);
        CHECK(g.get(reg::rdi) == claimed + 0x304);
        CHECK(g.get(reg::rip) == rip0);
    }
}

TEST_CASE("xmm_registers_have_abi_ids_64_to_95") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.set(xmm_lo(15), 1);
        g.set(xmm_hi(15), 2);
        CHECK(g.get(RegFile::vec_reg_base + 30) == 1);
        CHECK(g.get(RegFile::vec_reg_base + 31) == 2);
        uint64_t v = 0;
        CHECK(g.d().vcpu_get_reg(0, RegFile::vec_reg_base + 32, &v) == -EINVAL);  // no XMM16
        CHECK(g.d().vcpu_set_reg(0, 18, 0) == -EINVAL);                           // between the files
    }
}

TEST_CASE("a_read_modify_write_to_mmio_faults_as_a_write_and_reads_then_writes_the_device") {
    // Every instruction that reads and then writes its memory operand
    // reports the fault of its read as a write: EPT qualification bit 1
    // ("An EPT violation that occurs as a result of execution of a
    // read-modify-write operation sets bit 1 (data write)", SDM Vol. 3C
    // §28.2.1; bit 0 is implementation-specific and clear, as Bochs
    // leaves it), NPT R/W = 1 (Linux c205fb7d7d4f). The hypervisor still
    // emulates it as a read of the device and one write of the result.
    // Each instruction names [rax] = mmio + 0x10 (a hole: mmio_dm) and ebx.
    struct Case {
        const char* text;
        Bytes insn;
    };
    const Case rmw[] = {
        {"add dword [rax], ebx", {0x01, 0x18}},
        {"lock sub dword [rax], 1", {0xf0, 0x83, 0x28, 0x01}},
        {"or dword [rax], ebx", {0x09, 0x18}},
        {"adc dword [rax], ebx", {0x11, 0x18}},
        {"sbb dword [rax], ebx", {0x19, 0x18}},
        {"and dword [rax], ebx", {0x21, 0x18}},
        {"xor dword [rax], ebx", {0x31, 0x18}},
        {"lock inc dword [rax]", {0xf0, 0xff, 0x00}},
        {"dec dword [rax]", {0xff, 0x08}},
        {"not dword [rax]", {0xf7, 0x10}},
        {"neg dword [rax]", {0xf7, 0x18}},
        {"xchg [rax], ebx", {0x87, 0x18}},
        {"lock cmpxchg [rax], ebx", {0xf0, 0x0f, 0xb1, 0x18}},
        {"lock xadd [rax], ebx", {0xf0, 0x0f, 0xc1, 0x18}},
        {"lock bts [rax], ebx", {0xf0, 0x0f, 0xab, 0x18}},
        {"btr [rax], ebx", {0x0f, 0xb3, 0x18}},
        {"btc [rax], ebx", {0x0f, 0xbb, 0x18}},
    };
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        for (const Case& c : rmw) {
            CAPTURE(c.text);
            Guest g(*b);
            g.set(reg::rax, mmio + 0x10);
            g.set(reg::rbx, 3);  // bit 3 for BT*: the dword at [rax] itself
            REQUIRE(g.exec(c.insn) == pending);
            check_fault(*b, g.fault(), {.write = true, .present = false, .addr = mmio + 0x10});
            // The device's value is read first...
            const Request r = g.request();
            CHECK(r.dir == ioreq::dir_read);
            CHECK(r.addr == mmio + 0x10);
            CHECK(r.size == 4);
            // ... and then the result written. The answer equals EAX (the
            // low half of RAX, the address), so CMPXCHG writes too rather
            // than its dropped write-back.
            REQUIRE(g.answer((mmio + 0x10) & 0xffff'ffff) == pending);
            CHECK(g.request().dir == ioreq::dir_write);
            CHECK(g.request().addr == mmio + 0x10);
        }
    }
}

TEST_CASE("a_read_modify_write_to_mmio_writes_the_device_the_result_of_its_answer") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.set(reg::rax, mmio + 0x10);
        g.set(reg::rbx, 2);
        REQUIRE(g.exec({0x01, 0x18}) == pending);  // add dword [rax], ebx
        CHECK_REQUEST(g, mem_request(ioreq::dir_read, mmio + 0x10, 4, 0));
        REQUIRE(g.answer(40) == pending);
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, mmio + 0x10, 4, 42));
        REQUIRE(g.answer() == done);
        CHECK(g.get(reg::rip) == rip0 + 2);
    }
}

TEST_CASE("cmp_test_bt_and_mov_from_mmio_fault_as_reads_and_setcc_as_a_write") {
    struct Case {
        const char* text;
        Bytes insn;
        bool write;
    };
    const Case cases[] = {
        {"cmp dword [rax], ebx", {0x39, 0x18}, false},
        {"test dword [rax], ebx", {0x85, 0x18}, false},
        {"bt [rax], ebx", {0x0f, 0xa3, 0x18}, false},
        {"mov ebx, dword [rax]", {0x8b, 0x18}, false},
        {"setnz byte [rax]", {0x0f, 0x95, 0x00}, true},
    };
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        for (const Case& c : cases) {
            CAPTURE(c.text);
            Guest g(*b);
            g.set(reg::rax, mmio + 0x10);
            g.set(reg::rbx, 3);
            REQUIRE(g.exec(c.insn) == pending);
            check_fault(*b, g.fault(), {.write = c.write, .present = false, .addr = mmio + 0x10});
            CHECK(g.request().dir == (c.write ? ioreq::dir_write : ioreq::dir_read));
        }
    }
}

TEST_CASE("a_read_modify_write_to_a_claimed_page_faults_as_a_write_and_sends_only_the_final_write") {
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        // lock bts dword [rax], ebx: bit 5 of the dword at claimed + 0x20.
        g.poke(claimed + 0x20, 0x1, 4);
        g.set(reg::rax, claimed + 0x20);
        g.set(reg::rbx, 5);
        REQUIRE(g.exec({0xf0, 0x0f, 0xab, 0x18}) == pending);
        check_fault(*b, g.fault(), {.write = true, .present = true, .addr = claimed + 0x20});
        // The read is served from RAM; the device model sees one write.
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed + 0x20, 4, 0x21));
        REQUIRE(g.answer() == done);
        CHECK(g.slot_state_now() == ioreq::state_none);
    }
}

TEST_CASE("a_store_faulting_on_its_second_page_reports_that_pages_first_byte") {
    // mov [rbx], rax from 4 bytes below the claimed page: the RAM page
    // passes, the claimed page refuses. The hardware walks the second page
    // with the address of the access's first byte in it: EPT's
    // guest-physical address is "the guest-physical address that caused
    // the EPT violation" and the guest-linear address one that "may
    // translate to" it (SDM Vol. 3C §28.2.1); #NPF EXITINFO2 is the
    // faulting guest-physical address (APM Vol. 2 §15.25.6).
    for (const Backend* b : x86_backends()) {
        CAPTURE(b->name);
        Guest g(*b);
        g.set(reg::rax, 0x8877'6655'4433'2211);
        g.set(reg::rbx, claimed - 4);
        REQUIRE(g.exec({0x48, 0x89, 0x03}) == pending);
        check_fault(*b, g.fault(), {.write = true, .present = true, .addr = claimed});
        CHECK_REQUEST(g, mem_request(ioreq::dir_write, claimed, 4, 0x8877'6655));
        REQUIRE(g.answer() == done);
    }
}
