// SPDX-License-Identifier: MIT
// A Xen device model, unchanged, on hvcore: xen_test_dm (xen_test_dm.c,
// written against Xen's API only and linked against Debian's
// libxendevicemodel, libxenevtchn and libxenforeignmemory) runs in a
// process of its own with the dynamic linker pointed at hvcore's drop-ins
// (`hvcore xen-exec --socket <this test's listener> xen_test_dm DOMID`, or
// by hand: LD_LIBRARY_PATH=<build>/xen/lib HVCORE_DM_SOCKET=<listener>),
// and serves the device of xen_test_dev.h to the model vCPUs
// of a 4-vCPU x86 domain (every x86 backend of the build), driven from
// several threads. Each case ends the device model (its stdin) and checks
// its summary line: what it served, counted on its side, and exit 0.
//
// The domain's RAM ends at 0xa0000, where VGA memory begins: above it
// nothing is RAM, so the device model's ranges (VGA, the BARs) are holes
// that fault to it, as on a Xen HVM guest's memory map.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "dm_child.hpp"
#include "hvcore_test_backends.h"
#include "xen_test_dev.h"
#include "xen_test_dm_summary.hpp"

#ifndef XEN_TEST_DM
#error "XEN_TEST_DM: the path of the xen_test_dm program"
#endif
#ifndef HVCORE_XEN_LIBDIR
#error "HVCORE_XEN_LIBDIR: the directory of hvcore's Xen drop-ins in the build tree"
#endif
#ifndef HVCORE_CLI
#error "HVCORE_CLI: the path of the hvcore program (hvcore xen-exec)"
#endif

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto bound = std::chrono::seconds(10);  // every wait below

constexpr uint32_t nr_vcpus = 4;
constexpr uint64_t ram_bytes = XTD_VGA_BASE;  // RAM below VGA memory only
constexpr uint16_t cf8 = 0xcf8, cfc = 0xcfc;
constexpr uint64_t ones32 = 0xffffffffu;

struct Backend {
    std::string name;
    uint32_t arch;
};
std::vector<Backend> x86_backends() {
    std::vector<Backend> v;
#define XTD_X86(name, arch, port_io) \
    if (port_io) v.push_back(Backend{name, arch});
    HVCORE_TEST_BACKENDS(XTD_X86)
#undef XTD_X86
    return v;
}

std::string hex(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "%#" PRIx64, v);
    return b;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

// ---- the device-model process -------------------------------------------

// xen_test_dm DOMID in a process of its own (hvcore_test::DmChild): its
// stdin (closing it ends the serving) and stdout on pipes, its stderr in a
// file. Its environment: ours without the variables that choose the
// libraries or the connection, plus env_set. Killed and reaped if the test
// ends before finish().
class DmProcess {
public:
    DmProcess(const std::vector<std::string>& args, const std::vector<std::string>& env_set) {
        const std::vector<std::string> env =
            hvcore_test::environ_with(env_set, {"LD_LIBRARY_PATH=", "HVCORE_DM_SOCKET=", "LD_DEBUG="});
        const std::string started = child_.start(args, &env, err_file_.fd);
        if (!started.empty()) fail(started);
    }

    // One line of its stdout, without the newline; what came if the line
    // did not end within the bound (or the output did).
    std::string line() { return child_.line(bound, Clock::now() + bound); }
    // What it wrote to stderr so far.
    std::string err() const {
        std::ifstream f(err_file_.path);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    }
    // Ends its serving (its stdin hangs up), reads the rest of its stdout
    // until it closes, and reaps it (within the bound, else kills it).
    // Returns its wait status.
    int finish(std::string* rest) {
        int status = 0;
        if (!child_.finish(rest, &status, bound, Clock::now() + bound))
            fail("xen_test_dm did not exit within 10 s of its stdin closing; stderr: " + err());
        return status;
    }

private:
    // Its stderr, removed when the test is done with it (after child_).
    struct ErrFile {
        int fd = -1;
        std::string path;
        ErrFile() {
            char tmpl[] = "xen_test_dm-stderr-XXXXXX";
            fd = mkstemp(tmpl);
            if (fd < 0) fail("mkstemp: " + std::string(strerror(errno)));
            path = tmpl;
        }
        ~ErrFile() {
            close(fd);
            unlink(path.c_str());
        }
        ErrFile(const ErrFile&) = delete;
        ErrFile& operator=(const ErrFile&) = delete;
    };
    ErrFile err_file_;
    hvcore_test::DmChild child_;
};

// ---- the host -------------------------------------------------------------

// What the device model's summary line says it served.
using Served = hvcore_test::XtdServed;

// How the device model is pointed at the drop-ins.
enum class Launch {
    xen_exec,        // hvcore xen-exec --socket SOCK xen_test_dm DOMID
    ld_library_path  // LD_LIBRARY_PATH=HVCORE_XEN_LIBDIR HVCORE_DM_SOCKET=SOCK xen_test_dm DOMID
};

