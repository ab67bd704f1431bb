// SPDX-License-Identifier: MIT
// Real guest code on KVM with the core in charge: what a device model sees,
// what never exits, what a type change does to the memslots, how a run
// ends. Each test runs the script guest (script_guest.S) or a bundled
// guest; they need a usable /dev/kvm (main() skips them all, with the
// reason, when there is none).
//
// Guest-physical layout of the script guest: code at 0x100000, script at
// 0x180000, stack below 0x80000 - all ram_rw. The tests claim pages from
// gfn 0x200 (GPA 0x200000) and use gfn 0x300 as plain RAM.
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "guest_abi.h"
#include "kvm_fixture.hpp"
#include "runner.hpp"

namespace hvcore::kvm::test {
namespace {

constexpr uint64_t claimed = 0x200000;  // gfn 0x200: the first page the tests claim
constexpr uint64_t plain = 0x300000;    // gfn 0x300: stays ram_rw

Seen write_seen(uint64_t gpa, uint32_t size, uint64_t data, uint32_t vcpu = 0) {
    return {HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_WRITE, gpa, size, data, vcpu};
}

void require_clean_end(Vm& vm, const Error& e, RunEnd expected = RunEnd::halted) {
    REQUIRE_MESSAGE(e.is_ok(), e.what());
    REQUIRE_MESSAGE(vm.end() == expected, vm.end_detail());
}

TEST_CASE("writes_to_claimed_pages_reach_the_device_model_in_order_with_their_values") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 2) == 0);
    dm.start();
    // Every width, both claimed pages, the last qword of a page, and plain
    // RAM writes in between (those never leave the guest).
    g.boot_script({store(claimed + 0x10, 4, 0xdeadbeef), store(plain, 8, 0x1111111111111111),
                   store(claimed + 0x1ff8, 8, 0x0123456789abcdef), store(claimed + 3, 1, 0x5a),
                   store(plain + 8, 4, 0x22222222), store(claimed + 0x100, 2, 0xcafe)});
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();

    const std::vector<Seen> expected = {write_seen(claimed + 0x10, 4, 0xdeadbeef),
                                        write_seen(claimed + 0x1ff8, 8, 0x0123456789abcdef),
                                        write_seen(claimed + 3, 1, 0x5a), write_seen(claimed + 0x100, 2, 0xcafe)};
    CHECK(dm.seen() == expected);
    // The device model did not apply them (it is its job): RAM is untouched;
    // the plain RAM writes landed.
    CHECK(g.ram_u64(claimed + 0x10) == 0);
    CHECK(g.ram_u64(claimed + 0x1ff8) == 0);
    CHECK(g.ram_u64(plain) == 0x1111111111111111);
    CHECK(g.ram_u64(plain + 8) == 0x22222222);
    const RunStats st = g.vm->stats();
    CHECK(st.mmio_exits == 4);  // the four claimed writes, nothing else
    CHECK(st.ioreqs[dm.id()] == 4);
}

TEST_CASE("reads_of_claimed_pages_never_exit") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 4) == 0);
    dm.start();
    // 300 qword loads in a loop, loads of every width on every page, then
    // one write so that the device model is known to be listening.
    g.boot_script({loads(claimed, 300), load(claimed + 0x1008, 4), load(claimed + 0x2003, 1),
                   load(claimed + 0x3ffe, 2), load(claimed + 0x3ff8, 8), store(claimed + 0x40, 8, 7)});
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();
    CHECK(dm.seen() == std::vector<Seen>{write_seen(claimed + 0x40, 8, 7)});
    CHECK(g.vm->stats().mmio_exits == 1);
    CHECK(g.vm->stats().exits == 2);  // the write's MMIO exit and the HLT
}

