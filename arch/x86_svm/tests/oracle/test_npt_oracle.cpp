// SPDX-License-Identifier: MIT
// hvcore's AMD NPT backend checked against two independent nested-paging
// MMUs: QEMU 7.2 TCG (-cpu qemu64,+svm,+npt,+nx,phys-bits=48; the primary
// oracle) and Bochs 2.7 (cpu: model=ryzen; the second opinion).
//
// For every access of the matrix below, the harness
//   1. builds a fresh SVM domain through the C ABI and puts its gfns in the
//      state under test (types, claim, disclaim, reclaim, owner destroyed);
//   2. reads hvcore's real nested entries for the gfns the access touches
//      (hv_p2m_read_walk: every entry the processor reads, root first, as stored);
//   3. runs the access on hvcore (hv_vcpu_exec with the instruction's bytes,
//      or hv_vcpu_fetch) and keeps hv_vcpu_last_fault, then walks again;
//   4. copies those entries into nested tables in the emulator's memory
//      (each non-leaf entry's address field rewritten to the copy of the
//      next table, every other bit kept; leaves kept as they are, hvcore's
//      guest RAM at host-physical 1 GiB + gpa lies in the emulator's RAM),
//      and has the bare-metal stub (stub.S) VMRUN the same instruction bytes
//      under them, printing EXITCODE / EXITINFO1 / EXITINFO2.
// The records are compared field by field: kind = EXITCODE (0x400, #NPF),
// syndrome = EXITINFO1 (all bits), gpa = EXITINFO2; no fault = the guest
// reached the VMMCALL after the instruction (exit code 0x81). Decode-assist
// bytes are not compared: neither emulator has decode assists.
//
// A state with recalculation marks changes under the access (hvcore resolves
// the mark and re-executes), so hv_vcpu_last_fault may be the record of the
// re-executed access. The emulator therefore runs the access on the entries
// from before (its record must be a fault: the mark's) and, when hvcore's
// walk changed, also on the entries from after; hvcore's record must be the
// second if that faults, else the first.
//
// Each emulator deviation from the APM that the matrix reaches is listed
// once in `deviations` (and in tests/oracle/README.md) with its source, and
// corrected or excluded where it applies, with a count; nothing is dropped
// silently. hvcore's own disagreements found so far, whose fix belongs to
// another change, are in `hvcore_pending`: reported, counted, not failed.
// The guest's own code, stack and page tables live under nested PML4 entry
// 1 (GPA 512 GiB), which hvcore never uses, so hvcore's entries (marks
// included) only ever decide the tested accesses.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "stub_abi.h"

namespace {

constexpr uint64_t kib = 1024;
constexpr uint64_t mib = 1024 * kib;
constexpr uint64_t gib = 1024 * mib;
constexpr uint64_t page = 4 * kib;

// --- The nested entry and #NPF bits the harness itself needs (APM Vol. 2
// §5.4.1 "Field Definitions", §8.4.2 "Page-Fault Error Code", §15.25.6). ----
constexpr uint64_t pte_p = 1 << 0;                      // Present
constexpr uint64_t pte_rw = 1 << 1;                     // Read/Write
constexpr uint64_t pte_us = 1 << 2;                     // User/Supervisor
constexpr uint64_t pte_a = 1 << 5;                      // Accessed
constexpr uint64_t pte_d = 1 << 6;                      // Dirty
constexpr uint64_t pte_ps = 1 << 7;                     // Page Size (PDPE, PDE)
constexpr uint64_t pte_nx = uint64_t{1} << 63;          // No Execute
constexpr uint64_t pte_addr = 0x000F'FFFF'FFFF'F000;    // address bits 51:12
constexpr uint64_t npt_type_mask = uint64_t{0xf} << 52;  // hvcore's p2m type, AVL 55:52
constexpr uint64_t npt_type_ioreq = 15;                  // P2mType::ioreq_server
constexpr uint64_t npt_owner_7 = uint64_t{7} << 56;      // hvcore's owner of an ioreq_server leaf, AVL 58:56
constexpr uint64_t err_p = 1 << 0;                      // EXITINFO1: the entry was present
constexpr uint64_t err_w = 1 << 1;                      // EXITINFO1: a write
constexpr uint64_t err_rsv = 1 << 3;                    // EXITINFO1: a reserved bit
constexpr uint64_t err_gpt = uint64_t{1} << 33;         // EXITINFO1: a guest page-table access
constexpr uint64_t exit_npf = 0x400;                    // VMEXIT_NPF (Appendix C)
// Bochs 2.7's physical-address width (deviation B1; QEMU's TCG default too,
// X3): every address the copied tables hold stays below it, or the emulator
// would see a reserved bit hvcore (MAXPHYADDR 48) does not.
constexpr uint64_t emu_phys_limit = uint64_t{1} << 40;

// --- The domain under test --------------------------------------------------
// 1 GiB + 6 MiB of RAM: hvcore maps it with the largest leaves (1 GiB at gfn
// 0, then three 2 MiB leaves at 1 GiB), and set_mem_type splits the second
// and third 2 MiB leaves into 4 KiB tables. The first GiB stays one 1 GiB
// leaf, the first 2 MiB of the second GiB one 2 MiB leaf.
constexpr uint64_t ram_bytes = 1 * gib + 6 * mib;
// gfns given types, all in the split 2 MiB regions at 1 GiB + 2 MiB (table
// "PT A", holding the ioreq_server pages, so the disclaim's sweep resolves
// it) and 1 GiB + 4 MiB (table "PT B", without ioreq_server pages, so its
// PDE keeps the disclaim's mark: an upper-level mark in the tables).
constexpr uint64_t gfn_a_rw = 0x40200;   // PT A, ram_rw (set_mem_type splits around it)
constexpr uint64_t gfn_a_ro = 0x40201;   // PT A, ram_ro
constexpr uint64_t gfn_a_mmio = 0x40202; // PT A, mmio_dm
constexpr uint64_t gfn_a_ioreq = 0x40203; // PT A, ioreq_server
constexpr uint64_t gfn_a_ro2 = 0x40205;  // PT A, ram_ro
constexpr uint64_t gfn_a_ioreq2 = 0x40206; // PT A, ioreq_server
constexpr uint64_t gfn_b_ro = 0x40400;   // PT B, ram_ro
constexpr uint64_t gfn_b_mmio = 0x40401; // PT B, mmio_dm
constexpr uint64_t gfn_b_rw = 0x40402;   // PT B, ram_rw
constexpr uint64_t gfn_b_last = 0x405ff; // PT B, ram_rw, the last page of RAM

// The emulator's guest-physical region for the guest's own pages: nested
// PML4 entry 1 (GPA 512 GiB), backed by the blob's first 2 MiB.
constexpr uint64_t guest_region = uint64_t{1} << 39;
// Guest-physical 1 TiB: nested PML4 entry 2, which hvcore never fills (a
// not-present PML4E); the guest maps it so the access reaches the NPT.
constexpr uint64_t gpa_no_pml4e = uint64_t{1} << 40;

// Blob layout (offsets from BLOB_LOAD; the guest sees blob + x at
// guest_region + x).
constexpr uint64_t off_gpml4 = 0x1000;    // guest PML4
constexpr uint64_t off_gpdpt_low = 0x2000; // guest PDPT for linear 0-4 GiB
constexpr uint64_t off_gpd_low = 0x3000;  // four guest PDs, 2 MiB pages, identity 0-4 GiB
constexpr uint64_t off_gpdpt_g = 0x7000;  // guest PDPT for the guest region
constexpr uint64_t off_gpd_g = 0x8000;    // its PD: 2 MiB identity at guest_region
constexpr uint64_t off_npdpt_g = 0x9000;  // nested PDPT for the guest region (PML4 entry 1)
constexpr uint64_t off_npd_g = 0xa000;    // its PD: one 2 MiB leaf -> BLOB_LOAD
constexpr uint64_t off_slot = 0xb000;     // the code slot
constexpr uint64_t off_stack_top = 0xcff0; // the guest's RSP (stack page at 0xc000)
constexpr uint64_t off_gpdpt_t = 0xd000;  // guest PDPT for linear 1 TiB
constexpr uint64_t off_gpd_t = 0xe000;    // its PD: 2 MiB identity at 1 TiB
constexpr uint64_t off_items = 0x10000;   // the nested table copies, then the items

// The emulated machine's RAM: hvcore's guest RAM sits at host-physical
// 1 GiB + gpa, up to 2 GiB + 6 MiB, so successful accesses reach RAM.
constexpr unsigned emu_ram_mib = 3072;

// --- Accesses -----------------------------------------------------------------

enum class Kind { load, store, rmw, fetch };

const char* to_string(Kind k) {
    switch (k) {
    case Kind::load: return "load";
    case Kind::store: return "store";
    case Kind::rmw: return "rmw";
    case Kind::fetch: return "fetch";
    }
    return "?";
}

// One instruction form. Memory operand [RBX], register operand RCX/CL or
// XMM0; 64-bit mode encodings (Intel SDM Vol. 2 / AMD APM Vol. 3 opcode maps).
struct Form {
    const char* name;
    Kind kind;
    unsigned width;  // bytes accessed
    std::vector<uint8_t> bytes;
};

const std::vector<Form>& forms() {
    static const std::vector<Form> f = {
        {"mov cl,[rbx]", Kind::load, 1, {0x8a, 0x0b}},
        {"mov cx,[rbx]", Kind::load, 2, {0x66, 0x8b, 0x0b}},
        {"mov ecx,[rbx]", Kind::load, 4, {0x8b, 0x0b}},
        {"mov rcx,[rbx]", Kind::load, 8, {0x48, 0x8b, 0x0b}},
        {"movdqu xmm0,[rbx]", Kind::load, 16, {0xf3, 0x0f, 0x6f, 0x03}},
        {"mov [rbx],cl", Kind::store, 1, {0x88, 0x0b}},
        {"mov [rbx],cx", Kind::store, 2, {0x66, 0x89, 0x0b}},
        {"mov [rbx],ecx", Kind::store, 4, {0x89, 0x0b}},
        {"mov [rbx],rcx", Kind::store, 8, {0x48, 0x89, 0x0b}},
        {"movdqu [rbx],xmm0", Kind::store, 16, {0xf3, 0x0f, 0x7f, 0x03}},
        {"add [rbx],cl", Kind::rmw, 1, {0x00, 0x0b}},
        {"add [rbx],cx", Kind::rmw, 2, {0x66, 0x01, 0x0b}},
        {"add [rbx],ecx", Kind::rmw, 4, {0x01, 0x0b}},
        {"add [rbx],rcx", Kind::rmw, 8, {0x48, 0x01, 0x0b}},
        {"inc qword [rbx]", Kind::rmw, 8, {0x48, 0xff, 0x03}},
        {"lock xadd [rbx],rcx", Kind::rmw, 8, {0xf0, 0x48, 0x0f, 0xc1, 0x0b}},
        {"xchg [rbx],rcx", Kind::rmw, 8, {0x48, 0x87, 0x0b}},
        // An instruction fetch at the gpa: hv_vcpu_fetch on hvcore; on the
        // emulator, a jump there to the VMMCALL (3 bytes) the harness puts
        // in the page, so the fetch covers 3 bytes.
        {"fetch", Kind::fetch, 3, {}},
    };
    return f;
}
const Form& form(const char* name) {
    for (const Form& f : forms())
        if (std::strcmp(f.name, name) == 0) return f;
    FAIL("no form ", name);
    std::abort();
}

// The states of the gfns (Xen's p2m_ioreq_server life cycle, DMOPs 12, 15, 6).
enum class State {
    claimed,          // types set, the ioreq_server type claimed for writes
    disclaimed,       // then disclaimed: the outstanding entries reset in place, nothing marked
    reclaimed,        // then claimed again and gfn_a_ioreq made ioreq_server again
    owner_destroyed,  // claimed, then the owning server destroyed
};
const char* to_string(State s) {
    switch (s) {
    case State::claimed: return "claimed";
    case State::disclaimed: return "disclaimed";
    case State::reclaimed: return "reclaimed";
    case State::owner_destroyed: return "owner-destroyed";
    }
    return "?";
}

struct Access {
    State state;
    const Form* form;
    uint64_t gpa;
    std::string where;  // what the gpa is, for messages
};

// --- hvcore -------------------------------------------------------------------

struct Domain {
    hv_host* host = nullptr;
    hv_domain* dom = nullptr;
    hvdm_handle* dm = nullptr;
    hvdm_domid_t domid = 0;
    hvdm_ioservid_t server = 0;