// A host with one 4-vCPU x86 domain of @p arch, a listener, and
// xen_test_dm serving the domain through hvcore's drop-ins. The test
// counts what it sends the device model (synchronous requests per vCPU,
// buffered writes, PCI accesses) to compare with the summary at the end.
class Rig {
public:
    explicit Rig(uint32_t arch, Launch how = Launch::xen_exec, const std::vector<std::string>& extra_env = {}) {
        static unsigned counter;
        if (hv_host_create(&host_) != 0) fail("hv_host_create");
        (void)hv_host_set_log(host_, &Rig::sink, this, HV_LOG_INFO);
        hv_domain_config cfg{};
        cfg.size = sizeof cfg;
        cfg.arch = arch;
        cfg.ram_bytes = ram_bytes;
        cfg.nr_vcpus = nr_vcpus;
        if (hv_domain_create(host_, &cfg, &dom_) != 0) fail("hv_domain_create");
        sock_ = "hvcore-xen-dm-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".sock";
        hv_dm_listen_config lc{};
        lc.size = sizeof lc;
        if (hv_dm_listen(host_, sock_.c_str(), &lc, &l_) != 0) fail("hv_dm_listen " + sock_);
        const std::string domid = std::to_string(hv_domain_id(dom_));
        std::vector<std::string> args, env = extra_env;
        if (how == Launch::xen_exec) {
            args = {HVCORE_CLI, "xen-exec", "--socket", sock_, XEN_TEST_DM, domid};
        } else {
            args = {XEN_TEST_DM, domid};
            env.push_back("HVCORE_DM_SOCKET=" + sock_);
            env.push_back("LD_LIBRARY_PATH=" HVCORE_XEN_LIBDIR);
        }
        dm_ = std::make_unique<DmProcess>(args, env);
        const std::string ready = dm_->line();
        if (ready != "xen_test_dm: ready")
            fail("xen_test_dm did not say ready within 10 s: stdout '" + ready + "', stderr: " + dm_->err() +
                 ", host log: " + log());
    }
    ~Rig() {
        dm_.reset();  // killed if still there
        hv_dm_listener_close(l_);
        hv_host_destroy(host_);
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;

    hv_domain* dom() { return dom_; }
    DmProcess& dm() { return *dm_; }
    std::string log() {
        std::lock_guard lk(mu_);
        std::string s;
        for (const auto& m : log_) s += m + "; ";
        return s;
    }

    // Completes an access that went to the device model (it must: a
    // synchronous request), within the bound.
    uint64_t complete(uint32_t v, int rc, const char* what, uint64_t addr) {
        uint64_t value = 0;
        if (rc != HV_VCPU_IOREQ_PENDING)
            fail(std::string(what) + " " + hex(addr) + " on vCPU " + std::to_string(v) +
                 ": did not reach the device model (status " + std::to_string(rc) + ")");
        const auto deadline = Clock::now() + bound;
        for (unsigned spins = 0; rc == HV_VCPU_IOREQ_PENDING; ++spins) {
            if (Clock::now() > deadline)
                fail(std::string(what) + " " + hex(addr) + " on vCPU " + std::to_string(v) +
                     ": no answer within 10 s; device model stderr: " + dm_->err());
            if (spins > 200) std::this_thread::sleep_for(std::chrono::microseconds(20));
            rc = hv_vcpu_resume(dom_, v, &value);
        }
        if (rc != HV_VCPU_DONE)
            fail(std::string(what) + " " + hex(addr) + " on vCPU " + std::to_string(v) + ": status " +
                 std::to_string(rc) + "; device model stderr: " + dm_->err() + "; host log: " + log());
        ++sync_[v];
        return value;
    }

    // Synchronous accesses to the device model.
    uint64_t in(uint32_t v, uint16_t port, uint32_t size) {
        uint64_t value = 0;
        return complete(v, hv_vcpu_pio(dom_, v, port, size, 0, &value), "IN from port", port);
    }
    void out(uint32_t v, uint16_t port, uint32_t size, uint64_t value) {
        (void)complete(v, hv_vcpu_pio(dom_, v, port, size, 1, &value), "OUT to port", port);
    }
    uint64_t load(uint32_t v, uint64_t gpa, uint32_t size) {
        uint64_t value = 0;
        return complete(v, hv_vcpu_load(dom_, v, gpa, size, &value), "load from", gpa);
    }
    void store(uint32_t v, uint64_t gpa, uint32_t size, uint64_t value) {
        (void)complete(v, hv_vcpu_store(dom_, v, gpa, size, value), "store to", gpa);
    }
    // An access that must not reach the device model: done at once.
    uint64_t in_nobody(uint32_t v, uint16_t port, uint32_t size) {
        uint64_t value = 0;
        const int rc = hv_vcpu_pio(dom_, v, port, size, 0, &value);
        if (rc != HV_VCPU_DONE) fail("IN from port " + hex(port) + ": status " + std::to_string(rc) + ", not done at once");
        return value;
    }
    uint64_t load_direct(uint32_t v, uint64_t gpa, uint32_t size) {
        uint64_t value = 0;
        const int rc = hv_vcpu_load(dom_, v, gpa, size, &value);
        if (rc != HV_VCPU_DONE) fail("load from " + hex(gpa) + ": status " + std::to_string(rc) + ", not done at once");
        return value;
    }
    void store_direct(uint32_t v, uint64_t gpa, uint32_t size, uint64_t value) {
        const int rc = hv_vcpu_store(dom_, v, gpa, size, value);
        if (rc != HV_VCPU_DONE) fail("store to " + hex(gpa) + ": status " + std::to_string(rc) + ", not done at once");
    }
    // A single write to VGA memory: posted on the buffered ring, so done
    // at once (no waiting for the device model).
    void vga_store(uint32_t v, uint64_t gpa, uint32_t size, uint64_t value) {
        store_direct(v, gpa, size, value);
        ++buffered_;
    }

    // Configuration space of 00:03.0 through 0xcf8/0xcfc (one vCPU at a
    // time: CONFIG_ADDRESS is the domain's, as on Xen).
    uint32_t cfg_read(uint32_t v, unsigned reg, uint32_t size) {
        store_cf8(v, reg);
        ++pci_;
        return static_cast<uint32_t>(in(v, static_cast<uint16_t>(cfc + (reg & 3)), size));
    }
    void cfg_write(uint32_t v, unsigned reg, uint32_t size, uint32_t value) {
        store_cf8(v, reg);
        ++pci_;
        out(v, static_cast<uint16_t>(cfc + (reg & 3)), size, value);
    }
    // Programs the BARs where the tests put them.
    void program_bars(uint32_t v) {
        cfg_write(v, XTD_CFG_BAR0, 4, XTD_BAR0_PORT);
        cfg_write(v, XTD_CFG_BAR1, 4, static_cast<uint32_t>(XTD_BAR1_GPA));
        cfg_write(v, XTD_CFG_COMMAND, 2, 0x3);
    }

    // `rep movsb` (F3 A4) of n bytes from src to dst on vCPU v, one of
    // them the device model's, both within one page: ONE request with
    // data_is_ptr, as on Xen (xen/arch/x86/hvm/emulate.c,
    // hvmemul_do_io_addr: the count is clamped to the RAM page only).
    // Returns the registers' RCX, RSI, RDI after it.
    std::array<uint64_t, 3> rep_movsb(uint32_t v, uint64_t src, uint64_t dst, uint64_t n) {
        static const uint8_t insn[] = {0xf3, 0xa4};
        if (hv_vcpu_set_reg(dom_, v, HV_REG_RSI, src) != 0 || hv_vcpu_set_reg(dom_, v, HV_REG_RDI, dst) != 0 ||
            hv_vcpu_set_reg(dom_, v, HV_REG_RCX, n) != 0 || hv_vcpu_set_reg(dom_, v, HV_REG_RFLAGS, 0x2) != 0 ||
            hv_vcpu_set_reg(dom_, v, HV_REG_RIP, 0x1000) != 0)
            fail("hv_vcpu_set_reg");
        int rc = hv_vcpu_exec(dom_, v, insn, sizeof insn);
        const auto deadline = Clock::now() + bound;
        for (unsigned spins = 0; rc == HV_VCPU_IOREQ_PENDING; ++spins) {
            if (Clock::now() > deadline) fail("rep movsb: no answer within 10 s; stderr: " + dm_->err());
            if (spins > 200) std::this_thread::sleep_for(std::chrono::microseconds(20));
            rc = hv_vcpu_resume(dom_, v, nullptr);
        }
        if (rc != HV_VCPU_DONE) fail("rep movsb: status " + std::to_string(rc) + "; stderr: " + dm_->err());
        ++sync_[v];
        std::array<uint64_t, 3> r{};
        (void)hv_vcpu_get_reg(dom_, v, HV_REG_RCX, &r[0]);
        (void)hv_vcpu_get_reg(dom_, v, HV_REG_RSI, &r[1]);
        (void)hv_vcpu_get_reg(dom_, v, HV_REG_RDI, &r[2]);
        return r;
    }

    // Ends the device model and returns its summary; checks that it exited
    // with 0 and that it counted what this test sent it.
    Served finish() {
        std::string rest;
        const int status = dm_->finish(&rest);
        INFO("device model stdout: " << rest);
        INFO("device model stderr: " << dm_->err());
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
        Served s;
        REQUIRE(hvcore_test::parse_xtd_summary(rest, &s));
        uint64_t total = 0;
        for (const auto& n : sync_) total += n.load();
        CHECK(s.sync == total);
        CHECK(s.buffered == buffered_);
        CHECK(s.pci == pci_);
        REQUIRE(s.vcpus.size() == nr_vcpus);
        for (uint32_t v = 0; v < nr_vcpus; ++v) {
            CAPTURE(v);
            CHECK(s.vcpus[v] == sync_[v]);
        }
        return s;
    }

private:
    void store_cf8(uint32_t v, unsigned reg) {
        // CONFIG_ADDRESS: latched by the hypervisor, not forwarded (the
        // device model claims no port 0xcf8).
        uint64_t a = XTD_PCI_CF8(reg & 0xfcu);
        const int rc = hv_vcpu_pio(dom_, v, cf8, 4, 1, &a);
        if (rc != HV_VCPU_DONE) fail("OUT to 0xcf8: status " + std::to_string(rc));
    }
    static void sink(void* opaque, int, const char* message) {
        auto* self = static_cast<Rig*>(opaque);
        std::lock_guard lk(self->mu_);
        self->log_.emplace_back(message);
    }

    hv_host* host_ = nullptr;
    hv_domain* dom_ = nullptr;
    hv_dm_listener* l_ = nullptr;
    std::string sock_;
    std::unique_ptr<DmProcess> dm_;
    std::mutex mu_;
    std::vector<std::string> log_;
    std::array<std::atomic<uint64_t>, nr_vcpus> sync_{};
    std::atomic<uint64_t> buffered_{0};
    std::atomic<uint64_t> pci_{0};
};

// Runs fn(v) on vCPU v from its own thread, for every vCPU; an error is
// reported with its vCPU.
template <typename Fn>
void on_every_vcpu(Fn fn) {
    std::array<std::string, nr_vcpus> errors;
    std::vector<std::thread> threads;
    for (uint32_t v = 0; v < nr_vcpus; ++v)
        threads.emplace_back([&, v] {
            try {
                fn(v);
            } catch (const std::exception& e) {
                errors[v] = e.what();
            }
        });
    for (auto& t : threads) t.join();
    for (uint32_t v = 0; v < nr_vcpus; ++v) {
        CAPTURE(v);
        CHECK_MESSAGE(errors[v].empty(), errors[v]);
    }
}

uint64_t byte_sum(const std::vector<uint8_t>& b) {
    uint64_t s = 0;
    for (uint8_t x : b) s += x;
    return s;
}

TEST_CASE("config_space_reads_the_device_and_a_bar_write_moves_its_port_or_mmio_range") {
    for (const Backend& b : x86_backends()) {
        CAPTURE(b.name);
        Rig r(b.arch);
        CHECK(r.cfg_read(0, 0x00, 2) == XTD_VENDOR_ID);
        CHECK(r.cfg_read(1, 0x02, 2) == XTD_DEVICE_ID);
        CHECK(r.cfg_read(2, 0x00, 4) == (XTD_VENDOR_ID | uint32_t{XTD_DEVICE_ID} << 16));
        CHECK(r.cfg_read(3, 0x3d, 1) == 1);  // INTA
        // The vendor id is read-only; the interrupt line is not.
        r.cfg_write(0, 0x00, 2, 0xbeef);
        CHECK(r.cfg_read(0, 0x00, 2) == XTD_VENDOR_ID);
        r.cfg_write(0, XTD_CFG_INTLINE, 1, XTD_ISA_IRQ);
        CHECK(r.cfg_read(0, XTD_CFG_INTLINE, 1) == XTD_ISA_IRQ);
        CHECK(r.cfg_read(0, 0x3d, 1) == 1);
        // BAR sizing (PCI Local Bus Specification 3.0, 6.2.5.1): all ones
        // written, the size mask read back with the type bits.
        CHECK(r.cfg_read(0, XTD_CFG_BAR0, 4) == 1);  // I/O, unprogrammed
        r.cfg_write(0, XTD_CFG_BAR0, 4, 0xffffffffu);
        CHECK(r.cfg_read(0, XTD_CFG_BAR0, 4) == (~uint32_t{XTD_BAR0_SIZE - 1} | 1u));
        r.cfg_write(0, XTD_CFG_BAR1, 4, 0xffffffffu);
        CHECK(r.cfg_read(0, XTD_CFG_BAR1, 4) == ~uint32_t{XTD_BAR1_SIZE - 1});
        // Nothing decodes before the BARs are programmed.
        CHECK(r.in_nobody(0, XTD_BAR0_PORT + XTD_IO_SCRATCH, 4) == ones32);
        CHECK(r.load_direct(0, XTD_BAR1_GPA + XTD_MMIO_ID, 4) == ones32);

        r.program_bars(0);
        CHECK(r.cfg_read(0, XTD_CFG_BAR0, 4) == (XTD_BAR0_PORT | 1u));
        CHECK(r.cfg_read(0, XTD_CFG_BAR1, 4) == XTD_BAR1_GPA);
        CHECK(r.cfg_read(0, XTD_CFG_COMMAND, 2) == 0x3);
        r.out(1, XTD_BAR0_PORT + XTD_IO_SCRATCH, 4, 0x5eed1234);
        CHECK(r.in(2, XTD_BAR0_PORT + XTD_IO_SCRATCH, 4) == 0x5eed1234);
        CHECK(r.in(3, XTD_BAR0_PORT + XTD_IO_SCRATCH + 2, 2) == 0x5eed);
        CHECK(r.load(1, XTD_BAR1_GPA + XTD_MMIO_ID, 4) == XTD_MMIO_ID_VALUE);

        // Moved (from the configuration-write handler): the new addresses
        // answer, the old ones are nobody's.
        constexpr uint16_t port2 = XTD_BAR0_PORT + 0x100;
        constexpr uint64_t gpa2 = XTD_BAR1_GPA - 0x10000;
        r.cfg_write(2, XTD_CFG_BAR0, 4, port2);
        r.cfg_write(2, XTD_CFG_BAR1, 4, static_cast<uint32_t>(gpa2));
        CHECK(r.in(0, port2 + XTD_IO_SCRATCH, 4) == 0x5eed1234);
        CHECK(r.load(3, gpa2 + XTD_MMIO_ID, 4) == XTD_MMIO_ID_VALUE);
        CHECK(r.in_nobody(0, XTD_BAR0_PORT + XTD_IO_SCRATCH, 4) == ones32);
        CHECK(r.load_direct(3, XTD_BAR1_GPA + XTD_MMIO_ID, 4) == ones32);
        // Sized again: it stops decoding.
        r.cfg_write(1, XTD_CFG_BAR1, 4, 0xffffffffu);
        CHECK(r.load_direct(1, gpa2 + XTD_MMIO_ID, 4) == ones32);
        const Served s = r.finish();
        CHECK(s.ptr == 0);
        CHECK(s.prot == 0);
    }
}

TEST_CASE("four_vcpus_each_read_their_own_index_through_their_own_event_channel") {
    // XTD_IO_VCPU answers the index of the vCPU whose request it serves,
    // which the device model learns from the event channel that fired (the
    // slot's vp_eport, bound per vCPU). Four threads at once, each with
    // its own quarter of the buffer window.
    for (const Backend& b : x86_backends()) {
        CAPTURE(b.name);
        Rig r(b.arch);
        r.program_bars(0);
        on_every_vcpu([&](uint32_t v) {
            constexpr unsigned rounds = 40;
            const uint64_t mine = XTD_BAR1_GPA + XTD_MMIO_BUF + v * (XTD_MMIO_BUF_SIZE / nr_vcpus);
            for (unsigned i = 0; i < rounds; ++i) {
                const uint64_t got = r.in(v, XTD_BAR0_PORT + XTD_IO_VCPU, 4);
                if (got != v) fail("XTD_IO_VCPU read " + std::to_string(got) + " at round " + std::to_string(i));
                const uint64_t word = (uint64_t{v} << 56) | (uint64_t{i} << 8) | v;
                r.store(v, mine + 8 * (i % 8), 8, word);
                const uint64_t back = r.load(v, mine + 8 * (i % 8), 8);
                if (back != word) fail("buffer word " + hex(back) + ", wrote " + hex(word));
                if (r.load(v, XTD_BAR1_GPA + XTD_MMIO_ID, 4) != XTD_MMIO_ID_VALUE) fail("MMIO id");
            }
        });
        r.finish();
    }
}

TEST_CASE("rep_movsb_copies_guest_ram_into_and_out_of_the_buf_window_with_data_is_ptr") {
    // The device model copies through its foreign mapping of guest RAM:
    // into the window (a write ioreq whose data is the RAM address), then
    // out of it (a read ioreq, data the RAM address it fills). Each copy
    // stays within one RAM page and one MMIO page: one ioreq of 256
    // elements each (Rig::rep_movsb).
    constexpr uint64_t src = 0x20000, dst = 0x31000;
    for (const Backend& b : x86_backends()) {
        CAPTURE(b.name);
        Rig r(b.arch);
        r.program_bars(0);
        std::vector<uint8_t> pattern(XTD_MMIO_BUF_SIZE);
        for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7 + 3);
        REQUIRE(hv_guest_write(r.dom(), src, pattern.data(), pattern.size()) == 0);
        const auto in = r.rep_movsb(1, src, XTD_BAR1_GPA + XTD_MMIO_BUF, XTD_MMIO_BUF_SIZE);
        CHECK(in[0] == 0);
        CHECK(in[1] == src + XTD_MMIO_BUF_SIZE);
        CHECK(in[2] == XTD_BAR1_GPA + XTD_MMIO_BUF + XTD_MMIO_BUF_SIZE);
        CHECK(r.load(0, XTD_BAR1_GPA + XTD_MMIO_SUM, 8) == byte_sum(pattern));
        CHECK(r.load(2, XTD_BAR1_GPA + XTD_MMIO_BUF + 5, 1) == pattern[5]);
        std::vector<uint8_t> zero(XTD_MMIO_BUF_SIZE, 0), got(XTD_MMIO_BUF_SIZE, 0xee);
        REQUIRE(hv_guest_write(r.dom(), dst, zero.data(), zero.size()) == 0);
        const auto out = r.rep_movsb(3, XTD_BAR1_GPA + XTD_MMIO_BUF, dst, XTD_MMIO_BUF_SIZE);
        CHECK(out[0] == 0);
        REQUIRE(hv_guest_read(r.dom(), dst, got.data(), got.size()) == 0);
        CHECK(got == pattern);
        // And the same on every vCPU at once, each its own slice.
        on_every_vcpu([&](uint32_t v) {
            constexpr uint64_t n = XTD_MMIO_BUF_SIZE / nr_vcpus;
            std::vector<uint8_t> mine(n), back(n, 0);
            for (size_t i = 0; i < n; ++i) mine[i] = static_cast<uint8_t>(0xa0 + v + i);
            const uint64_t ram = 0x40000 + v * 0x1000;
            const uint64_t win = XTD_BAR1_GPA + XTD_MMIO_BUF + v * n;
            if (hv_guest_write(r.dom(), ram, mine.data(), n) != 0) fail("hv_guest_write");
            (void)r.rep_movsb(v, ram, win, n);
            (void)r.rep_movsb(v, win, ram + 0x800, n);
            if (hv_guest_read(r.dom(), ram + 0x800, back.data(), n) != 0) fail("hv_guest_read");
            if (back != mine) fail("the slice did not come back");
        });
        const Served s = r.finish();
        CHECK(s.ptr == 2 + 2 * nr_vcpus);
    }
}

