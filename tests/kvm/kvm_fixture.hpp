// SPDX-License-Identifier: MIT
// What every KVM test uses: /dev/kvm (opened once by the test main), a
// domain with a KVM VM over it running the script guest, and a device model
// written against <hvcore/hvdm.h> serving on a thread of its own.
#pragma once

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hvcore/embed.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "hvcore/kvm/vm.hpp"
#include "runner.hpp"
#include "script_guest.h"

namespace hvcore::kvm::test {

// Set by main() before any test runs.
inline Device* g_kvm = nullptr;

inline constexpr uint64_t ram_bytes = 4ull << 20;  // the bundled guests' 4 MiB
inline constexpr uint64_t page = 4096;

// The backend that holds the p2m of a KVM guest (the one `hvcore run`
// uses: the host CPU's).
[[nodiscard]] inline int host_arch() {
    std::string why;
    return tools::kvm_p2m_arch(nullptr, &why);
}

struct Op {
    uint32_t op = SG_OP_END;
    uint32_t size = 8;
    uint64_t addr = 0;
    uint64_t value = 0;
};
inline Op store(uint64_t gpa, uint32_t size, uint64_t v) { return {SG_OP_STORE, size, gpa, v}; }
inline Op load(uint64_t gpa, uint32_t size) { return {SG_OP_LOAD, size, gpa, 0}; }
inline Op out(uint16_t port, uint32_t size, uint64_t v) { return {SG_OP_OUT, size, port, v}; }
inline Op in(uint16_t port, uint32_t size) { return {SG_OP_IN, size, port, 0}; }
inline Op loads(uint64_t gpa, uint64_t times) { return {SG_OP_LOADS, 8, gpa, times}; }
inline Op stores(uint64_t gpa, uint64_t n) { return {SG_OP_STORES, 8, gpa, n}; }
inline Op spin() { return {SG_OP_SPIN, 0, 0, 0}; }
inline Op shutdown() { return {SG_OP_SHUTDOWN, 0, 0, 0}; }
inline Op outsb(uint16_t port, uint64_t n) { return {SG_OP_OUTSB, 1, port, n}; }
inline Op insb(uint16_t port, uint64_t n) { return {SG_OP_INSB, 1, port, n}; }

// A domain of the host's backend with a KVM VM, torn down in order (RAM
// from 0: the bundled guests' 4 MiB unless given).
class Guest {
public:
    // flags: hv_domain_config::flags (HV_DOMAIN_MULTI_OWNER).
    explicit Guest(VmOptions opt = {}, uint32_t vcpus = 1, uint64_t ram = ram_bytes, uint32_t flags = 0) {
        REQUIRE(hv_host_create(&host) == 0);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = static_cast<uint32_t>(host_arch());
        cfg.ram_bytes = ram;
        cfg.nr_vcpus = vcpus;
        cfg.flags = flags;
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        domid = hv_domain_id(dom);
        if (opt.timeout.count() == 0) opt.timeout = std::chrono::seconds(20);  // a test never hangs
        auto v = Vm::create(*g_kvm, hvcore::embed::domain_of(dom), opt);
        if (!v.is_ok()) FAIL(v.error().what());
        vm = std::move(v).value();
    }
    ~Guest() {
        vm.reset();
        (void)hv_domain_destroy(dom);
        hv_host_destroy(host);
    }
    Guest(const Guest&) = delete;
    Guest& operator=(const Guest&) = delete;

    // The script guest with this script, booted in long mode on every vCPU
    // (each with a stack of its own, 64 KiB apart).
    void boot_script(const std::vector<Op>& ops) {
        std::vector<uint8_t> img = read_image(HVCORE_TEST_GUEST_DIR "/script_guest.bin");
        std::vector<uint8_t> script;
        for (Op o : ops) append(script, o);
        append(script, Op{});  // SG_OP_END
        REQUIRE(hv_guest_write(dom, SG_SCRIPT, script.data(), script.size()) == 0);
        const Error e = vm->load(img, SG_LOAD);
        REQUIRE_MESSAGE(e.is_ok(), e.what());
        for (uint32_t v = 0; v < hvcore::embed::domain_of(dom)->nr_vcpus(); ++v) {
            const Error b = vm->boot(v, VcpuBoot{.mode = CpuMode::long64, .entry = SG_LOAD,
                                                 .stack = SG_STACK - v * 0x10000});
            REQUIRE_MESSAGE(b.is_ok(), b.what());
        }
    }

    // What LOAD or IN number `index` of the script read (the guest wrote it
    // back into the entry).
    [[nodiscard]] uint64_t script_value(size_t index) { return ram_u64(SG_SCRIPT + index * SG_ENTRY_BYTES + 16); }

    [[nodiscard]] uint64_t ram_u64(uint64_t gpa) {
        uint64_t v = 0;
        REQUIRE(hv_guest_read(dom, gpa, &v, sizeof v) == 0);
        return v;
    }

