// SPDX-License-Identifier: MIT
#include "oracle.hpp"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "stub/layout.h"

namespace oracle {

namespace {

constexpr uint64_t page_size = 4096;
constexpr unsigned page_shift = 12;
// hvcore's guest RAM is at host-physical 1 GiB + IPA (MachineMemory's
// ram_base_mfn 0x40000, core/include/hvcore/core/machine_memory.hpp).
constexpr uint64_t hvcore_ram_base = 0x4000'0000;
// Arm ARM D8.3, stage-2 descriptors (4 KiB granule): bit 0 valid, bit 1
// table (levels 0-2) / page (level 3), output / next-level address bits 47:12.
constexpr uint64_t desc_valid = 1ULL << 0;
constexpr uint64_t desc_table = 1ULL << 1;
constexpr uint64_t desc_oa = 0x0000'FFFF'FFFF'F000ULL;
// hvcore's lazy-recalculation mark (arch/arm64 descriptor.hpp): bit 59 of
// an invalid descriptor. The harness reads it only to know that hvcore will
// resolve the fault and retry (a second phase), never to build an entry.
constexpr uint64_t hvcore_recalc_mark = 1ULL << 59;
// The harness's own 1 GiB block at root index 1023 (layout.h): valid
// block (bits 1:0 = 01), MemAttr 0b1111 Normal Write-Back (bits 5:2), S2AP
// 0b11 read/write (7:6), SH 0b11 inner shareable (9:8), AF (10), XN 0b00.
constexpr uint64_t harness_block = ORACLE_RAM_PA | (0xfULL << 2) | (0x3ULL << 6) | (0x3ULL << 8) | (1ULL << 10) | 1ULL;
constexpr uint32_t harness_root_index = 1023;
// ESR_EL2 fields (Arm ARM, ESR_EL2 "ISS encoding for an exception from a
// Data Abort"): ISS[24:14] (ISV, SAS, SSE, SRT, SF, AR), CM bit 8, WnR bit 6.
constexpr uint64_t esr_insn_syndrome = 0x01ff'c000;
constexpr uint64_t esr_cm = 1ULL << 8;
constexpr uint64_t esr_wnr = 1ULL << 6;
// Exception classes: 0x24 data abort from a lower EL, 0x20 instruction
// abort from a lower EL.
constexpr unsigned ec_dabt_lower = 0x24;
constexpr unsigned ec_iabt_lower = 0x20;
// Words the stub runs in place of hvcore's call (GNU as 2.40).
constexpr uint32_t blr_x1 = 0xd63f0020;      // blr x1
constexpr uint32_t ldrb_wzr_x1 = 0x3940003f;  // ldrb wzr, [x1]
constexpr uint32_t hvc_fetched = 0xd4000002u | (ORACLE_HVC_FETCHED << 5);  // hvc #2 (C6.2 HVC: imm16 at bit 5)
// The model CPU's DC ZVA block (DCZID_EL0.BS = 4: 64 bytes; hvcore's
// a64_decode.hpp dc_zva_bytes; QEMU cortex-a57 and max in system mode).
constexpr uint64_t zva_bytes = 64;

bool is_marked(const hv_p2m_walk& w) {
    for (uint32_t i = 0; i < w.nr_levels; ++i) {
        const uint64_t e = w.level[i].entry;
        if ((e & desc_valid) == 0 && (e & hvcore_recalc_mark) != 0) return true;
    }
    return false;
}

}  // namespace

const std::vector<Deviation>& known_deviations() {
    static const std::vector<Deviation> list = {
        {"qemu-dc-civac-nop",
         "QEMU 7.2 performs DC CIVAC without translating its address: it never faults",
         "QEMU 7.2 target/arm/helper.c, v8_cp_reginfo: DC_CIVAC has .type = ARM_CP_NOP",
         "corrected: the stub runs LDRB WZR, [X1] (the same stage-2 read check) instead; the expected record is "
         "QEMU's with ISS[24:14] cleared and CM = 1, WnR = 1 (Arm ARM ESR_EL2: cache maintenance sets CM, and "
         "\"WnR ... for faults on cache maintenance ... always returns a value of 1\"; ISV = 0: D24.2.46 ISV, QEMU merge_syn_data_abort)"},
        {"qemu-level0-block",
         "QEMU 7.2 accepts a 4 KiB-granule level-0 block descriptor (fixed in 8.2)",
         "QEMU 8.2 commit \"target/arm/ptw: Check for block descriptors at invalid levels\"",
         "excluded by construction: hvcore's default VTCR starts at level 1, so no level-0 entry is ever read"},
        {"qemu-s1ptw-level",
         "QEMU 7.2 reports the stage-1 level for stage-2 faults on a stage-1 walk (fixed in 8.2)",
         "QEMU 8.2 commit \"target/arm/ptw: Report stage 2 fault level for stage 2 faults on "
         "stage 1 ptw\"",
         "excluded by construction: EL1 runs with the stage-1 MMU off, so there is no stage-1 walk"},
        {"qemu-hafdbs",
         "-cpu max has FEAT_HAFDBS: with VTCR.HA/HD set QEMU would update AF/DBM instead of faulting",
         "QEMU 7.2 target/arm/cpu64.c, aarch64_max_initfn: ID_AA64MMFR1.HAFDBS = 2",
         "excluded: the VTCR hvcore reports has HA = HD = 0 (checked)"},
    };
    return list;
}

// --- hvcore side ---------------------------------------------------------------

std::vector<uint64_t> registers_for(uint64_t addr) {
    std::vector<uint64_t> x(31);
    // Xn = 0x0101010101010101 * (n + 1): distinct, never a valid IPA of
    // the domain, and no register but X1 is an address.
    for (unsigned n = 0; n < x.size(); ++n) x[n] = 0x0101'0101'0101'0101ULL * (n + 1);
    x[1] = addr;
    return x;
}

Session::Session(uint64_t ram_bytes) : ram_bytes_(ram_bytes) {
    if (hv_host_create(&host_) != 0) throw std::runtime_error("hv_host_create");
    hv_domain_config cfg{sizeof(hv_domain_config), HV_ARCH_ARM64, ram_bytes, 1, 0};
    if (int rc = hv_domain_create(host_, &cfg, &dom_); rc != 0)
        throw std::runtime_error(fmt::format("hv_domain_create: {}", rc));
    domid_ = hv_domain_id(dom_);
    dm_ = hvdm_open(host_);
    if (dm_ == nullptr) throw std::runtime_error("hvdm_open");
    if (hvdm_create_ioreq_server(dm_, domid_, HVDM_BUFIOREQ_OFF, &server_) != 0 ||
        hvdm_set_ioreq_server_state(dm_, domid_, server_, 1) != 0 ||
        hvdm_map_ioreq_pages(dm_, domid_, server_, &page_, nullptr) != 0)
        throw std::runtime_error("ioreq server");
    server_alive_ = true;
}

Session::~Session() {
    if (dm_ != nullptr) (void)hvdm_close(dm_);
    if (dom_ != nullptr) (void)hv_domain_destroy(dom_);
    hv_host_destroy(host_);
}

int Session::claim() {
    return hvdm_map_mem_type_to_ioreq_server(dm_, domid_, server_, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE);
}
int Session::disclaim() { return hvdm_map_mem_type_to_ioreq_server(dm_, domid_, server_, HVDM_MEM_IOREQ_SERVER, 0); }
int Session::destroy_server() {
    const int rc = hvdm_destroy_ioreq_server(dm_, domid_, server_);
    if (rc == 0) {
        server_alive_ = false;
        page_ = nullptr;
    }
    return rc;
}
int Session::set_type(uint16_t mem_type, uint64_t gfn, uint32_t nr) {
    return hvdm_set_mem_type(dm_, domid_, mem_type, gfn, nr);
}

// The device model's side of an access that reached the ioreq server:
// answer every request (reads get 0) until the vCPU is done.
int Session::answer_pending(int status) {
    for (int i = 0; i < 8 && status == HV_VCPU_IOREQ_PENDING; ++i) {
        if (page_ == nullptr) return -EPROTO;
        page_->vcpu_ioreq[0].data = 0;
        page_->vcpu_ioreq[0].state = HVDM_STATE_IORESP_READY;
        if (int rc = hvdm_ioreq_notify(dm_, domid_, server_, 0); rc != 0) return rc;
        uint64_t value = 0;
        status = hv_vcpu_resume(dom_, 0, &value);
    }
    return status;
}

Test Session::run(const std::string& scenario, const std::string& target, const Form& form, uint64_t addr) {
    Test t;
    t.scenario = scenario;
    t.target = target;
    t.form = &form;
    t.addr = addr;
    // The pages the access covers. DC ZVA covers its aligned block.
    const uint64_t first = form.word == 0xd50b7421 ? addr & ~(zva_bytes - 1) : addr;
    const uint64_t last = first + form.bytes - 1;
    for (uint64_t g = first >> page_shift; g <= last >> page_shift; ++g) {
        hv_p2m_walk w{};
        w.size = sizeof w;
        // A gfn beyond the IPA size has no walk (-EINVAL): the hardware
        // faults before reading any descriptor.
        if (hv_p2m_read_walk(dom_, g, &w) != 0) continue;
        t.gfns.push_back(g);
        t.before.push_back(w);
        t.marked = t.marked || is_marked(w);
    }
    // Guest RAM as the stub leaves it before the access: the pages it
    // touches hold the pattern, a fetch target the HVC that ends it.
    for (uint64_t g = first >> page_shift; g <= last >> page_shift; ++g) {
        const uint64_t ipa = g << page_shift;
        if (ipa >= ram_bytes_ || t.fill_pages.size() == 2) continue;
        std::vector<uint64_t> words(page_size / 8);
        for (size_t i = 0; i < words.size(); ++i) words[i] = oracle_pattern(ipa + 8 * i);
        (void)hv_guest_write(dom_, ipa, words.data(), page_size);
        t.fill_pages.push_back(ipa);
    }
    if (form.kind == Kind::fetch && addr < ram_bytes_) (void)hv_guest_write(dom_, addr, &hvc_fetched, sizeof hvc_fetched);
    const std::vector<uint64_t> x = registers_for(addr);
    for (unsigned n = 0; n < x.size(); ++n) (void)hv_vcpu_set_reg(dom_, 0, HV_REG_X0 + n, x[n]);
    (void)hv_vcpu_set_reg(dom_, 0, HV_REG_PC, ORACLE_IPA_OF(ORACLE_EL1_CODE_PA));
    if (form.kind == Kind::fetch) {
        t.status = hv_vcpu_fetch(dom_, 0, addr);
    } else {
        const uint32_t w = form.word;
        const std::array<uint8_t, 4> bytes{static_cast<uint8_t>(w), static_cast<uint8_t>(w >> 8),
                                           static_cast<uint8_t>(w >> 16), static_cast<uint8_t>(w >> 24)};
        t.status = answer_pending(hv_vcpu_exec(dom_, 0, bytes.data(), bytes.size()));
    }
    hv_fault_record r{};
    r.size = sizeof r;
    if (hv_vcpu_last_fault(dom_, 0, &r) == 0) t.record = r;
    if (form.kind != Kind::fetch && t.status == HV_VCPU_DONE) {
        std::array<uint64_t, 31> after{};
        for (unsigned n = 0; n < after.size(); ++n) (void)hv_vcpu_get_reg(dom_, 0, HV_REG_X0 + n, &after[n]);
        t.reg_hash = oracle_reg_hash(after.data());
    }
    for (uint64_t g : t.gfns) {
        hv_p2m_walk w{};
        w.size = sizeof w;
        (void)hv_p2m_read_walk(dom_, g, &w);
        t.after.push_back(w);
    }
    return t;
}

// --- the emulator image ------------------------------------------------------------

namespace {

class Image {
public:
    explicit Image(size_t header_bytes) : bytes_(header_bytes, 0) {}