TEST_CASE("vga_writes_are_posted_on_the_buffered_ring_and_served_before_a_later_read") {
    // Single writes to VGA memory complete at once (posted on the buffered
    // ring, HVM_IOREQSRV_BUFIOREQ_ATOMIC); the device model takes them off
    // the ring before it serves a later synchronous request, so
    // XTD_MMIO_VRAM_SUM read right after counts every one. 8-byte writes
    // take two ring slots.
    for (const Backend& b : x86_backends()) {
        CAPTURE(b.name);
        Rig r(b.arch);
        r.program_bars(0);
        uint64_t sum = 0;
        const auto add = [&](uint64_t value, uint32_t size) {
            for (uint32_t i = 0; i < size; ++i) sum += (value >> (8 * i)) & 0xff;
        };
        // More writes than the ring's 511 slots: the ring wraps.
        for (unsigned i = 0; i < 700; ++i) {
            // A synchronous request now and then: the ring never holds
            // more than 200 writes (a full ring would make the next write
            // synchronous: xen/common/ioreq.c, ioreq_send_buffered).
            if (i % 200 == 199) CHECK(r.load(i % nr_vcpus, XTD_BAR1_GPA + XTD_MMIO_VRAM_SUM, 8) == sum);
            const uint32_t size = 1u << (i % 4);
            const uint64_t gpa = XTD_VGA_BASE + (uint64_t{i} * 64) % XTD_VGA_SIZE;
            const uint64_t value = 0x0102030405060708ull * (i % 13 + 1);
            r.vga_store(i % nr_vcpus, gpa, size, value);
            add(value & (size == 8 ? ~uint64_t{0} : ((uint64_t{1} << (8 * size)) - 1)), size);
        }
        CHECK(r.load(2, XTD_BAR1_GPA + XTD_MMIO_VRAM_SUM, 8) == sum);
        // Reads of VGA memory are synchronous.
        CHECK(r.load(1, XTD_VGA_BASE + 64, 1) == 0x10);  // i = 1: 2 bytes of 0x0708 * 2
        r.vga_store(0, XTD_VGA_BASE + XTD_VGA_SIZE - 8, 8, 0x1122334455667788ull);
        CHECK(r.load(3, XTD_VGA_BASE + XTD_VGA_SIZE - 8, 8) == 0x1122334455667788ull);
        r.finish();
    }
}