    Domain() {
        REQUIRE(hv_host_create(&host) == 0);
        const hv_domain_config cfg{sizeof(hv_domain_config), HV_ARCH_X86_SVM, ram_bytes, 1, 0};
        REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
        domid = hv_domain_id(dom);
        dm = hvdm_open(host);
        REQUIRE(dm != nullptr);
    }
    ~Domain() {
        (void)hvdm_close(dm);
        (void)hv_domain_destroy(dom);
        hv_host_destroy(host);
    }
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;

    void set_type(uint16_t type, uint64_t gfn) { REQUIRE(hvdm_set_mem_type(dm, domid, type, gfn, 1) == 0); }
    void claim() {
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(dm, domid, server, HVDM_MEM_IOREQ_SERVER,
                                                  HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
    }
};

std::unique_ptr<Domain> build(State s) {
    auto d = std::make_unique<Domain>();
    REQUIRE(hvdm_create_ioreq_server(d->dm, d->domid, HVDM_BUFIOREQ_OFF, &d->server) == 0);
    REQUIRE(hvdm_set_ioreq_server_state(d->dm, d->domid, d->server, 1) == 0);
    d->claim();
    d->set_type(HVDM_MEM_RAM_RO, gfn_a_ro);
    d->set_type(HVDM_MEM_MMIO_DM, gfn_a_mmio);
    d->set_type(HVDM_MEM_IOREQ_SERVER, gfn_a_ioreq);
    d->set_type(HVDM_MEM_RAM_RO, gfn_a_ro2);
    d->set_type(HVDM_MEM_IOREQ_SERVER, gfn_a_ioreq2);
    d->set_type(HVDM_MEM_RAM_RO, gfn_b_ro);
    d->set_type(HVDM_MEM_MMIO_DM, gfn_b_mmio);
    switch (s) {
    case State::claimed: break;
    case State::disclaimed:
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(d->dm, d->domid, d->server, HVDM_MEM_IOREQ_SERVER, 0) == 0);
        break;
    case State::reclaimed:
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(d->dm, d->domid, d->server, HVDM_MEM_IOREQ_SERVER, 0) == 0);
        d->claim();
        d->set_type(HVDM_MEM_IOREQ_SERVER, gfn_a_ioreq);
        break;
    case State::owner_destroyed: REQUIRE(hvdm_destroy_ioreq_server(d->dm, d->domid, d->server) == 0); break;
    }
    return d;
}

struct Walk {
    uint64_t gfn = 0;
    hv_p2m_walk w{};
    bool operator==(const Walk& o) const {
        if (gfn != o.gfn || w.nr_levels != o.w.nr_levels || w.root != o.w.root) return false;
        for (uint32_t i = 0; i < w.nr_levels; ++i)
            if (w.level[i].entry != o.w.level[i].entry || w.level[i].table != o.w.level[i].table ||
                w.level[i].index != o.w.level[i].index || w.level[i].level != o.w.level[i].level)
                return false;
        return true;
    }
};
using Walks = std::vector<Walk>;