    // A table copy at an address aligned to its size; identical copies are shared.
    uint64_t intern(const std::vector<uint64_t>& content) {
        if (auto it = seen_.find(content); it != seen_.end()) return it->second;
        const size_t size = content.size() * sizeof(uint64_t);
        size_t off = (bytes_.size() + size - 1) / size * size;
        bytes_.resize(off + size, 0);
        std::memcpy(bytes_.data() + off, content.data(), size);
        const uint64_t pa = ORACLE_BLOB_PA + off;
        seen_.emplace(content, pa);
        return pa;
    }
    std::vector<uint8_t>& bytes() { return bytes_; }

private:
    std::vector<uint8_t> bytes_;
    std::map<std::vector<uint64_t>, uint64_t> seen_;
};

struct TableInfo {
    int level = 0;
    bool root = false;
    std::map<uint32_t, uint64_t> entries;
};

class Copier {
public:
    Copier(Image& img, uint64_t ram_bytes, unsigned root_frames) : img_(img), ram_bytes_(ram_bytes), root_frames_(root_frames) {}

    // The root copy (VTTBR_EL2.BADDR) of the entries these walks read.
    // An entry two walks read differently is a bug, unless first_wins: the
    // walks are of different moments, the first the newer.
    uint64_t copy(const std::vector<hv_p2m_walk>& walks, const std::vector<uint64_t>& gfns,
                  const std::optional<Plant>& plant, bool first_wins = false) {
        tabs_.clear();
        uint64_t root = 0;
        for (size_t k = 0; k < walks.size(); ++k) {
            const hv_p2m_walk& w = walks[k];
            if (w.root_frames != root_frames_) throw std::runtime_error("walks disagree on the root size");
            root = w.root;
            for (uint32_t i = 0; i < w.nr_levels; ++i) {
                const hv_p2m_walk_level& l = w.level[i];
                uint64_t e = l.entry;
                const bool leaf = i + 1 == w.nr_levels;
                if (plant && leaf && gfns[k] == plant->gfn && (e & desc_valid) != 0) e ^= plant->xor_mask;
                TableInfo& ti = tabs_[l.table];
                ti.level = l.level;
                ti.root = l.table == w.root;
                auto [it, fresh] = ti.entries.emplace(l.index, e);
                if (!fresh && it->second != e && !first_wins) throw std::runtime_error("two walks read one entry differently");
            }
        }
        if (walks.empty()) {
            std::vector<uint64_t> content(uint64_t{root_frames_} * 512, 0);
            content[harness_root_index] = harness_block;
            return img_.intern(content);
        }
        return copy_table(root);
    }

private:
    uint64_t copy_table(uint64_t host_pa) {
        const TableInfo& ti = tabs_.at(host_pa);
        std::vector<uint64_t> content(ti.root ? uint64_t{root_frames_} * 512 : 512, 0);
        for (const auto& [index, entry] : ti.entries) {
            uint64_t e = entry;
            if (ti.level < 3 && (e & desc_table) != 0) {
                // A table descriptor (valid, or invalid and marked): the next
                // table's copy; every other bit as stored.
                const uint64_t child = e & desc_oa;
                if (tabs_.count(child) != 0) e = (e & ~desc_oa) | copy_table(child);
            } else if ((e & desc_valid) != 0) {
                // A valid block or page: its output address moved into the
                // emulator's guest RAM (layout.h); every other bit as stored.
                const uint64_t oa = e & desc_oa;
                if (oa < hvcore_ram_base || oa >= hvcore_ram_base + ram_bytes_)
                    throw std::runtime_error(fmt::format("leaf {:#x} outside guest RAM", e));
                e = (e & ~desc_oa) | (oa + ORACLE_GUEST_SHIFT);
            }
            content[index] = e;
        }
        if (ti.root) {
            if (content[harness_root_index] != 0)
                throw std::runtime_error("hvcore uses the root entry the harness maps");
            content[harness_root_index] = harness_block;
        }
        return img_.intern(content);
    }