TEST_CASE("a_protected_ram_page_sends_guest_writes_to_the_dm_which_performs_them_until_unprotected") {
    // XTD_MMIO_PROTECT: set_mem_type(HVMMEM_ioreq_server) on a RAM gfn the
    // device model claimed the type for (writes): the guest's writes there
    // reach it (XTD_MMIO_WRITES) and it performs them on RAM through its
    // foreign mapping; reads are not trapped. XTD_MMIO_UNPROTECT
    // (HVMMEM_ram_rw): writes go to RAM directly again.
    constexpr uint64_t gfn = 0x50;
    constexpr uint64_t gpa = gfn * 4096 + 0x120;
    for (const Backend& b : x86_backends()) {
        CAPTURE(b.name);
        Rig r(b.arch);
        r.program_bars(0);
        r.store_direct(0, gpa, 8, 0x1111);
        r.store(0, XTD_BAR1_GPA + XTD_MMIO_PROTECT, 8, gfn);
        r.store(1, gpa, 8, 0xfeedfacecafebeefull);  // waits for the device model
        uint64_t ram = 0;
        REQUIRE(hv_guest_read(r.dom(), gpa, &ram, 8) == 0);
        CHECK(ram == 0xfeedfacecafebeefull);
        CHECK(r.load_direct(2, gpa, 8) == 0xfeedfacecafebeefull);
        r.store(2, gpa + 8, 4, 0xabcd);
        CHECK(r.load(3, XTD_BAR1_GPA + XTD_MMIO_WRITES, 8) == 2);
        REQUIRE(hv_guest_read(r.dom(), gpa + 8, &ram, 4) == 0);
        CHECK((ram & 0xffffffffu) == 0xabcd);
        // From every vCPU at once: each write reaches it once.
        on_every_vcpu([&](uint32_t v) {
            for (unsigned i = 0; i < 10; ++i) r.store(v, gfn * 4096 + 0x400 + 8 * (v * 10 + i), 8, v * 100 + i);
        });
        CHECK(r.load(0, XTD_BAR1_GPA + XTD_MMIO_WRITES, 8) == 2 + 10 * nr_vcpus);
        for (uint32_t v = 0; v < nr_vcpus; ++v)
            for (unsigned i = 0; i < 10; ++i) {
                REQUIRE(hv_guest_read(r.dom(), gfn * 4096 + 0x400 + 8 * (v * 10 + i), &ram, 8) == 0);
                CHECK(ram == v * 100 + i);
            }

        r.store(1, XTD_BAR1_GPA + XTD_MMIO_UNPROTECT, 8, gfn);
        r.store_direct(3, gpa, 8, 0x2222);  // not trapped
        REQUIRE(hv_guest_read(r.dom(), gpa, &ram, 8) == 0);
        CHECK(ram == 0x2222);
        CHECK(r.load(0, XTD_BAR1_GPA + XTD_MMIO_WRITES, 8) == 2 + 10 * nr_vcpus);
        const Served s = r.finish();
        CHECK(s.prot == 2 + 10 * nr_vcpus);
    }
}

