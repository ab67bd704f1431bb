// SPDX-License-Identifier: MIT
// Differential test of the A64 executor against real Arm64 execution: the
// oracle (a64_oracle under qemu-aarch64 -cpu cortex-a76; see
// a64_diff_case.hpp for the flow) ran each case's instruction, assembled
// by GNU as, on an ordinary buffer and recorded what it changed. Here each
// case's starting state is rebuilt from its seed and the same word runs
// through hvcore's C ABI (hv_vcpu_set_reg, hv_vcpu_exec) on an Arm64
// domain three times:
//   ram      the window is RAM: the model CPU path, no fault;
//   trapped  the window's second page is ioreq_server (claimed for
//            writes): stores, pairs, atomics and DC ZVA there take a
//            stage-2 permission fault, mostly with ISV = 0, and are
//            emulated; the device model writes what it receives into the
//            page, so memory must end as the oracle's did;
//   mmio     the window is an MMIO range past the end of RAM served by a
//            device model backed by a buffer: every access of every form
//            faults and is emulated (loads too).
// X0-X30, SP, V0-V30, the PC (+4) and every byte of the window must match
// the oracle in each run. The text hvcore's decoder prints for the word
// must also be the source line GNU as assembled (a round trip of every
// field). Trials per form and seed: arch/arm64/tests/diff/diff.cmake.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "a64_decode.hpp"
#include "a64_diff_case.hpp"
#include "hvcore/core/backend.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

using namespace a64diff;