Walks walk(Domain& d, const std::vector<uint64_t>& gfns) {
    Walks out;
    for (uint64_t g : gfns) {
        Walk w;
        w.gfn = g;
        w.w.size = sizeof(hv_p2m_walk);
        REQUIRE(hv_p2m_read_walk(d.dom, g, &w.w) == 0);
        REQUIRE(w.w.arch == HV_ARCH_X86_SVM);
        REQUIRE(w.w.nr_levels >= 1);
        REQUIRE(w.w.nr_levels <= 4);
        // nCR3 is the PML4's address, PWT = PCD = 0 (hvcore's NestedCr3).
        REQUIRE(w.w.config == w.w.root);
        out.push_back(w);
    }
    return out;
}

struct Record {
    uint64_t code = 0;
    uint64_t info1 = 0;
    uint64_t info2 = 0;
    bool operator==(const Record&) const = default;
};
std::string to_string(const std::optional<Record>& r) {
    if (!r) return "no fault";
    return fmt::format("exit {:#x} info1 {:#x} info2 {:#x}", r->code, r->info1, r->info2);
}

// The pages an access touches: its first and last byte's.
std::vector<uint64_t> gfns_of(const Access& a) {
    const uint64_t first = a.gpa / page;
    const uint64_t last = (a.gpa + a.form->width - 1) / page;
    if (first == last) return {first};
    return {first, last};
}

struct Outcome {
    Walks before;
    Walks after;
    int status = 0;
    std::optional<Record> rec;  // hv_vcpu_last_fault
};

// RCX's value for stores and read-modify-writes (any value works: only the
// fault records are compared).
constexpr uint64_t data_value = 0x0123'4567'89ab'cdef;

std::optional<Record> last_fault(Domain& d) {
    hv_fault_record f{};
    f.size = sizeof f;
    const int rc = hv_vcpu_last_fault(d.dom, 0, &f);
    if (rc == -ENOENT) return std::nullopt;
    REQUIRE(rc == 0);
    REQUIRE(f.arch == HV_ARCH_X86_SVM);
    return Record{f.kind, f.syndrome, f.gpa};
}

Outcome run_on_hvcore(const Access& a) {
    auto d = build(a.state);
    Outcome o;
    const std::vector<uint64_t> gfns = gfns_of(a);
    o.before = walk(*d, gfns);
    if (a.form->kind == Kind::fetch) {
        // hv_vcpu_fetch checks one byte; an instruction that starts on the
        // last byte of a page is fetched from both pages, the first first.
        o.status = hv_vcpu_fetch(d->dom, 0, a.gpa);
        o.rec = last_fault(*d);
        if (o.status == HV_VCPU_DONE && gfns.size() == 2) {
            o.status = hv_vcpu_fetch(d->dom, 0, gfns[1] * page);
            if (std::optional<Record> second = last_fault(*d)) o.rec = second;
        }
    } else {
        REQUIRE(hv_vcpu_set_reg(d->dom, 0, HV_REG_RBX, a.gpa) == 0);
        REQUIRE(hv_vcpu_set_reg(d->dom, 0, HV_REG_RCX, data_value) == 0);
        o.status = hv_vcpu_exec(d->dom, 0, a.form->bytes.data(), a.form->bytes.size());
        REQUIRE(o.status >= 0);
        o.rec = last_fault(*d);
    }
    o.after = walk(*d, gfns);
    return o;
}

// --- The emulator's memory image (stub_abi.h) -----------------------------------

class Blob {
public:
    Blob() : bytes_(off_items, 0) {}

    uint64_t hpa(uint64_t off) const { return BLOB_LOAD + off; }
    void put64(uint64_t off, uint64_t v) {
        if (bytes_.size() < off + 8) bytes_.resize(off + 8, 0);
        std::memcpy(&bytes_[off], &v, 8);
    }
    void put(uint64_t off, const void* p, size_t n) {
        if (bytes_.size() < off + n) bytes_.resize(off + n, 0);
        std::memcpy(&bytes_[off], p, n);
    }
    // A zeroed 4 KiB page after everything else; its offset.
    uint64_t alloc_page() {
        const uint64_t off = (bytes_.size() + page - 1) / page * page;
        bytes_.resize(off + page, 0);
        return off;
    }
    void reserve_to(uint64_t off) {
        if (bytes_.size() < off) bytes_.resize(off, 0);
    }
    const std::vector<uint8_t>& bytes() const { return bytes_; }

private:
    std::vector<uint8_t> bytes_;
};

// A change the planted-bit test makes to the copy of one walk's last entry.
using Plant = std::function<uint64_t(uint64_t entry)>;

struct Item {
    uint64_t ncr3 = 0;
    uint64_t rip = 0;
    std::array<uint64_t, 16> gpr{};
    uint64_t slot_hpa = 0;
    std::vector<uint8_t> insn;
    struct Poke {
        uint64_t hpa = 0;
        std::vector<uint8_t> bytes;
    };
    std::array<Poke, 2> pokes{};
};

class Image {
public:
    Image() {
        // The guest's paging: identity everywhere it goes (guest-physical =
        // linear), 2 MiB pages: P, R/W, A, D, PS (Intel SDM Vol. 3 §4.5 /
        // APM Vol. 2 §5.3). Non-leaf entries P, R/W, A. Entries hold
        // guest-physical addresses (the guest region's).
        constexpr uint64_t g_table = pte_p | pte_rw | pte_a;
        constexpr uint64_t g_leaf = pte_p | pte_rw | pte_a | pte_d | pte_ps;
        blob_.put64(off_gpml4 + 8 * 0, (guest_region + off_gpdpt_low) | g_table);
        blob_.put64(off_gpml4 + 8 * 1, (guest_region + off_gpdpt_g) | g_table);
        blob_.put64(off_gpml4 + 8 * 2, (guest_region + off_gpdpt_t) | g_table);
        for (uint64_t i = 0; i < 4; ++i) {
            blob_.put64(off_gpdpt_low + 8 * i, (guest_region + off_gpd_low + i * page) | g_table);
            for (uint64_t j = 0; j < 512; ++j)
                blob_.put64(off_gpd_low + i * page + 8 * j, ((i * 512 + j) * 2 * mib) | g_leaf);
        }
        blob_.put64(off_gpdpt_g, (guest_region + off_gpd_g) | g_table);
        blob_.put64(off_gpd_g, guest_region | g_leaf);
        blob_.put64(off_gpdpt_t, (guest_region + off_gpd_t) | g_table);
        blob_.put64(off_gpd_t, gpa_no_pml4e | g_leaf);
        // The nested tables of the guest region (harness-built, not
        // hvcore's): PML4 entry 1 -> PDPT -> PD -> one 2 MiB leaf onto the
        // blob; user, writable, executable, as a nested access is a user
        // access (APM Vol. 2 §15.25.5).
        constexpr uint64_t n_table = pte_p | pte_rw | pte_us | pte_a;
        blob_.put64(off_npdpt_g, blob_.hpa(off_npd_g) | n_table);
        blob_.put64(off_npd_g, blob_.hpa(0) | n_table | pte_d | pte_ps);
        nested_region_pml4e_ = blob_.hpa(off_npdpt_g) | n_table;
    }