TEST_CASE("the_isa_irq_and_the_msi_the_dm_raises_reach_the_domain") {
    for (const Backend& b : x86_backends()) {
        CAPTURE(b.name);
        Rig r(b.arch);
        r.program_bars(0);
        const auto state = [&] {
            hv_irq_state s{};
            s.size = sizeof s;
            REQUIRE(hv_domain_irq_state(r.dom(), &s) == 0);
            return s;
        };
        CHECK((state().isa_irq_levels >> XTD_ISA_IRQ & 1u) == 0);
        r.out(1, XTD_BAR0_PORT + XTD_IO_IRQ, 4, 1);  // xendevicemodel_set_isa_irq_level(10, 1)
        CHECK((state().isa_irq_levels >> XTD_ISA_IRQ & 1u) == 1);
        CHECK(state().gsi_assert_count[XTD_ISA_IRQ] == 1);
        r.out(2, XTD_BAR0_PORT + XTD_IO_IRQ, 4, 0);
        CHECK((state().isa_irq_levels >> XTD_ISA_IRQ & 1u) == 0);
        // xendevicemodel_inject_msi(0xfee00000, 0x41): Fixed, vector 0x41,
        // physical destination APIC 0, which is vCPU 0's.
        r.out(3, XTD_BAR0_PORT + XTD_IO_MSI, 4, 0x41);
        const hv_irq_state s = state();
        CHECK(s.msi_count == 1);
        CHECK(s.last_msi_addr == 0xfee00000u);
        CHECK(s.last_msi_data == 0x41);
        hv_vcpu_irq_stats v0{}, v1{};
        v0.size = v1.size = sizeof v0;
        REQUIRE(hv_vcpu_irq_state(r.dom(), 0, &v0) == 0);
        REQUIRE(hv_vcpu_irq_state(r.dom(), 1, &v1) == 0);
        CHECK(v0.msi_count == 1);
        CHECK(v0.last_vector == 0x41);
        CHECK(v1.msi_count == 0);
        r.finish();
    }
}