TEST_CASE("two_device_models_own_their_pages_and_the_read_trapped_pages_reads_reach_their_owner") {
    // Multi-owner mode: w traps writes to gfn 0x200, rw reads and writes of
    // gfn 0x201. rw's page has no memslot: its load exits and is answered
    // by rw; w's page keeps its read-only slot, its load never exits.
    Guest g({}, 1, ram_bytes, HV_DOMAIN_MULTI_OWNER);
    TestDm w(g.host, g.domid);
    TestDm rw(g.host, g.domid);
    REQUIRE(w.claim(HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
    REQUIRE(rw.claim(HVDM_IOREQ_MEM_ACCESS_READ | HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
    REQUIRE(w.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
    REQUIRE(rw.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page + 1, 1) == 0);
    const uint64_t ram_value = 0x0706050403020100;
    REQUIRE(hv_guest_write(g.dom, claimed + 0x10, &ram_value, sizeof ram_value) == 0);
    REQUIRE(hv_guest_write(g.dom, claimed + page + 0x20, &ram_value, sizeof ram_value) == 0);
    w.start();
    rw.start();
    g.boot_script({load(claimed + 0x10, 4), store(claimed + 0x10, 4, 0x11), load(claimed + page + 0x20, 8),
                   store(claimed + page + 0x20, 2, 0x22)});
    require_clean_end(*g.vm, g.vm->run());
    w.stop();
    rw.stop();
    CHECK(w.seen() == std::vector<Seen>{write_seen(claimed + 0x10, 4, 0x11)});
    CHECK(rw.seen() == std::vector<Seen>{{HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, claimed + page + 0x20, 8, 0, 0},
                                         write_seen(claimed + page + 0x20, 2, 0x22)});
    CHECK(g.script_value(0) == 0x03020100);              // w's page: read from RAM
    CHECK(g.script_value(2) == TestDm::read_answer);      // rw's page: its answer
    CHECK(g.ram_u64(claimed + page + 0x20) == ram_value);  // neither write was made to RAM
    CHECK(g.ram_u64(claimed + 0x10) == ram_value);
    CHECK(g.vm->stats().mmio_exits == 3);
}

TEST_CASE("disclaim_mid_run_sends_the_next_writes_straight_to_ram") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
    // The device model disclaims while it handles the 8th of 20 qword
    // stores (store i writes i+1 to claimed + 8i), before answering it.
    constexpr uint64_t k = 8;
    constexpr uint64_t n = 20;
    std::atomic<int> disclaim_rc{1};
    dm.on_request = [&](TestDm& d, hvdm_ioreq_t&, size_t index) {
        if (index + 1 == k) disclaim_rc = d.disclaim();
    };
    dm.start();
    g.boot_script({stores(claimed, n)});
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();

    CHECK(disclaim_rc == 0);
    const std::vector<Seen> seen = dm.seen();
    REQUIRE(seen.size() == k);
    for (uint64_t i = 0; i < k; ++i) CHECK(seen[i] == write_seen(claimed + 8 * i, 8, i + 1));
    for (uint64_t i = 0; i < k; ++i) CHECK(g.ram_u64(claimed + 8 * i) == 0);  // forwarded, not applied
    for (uint64_t i = k; i < n; ++i) CHECK(g.ram_u64(claimed + 8 * i) == i + 1);  // straight to RAM
    CHECK(g.vm->stats().mmio_exits == k);
    CHECK(dm.type_of(claimed / page) == HVDM_MEM_RAM_RW);
    // The slot split for the claim is merged again: one read-write slot.
    CHECK(g.vm->slots() == std::vector<SlotSpec>{{.gpa = 0, .bytes = ram_bytes, .ram_offset = 0, .read_only = false}});
}

TEST_CASE("a_write_held_while_its_owner_is_disabled_is_retried_after_the_disclaim") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
    // Write A reaches the model, which disables its server before
    // answering; write B then finds the owner disabled and is held in the
    // core (KVM has already retired the instruction, so it cannot be
    // re-executed); 200 ms later (B needs microseconds to get there)
    // another thread disclaims, and B is routed again - to RAM. C comes
    // after, to RAM.
    dm.on_request = [](TestDm& d, hvdm_ioreq_t&, size_t index) {
        if (index == 0) (void)d.enable(false);
    };
    dm.start();
    std::thread disclaimer([&] {
        while (dm.seen().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        (void)dm.disclaim();
    });
    g.boot_script({store(claimed, 8, 0xa), store(claimed + 8, 8, 0xb), store(claimed + 16, 8, 0xc)});
    const Error e = g.vm->run();
    disclaimer.join();
    require_clean_end(*g.vm, e);
    dm.stop();

    CHECK(dm.seen() == std::vector<Seen>{write_seen(claimed, 8, 0xa)});
    CHECK(g.ram_u64(claimed) == 0);         // A: the model's, not applied
    CHECK(g.ram_u64(claimed + 8) == 0xb);   // B: held, then written once
    CHECK(g.ram_u64(claimed + 16) == 0xc);  // C: plain RAM by then
    CHECK(g.vm->stats().holds >= 1);
}

TEST_CASE("a_write_racing_a_disclaim_is_never_lost_or_doubled") {
    // 200 qword stores (i+1 to claimed + 8i). While write m is forwarded and
    // its vCPU waits for the answer, the device model disclaims the type,
    // and only then answers: write m is in flight across the disclaim. It
    // must be delivered exactly once (forwarded, and not written again to
    // RAM when the answered access is replayed over what is now ram_rw);
    // every later write must go straight to RAM. The model does not apply
    // the writes it sees, so their RAM stays 0. Deterministic: the race is
    // forced at a different write in each trial, not left to timing.
    constexpr uint64_t n = 200;
    for (uint64_t m : {0ull, 37ull, 120ull, 199ull}) {
        CAPTURE(m);
        Guest g;
        TestDm dm(g.host, g.domid);
        REQUIRE(dm.claim() == 0);
        REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
        int disclaim_rc = 1;
        dm.on_request = [&](TestDm& self, hvdm_ioreq_t&, size_t index) {
            if (index == m) disclaim_rc = self.disclaim();
        };
        dm.start();
        g.boot_script({stores(claimed, n)});
        const Error e = g.vm->run();
        require_clean_end(*g.vm, e);
        dm.stop();

        const std::vector<Seen> seen = dm.seen();
        CHECK(disclaim_rc == 0);
        REQUIRE(seen.size() == m + 1);
        for (uint64_t i = 0; i <= m; ++i) CHECK(seen[i] == write_seen(claimed + 8 * i, 8, i + 1));
        for (uint64_t i = 0; i < n; ++i) CHECK(g.ram_u64(claimed + 8 * i) == (i <= m ? 0 : i + 1));
    }
}

TEST_CASE("type_changes_split_and_merge_memslots_before_the_dmop_returns") {
    Guest g;
    TestDm dm(g.host, g.domid);
    const uint64_t mib2 = 0x200000;
    const auto rw = [](uint64_t gpa, uint64_t bytes) { return SlotSpec{gpa, bytes, gpa, false}; };
    const auto ro = [](uint64_t gpa, uint64_t bytes) { return SlotSpec{gpa, bytes, gpa, true}; };
    CHECK(g.vm->slots() == std::vector<SlotSpec>{rw(0, ram_bytes)});

    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 4) == 0);
    CHECK(g.vm->slots() == std::vector<SlotSpec>{rw(0, mib2), ro(claimed, 4 * page), rw(claimed + 4 * page, ram_bytes - mib2 - 4 * page)});

    // One page back to ram_rw splits the read-only run; a ram_ro page right
    // after the claimed ones joins their read-only slot; mmio_dm is a hole.
    REQUIRE(dm.set_type(HVDM_MEM_RAM_RW, claimed / page + 1, 1) == 0);
    REQUIRE(dm.set_type(HVDM_MEM_RAM_RO, claimed / page + 4, 1) == 0);
    REQUIRE(dm.set_type(HVDM_MEM_MMIO_DM, plain / page, 1) == 0);
    CHECK(g.vm->slots() == std::vector<SlotSpec>{rw(0, mib2), ro(claimed, page), rw(claimed + page, page),
                                                 ro(claimed + 2 * page, 3 * page),
                                                 rw(claimed + 5 * page, plain - claimed - 5 * page),
                                                 rw(plain + page, ram_bytes - plain - page)});

    // The disclaim resets the claimed pages: ram_ro and the hole remain.
    REQUIRE(dm.disclaim() == 0);
    CHECK(g.vm->slots() == std::vector<SlotSpec>{rw(0, claimed + 4 * page), ro(claimed + 4 * page, page),
                                                 rw(claimed + 5 * page, plain - claimed - 5 * page),
                                                 rw(plain + page, ram_bytes - plain - page)});
    const RunStats st = g.vm->stats();
    CHECK(st.p2m_changes == 5);
    CHECK(st.slot_ops > 0);
}

TEST_CASE("more_runs_than_memslots_is_a_clear_error") {
    VmOptions o;
    o.max_memslots = 3;  // so that two claimed pages apart need 5
    Guest g(o);
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);      // 3 slots: fits
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page + 2, 1) == 0);  // 5 slots: does not
    g.boot_script({store(plain, 8, 1)});
    const Error e = g.vm->run();
    CHECK(e.code() == -ENOSPC);
    CHECK(e.what().find("KVM_CAP_NR_MEMSLOTS") != std::string::npos);
    CHECK(e.what().find("5 memslots") != std::string::npos);
    CHECK(g.vm->end() == RunEnd::failed);
    CHECK(g.vm->slots().size() == 3);  // the projection before the failed change
}