    // The nested root for these walks: a copy of every entry they read, in
    // copies of their tables (one copy per hvcore table), PML4 entry 1 the
    // guest region's. Identical walk sets share one root.
    uint64_t tables_for(const Walks& walks, const Plant& plant) {
        std::string key;
        for (const Walk& w : walks)
            for (uint32_t i = 0; i < w.w.nr_levels; ++i)
                key += fmt::format("{:x}/{:x}/{:x}={:x};", w.w.level[i].table, w.w.level[i].index,
                                   w.w.level[i].level, w.w.level[i].entry);
        if (plant) key += fmt::format("planted#{}", planted_++);
        if (auto it = roots_.find(key); it != roots_.end()) return it->second;

        std::map<uint64_t, uint64_t> copy_of;  // hvcore table hpa -> blob offset of its copy
        std::map<uint64_t, uint64_t> written;  // blob offset of an entry -> value
        const uint64_t root = blob_.alloc_page();
        blob_.put64(root + 8 * 1, nested_region_pml4e_);
        for (const Walk& w : walks) {
            REQUIRE(w.w.root == w.w.level[0].table);
            copy_of.emplace(w.w.root, root);
            for (uint32_t i = 0; i < w.w.nr_levels; ++i) {
                const hv_p2m_walk_level& l = w.w.level[i];
                REQUIRE(l.level == static_cast<int32_t>(4 - i));
                REQUIRE(l.index < 512);
                // PML4 entries 1 and 2 are the harness's (guest region, and
                // a hole hvcore must leave empty).
                if (l.level == 4) REQUIRE((l.index == 0 || (l.index == 2 && l.entry == 0)));
                uint64_t e = l.entry;
                if (i + 1 < w.w.nr_levels) {
                    // A table pointer: the walk goes on into the table it names.
                    const uint64_t next = w.w.level[i + 1].table;
                    REQUIRE((e & pte_p) != 0);
                    REQUIRE((e & pte_addr) == next);
                    auto [it, fresh] = copy_of.emplace(next, 0);
                    if (fresh) it->second = blob_.alloc_page();
                    e = (e & ~pte_addr) | blob_.hpa(it->second);
                } else {
                    // The entry that decides: a leaf, or not present. Its
                    // address (hvcore's RAM, 1 GiB + gpa) is kept.
                    if ((e & pte_p) != 0) REQUIRE((e & pte_addr) < emu_phys_limit);
                    if (plant) e = plant(e);
                    // hvcore keeps the owner of an ioreq_server leaf in AVL
                    // bits 58:56 (npt.hpp). The claimant here is server 0;
                    // the emulator is given owner 7 in every such 4 KiB
                    // leaf, so equal records show the processor ignores
                    // them (APM Vol. 2 §5.4.1, AVL).
                    if (l.level == 1 && ((e & npt_type_mask) >> 52) == npt_type_ioreq) e |= npt_owner_7;
                }
                const uint64_t at = copy_of.at(l.table) + 8 * l.index;
                auto [wi, fresh] = written.emplace(at, e);
                REQUIRE(wi->second == e);  // two walks agree on a shared entry
                if (fresh) blob_.put64(at, e);
            }
        }
        roots_.emplace(key, blob_.hpa(root));
        return blob_.hpa(root);
    }

    // The host-physical address a present leaf gives gpa (for the fetch
    // pokes), or nullopt if the walk ends in a not-present entry.
    static std::optional<uint64_t> leaf_hpa(const Walk& w, uint64_t gpa) {
        const hv_p2m_walk_level& l = w.w.level[w.w.nr_levels - 1];
        if ((l.entry & pte_p) == 0) return std::nullopt;
        const uint64_t size = page << (9 * (l.level - 1));
        return (l.entry & pte_addr & ~(size - 1)) + (gpa & (size - 1));
    }

    size_t add(const Item& it) {
        items_.push_back(it);
        return items_.size() - 1;
    }
    size_t size() const { return items_.size(); }

    // The blob's bytes: header, guest pages, table copies, items.
    std::vector<uint8_t> finish() {
        Blob out = blob_;
        // The table copies were allocated from off_items on; the items go
        // after them.
        const uint64_t at = (out.bytes().size() + page - 1) / page * page;
        out.put64(BLOB_H_MAGIC, BLOB_MAGIC);
        out.put64(BLOB_H_NITEMS, items_.size());
        out.put64(BLOB_H_ITEMS, out.hpa(at));
        out.put64(BLOB_H_GUEST_CR3, guest_region + off_gpml4);
        out.put64(BLOB_H_BYTES, at + items_.size() * ITEM_SIZE);
        // The blob stays below hvcore's RAM (host-physical 1 GiB up), which
        // successful accesses write.
        REQUIRE(BLOB_LOAD + at + items_.size() * ITEM_SIZE < 1 * gib);
        for (size_t i = 0; i < items_.size(); ++i) {
            const Item& it = items_[i];
            const uint64_t o = at + i * ITEM_SIZE;
            out.reserve_to(o + ITEM_SIZE);
            out.put64(o + ITEM_NCR3, it.ncr3);
            out.put64(o + ITEM_RIP, it.rip);
            for (size_t r = 0; r < 16; ++r) out.put64(o + ITEM_GPR + 8 * r, it.gpr[r]);
            out.put64(o + ITEM_SLOT_HPA, it.slot_hpa);
            REQUIRE(it.insn.size() <= 15);
            if (!it.insn.empty()) out.put(o + ITEM_INSN, it.insn.data(), it.insn.size());
            out.put64(o + ITEM_INSN_LEN, it.insn.size());
            for (size_t p = 0; p < 2; ++p) {
                const uint64_t po = o + ITEM_POKE0 + p * ITEM_POKE_SIZE;
                REQUIRE(it.pokes[p].bytes.size() <= 8);
                out.put64(po, it.pokes[p].hpa);
                out.put64(po + 8, it.pokes[p].bytes.size());
                if (!it.pokes[p].bytes.empty()) out.put(po + 16, it.pokes[p].bytes.data(), it.pokes[p].bytes.size());
            }
        }
        return out.bytes();
    }

    uint64_t slot_gpa() const { return guest_region + off_slot; }
    uint64_t slot_hpa() const { return blob_.hpa(off_slot); }
    uint64_t stack_gpa() const { return guest_region + off_stack_top; }

private:
    Blob blob_;
    uint64_t nested_region_pml4e_ = 0;
    std::map<std::string, uint64_t> roots_;
    std::vector<Item> items_;
    unsigned planted_ = 0;
};

// VMMCALL (0F 01 D9, APM Vol. 3): the guest's "no fault" report.
const std::vector<uint8_t> vmmcall = {0x0f, 0x01, 0xd9};

// The emulator item for access a under these walks.
Item make_item(Image& img, const Access& a, const Walks& walks, const Plant& plant) {
    Item it;
    it.ncr3 = img.tables_for(walks, plant);
    it.gpr[4] = img.stack_gpa();  // RSP
    if (a.form->kind == Kind::fetch) {
        // Jump straight to the byte: the guest's RIP is the gpa (identity
        // paging). A VMMCALL there reports a fetch that went through; it is
        // written into whatever RAM the leaves give (nothing if not present).
        it.rip = a.gpa;
        size_t done = 0;
        for (size_t p = 0; p < walks.size() && done < vmmcall.size(); ++p) {
            const uint64_t at = p == 0 ? a.gpa : walks[p].gfn * page;
            const size_t n = std::min<size_t>(vmmcall.size() - done, page - at % page);
            if (std::optional<uint64_t> h = Image::leaf_hpa(walks[p], at); h && *h + n <= uint64_t{emu_ram_mib} * mib)
                it.pokes[p] = {*h, std::vector<uint8_t>(vmmcall.begin() + static_cast<long>(done),
                                                        vmmcall.begin() + static_cast<long>(done + n))};
            done += n;
        }
    } else {
        it.rip = img.slot_gpa();
        it.slot_hpa = img.slot_hpa();
        it.insn = a.form->bytes;
        it.gpr[3] = a.gpa;       // RBX
        it.gpr[1] = data_value;  // RCX
    }
    return it;
}

// --- Emulators -------------------------------------------------------------------

// Where each emulator's stub and data live, and its output.
struct EmuRun {
    bool ok = false;
    std::string why;                     // when !ok
    std::map<size_t, Record> records;    // item -> record
    double seconds = 0;
};

std::string find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path != nullptr ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        const std::string p = dir + "/" + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