// ---- the binary itself ---------------------------------------------------

// The libraries the dynamic linker loaded, from LD_DEBUG=libs's
// "calling init: PATH" lines.
std::vector<std::string> loaded(const std::string& ld_debug) {
    std::vector<std::string> v;
    std::stringstream ss(ld_debug);
    std::string l;
    while (std::getline(ss, l)) {
        const auto at = l.find("calling init: ");
        if (at != std::string::npos) v.push_back(l.substr(at + 14));
    }
    return v;
}
// The file a loaded library's path leads to ("" if none was loaded).
std::string which(const std::vector<std::string>& libs, const std::string& soname) {
    for (const auto& p : libs)
        if (p.size() >= soname.size() + 1 && p.compare(p.size() - soname.size() - 1, std::string::npos, "/" + soname) == 0) {
            char real[PATH_MAX];
            return realpath(p.c_str(), real) != nullptr ? std::string(real) : p;
        }
    return "";
}
// The drop-ins' directory, as realpath(3) gives it, with a slash.
std::string dropin_dir() {
    char real[PATH_MAX];
    return std::string(realpath(HVCORE_XEN_LIBDIR, real) != nullptr ? real : HVCORE_XEN_LIBDIR) + "/";
}

// A host without domains and its listener.
struct BareHost {
    hv_host* host = nullptr;
    hv_dm_listener* l = nullptr;
    std::string sock = "hvcore-xen-dm-" + std::to_string(getpid()) + "-bare.sock";
    BareHost() {
        hv_dm_listen_config lc{};
        lc.size = sizeof lc;
        if (hv_host_create(&host) != 0 || hv_dm_listen(host, sock.c_str(), &lc, &l) != 0) fail("host or listener");
    }
    ~BareHost() {
        hv_dm_listener_close(l);
        hv_host_destroy(host);
    }
    BareHost(const BareHost&) = delete;
    BareHost& operator=(const BareHost&) = delete;
};