    static std::vector<uint8_t> read_image(const char* path) {
        FILE* f = std::fopen(path, "rb");
        REQUIRE_MESSAGE(f != nullptr, path);
        std::vector<uint8_t> v;
        for (int c; (c = std::fgetc(f)) != EOF;) v.push_back(static_cast<uint8_t>(c));
        std::fclose(f);
        return v;
    }

    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_domid_t domid = 0;
    std::unique_ptr<Vm> vm;

private:
    static void append(std::vector<uint8_t>& s, const Op& o) {
        uint8_t e[SG_ENTRY_BYTES];
        std::memcpy(e, &o.op, 4);
        std::memcpy(e + 4, &o.size, 4);
        std::memcpy(e + 8, &o.addr, 8);
        std::memcpy(e + 16, &o.value, 8);
        s.insert(s.end(), e, e + sizeof e);
    }
};

// One request as the device model saw it.
struct Seen {
    uint8_t type = 0;
    uint8_t dir = 0;
    uint64_t addr = 0;
    uint32_t size = 0;
    uint64_t data = 0;
    uint32_t vcpu = 0;
    bool operator==(const Seen&) const = default;
};

// A device model on its own thread, through <hvcore/hvdm.h> only. It
// records every request; `on_request` (optional) runs before the answer,
// on the model's thread, and may issue DMOPs (disclaim, disable).
class TestDm {
public:
    TestDm(hv_host* host, hvdm_domid_t domid) : domid_(domid) {
        h_ = hvdm_open(host);
        REQUIRE(h_ != nullptr);
        REQUIRE(hvdm_create_ioreq_server(h_, domid_, HVDM_BUFIOREQ_OFF, &id_) == 0);
        REQUIRE(hvdm_map_ioreq_pages(h_, domid_, id_, &page_, nullptr) == 0);
        fd_ = hvdm_ioreq_fd(h_, domid_, id_);
        REQUIRE(fd_ >= 0);
        REQUIRE(hvdm_set_ioreq_server_state(h_, domid_, id_, 1) == 0);
        REQUIRE(hvdm_nr_vcpus(h_, domid_, &nr_vcpus_) == 0);
        stop_ = eventfd(0, EFD_CLOEXEC);
        REQUIRE(stop_ >= 0);
    }
    ~TestDm() {
        stop();
        hvdm_close(h_);
        close(stop_);
    }
    TestDm(const TestDm&) = delete;
    TestDm& operator=(const TestDm&) = delete;

    int claim(uint32_t flags = HVDM_IOREQ_MEM_ACCESS_WRITE) {
        return hvdm_map_mem_type_to_ioreq_server(h_, domid_, id_, HVDM_MEM_IOREQ_SERVER, flags);
    }
    int disclaim() { return hvdm_map_mem_type_to_ioreq_server(h_, domid_, id_, HVDM_MEM_IOREQ_SERVER, 0); }
    int set_type(uint16_t type, uint64_t gfn, uint32_t nr) { return hvdm_set_mem_type(h_, domid_, type, gfn, nr); }
    int enable(bool on) { return hvdm_set_ioreq_server_state(h_, domid_, id_, on ? 1 : 0); }
    [[nodiscard]] hvdm_ioservid_t id() const noexcept { return id_; }
    int map_ports(uint64_t lo, uint64_t hi) { return hvdm_map_io_range_to_ioreq_server(h_, domid_, id_, 0, lo, hi); }
    int map_mmio(uint64_t lo, uint64_t hi) { return hvdm_map_io_range_to_ioreq_server(h_, domid_, id_, 1, lo, hi); }
    uint16_t type_of(uint64_t gfn) {
        uint16_t t = 0xffff;
        REQUIRE(hvdm_get_mem_type(h_, domid_, gfn, &t) == 0);
        return t;
    }

    std::function<void(TestDm&, hvdm_ioreq_t&, size_t index)> on_request;

    void start() {
        thread_ = std::thread([this] { serve(); });
    }
    void stop() {
        if (!thread_.joinable()) return;
        const uint64_t one = 1;
        REQUIRE(write(stop_, &one, sizeof one) == sizeof one);
        thread_.join();
    }
    [[nodiscard]] std::vector<Seen> seen() {
        std::lock_guard g(mu_);
        return seen_;
    }

private:
    void serve() {
        for (;;) {
            pollfd p[2] = {{fd_, POLLIN, 0}, {stop_, POLLIN, 0}};
            if (poll(p, 2, -1) < 0) continue;
            uint64_t n = 0;
            if ((p[0].revents & POLLIN) != 0) (void)!read(fd_, &n, sizeof n);
            for (unsigned v = 0; v < nr_vcpus_; ++v) serve_slot(v);
            if ((p[1].revents & POLLIN) != 0) return;
        }
    }

    void serve_slot(unsigned v) {
        hvdm_ioreq_t& r = page_->vcpu_ioreq[v];
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (r.state != HVDM_STATE_IOREQ_READY) return;
        r.state = HVDM_STATE_IOREQ_INPROCESS;
        size_t index = 0;
        {
            std::lock_guard g(mu_);
            index = seen_.size();
            seen_.push_back({r.type, static_cast<uint8_t>(r.dir), r.addr, r.size, r.data, v});
        }
        if (r.dir == HVDM_IOREQ_READ) r.data = read_answer;
        if (on_request) on_request(*this, r, index);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        r.state = HVDM_STATE_IORESP_READY;
        std::atomic_thread_fence(std::memory_order_seq_cst);
        (void)hvdm_ioreq_notify(h_, domid_, id_, v);
    }

public:
    static constexpr uint64_t read_answer = 0x5a5a5a5a5a5a5a5aull;  // what a read gets

private:
    hvdm_handle* h_ = nullptr;
    hvdm_domid_t domid_;
    hvdm_ioservid_t id_ = 0;
    unsigned nr_vcpus_ = 1;
    hvdm_shared_iopage* page_ = nullptr;
    int fd_ = -1;
    int stop_ = -1;
    std::thread thread_;
    std::mutex mu_;
    std::vector<Seen> seen_;
};

}  // namespace hvcore::kvm::test