TEST_CASE("the_shutdown_port_ends_the_run") {
    Guest g;
    g.boot_script({shutdown(), store(plain, 8, 1)});
    require_clean_end(*g.vm, g.vm->run(), RunEnd::shutdown_port);
    CHECK(g.ram_u64(plain) == 0);  // nothing ran after the shutdown write
}

TEST_CASE("request_stop_and_the_timeout_end_a_spinning_guest") {
    {
        Guest g;
        g.boot_script({spin()});
        std::thread stopper([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            g.vm->request_stop();
        });
        const Error e = g.vm->run();
        stopper.join();
        require_clean_end(*g.vm, e, RunEnd::stopped);
    }
    {
        VmOptions o;
        o.timeout = std::chrono::milliseconds(50);
        Guest g(o);
        g.boot_script({spin()});
        require_clean_end(*g.vm, g.vm->run(), RunEnd::timeout);
    }
}

TEST_CASE("a_guest_exception_ends_the_run_with_the_reason") {
    // A store to a non-canonical address raises #GP; there is no IDT, and
    // this nested KVM could not deliver it anyway: KVM_EXIT_SHUTDOWN.
    Guest g;
    g.boot_script({store(0x8000000000000000ull, 8, 1)});
    const Error e = g.vm->run();
    CHECK(g.vm->end() == RunEnd::failed);
    CHECK(e.what().find("KVM_EXIT_SHUTDOWN") != std::string::npos);
}