    Image& img_;
    uint64_t ram_bytes_;
    unsigned root_frames_;
    std::map<uint64_t, TableInfo> tabs_;
};

}  // namespace

std::vector<uint8_t> build_blob(const std::vector<Test>& tests, uint64_t vtcr, uint64_t ram_bytes) {
    static_assert(sizeof(oracle_test) == ORACLE_TEST_WORDS * 8);
    unsigned root_frames = 0;
    for (const Test& t : tests)
        for (const hv_p2m_walk& w : t.before) root_frames = w.root_frames;
    if (root_frames == 0) throw std::runtime_error("no walk to take the root size from");
    Image img(sizeof(oracle_header) + tests.size() * sizeof(oracle_test));
    Copier cp(img, ram_bytes, root_frames);
    std::vector<oracle_test> recs(tests.size());
    for (size_t i = 0; i < tests.size(); ++i) {
        const Test& t = tests[i];
        oracle_test& r = recs[i];
        // Phases (VTTBR_EL2 with VMID 0, CnP 0): the tables before the
        // access; with a mark on a walk, hvcore resolves each page's
        // fault in turn and retries, so for two pages the tables once the
        // first page is resolved (its walk after, the second's before),
        // then the tables after.
        r.fill_ipa[0] = r.fill_ipa[1] = ~uint64_t{0};
        for (size_t k = 0; k < t.fill_pages.size(); ++k) r.fill_ipa[k] = t.fill_pages[k];
        r.nphases = 1;
        r.vttbr[0] = cp.copy(t.before, t.gfns, t.plant);
        if (t.marked && t.gfns.size() == 2) {
            const std::vector<hv_p2m_walk> mid{t.after[0], t.before[1]};
            r.vttbr[r.nphases++] = cp.copy(mid, t.gfns, t.plant, true);
        }
        if (t.marked) r.vttbr[r.nphases++] = cp.copy(t.after, t.gfns, t.plant);
        switch (t.form->kind) {
        case Kind::data: r.insn = t.form->word; break;
        case Kind::fetch:
            r.insn = blr_x1;
            // Where the fetch lands, if it is allowed: an HVC #2 that ends it.
            if (t.addr < ram_bytes) {
                r.pre_pa = ORACLE_RAM_PA + ORACLE_GUEST_SHIFT + t.addr;
                r.pre_val = hvc_fetched;
            }
            break;
        case Kind::dc_civac_probe: r.insn = ldrb_wzr_x1; break;
        }
        const std::vector<uint64_t> x = registers_for(t.addr);
        for (unsigned n = 0; n < x.size(); ++n) r.x[n] = x[n];
    }
    std::vector<uint8_t>& out = img.bytes();
    const oracle_header h{ORACLE_MAGIC, tests.size(), vtcr, 0};
    std::memcpy(out.data(), &h, sizeof h);
    std::memcpy(out.data() + sizeof h, recs.data(), recs.size() * sizeof(oracle_test));
    if (out.size() > ORACLE_BLOB_MAX) throw std::runtime_error("blob too large");
    return out;
}

QemuRun run_qemu(const std::string& qemu, const std::string& cpu, const std::string& stub,
                 const std::vector<uint8_t>& blob, const std::string& workdir) {
    QemuRun run;
    const std::string blob_path = workdir + "/oracle-" + cpu + ".bin";
    {
        std::ofstream f(blob_path, std::ios::binary);
        f.write(reinterpret_cast<const char*>(blob.data()), static_cast<std::streamsize>(blob.size()));
        if (!f) {
            run.error = "cannot write " + blob_path;
            return run;
        }
    }
    // 120 s is far above a run's ~2 s: only a hung stub reaches it.
    const std::string cmd = fmt::format(
        "timeout 120 '{}' -M virt,virtualization=on -cpu {} -m {} -display none -monitor none -serial stdio "
        "-no-reboot -kernel '{}' -device loader,file='{}',addr={:#x} </dev/null 2>&1",
        qemu, cpu, ORACLE_MEM_MB, stub, blob_path, ORACLE_BLOB_PA);
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
        run.error = "popen failed";
        return run;
    }
    std::string out;
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int rc = pclose(p);
    std::istringstream in(out);
    std::string line;
    bool end = false;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("HELLO", 0) == 0) {
            run.hello = line;
        } else if (line.rfind("R ", 0) == 0) {
            std::istringstream ls(line.substr(2));
            unsigned test = 0;
            PhaseResult r;
            ls >> std::hex >> test >> r.phase >> r.code >> r.esr >> r.far >> r.hpfar >> r.elr >> r.esr_el1 >> r.far_el1 >>
                r.reg_hash;
            if (!ls) {
                run.error = "unparsable line: " + line;
                return run;
            }
            run.results[test].push_back(r);
        } else if (line == "END") {
            end = true;
        } else if (line.rfind("FATAL", 0) == 0) {
            run.error = "stub: " + line;
            return run;
        }
    }
    if (!end) {
        run.error = fmt::format("no END from the stub (exit status {}); output:\n{}", rc, out.substr(0, 2000));
        return run;
    }
    run.ok = true;
    return run;
}