namespace {

constexpr uint32_t reg_pc = 32;

struct OracleCase {
    CaseRecord rec{};
    std::string text;
    Regs before{};
    std::array<uint8_t, window_bytes> mem_before{};
    Regs after{};  // the oracle's registers after the instruction (V31 not compared)
    std::array<uint8_t, window_bytes> mem_after{};
};

uint64_t hex(const std::string& s) { return std::strtoull(s.c_str(), nullptr, 16); }

// One line of a64_oracle's output (its format is in a64_oracle.cpp).
std::optional<OracleCase> parse(const std::string& line) {
    OracleCase c;
    const size_t bar1 = line.find(" |");
    const size_t bar2 = line.find(" | ", bar1 + 2);
    if (bar1 == std::string::npos || bar2 == std::string::npos) return std::nullopt;
    std::istringstream head(line.substr(0, bar1));
    std::string idx, word, form, seed, nfix;
    head >> idx >> word >> form >> seed >> nfix;
    c.rec.word = static_cast<uint32_t>(hex(word));
    c.rec.form = static_cast<uint32_t>(std::stoul(form));
    c.rec.seed = hex(seed);
    c.rec.nfix = static_cast<uint32_t>(std::stoul(nfix));
    if (c.rec.nfix > max_fixups || c.rec.form >= static_cast<uint32_t>(Form::count)) return std::nullopt;
    for (unsigned i = 0; i < c.rec.nfix; ++i) {
        std::string k, r, v, s;
        head >> k >> r >> v >> s;
        c.rec.fix[i] = Fixup{static_cast<uint32_t>(std::stoul(k)), static_cast<uint32_t>(std::stoul(r)), hex(v),
                             std::strtoull(s.c_str(), nullptr, 10)};
    }
    c.text = line.substr(bar2 + 3);
    initial_state(c.rec, c.before, c.mem_before);
    c.after = c.before;
    c.mem_after = c.mem_before;
    std::istringstream changes(line.substr(bar1 + 2, bar2 - bar1 - 2));
    std::string ch;
    while (changes >> ch) {
        const size_t eq = ch.find('=');
        if (eq == std::string::npos) return std::nullopt;
        const unsigned n = static_cast<unsigned>(std::strtoul(ch.c_str() + 1, nullptr, ch[0] == 'm' ? 16 : 10));
        const std::string val = ch.substr(eq + 1);
        switch (ch[0]) {
        case 'x': c.after.x.at(n) = hex(val); break;
        case 'v': {
            const size_t colon = val.find(':');
            c.after.v.at(n) = {hex(val.substr(0, colon)), hex(val.substr(colon + 1))};
            break;
        }
        case 'm': c.mem_after.at(n) = static_cast<uint8_t>(hex(val)); break;
        default: return std::nullopt;
        }
    }
    return c;
}

const std::vector<OracleCase>& oracle_cases() {
    static const std::vector<OracleCase> cases = [] {
        std::vector<OracleCase> out;
        const char* path = std::getenv("HVCORE_A64_ORACLE_OUT");
        REQUIRE_MESSAGE(path != nullptr, "HVCORE_A64_ORACLE_OUT names a64_oracle's output (set by ctest)");
        std::ifstream in(path);
        REQUIRE_MESSAGE(in.good(), fmt::format("cannot read the oracle's output {}", path));
        std::string line;
        std::getline(in, line);
        REQUIRE_MESSAGE(line.rfind("a64_oracle ", 0) == 0, fmt::format("{}: not a64_oracle output", path));
        while (std::getline(in, line)) {
            std::optional<OracleCase> c = parse(line);
            REQUIRE_MESSAGE(c.has_value(), fmt::format("unparsable oracle line: {}", line));
            out.push_back(std::move(*c));
        }
        return out;
    }();
    return cases;
}

enum class Mode { ram, trapped, mmio };
constexpr std::array<Mode, 3> modes = {Mode::ram, Mode::trapped, Mode::mmio};
const char* name(Mode m) {
    switch (m) {
    case Mode::ram: return "ram";
    case Mode::trapped: return "trapped";
    case Mode::mmio: return "mmio";
    }
    return "?";
}

// One Arm64 domain through the C ABI with a device model serving the
// window the way `mode` says.
class Machine {
public:
    explicit Machine(Mode mode) : mode_(mode) {
        // The Arm64 backend is in this build's libhvcore (the link needs the
        // reference too: the backend list is in the C ABI's library).
        bool arm64 = false;
        for (const hvcore::Backend& b : hvcore::linked_backends()) arm64 = arm64 || b.arch == hvcore::Arch::arm64;
        REQUIRE(arm64);
        REQUIRE(hv_host_create(&host_) == 0);
        // mmio: RAM ends where the window starts, so the window is a hole
        // routed by range; otherwise RAM covers the window and the code page.
        const hv_domain_config cfg{.size = sizeof(hv_domain_config),
                                   .arch = HV_ARCH_ARM64,
                                   .ram_bytes = mode == Mode::mmio ? window : 4 * window,
                                   .nr_vcpus = 1,
                                   .flags = 0};
        REQUIRE(hv_domain_create(host_, &cfg, &d_) == 0);
        if (mode == Mode::ram) return;
        dm_ = hvdm_open(host_);
        REQUIRE(dm_ != nullptr);
        const hvdm_domid_t dom = hv_domain_id(d_);
        REQUIRE(hvdm_create_ioreq_server(dm_, dom, HVDM_BUFIOREQ_OFF, &id_) == 0);
        REQUIRE(hvdm_map_ioreq_pages(dm_, dom, id_, &page_, nullptr) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(dm_, dom, id_, 1) == 0);
        if (mode == Mode::trapped) {
            REQUIRE(hvdm_map_mem_type_to_ioreq_server(dm_, dom, id_, HVDM_MEM_IOREQ_SERVER,
                                                      HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
            REQUIRE(hvdm_set_mem_type(dm_, dom, HVDM_MEM_IOREQ_SERVER, trapped_page >> 12, 1) == 0);
        } else {
            REQUIRE(hvdm_map_io_range_to_ioreq_server(dm_, dom, id_, 1, window, window + window_bytes - 1) == 0);
        }
    }
    ~Machine() {
        if (dm_ != nullptr) (void)hvdm_close(dm_);
        hv_host_destroy(host_);
    }
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    struct Result {
        int status = 0;
        std::string fault;
        Regs regs{};
        uint64_t pc = 0;
        std::array<uint8_t, window_bytes> mem{};
        unsigned ioreqs = 0;
    };

    Result run(const OracleCase& c) {
        Result out;
        if (mode_ == Mode::mmio) backing_ = c.mem_before;
        else REQUIRE(hv_guest_write(d_, window, c.mem_before.data(), window_bytes) == 0);
        for (uint32_t r = 0; r < 32; ++r) REQUIRE(hv_vcpu_set_reg(d_, 0, r, c.before.x[r]) == 0);
        REQUIRE(hv_vcpu_set_reg(d_, 0, reg_pc, code_page) == 0);
        for (uint32_t n = 0; n < 32; ++n) {
            REQUIRE(hv_vcpu_set_reg(d_, 0, HV_REG_V_BASE + 2 * n, c.before.v[n][0]) == 0);
            REQUIRE(hv_vcpu_set_reg(d_, 0, HV_REG_V_BASE + 2 * n + 1, c.before.v[n][1]) == 0);
        }
        const std::array<uint8_t, 4> word = {static_cast<uint8_t>(c.rec.word), static_cast<uint8_t>(c.rec.word >> 8),
                                             static_cast<uint8_t>(c.rec.word >> 16),
                                             static_cast<uint8_t>(c.rec.word >> 24)};
        int rc = hv_vcpu_exec(d_, 0, word.data(), word.size());
        // A device model answers each request until the instruction completes.
        for (unsigned guard = 0; rc == HV_VCPU_IOREQ_PENDING && guard < 64; ++guard) {
            serve(page_->vcpu_ioreq[0]);
            ++out.ioreqs;
            uint64_t unused = 0;
            rc = hv_vcpu_resume(d_, 0, &unused);
        }
        out.status = rc;
        if (rc == HV_VCPU_GUEST_FAULT) {
            std::array<char, 256> buf{};
            (void)hv_vcpu_fault_detail(d_, 0, buf.data(), buf.size());
            out.fault = buf.data();
        }
        for (uint32_t r = 0; r < 32; ++r) REQUIRE(hv_vcpu_get_reg(d_, 0, r, &out.regs.x[r]) == 0);
        REQUIRE(hv_vcpu_get_reg(d_, 0, reg_pc, &out.pc) == 0);
        for (uint32_t n = 0; n < 32; ++n) {
            REQUIRE(hv_vcpu_get_reg(d_, 0, HV_REG_V_BASE + 2 * n, &out.regs.v[n][0]) == 0);
            REQUIRE(hv_vcpu_get_reg(d_, 0, HV_REG_V_BASE + 2 * n + 1, &out.regs.v[n][1]) == 0);
        }
        if (mode_ == Mode::mmio) out.mem = backing_;
        else REQUIRE(hv_guest_read(d_, window, out.mem.data(), window_bytes) == 0);
        return out;
    }

private:
    // The device model: a plain memory over the window. Writes land in the
    // claimed page itself (trapped) or in the backing buffer (mmio).
    void serve(hvdm_ioreq_t& req) {
        // (Bit-fields are copied out: doctest binds what it compares.)
        REQUIRE(unsigned{req.state} == HVDM_STATE_IOREQ_READY);
        REQUIRE(req.type == HVDM_IOREQ_TYPE_COPY);
        REQUIRE(req.count == 1);
        REQUIRE(unsigned{req.data_is_ptr} == 0);
        REQUIRE((req.size == 1 || req.size == 2 || req.size == 4 || req.size == 8));
        REQUIRE(req.addr >= window);
        REQUIRE(req.addr + req.size <= window + window_bytes);
        const size_t off = req.addr - window;
        if (unsigned{req.dir} == HVDM_IOREQ_WRITE) {
            if (mode_ == Mode::trapped) REQUIRE(hv_guest_write(d_, req.addr, &req.data, req.size) == 0);
            else std::memcpy(backing_.data() + off, &req.data, req.size);
        } else {
            REQUIRE(mode_ == Mode::mmio);  // reads of a claimed page never reach the device model
            uint64_t v = 0;
            std::memcpy(&v, backing_.data() + off, req.size);
            req.data = v;
        }
        req.state = HVDM_STATE_IORESP_READY;
    }

    Mode mode_;
    hv_host* host_ = nullptr;
    hv_domain* d_ = nullptr;
    hvdm_handle* dm_ = nullptr;
    hvdm_ioservid_t id_ = 0;
    hvdm_shared_iopage* page_ = nullptr;
    std::array<uint8_t, window_bytes> backing_{};
};

// What differs between the oracle and one run, or "" when nothing does.
std::string differences(const OracleCase& c, const Machine::Result& got) {
    std::string d;
    if (got.status != HV_VCPU_DONE) return fmt::format("status {} ({})", got.status, got.fault);
    for (unsigned r = 0; r < 32; ++r)
        if (got.regs.x[r] != c.after.x[r])
            d += fmt::format(" {}: {:#x} want {:#x};", r == 31 ? std::string{"sp"} : fmt::format("x{}", r),
                             got.regs.x[r], c.after.x[r]);
    for (unsigned n = 0; n < 31; ++n)
        if (got.regs.v[n] != c.after.v[n])
            d += fmt::format(" v{}: {:#x}:{:#x} want {:#x}:{:#x};", n, got.regs.v[n][0], got.regs.v[n][1], c.after.v[n][0],
                             c.after.v[n][1]);
    if (got.pc != code_page + 4) d += fmt::format(" pc {:#x};", got.pc);
    for (unsigned b = 0; b < window_bytes; ++b)
        if (got.mem[b] != c.mem_after[b])
            d += fmt::format(" [{:#x}]: {:#04x} want {:#04x};", window + b, got.mem[b], c.mem_after[b]);
    return d;
}

struct Tally {
    unsigned trials = 0;
    unsigned failures = 0;
    std::array<unsigned, 3> ioreqs{};
};

// Every oracle case of these forms, in every mode; the per-form tally.
std::map<Form, Tally> run_forms(std::initializer_list<Form> forms) {
    std::map<Form, Tally> tally;
    for (Form f : forms) tally[f] = {};
    std::array<std::unique_ptr<Machine>, 3> machines;
    for (size_t i = 0; i < modes.size(); ++i) machines[i] = std::make_unique<Machine>(modes[i]);
    unsigned reported = 0;
    for (const OracleCase& c : oracle_cases()) {
        const auto form = static_cast<Form>(c.rec.form);
        if (!tally.contains(form)) continue;
        Tally& t = tally[form];
        ++t.trials;
        bool failed = false;
        // The decoder prints the line GNU as assembled (literal loads as ".-N").
        const hvcore::arm64::detail::Decoded dec = hvcore::arm64::detail::decode(c.rec.word);
        const std::string text = dec.insn ? hvcore::arm64::detail::text(*dec.insn) : "(not decoded: " + dec.name + ")";
        if (text != c.text) {
            failed = true;
            if (reported++ < 20) FAIL_CHECK(fmt::format("{:#010x} \"{}\": hvcore prints \"{}\"", c.rec.word, c.text, text));
        }
        for (size_t i = 0; i < modes.size(); ++i) {
            const Machine::Result got = machines[i]->run(c);
            t.ioreqs[i] += got.ioreqs;
            const std::string d = differences(c, got);
            if (d.empty()) continue;
            failed = true;
            if (reported++ < 20)
                FAIL_CHECK(fmt::format("{:#010x} \"{}\" (seed {:#x}) on {}:{}", c.rec.word, c.text, c.rec.seed,
                                       name(modes[i]), d));
        }
        if (failed) ++t.failures;
    }
    for (const auto& entry : tally) {  // no structured binding: CHECK_MESSAGE's lambda (clang < 16)
        const auto& f = entry.first;
        const auto& t = entry.second;
        MESSAGE(fmt::format("{}: {} trials, {} failed; ioreqs trapped {}, mmio {}", form_names[static_cast<size_t>(f)],
                            t.trials, t.failures, t.ioreqs[1], t.ioreqs[2]));
        CHECK_MESSAGE(t.trials >= HVCORE_A64_DIFF_TRIALS, fmt::format("{}: only {} trials",
                                                                     form_names[static_cast<size_t>(f)], t.trials));
        CHECK(t.failures == 0);
    }
    return tally;
}

}  // namespace

TEST_CASE("gpr_loads_and_stores_in_every_addressing_mode_match_arm64_execution") {
    const auto t = run_forms({Form::ldst_unsigned, Form::ldst_unscaled, Form::ldst_register, Form::ldst_pre,
                              Form::ldst_post, Form::ldst_unpriv, Form::ld_literal, Form::ldar_stlr});
    // Stores into the claimed page went to the device model; on MMIO,
    // loads did too.
    CHECK(t.at(Form::ldst_pre).ioreqs[1] > 0);
    CHECK(t.at(Form::ldst_unsigned).ioreqs[2] >= t.at(Form::ldst_unsigned).trials);
}

TEST_CASE("simd_fp_loads_and_stores_b_h_s_d_q_match_arm64_execution") {
    const auto t = run_forms({Form::simd_unsigned, Form::simd_unscaled, Form::simd_register, Form::simd_pre_post});
    CHECK(t.at(Form::simd_unsigned).ioreqs[1] > 0);
}

TEST_CASE("load_and_store_pairs_match_arm64_execution") {
    const auto t = run_forms({Form::pair_gpr, Form::pair_simd});
    CHECK(t.at(Form::pair_gpr).ioreqs[1] > 0);
    // Two elements per instruction, each at least one ioreq, on MMIO.
    CHECK(t.at(Form::pair_simd).ioreqs[2] >= 2 * t.at(Form::pair_simd).trials);
}

TEST_CASE("atomics_swp_cas_and_casp_match_arm64_execution_as_read_modify_write") {
    const auto t = run_forms({Form::atomic_op, Form::swp, Form::cas, Form::casp});
    CHECK(t.at(Form::atomic_op).ioreqs[1] > 0);
}

TEST_CASE("prefetch_dc_zva_and_cache_maintenance_match_arm64_execution") {
    const auto t = run_forms({Form::prefetch, Form::dc_zva, Form::dc_maintain});
    // A hint and cache maintenance never reach a device model (Xen ignores
    // cache maintenance on emulated regions); DC ZVA is a 64-byte store.
    CHECK(t.at(Form::prefetch).ioreqs[2] == 0);
    CHECK(t.at(Form::dc_maintain).ioreqs[2] == 0);
    CHECK(t.at(Form::dc_zva).ioreqs[2] == 8 * t.at(Form::dc_zva).trials);
}