TEST_CASE("port_io_reaches_the_device_model_and_reads_get_its_answer") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.map_ports(0x3f8, 0x3ff) == 0);
    dm.start();
    // An unclaimed port read gets all ones from the core (no model sees
    // it); the model answers its own ports.
    g.boot_script({out(0x3f8, 1, 'x'), in(0x3fd, 1), out(0x3fc, 2, 0x1234), in(0x3f8, 4), in(0x80, 1)});
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();
    CHECK(dm.seen() == std::vector<Seen>{{HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_WRITE, 0x3f8, 1, 'x', 0},
                                         {HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_READ, 0x3fd, 1, 0, 0},
                                         {HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_WRITE, 0x3fc, 2, 0x1234, 0},
                                         {HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_READ, 0x3f8, 4, 0, 0}});
    const RunStats st = g.vm->stats();
    CHECK(st.io_exits == 5);
    CHECK(st.ioreqs[dm.id()] == 4);
    CHECK(st.core_latency.count() == 1);  // port 0x80: all ones, from the core
}

TEST_CASE("string_port_io_sends_every_element_and_fills_every_read") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.map_ports(0x3f8, 0x3ff) == 0);
    dm.start();
    const char text[] = "hello";
    REQUIRE(hv_guest_write(g.dom, SG_BUF, text, 5) == 0);
    // REP OUTSB of 5 bytes, then REP INSB of 4 bytes over the same buffer:
    // KVM_EXIT_IO with count > 1, one ioreq per element.
    g.boot_script({outsb(0x3f8, 5), insb(0x3f8, 4)});
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();
    std::vector<Seen> expected;
    for (char c : std::string("hello")) expected.push_back({HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_WRITE, 0x3f8, 1, static_cast<uint64_t>(c), 0});
    for (int i = 0; i < 4; ++i) expected.push_back({HVDM_IOREQ_TYPE_PIO, HVDM_IOREQ_READ, 0x3f8, 1, 0, 0});
    CHECK(dm.seen() == expected);
    uint8_t buf[5] = {};
    REQUIRE(hv_guest_read(g.dom, SG_BUF, buf, sizeof buf) == 0);
    CHECK(buf[0] == 0x5a);  // TestDm::read_answer, one byte of it per element
    CHECK(buf[3] == 0x5a);
    CHECK(buf[4] == 'o');   // beyond the 4 read
}