std::string make_workdir(const char* emu) {
    std::string tmpl = fmt::format("{}/npt-oracle-{}-XXXXXX", HVCORE_NPT_WORKDIR, emu);
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    return buf.data();
}

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    REQUIRE(f.good());
}
std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Parses the stub's lines (stub.S) out of whatever else the emulator printed.
void parse(const std::string& out, size_t nitems, EmuRun& r) {
    static const std::regex line("R ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16})");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
        const size_t idx = std::stoull((*it)[1].str(), nullptr, 16);
        r.records[idx] = Record{std::stoull((*it)[2].str(), nullptr, 16), std::stoull((*it)[3].str(), nullptr, 16),
                                std::stoull((*it)[4].str(), nullptr, 16)};
    }
    const bool ended = out.find("\nE") != std::string::npos || out.rfind("E", 0) == 0;
    if (r.records.size() == nitems && ended) {
        r.ok = true;
    } else {
        r.why = fmt::format("the stub reported {} of {} items{}; output:\n{}", r.records.size(), nitems,
                            ended ? "" : " and did not finish", out.substr(0, 4000));
    }
}

int run_shell(const std::string& cmd) {
    const int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Why an emulator cannot be run here (empty when it can).
std::string qemu_missing() {
    if (find_in_path("qemu-system-x86_64").empty())
        return "qemu-system-x86_64 is not installed (Debian package qemu-system-x86; "
               "scripts/install-deps.sh --oracles)";
    return {};
}
std::string bochs_missing() {
    if (find_in_path("bochs").empty())
        return "bochs is not installed (Debian packages bochs, bochs-term, bochsbios, vgabios; "
               "scripts/install-deps.sh --oracles)";
    if (find_in_path("script").empty()) return "script(1) is not installed (Debian package bsdutils)";
    for (const char* f : {"/usr/share/bochs/BIOS-bochs-latest", "/usr/share/vgabios/vgabios.bin"})
        if (::access(f, R_OK) != 0) return fmt::format("{} is missing (Debian packages bochsbios, vgabios)", f);
    if (::access("/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_term_gui.so.0", R_OK) != 0)
        return "the Bochs term display plugin is missing (Debian package bochs-term)";
    return {};
}

EmuRun run_qemu(const std::vector<uint8_t>& blob, size_t nitems) {
    EmuRun r;
    const std::string dir = make_workdir("qemu");
    write_file(dir + "/blob.bin", blob);
    const std::string cmd = fmt::format(
        "cd {} && timeout 600 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt,+nx,phys-bits=48 -m {}M -nodefaults "
        "-display none -monitor none -serial none -no-reboot -debugcon file:out.txt "
        "-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel {} "
        "-device loader,file=blob.bin,addr={:#x},force-raw=on > qemu.log 2>&1",
        dir, emu_ram_mib, HVCORE_NPT_STUB, BLOB_LOAD);
    const auto t0 = std::chrono::steady_clock::now();
    // isa-debug-exit: the stub writes 0, QEMU exits with (0 << 1) | 1.
    const int rc = run_shell(cmd);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    parse(read_file(dir + "/out.txt"), nitems, r);
    if (rc != 1) {
        r.ok = false;
        r.why = fmt::format("qemu exited with {} (expected 1, isa-debug-exit): {}\n{}", rc, read_file(dir + "/qemu.log"),
                            r.why);
    }
    if (r.ok && std::getenv("HVCORE_NPT_ORACLE_KEEP") == nullptr) (void)run_shell(fmt::format("rm -rf {}", dir));
    return r;
}

EmuRun run_bochs(const std::vector<uint8_t>& blob, size_t nitems) {
    EmuRun r;
    const std::string dir = make_workdir("bochs");
    // The blob as a flat disk (stub_abi.h says why), padded to whole
    // cylinders of 16 heads x 63 sectors x 512 bytes.
    constexpr size_t cylinder = 16 * 63 * 512;
    const size_t cylinders = (blob.size() + cylinder - 1) / cylinder;
    std::vector<uint8_t> disk(blob);
    disk.resize(cylinders * cylinder, 0);
    write_file(dir + "/blob.img", disk);
    // A 1.44 MB floppy whose boot sector enters protected mode and jumps to
    // the stub (boot.S), which Bochs loads with optramimage (it fits one
    // 128 KiB block).
    std::vector<uint8_t> floppy(1474560, 0);
    {
        std::ifstream f(HVCORE_NPT_BOOT, std::ios::binary);
        f.read(reinterpret_cast<char*>(floppy.data()), 512);
        REQUIRE(f.gcount() == 512);
    }
    write_file(dir + "/floppy.img", floppy);
    std::ofstream rc(dir + "/bochsrc");
    rc << fmt::format(
        "memory: guest={}, host=256\n"
        "cpu: model=ryzen, ips=50000000\n"
        "clock: sync=none\n"
        "romimage: file=/usr/share/bochs/BIOS-bochs-latest\n"
        "vgaromimage: file=/usr/share/vgabios/vgabios.bin\n"
        "floppya: 1_44=floppy.img, status=inserted\n"
        "boot: floppy\n"
        "optramimage1: file={}, address={:#x}\n"
        "ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14\n"
        "ata0-master: type=disk, path=blob.img, mode=flat, cylinders={}, heads=16, spt=63\n"
        "port_e9_hack: enabled=1\n"
        "display_library: term\n"
        "speaker: enabled=0\n"
        "log: bochs.log\n"
        "panic: action=fatal\n"
        "error: action=report\n"
        "info: action=ignore\n"
        "debug: action=ignore\n",
        emu_ram_mib, HVCORE_NPT_STUB, STUB_LOAD, cylinders);
    rc.close();
    std::ofstream(dir + "/dbgcmds") << "c\nquit\n";
    // The Debian build has the debugger (it waits for "c" from -rc) and no
    // display-less GUI; the term display wants a terminal, which script(1)
    // gives it. Port 0xE9 output goes to stdout.
    const std::string cmd = fmt::format(
        "cd {} && timeout 600 script -qfec 'bochs -q -f bochsrc -rc dbgcmds' /dev/null > out.txt 2>&1 < /dev/null", dir);
    const auto t0 = std::chrono::steady_clock::now();
    (void)run_shell(cmd);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    parse(read_file(dir + "/out.txt"), nitems, r);
    if (!r.ok) r.why += "\nbochs.log:\n" + read_file(dir + "/bochs.log").substr(0, 4000);
    // HVCORE_NPT_ORACLE_KEEP=1 keeps the run's directory (blob, output).
    if (r.ok && std::getenv("HVCORE_NPT_ORACLE_KEEP") == nullptr) (void)run_shell(fmt::format("rm -rf {}", dir));
    return r;
}

// --- Deviations ------------------------------------------------------------------

enum class Emulator { qemu, bochs };
const char* to_string(Emulator e) {
    switch (e) {
    case Emulator::qemu: return "QEMU 7.2";
    case Emulator::bochs: return "Bochs 2.7";
    }
    return "?";
}

// Every known way an emulator's record (or what it can run) differs from
// the APM or from hvcore's model CPU, once, with its source and how the
// comparison treats it. The same table is in tests/oracle/README.md.
struct Deviation {
    const char* id;
    const char* emulator;
    const char* what;
    const char* source;
    const char* handling;
};
constexpr Deviation deviations[] = {
    {"Q1", "QEMU 7.2",
     "a read-modify-write whose read faults is reported as a read (EXITINFO1.RW = 0): QEMU loads, then stores; "
     "the APM (the access is a write) and Bochs give RW = 1",
     "QEMU target/i386/tcg/translate.c (gen_op_ld_v before gen_op_st_v in the ALU/INC forms) and tcg/tcg-op.c "
     "(without parallel vCPUs, LOCK'd forms and XCHG are do_nonatomic_op_*: a load, then a store); Bochs "
     "cpu/access2.cc read_RMW_linear_* (translation with BX_RW)",
     "corrected: RW is set in QEMU's #NPF record of every read-modify-write item that lacks it (counted, per form)"},
    {"Q2", "QEMU 7.2", "a reserved-bit #NPF omits P (EXITINFO1 = RSV|US); the APM and Bochs give P|RSV|US",
     "QEMU target/i386/tcg/sysemu/excp_helper.c (do_fault_rsvd sets only PG_ERROR_RSVD_MASK)",
     "corrected: P is set in QEMU's record when RSV is (counted); hvcore writes no reserved bit, so only a planted "
     "entry reaches it"},
    {"Q3", "QEMU 7.2",
     "a page-crossing read-modify-write whose first page is readable but not writable and whose second page is not "
     "present faults on the second page (its read comes first, Q1); Bochs translates both pages for writing and "
     "faults on the first, P|RW",
     "as Q1",
     "excluded: such items are not compared on QEMU (counted); Bochs compares them"},
    {"B1", "Bochs 2.7",
     "physical addresses are 40 bits wide (fixed at build time), so a guest-physical address at or above 1 TiB - "
     "the only ones under a nested PML4 entry other than hvcore's (0) and the harness's (1) - is a reserved-bit #PF "
     "in the guest's own paging",
     "Bochs config.h.in BX_PHY_ADDRESS_WIDTH 40 (64-bit physical addresses, CPU level 6); "
     "cpu/paging.cc BX_PAGING_PHY_ADDRESS_RESERVED_BITS",
     "excluded: the 'PML4E not present' accesses (gpa 1 TiB) run on QEMU only (counted)"},
    {"X1", "QEMU 7.2, Bochs 2.7",
     "no decode assists: neither gives an #NPF's instruction bytes (QEMU refuses +decodeassists; Bochs's "
     "Svm_Vmexit leaves them as a TODO)",
     "QEMU target/i386/cpu.c TCG_SVM_FEATURES; "
     "Bochs cpu/svm.cc Svm_Vmexit (a TODO where the bytes of a data #NPF would go)",
     "excluded: hv_fault_record.insn_len and insn are not compared"},
    {"X2", "QEMU 7.2, Bochs 2.7",
     "P on a fault during a guest page-table access (EXITINFO1 bit 33) is not settled (KVM clears it, the "
     "emulators do not)",
     "Linux arch/x86/kvm/mmu/paging_tmpl.h (PFERR_GUEST_PAGE_MASK)",
     "excluded by construction: the guest's page tables are under nested PML4 entry 1, never hvcore's; a record "
     "with bit 33 fails the comparison"},
    {"X3", "QEMU 7.2",
     "the default MAXPHYADDR of TCG is 40; hvcore's model CPU has 48",
     "QEMU target/i386/cpu.h TCG_PHYS_ADDR_BITS; target/i386/cpu.c (phys-bits property)",
     "aligned: QEMU runs with phys-bits=48; every address in the copied tables is below 2^40 (checked), so "
     "Bochs's 40 bits see the same entries"},
};

bool crosses(const Access& a) { return gfns_of(a).size() == 2; }

// Disagreements of hvcore with the APM (and Bochs) that this test found, with
// the change that owns each and the exact shape of the mismatch it explains
// (hvcore's record, the emulator's corrected record). A mismatch of exactly
// one of these shapes is printed as KNOWN and counted instead of failing;
// every other mismatch fails. An entry that matched nothing is reported:
// delete it once its fix has landed, and its tolerance goes with it.
struct Pending {
    const char* id;
    const char* what;
    const char* owner;
    bool (*explains)(const Access& a, const Record& hv, const Record& emu);
};
// (A vector, so that it may become empty.)
// Empty: H1 (a refused RMW read recorded as a read) and H2 (a page-crossing
// RMW over a read-only then an absent page) were fixed in hvcore's x86 fault
// records; a new disagreement gets an entry here only while its fix is
// under way, and is printed and counted at every run.
const std::vector<Pending> hvcore_pending = {};

struct Tally {
    size_t compared = 0;                          // accesses whose hvcore record was compared
    size_t records = 0;                           // emulator records those comparisons used
    size_t with_after = 0;                        // ... of which on entries after a resolved mark
    std::map<std::string, size_t> outcomes;       // hvcore's record of the compared accesses -> count
    std::map<std::string, size_t> corrected;      // deviation id -> records corrected
    std::map<std::string, std::set<std::string>> corrected_forms;
    std::map<std::string, size_t> excluded;       // deviation id -> accesses not compared
    std::map<std::string, size_t> pending;        // hvcore_pending id -> mismatches
    std::vector<std::string> known;               // those mismatches
    std::vector<std::string> mismatches;          // everything else
};

// Applies the corrections of emulator e to one of its records.
Record corrected(Emulator e, const Access& a, Record r, Tally& t) {
    switch (e) {
    case Emulator::qemu:
        if (r.code == exit_npf && a.form->kind == Kind::rmw && (r.info1 & err_w) == 0) {
            r.info1 |= err_w;
            ++t.corrected["Q1"];
            t.corrected_forms["Q1"].insert(a.form->name);
        }
        if (r.code == exit_npf && (r.info1 & err_rsv) != 0 && (r.info1 & err_p) == 0) {
            r.info1 |= err_p;
            ++t.corrected["Q2"];
            t.corrected_forms["Q2"].insert(a.form->name);
        }
        break;
    case Emulator::bochs: break;
    }
    return r;
}

// hvcore's record (none: the guest reached VMMCALL) as the emulator prints it.
Record as_emulator(const std::optional<Record>& hv) { return hv ? *hv : Record{SVM_EXIT_VMMCALL, 0, 0}; }

struct Case {
    Access access;
    Outcome hv;
    size_t item_before = 0;
    std::optional<size_t> item_after;  // when hvcore's walk changed
    bool planted = false;
};

// Q3: a crossing read-modify-write, QEMU's record on the second page, the
// first page present, user and read-only in hvcore's entries.
bool q3_applies(const Case& c, const Record& r) {
    const Access& a = c.access;
    if (a.form->kind != Kind::rmw || !crosses(a) || r.code != exit_npf) return false;
    if (r.info2 < gfns_of(a)[1] * page) return false;
    const Walk& first = c.hv.before.at(0);
    for (uint32_t i = 0; i < first.w.nr_levels; ++i)
        if ((first.w.level[i].entry & (pte_p | pte_us)) != (pte_p | pte_us)) return false;
    return (first.w.level[first.w.nr_levels - 1].entry & pte_rw) == 0;
}

// Which hvcore_pending entry explains hv differing from the emulator's e.
const Pending* pending_match(const Access& a, const std::optional<Record>& hv, const Record& e) {
    if (!hv || e.code != exit_npf || hv->code != exit_npf) return nullptr;
    for (const Pending& p : hvcore_pending)
        if (p.explains(a, *hv, e)) return &p;
    return nullptr;
}

void judge(Emulator e, const Case& c, const EmuRun& run, Tally& t) {
    const Access& a = c.access;
    const Record before = corrected(e, a, run.records.at(c.item_before), t);
    std::optional<Record> after;
    if (c.item_after) after = corrected(e, a, run.records.at(*c.item_after), t);
    const std::string what = fmt::format("{} {} {} ({}) at {:#x} ({})", to_string(e), to_string(a.state), a.form->name,
                                         to_string(a.form->kind), a.gpa, a.where);
    auto fail = [&](const std::string& why) { t.mismatches.push_back(fmt::format("{}: {}", what, why)); };
    if ((before.code == exit_npf && (before.info1 & err_gpt) != 0) ||
        (after && after->code == exit_npf && (after->info1 & err_gpt) != 0)) {
        fail("a guest page-table fault (the harness's own tables)");
        return;
    }
    // The record hvcore's must equal: the only one; or, when hvcore's
    // entries changed under the access (a mark was resolved), the one on
    // the entries from after if that faults, else the mark's.
    Record expect = before;
    std::string emu = to_string(std::optional(before));
    if (after) {
        if (before.code != exit_npf) {
            fail(fmt::format("hvcore's walk changed, but the emulator passed the entries from before ({})", emu));
            return;
        }
        if (after->code == exit_npf) expect = *after;
        emu = fmt::format("{} on the entries before, {} after", emu, to_string(after));
    }
    if (e == Emulator::qemu && q3_applies(c, expect)) {
        ++t.excluded["Q3"];
        return;
    }
    ++t.compared;
    t.records += after ? 2 : 1;
    if (after) ++t.with_after;
    ++t.outcomes[c.hv.rec ? fmt::format("#NPF {:#x}", c.hv.rec->info1) : std::string("no fault")];
    if (expect == as_emulator(c.hv.rec)) return;
    const std::string msg = fmt::format("{}: hvcore: {}; emulator: {}", what, to_string(c.hv.rec), emu);
    if (const Pending* p = pending_match(a, c.hv.rec, expect)) {
        ++t.pending[p->id];
        t.known.push_back(fmt::format("{} {}", p->id, msg));
        return;
    }
    t.mismatches.push_back(msg);
}

// --- The matrix -----------------------------------------------------------------------

struct Target {
    uint64_t gpa;
    const char* where;
};
// Inside a page (offset 0x100, not page-crossing for any width).
const std::vector<Target>& targets() {
    static const std::vector<Target> t = {
        {0x1234'5100, "1G leaf, ram_rw"},
        {0x4000'3100, "2M leaf, ram_rw"},
        {gfn_a_rw * page + 0x100, "4K leaf (PT A), ram_rw"},
        {gfn_a_ro * page + 0x100, "4K leaf (PT A), ram_ro"},
        {gfn_a_mmio * page + 0x100, "4K leaf (PT A), mmio_dm"},
        {gfn_a_ioreq * page + 0x100, "4K leaf (PT A), ioreq_server"},
        {gfn_b_ro * page + 0x100, "4K leaf (PT B), ram_ro"},
        {gfn_b_mmio * page + 0x100, "4K leaf (PT B), mmio_dm"},
        {gfn_b_rw * page + 0x100, "4K leaf (PT B), ram_rw"},
        {0x4060'0100, "no RAM: PDE not present"},
        {0xc000'0100, "no RAM: PDPTE not present"},
        {gpa_no_pml4e + 0x100, "no RAM: PML4E not present"},
    };
    return t;
}

// Page-crossing accesses: the first page allows the access or not, the
// second decides otherwise. `tables` says whether both pages' walks end in
// the same table, so that resolving a mark for the first page also resolves
// the second's; crossings of two tables run only where no mark is left.
struct Crossing {
    uint64_t first_gfn;
    const char* where;
    bool same_table;
};
const std::vector<Crossing>& crossings() {
    static const std::vector<Crossing> c = {
        {gfn_a_rw, "ram_rw -> ram_ro (PT A)", true},
        {gfn_a_ro, "ram_ro -> mmio_dm (PT A)", true},
        {gfn_a_mmio, "mmio_dm -> ioreq_server (PT A)", true},
        {gfn_a_ioreq, "ioreq_server -> ram_rw (PT A)", true},
        {gfn_a_ro2, "ram_ro -> ioreq_server (PT A)", true},
        {gfn_b_last, "ram_rw (PT B) -> no PDE", true},
        {0x401ff, "2M leaf ram_rw -> ram_rw (PT A)", true},
        {0x3ffff, "1G leaf -> 2M leaf", false},
    };
    return c;
}

std::vector<Access> matrix() {
    std::vector<Access> out;
    for (State s : {State::claimed, State::disclaimed, State::reclaimed, State::owner_destroyed}) {
        for (const Target& t : targets())
            for (const Form& f : forms()) out.push_back({s, &f, t.gpa, t.where});
        for (const Crossing& c : crossings()) {
            if (!c.same_table && s != State::claimed) continue;
            const uint64_t end = (c.first_gfn + 1) * page;
            const std::string where = fmt::format("page-crossing {}", c.where);
            for (const char* n : {"mov cx,[rbx]", "mov rcx,[rbx]", "movdqu xmm0,[rbx]", "mov [rbx],rcx",
                                  "movdqu [rbx],xmm0", "add [rbx],rcx", "lock xadd [rbx],rcx"}) {
                const Form& f = form(n);
                // The access starts half its width before the boundary (a
                // 2-byte one, one byte before).
                out.push_back({s, &f, end - f.width / 2, where});
            }
            // An instruction (VMMCALL, 3 bytes) starting on the first
            // page's last byte; hvcore checks both bytes in order. Only
            // where no mark is left: hv_vcpu_fetch reports per byte.
            if (s == State::claimed) out.push_back({s, &form("fetch"), end - 1, where});
        }
    }
    return out;
}

struct Prepared {
    std::vector<Case> cases;
    Image image;
    std::vector<uint8_t> blob;
};

Prepared prepare(const std::vector<Access>& accesses, const std::function<Plant(const Access&)>& plant_for) {
    Prepared p;
    for (const Access& a : accesses) {
        Case c;
        c.access = a;
        c.hv = run_on_hvcore(a);
        const Plant plant = plant_for ? plant_for(a) : Plant{};
        c.planted = static_cast<bool>(plant);
        c.item_before = p.image.add(make_item(p.image, a, c.hv.before, plant));
        if (!(c.hv.before == c.hv.after)) c.item_after = p.image.add(make_item(p.image, a, c.hv.after, plant));
        p.cases.push_back(std::move(c));
    }
    p.blob = p.image.finish();
    return p;
}

void print_deviations() {
    fmt::print("Known emulator deviations (tests/oracle/README.md):\n");
    for (const Deviation& d : deviations)
        fmt::print("  {} [{}] {}\n     source: {}\n     handling: {}\n", d.id, d.emulator, d.what, d.source, d.handling);
    fmt::print("Known hvcore disagreements, pending their fix:\n");
    for (const Pending& h : hvcore_pending) fmt::print("  {} {}\n     owner: {}\n", h.id, h.what, h.owner);
}

void skip(const std::string& why) {
    fmt::print("SKIP: {}\n", why);
    std::fflush(stdout);
    std::_Exit(77);
}

Tally check_against(Emulator e, const Prepared& p, EmuRun& run) {
    Tally t;
    for (const Case& c : p.cases) judge(e, c, run, t);
    return t;
}

void report(Emulator e, const Prepared& p, const EmuRun& run, const Tally& t) {
    auto list = [](const std::map<std::string, size_t>& m) {
        std::string out;
        for (const auto& [id, n] : m) out += fmt::format(" {}:{}", id, n);
        return out.empty() ? std::string(" none") : out;
    };
    fmt::print("{}: {} accesses; {} compared with hvcore's record, using {} emulator records ({} accesses also on "
               "the entries from after a resolved mark); {} items run in {:.1f} s\n"
               "  deviations corrected:{}; accesses excluded:{}; known hvcore disagreements:{}; mismatches: {}\n"
               "  hvcore's records:{}\n",
               to_string(e), p.cases.size(), t.compared, t.records, t.with_after, p.image.size(), run.seconds,
               list(t.corrected), list(t.excluded), list(t.pending), t.mismatches.size(), list(t.outcomes));
    for (const auto& [id, forms] : t.corrected_forms) {
        std::string f;
        for (const std::string& n : forms) f += fmt::format(" [{}]", n);
        fmt::print("  {} corrected in:{}\n", id, f);
    }
    for (const std::string& k : t.known) fmt::print("  KNOWN {}\n", k);
    for (const Pending& h : hvcore_pending)
        if (!t.pending.contains(h.id))
            fmt::print("  NOTE: {} matched nothing on {}; remove it from hvcore_pending once every emulator agrees\n",
                       h.id, to_string(e));
    for (const std::string& m : t.mismatches) fmt::print("  MISMATCH {}\n", m);
}

void oracle(Emulator e) {
    const std::string missing = e == Emulator::qemu ? qemu_missing() : bochs_missing();
    if (!missing.empty()) skip(fmt::format("{} cannot run: {}", to_string(e), missing));
    print_deviations();
    std::vector<Access> accesses;
    size_t b1 = 0;
    for (const Access& a : matrix()) {
        // B1: Bochs cannot address guest-physical 1 TiB.
        if (e == Emulator::bochs && a.gpa >= gpa_no_pml4e) {
            ++b1;
            continue;
        }
        accesses.push_back(a);
    }
    // For debugging the harness: HVCORE_NPT_ORACLE_LIMIT=n runs only the
    // first n accesses (and says so).
    if (const char* lim = std::getenv("HVCORE_NPT_ORACLE_LIMIT"); lim != nullptr) {
        accesses.resize(std::min<size_t>(accesses.size(), std::stoull(lim)));
        fmt::print("HVCORE_NPT_ORACLE_LIMIT: only the first {} accesses\n", accesses.size());
    }
    Prepared p = prepare(accesses, {});
    EmuRun run = e == Emulator::qemu ? run_qemu(p.blob, p.image.size()) : run_bochs(p.blob, p.image.size());
    INFO(run.why);
    REQUIRE(run.ok);
    Tally t = check_against(e, p, run);
    if (b1 != 0) t.excluded["B1"] = b1;
    report(e, p, run, t);
    CHECK(t.mismatches.empty());
}

}  // namespace

TEST_CASE("npt_fault_records_match_qemu_7_2_tcg_nested_paging") { oracle(Emulator::qemu); }

TEST_CASE("npt_fault_records_match_bochs_2_7_nested_paging") { oracle(Emulator::bochs); }

// The comparison must be able to fail: the same accesses with one bit
// changed in the emulator's copy of the deciding leaf (hvcore's own table is
// untouched) must each be reported as a mismatch, and the unchanged copies
// must not.
TEST_CASE("a_planted_wrong_bit_in_a_copied_leaf_is_reported_as_a_mismatch") {
    Emulator e = Emulator::qemu;
    if (!qemu_missing().empty()) {
        if (!bochs_missing().empty()) skip("neither QEMU nor Bochs can run: " + qemu_missing() + "; " + bochs_missing());
        e = Emulator::bochs;
    }
    struct Planted {
        Access access;
        uint64_t flip;  // the bits flipped in the copied leaf
    };
    const std::vector<Planted> planted = {
        // R/W cleared in a ram_rw leaf: the store becomes a write fault.
        {{State::claimed, &form("mov [rbx],rcx"), gfn_a_rw * page + 0x100, "4K ram_rw, R/W cleared"}, pte_rw},
        // NX set in a ram_ro leaf: the fetch becomes a fetch fault.
        {{State::claimed, &form("fetch"), gfn_a_ro * page + 0x100, "4K ram_ro, NX set"}, pte_nx},
        // P cleared in the 1 GiB leaf: the load becomes a not-present fault.
        {{State::claimed, &form("mov rcx,[rbx]"), 0x1234'5100, "1G ram_rw, P cleared"}, pte_p},
        // U/S cleared in a claimed ioreq_server leaf: its read faults.
        {{State::claimed, &form("mov ecx,[rbx]"), gfn_a_ioreq * page + 0x100, "4K ioreq_server, U/S cleared"},
         pte_us},
        // Bit 51 (reserved above every MAXPHYADDR here) in a ram_ro leaf.
        {{State::claimed, &form("mov cl,[rbx]"), gfn_a_ro * page + 0x100, "4K ram_ro, bit 51 set"},
         uint64_t{1} << 51},
    };
    std::vector<Access> accesses;
    for (const Planted& pl : planted) {
        accesses.push_back(pl.access);  // the control: copied as it is
        accesses.push_back(pl.access);  // the planted copy
    }
    size_t n = 0;
    Prepared p = prepare(accesses, [&](const Access&) -> Plant {
        const size_t i = n++;
        if (i % 2 == 0) return {};
        const uint64_t flip = planted[i / 2].flip;
        return [flip](uint64_t entry) { return entry ^ flip; };
    });
    EmuRun run = e == Emulator::qemu ? run_qemu(p.blob, p.image.size()) : run_bochs(p.blob, p.image.size());
    INFO(run.why);
    REQUIRE(run.ok);
    size_t q2 = 0;
    for (const Case& c : p.cases) {
        Tally t;
        judge(e, c, run, t);
        q2 += t.corrected["Q2"];
        INFO(to_string(e), ": ", c.access.where, (c.planted ? " (planted)" : " (control)"));
        for (const std::string& m : t.mismatches) fmt::print("  {} {}\n", c.planted ? "expected:" : "UNEXPECTED:", m);
        CHECK(t.mismatches.size() == (c.planted ? 1u : 0u));
    }
    // The reserved bit is where QEMU's record lacks P (Q2): the count shows
    // the correction at work.
    fmt::print("{}: {} planted and {} control accesses; Q2 corrected {} time(s)\n", to_string(e), planted.size(),
               planted.size(), q2);
}

// The disclaimed state leaves no recalculation mark anywhere. Xen marks the
// whole p2m on a disclaim (p2m_set_ioreq_server ->
// p2m_change_entry_type_global, which on NPT is p2m-pt.c's
// p2m_pt_change_entry_type_global setting the recalc bit in every present
// top-level entry) and resolves the marks lazily. hvcore counts every
// outstanding ioreq_server entry per leaf table and resets exactly those in
// place, so it marks nothing (README.md, "Where hvcore differs from Xen"):
// the 1 GiB leaf, the 2 MiB leaf, PT B's PDE and PT A's walk (PT A held the
// ioreq_server pages) are all unmarked, and the leaves keep their sizes.
// NPT's mark (Xen's set_recalc, hvcore's npt.hpp): AVL bit 11 set, U/S and
// A cleared.
TEST_CASE("the_disclaimed_state_leaves_no_mark_on_the_1g_leaf_the_2m_leaf_a_table_entry_or_the_swept_table") {
    constexpr uint64_t mark_bit = uint64_t{1} << 11;
    auto marked = [&](uint64_t e) { return (e & mark_bit) != 0 || (e & (pte_us | pte_a)) != (pte_us | pte_a); };
    auto d = build(State::disclaimed);
    const Walks w = walk(*d, {0x12345, 0x40003, gfn_b_rw, gfn_a_rw, gfn_a_ioreq});
    // gfn 0x12345: PML4E, then the 1 GiB leaf (a PDPTE).
    REQUIRE(w[0].w.nr_levels == 2);
    CHECK(!marked(w[0].w.level[0].entry));
    CHECK(!marked(w[0].w.level[1].entry));
    CHECK((w[0].w.level[1].entry & pte_ps) != 0);
    // gfn 0x40003: PML4E, PDPTE, the 2 MiB leaf (a PDE).
    REQUIRE(w[1].w.nr_levels == 3);
    for (uint32_t i = 0; i < 3; ++i) CHECK(!marked(w[1].w.level[i].entry));
    CHECK((w[1].w.level[2].entry & pte_ps) != 0);
    // gfn_b_rw: PT B's PDE is an unmarked table entry.
    REQUIRE(w[2].w.nr_levels == 4);
    for (uint32_t i = 0; i < 4; ++i) CHECK(!marked(w[2].w.level[i].entry));
    CHECK((w[2].w.level[2].entry & pte_ps) == 0);
    // PT A (ram_ro and mmio_dm pages beside the reset ones: not merged).
    for (size_t k : {size_t{3}, size_t{4}}) {
        REQUIRE(w[k].w.nr_levels == 4);
        for (uint32_t i = 0; i < 4; ++i) CHECK(!marked(w[k].w.level[i].entry));
    }
}