// --- comparison ------------------------------------------------------------------

std::string describe(const Record& r) {
    const uint64_t e = r.esr;
    std::string s = fmt::format("EC {:#x} ESR {:#x} [IL {} ISV {} SAS {} SSE {} SRT {} SF {} AR {} CM {} S1PTW {} WnR {} FSC {:#x}] "
                                "FAR {:#x} HPFAR {:#x}",
                                r.ec, e, (e >> 25) & 1, (e >> 24) & 1, (e >> 22) & 3, (e >> 21) & 1, (e >> 16) & 0x1f,
                                (e >> 15) & 1, (e >> 14) & 1, (e >> 8) & 1, (e >> 7) & 1, (e >> 6) & 1, e & 0x3f, r.far,
                                r.hpfar);
    return s;
}

Verdict compare(const Test& t, const std::vector<PhaseResult>& phases) {
    Verdict v;
    if (phases.empty()) {
        v.note = "QEMU printed nothing for this access";
        return v;
    }
    const auto abort_of = [](const PhaseResult& p) -> std::optional<Record> {
        const unsigned ec = p.code >= 0x100 ? p.code - 0x100 : 0;
        if (p.code < 0x100 || (ec != ec_dabt_lower && ec != ec_iabt_lower)) return std::nullopt;
        return Record{ec, p.esr, p.far, p.hpfar};
    };
    const PhaseResult& last = phases.back();
    if (std::optional<Record> a = abort_of(last)) {
        v.expected = a;
    } else if (last.code == ORACLE_HVC_DONE || last.code == ORACLE_HVC_FETCHED) {
        // Completed. If an earlier phase aborted (hvcore's lazy
        // recalculation, resolved before the retry), the latest such abort
        // is the last the guest took.
        if (phases.size() > 1) v.expected = abort_of(phases[phases.size() - 2]);
    } else {
        v.note = fmt::format("QEMU took an exception at EL1 (code {:#x}, ESR_EL1 {:#x}, FAR_EL1 {:#x})", last.code,
                             last.esr_el1, last.far_el1);
        return v;
    }
    // Deviation qemu-dc-civac-nop: the stub ran a 1-byte read; make it the
    // cache maintenance record.
    if (t.form->kind == Kind::dc_civac_probe && v.expected && v.expected->ec == ec_dabt_lower)
        v.expected->esr = (v.expected->esr & ~esr_insn_syndrome) | esr_cm | esr_wnr;

    if (t.record && t.record->arch != HV_ARCH_ARM64) {
        v.note = fmt::format("hvcore's record has arch {}, not HV_ARCH_ARM64", t.record->arch);
        return v;
    }
    std::optional<Record> got;
    // hv.h: kind = ESR_EL2.EC, syndrome = ESR_EL2, gva = FAR_EL2, gpa = HPFAR_EL2.
    if (t.record) got = Record{t.record->kind, t.record->syndrome, t.record->gva, t.record->gpa};
    // A data access both completed: the registers after it (loaded
    // values, writeback) must agree too; they tell a wrong output address.
    const bool both_done = (last.code == ORACLE_HVC_DONE && t.form->kind != Kind::fetch);
    v.registers_compared = both_done && t.reg_hash.has_value();
    if (v.registers_compared && *t.reg_hash != last.reg_hash) {
        v.note = "the registers after the access differ (a load read another address's data, or a writeback differs)";
        return v;
    }
    if (got == v.expected) {
        v.agree = true;
        return v;
    }
    if (!got || !v.expected) {
        v.note = fmt::format("hvcore: {}; QEMU: {}", got ? describe(*got) : "no fault",
                             v.expected ? describe(*v.expected) : "no fault");
        return v;
    }
    v.note = fmt::format("hvcore: {}\n          QEMU:   {}", describe(*got), describe(*v.expected));
    return v;
}

}  // namespace oracle