TEST_CASE("mmio_reads_where_no_memory_is_get_the_device_models_answer_or_all_ones") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.map_mmio(HVG_UART_MMIO, HVG_UART_MMIO + 0xfff) == 0);
    dm.start();
    // Above RAM: no memslot, so KVM_EXIT_MMIO; one address a model serves,
    // one nobody does (the core answers all ones); a write to it is dropped.
    g.boot_script({load(HVG_UART_MMIO + 0x10, 4), load(HVG_UART_MMIO + 0x2000, 2),
                   store(HVG_UART_MMIO + 0x2000, 8, 1), store(HVG_UART_MMIO + 8, 1, 0x77)});
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();
    CHECK(g.script_value(0) == 0x5a5a5a5a);
    CHECK(g.script_value(1) == 0xffff);
    CHECK(dm.seen() == std::vector<Seen>{{HVDM_IOREQ_TYPE_COPY, HVDM_IOREQ_READ, HVG_UART_MMIO + 0x10, 4, 0, 0},
                                         write_seen(HVG_UART_MMIO + 8, 1, 0x77)});
    CHECK(g.vm->stats().mmio_exits == 4);
}

TEST_CASE("a_vm_leaves_no_fd_or_thread_behind") {
    const auto count = [](const char* dir) {
        size_t n = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
        return n;
    };
    const size_t fds = count("/proc/self/fd");
    const size_t threads = count("/proc/self/task");
    {
        Guest g({}, 2);
        TestDm dm(g.host, g.domid);
        REQUIRE(dm.claim() == 0);
        REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
        dm.start();
        g.boot_script({stores(claimed, 4)});
        require_clean_end(*g.vm, g.vm->run());
    }
    CHECK(count("/proc/self/fd") == fds);
    CHECK(count("/proc/self/task") == threads);
}

TEST_CASE("each_vcpu_runs_on_its_own_thread_and_uses_its_own_ioreq_slot") {
    Guest g({}, 2);
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 1) == 0);
    dm.start();
    g.boot_script({stores(claimed, 30)});  // both vCPUs run the same script
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();
    std::map<uint32_t, uint64_t> per_vcpu;
    for (const Seen& s : dm.seen()) ++per_vcpu[s.vcpu];
    CHECK(per_vcpu[0] == 30);
    CHECK(per_vcpu[1] == 30);
}

