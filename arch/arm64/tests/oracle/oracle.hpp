// SPDX-License-Identifier: MIT
// The Arm64 stage-2 oracle: hvcore's own stage-2 descriptors, read with
// hv_p2m_read_walk, are loaded into QEMU 7.2 TCG (qemu-system-aarch64 -M
// virt,virtualization=on) under a bare-metal EL2 stub (stub/), which runs
// the same A64 instruction words at EL1 through them and prints
// ESR_EL2 / FAR_EL2 / HPFAR_EL2. The harness compares that record field by
// field with hvcore's hv_vcpu_last_fault for the same access.
//
// Pieces, in the order a run uses them:
//   Session    one hvcore domain (Arm64, C ABI) and a device model: puts
//              gfns into p2m states and runs accesses, collecting per
//              access the walks before and after it and hvcore's record;
//   build_blob the tests and relocated table copies as one image for
//              QEMU's -device loader (layout.h);
//   run_qemu   QEMU's output, one line per phase;
//   compare    each record against hvcore's, with the known emulator
//              deviations corrected (known_deviations()).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

namespace oracle {

// One guest access as both sides run it.
enum class Kind {
    data,   // hv_vcpu_exec of the word; the stub runs the word
    fetch,  // hv_vcpu_fetch(addr); the stub runs BLR X1 into addr
    dc_civac_probe,  // hv_vcpu_exec of DC CIVAC; the stub runs LDRB WZR, [X1] (deviation qemu-dc-civac-nop)
};

struct Form {
    const char* text;  // the instruction as GNU as writes it
    uint32_t word;     // its encoding (GNU as 2.40, -march=armv8.1-a)
    Kind kind;
    unsigned bytes;    // bytes the access covers from X1 (for the gfns it touches)
};

// A planted wrong bit: XORed into the valid leaf that maps gfn in every
// table copy of the test, so QEMU sees a descriptor hvcore did not write.
struct Plant {
    uint64_t gfn = 0;
    uint64_t xor_mask = 0;
};

// hvcore's outcome of one access and the tables around it.
struct Test {
    std::string scenario;
    std::string target;
    const Form* form = nullptr;
    uint64_t addr = 0;                      // X1: the IPA (VA = IPA, stage 1 off)
    std::vector<uint64_t> gfns;             // gfns the access touches (walked)
    std::vector<hv_p2m_walk> before;        // walks of gfns before hvcore ran the access
    std::vector<hv_p2m_walk> after;         // and after it (lazy recalculation resolved)
    bool marked = false;                    // a recalculation mark lies on a walk before
    int status = 0;                         // hv_vcpu_exec / hv_vcpu_fetch result (last call)
    std::optional<hv_fault_record> record;  // hv_vcpu_last_fault, or none (-ENOENT)
    std::optional<uint64_t> reg_hash;       // oracle_reg_hash of X0..X30 after a data access hvcore completed
    std::vector<uint64_t> fill_pages;       // guest RAM pages set to oracle_pattern before the access
    std::optional<Plant> plant;             // a planted wrong bit: the test must disagree
};

// The fault record as the oracle's hardware wrote it, and what it ended
// with: a stage-2 abort (EC 0x24 / 0x20), or the access completed.
struct Record {
    uint32_t ec = 0;
    uint64_t esr = 0;
    uint64_t far = 0;
    uint64_t hpfar = 0;
    bool operator==(const Record&) const = default;
};

// What QEMU printed for one phase ("R ..." line of the stub).
struct PhaseResult {
    unsigned phase = 0;
    unsigned code = 0;  // ORACLE_HVC_* for an HVC; 0x100 + EC otherwise
    uint64_t esr = 0, far = 0, hpfar = 0, elr = 0, esr_el1 = 0, far_el1 = 0;
    uint64_t reg_hash = 0;  // oracle_reg_hash of X0..X30 when the exception was taken
};

// One known difference between QEMU 7.2 and the architecture, or a known
// hvcore deviation another change is fixing: listed once with its source.
struct Deviation {
    const char* id;
    const char* what;
    const char* source;
    const char* handling;
};
const std::vector<Deviation>& known_deviations();

// --- hvcore side ---------------------------------------------------------------

class Session {
public:
    // A domain of ram_bytes of RAM (Arm64, 1 vCPU), a device-model handle
    // and one enabled ioreq server with its pages mapped.
    explicit Session(uint64_t ram_bytes);
    uint64_t ram_bytes() const { return ram_bytes_; }
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    hv_domain* dom() const { return dom_; }
    hvdm_handle* dm() const { return dm_; }
    hvdm_domid_t domid() const { return domid_; }
    hvdm_ioservid_t server() const { return server_; }
    bool server_alive() const { return server_alive_; }
    // Errno-style results of the device-model calls.
    int claim();
    int disclaim();
    int destroy_server();
    int set_type(uint16_t mem_type, uint64_t gfn, uint32_t nr);

    // Runs one access on hvcore (registers from registers_for()), recording
    // everything into a Test.
    Test run(const std::string& scenario, const std::string& target, const Form& form, uint64_t addr);

private:
    int answer_pending(int status);

    uint64_t ram_bytes_ = 0;
    hv_host* host_ = nullptr;
    hv_domain* dom_ = nullptr;
    hvdm_handle* dm_ = nullptr;
    hvdm_domid_t domid_ = 0;
    hvdm_ioservid_t server_ = 0;
    bool server_alive_ = false;
    hvdm_shared_iopage* page_ = nullptr;
};

// X0..X30 of an access: X1 the address, every other register a distinct
// value (they are data for stores, compare values for CAS).
std::vector<uint64_t> registers_for(uint64_t addr);

// --- the emulator image and run -----------------------------------------------

// The loader image (layout.h) for the tests, in order.
std::vector<uint8_t> build_blob(const std::vector<Test>& tests, uint64_t vtcr, uint64_t ram_bytes);

struct QemuRun {
    bool ok = false;
    std::string error;                                       // why not ok
    std::string hello;                                       // the stub's HELLO line (DCZID, MMFR0, MIDR)
    std::map<unsigned, std::vector<PhaseResult>> results;    // per test index
};
QemuRun run_qemu(const std::string& qemu, const std::string& cpu, const std::string& stub,
                 const std::vector<uint8_t>& blob, const std::string& workdir);

// --- comparison ------------------------------------------------------------------

struct Verdict {
    bool agree = false;
    bool registers_compared = false;  // both completed a data access: X0..X30 compared too
    std::optional<Record> expected;  // the oracle's record after corrections (none: no fault)
    std::string deviation;           // id of a known deviation that explains a disagreement, or ""
    std::string note;                // what differs, field by field
};
Verdict compare(const Test& t, const std::vector<PhaseResult>& phases);

std::string describe(const Record& r);

}  // namespace oracle