TEST_CASE("the_same_binary_loads_debians_libraries_without_the_dropins") {
    const char* sonames[] = {"libxendevicemodel.so.1", "libxenevtchn.so.1", "libxenforeignmemory.so.1"};
    {
        // Debian's: they open Xen's devices, which this machine has not,
        // and the device model fails cleanly at its first call.
        DmProcess dm({XEN_TEST_DM, "1"}, {"LD_DEBUG=libs"});
        std::string rest;
        const int status = dm.finish(&rest);
        const std::string err = dm.err();
        INFO("stderr: " << err);
        const auto libs = loaded(err);
        for (const char* so : sonames) {
            CAPTURE(so);
            const std::string p = which(libs, so);
            CHECK(p.find("/x86_64-linux-gnu/") != std::string::npos);
            CHECK(p.rfind(dropin_dir(), 0) != 0);
        }
        // Debian's libxendevicemodel is built on libxencall (the hypercall
        // device); hvcore's is not.
        CHECK(!which(libs, "libxencall.so.1").empty());
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 3);
        CHECK(err.find("xen_test_dm: xendevicemodel_open failed: errno ") != std::string::npos);
        CHECK(rest.find("ready") == std::string::npos);
    }
    // hvcore's, the same binary, through `hvcore xen-exec` and by hand: it
    // serves.
    for (const Launch how : {Launch::xen_exec, Launch::ld_library_path}) {
        const Backend b = x86_backends().front();
        CAPTURE(b.name);
        CAPTURE(how == Launch::xen_exec ? "hvcore xen-exec" : "LD_LIBRARY_PATH");
        Rig r(b.arch, how, {"LD_DEBUG=libs"});
        r.program_bars(0);
        CHECK(r.load(0, XTD_BAR1_GPA + XTD_MMIO_ID, 4) == XTD_MMIO_ID_VALUE);
        const auto libs = loaded(r.dm().err());
        for (const char* so : sonames) {
            CAPTURE(so);
            CHECK(which(libs, so).rfind(dropin_dir(), 0) == 0);
        }
        CHECK(which(libs, "libxencall.so.1").empty());
        r.finish();
    }
    {
        // With the drop-ins, a domain the host does not have: the first
        // call naming it fails as on Xen (ESRCH, xen/arch/x86/hvm/dm.c
        // dm_op -> rcu_lock_remote_domain_by_id; the restrictions before
        // it, as privcmd's and evtchn's ioctls, look no domain up): exit 3.
        BareHost h;
        DmProcess dm({HVCORE_CLI, "xen-exec", "--socket", h.sock, XEN_TEST_DM, "7"}, {});
        std::string rest;
        const int status = dm.finish(&rest);
        INFO("stderr: " << dm.err());
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 3);
        CHECK(dm.err().find("xen_test_dm: xendevicemodel_nr_vcpus failed: errno 3 (") != std::string::npos);
    }
    {
        // A usage error is 2.
        DmProcess dm({XEN_TEST_DM, "0x"}, {});
        std::string rest;
        const int status = dm.finish(&rest);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 2);
    }
}

}  // namespace