TEST_CASE("a_real_mode_payload_runs") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.map_ports(0x3f8, 0x3ff) == 0);
    dm.start();
    const std::vector<uint8_t> img = Guest::read_image(HVCORE_TEST_GUEST_DIR "/real_mode.bin");
    REQUIRE(g.vm->load(img, 0x7c00).is_ok());
    REQUIRE(g.vm->boot(0, VcpuBoot{.mode = CpuMode::real16, .entry = 0x7c00, .stack = 0x7000}).is_ok());
    require_clean_end(*g.vm, g.vm->run());
    dm.stop();
    std::string text;
    for (const Seen& s : dm.seen()) text += static_cast<char>(s.data);
    CHECK(text == "R16\n");
}

// ---------------------------------------------------------------------------
// The bundled guests and device models, through the runner of `hvcore run`.

struct Traced {
    std::string dm;
    Seen req;
    bool operator==(const Traced&) const = default;
};

std::vector<Traced> trace_of(bool on_kvm, tools::BundledGuest which, tools::RunResult* result) {
    std::vector<Traced> t;
    std::mutex mu;
    tools::RunOptions opt;
    opt.out = stdout;
    opt.trace = [&](const std::string& dm, hvdm_ioservid_t, const hvdm_ioreq_t& r) {
        std::lock_guard g(mu);
        t.push_back({dm, {r.type, static_cast<uint8_t>(r.dir), r.addr, r.size, r.data, 0}});
    };
    tools::GuestSpec guest;
    guest.name = tools::to_string(which);
    guest.bundled = which;
    guest.load = guest.entry = HVG_LOAD_ADDR;
    guest.stack = HVG_STACK_TOP;
    std::string why;
    guest.path = tools::resolve_guest(guest.name, &why);
    REQUIRE_MESSAGE(!guest.path.empty(), why);
    std::vector<tools::DmSpec> dms;
    for (const char* name : {"uart", "shadow"}) {
        if (which == tools::BundledGuest::console && std::string(name) == "shadow") continue;
        tools::DmSpec s;
        s.name = name;
        s.path = tools::resolve_dm(name, &why);
        REQUIRE_MESSAGE(!s.path.empty(), why);
        dms.push_back(s);
    }
    *result = on_kvm ? tools::run_on_kvm(*g_kvm, guest, dms, opt) : tools::run_on_model(host_arch(), guest, dms, opt);
    return t;
}

TEST_CASE("the_same_guest_gives_the_same_device_model_trace_on_kvm_and_on_the_model_vcpu") {
    for (auto which : {tools::BundledGuest::console, tools::BundledGuest::pagetable}) {
        CAPTURE(tools::to_string(which));
        tools::RunResult on_kvm, on_model;
        const std::vector<Traced> kvm_trace = trace_of(true, which, &on_kvm);
        const std::vector<Traced> model_trace = trace_of(false, which, &on_model);
        REQUIRE_MESSAGE(on_kvm.ok, on_kvm.error);
        REQUIRE_MESSAGE(on_model.ok, on_model.error);
        CHECK(!kvm_trace.empty());
        CHECK(kvm_trace.size() == model_trace.size());
        CHECK(kvm_trace == model_trace);
        // The same ioreq counts per server, too.
        REQUIRE(on_kvm.servers.size() == on_model.servers.size());
        for (size_t i = 0; i < on_kvm.servers.size(); ++i) CHECK(on_kvm.servers[i].ioreqs == on_model.servers[i].ioreqs);
    }
}

}  // namespace
}  // namespace hvcore::kvm::test

namespace hvcore::kvm::test {
namespace {

std::vector<uint64_t> dirty_gfns(const std::vector<uint8_t>& bits) {
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < bits.size() * 8; ++i)
        if ((bits[i / 8] >> (i % 8)) & 1) out.push_back(i);
    return out;
}

bool has(const std::vector<uint64_t>& v, uint64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

// Live migration of a KVM guest's memory with a shadowing device model
// attached: log-dirty is KVM's own dirty log (KVM_GET_DIRTY_LOG on the
// memslots: RAM writes never exit) plus the core's marks of the writes it
// forwards; the migrator's rounds run at the guest's trapped writes (the
// device model's thread, while the vCPU waits), so each round's content is
// known. Xen cannot start log-dirty here (hap_enable_log_dirty: -EBUSY).
TEST_CASE("a_kvm_guest_with_a_shadowing_device_model_migrates_byte_for_byte_with_kvms_dirty_log") {
    Guest g;
    TestDm dm(g.host, g.domid);
    REQUIRE(dm.claim() == 0);
    REQUIRE(dm.set_type(HVDM_MEM_IOREQ_SERVER, claimed / page, 2) == 0);
    hvdm_handle* mh = hvdm_open(g.host);
    REQUIRE(mh != nullptr);
    void* map = nullptr;
    REQUIRE(hvdm_map_guest_memory(mh, g.domid, claimed / page, 2, PROT_READ | PROT_WRITE, &map, nullptr) == 0);
    // Pages A, B, C of plain RAM, each filled between two trapped writes
    // (the second to the other claimed page).
    const uint64_t a = plain, b = plain + page, c = plain + 2 * page;
    g.boot_script({stores(a, 64), store(claimed + 0x10, 8, 0xa1), stores(b, 64), store(claimed + page + 0x10, 8, 0xa2),
                   stores(c, 64), store(claimed + 0x20, 8, 0xa3)});

    const uint64_t pages = ram_bytes / page;
    std::vector<uint8_t> dest(ram_bytes);
    std::vector<uint8_t> bits(pages / 8);
    std::vector<std::vector<uint64_t>> rounds;
    const auto round = [&] {
        REQUIRE(hv_log_dirty_read(g.dom, 0, pages, bits.data(), bits.size(), HV_LOG_DIRTY_CLEAN) == 0);
        rounds.push_back(dirty_gfns(bits));
        for (const uint64_t p : rounds.back()) REQUIRE(hv_guest_read(g.dom, p * page, dest.data() + p * page, page) == 0);
    };
    REQUIRE(hv_log_dirty_enable(g.dom) == 0);  // with the claimed pages outstanding
    REQUIRE(hv_guest_read(g.dom, 0, dest.data(), ram_bytes) == 0);  // round 0: everything
    // At each trapped write: a round, then the write applied to RAM (a
    // shadowing model applies what it mediates), then the answer.
    dm.on_request = [&](TestDm&, hvdm_ioreq_t& r, size_t index) {
        if (index < 2) round();
        std::memcpy(static_cast<uint8_t*>(map) + (r.addr - claimed), &r.data, r.size);
    };
    dm.start();
    require_clean_end(*g.vm, g.vm->run());  // the guest has stopped
    dm.stop();
    round();  // the last round, the guest stopped

    std::vector<uint8_t> now(ram_bytes);
    REQUIRE(hv_guest_read(g.dom, 0, now.data(), ram_bytes) == 0);
    CHECK(dest == now);
    REQUIRE(rounds.size() == 3);
    // Round 1 (at the first trapped write): A, written by the guest in KVM;
    // not B or C yet.
    CHECK(has(rounds[0], a / page));
    CHECK_FALSE(has(rounds[0], b / page));
    CHECK_FALSE(has(rounds[0], c / page));
    // Round 2: B, and the first claimed page again: the device model wrote
    // it after round 1 (marked when its answer was taken); not A again.
    CHECK(has(rounds[1], b / page));
    CHECK(has(rounds[1], claimed / page));
    CHECK_FALSE(has(rounds[1], a / page));
    // The last: C and both claimed pages.
    CHECK(has(rounds[2], c / page));
    CHECK(has(rounds[2], claimed / page + 1));
    CHECK(g.ram_u64(claimed + page + 0x10) == 0xa2);
    // RAM writes never left KVM: the three trapped writes are the only MMIO exits.
    CHECK(g.vm->stats().mmio_exits == 3);
    CHECK(hvdm_unmap_guest_memory(mh, map, 2) == 0);
    CHECK(hv_log_dirty_disable(g.dom) == 0);
    hvdm_close(mh);
}

}  // namespace hvcore::kvm::test
