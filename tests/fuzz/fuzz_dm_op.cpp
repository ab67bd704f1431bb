// SPDX-License-Identifier: MIT
// libFuzzer target: raw hvdm_dm_op buffers (Xen's struct xen_dm_op,
// xen/include/public/hvm/dm_op.h) from two device-model handles against a
// live host with one domain per backend kind. The input is a short program
// of calls (tests/fuzz/dm_op_input.hpp); the domid, the buffer count, the
// buffers' sizes and bytes all come from it.
//
// No state survives an input: both handles are opened for it and closed
// after it (hvdm_close destroys their servers, releases a claim and resets
// its pages), and a domain whose state a close does not undo (a type set
// by XEN_DMOP_set_mem_type, a stop, any other op that succeeded) is
// destroyed and created again. So a reproducer replays alone, and memory
// stays flat however long it runs.
//
// What an attacker controlling the buffers must never break, checked after
// every call unless said otherwise (a failed check aborts: libFuzzer keeps
// the input):
// - the return value is 0 or one of hvdm_dm_op's documented errnos, and
//   the early checks come in hvdm.h's order (restriction, -ENODATA,
//   -E2BIG, -EFAULT, -ESRCH, -EFAULT for a short or NULL buffer);
// - a rejected call (rc < 0) changed nothing: in the domain it named, the
//   server count, the p2m ioreq entry count (hv_p2m_ioreq_entry_count),
//   every page's type and frame, the stop state; not a byte of the buffers;
// - no call changed a domain it did not name (checked at the end of the
//   input: each domain is as the last call naming it left it);
// - a call never writes bufs[1] or bufs[2], nor bytes of bufs[0] past the
//   header and its op's payload (Xen's op_size[]);
// - a call that succeeded created a server only as op 1, removed one only as op 6, changed types or the ioreq
//   entry count only as ops 6, 12 and 15, and stopped the domain only as
//   op 16 (remote_shutdown);
// - after hvdm_close of both handles every domain has no server and no
//   ioreq_server page, and no descriptor is left open.
// HVCORE_FUZZ_TRACE=1 in the environment prints each call and its result.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "dm_op_input.hpp"
#include "hvcore/core/dmop_abi.hpp"
#include "hvcore/embed.hpp"
#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

namespace {

using namespace hvcore::fuzz;

constexpr SlotKind slot_kinds[nr_slots] = {
    {"x86_vmx", HV_ARCH_X86_VMX, 0},
    {"x86_svm", HV_ARCH_X86_SVM, 0},
    {"arm64", HV_ARCH_ARM64, 0},
    {"riscv64", HV_ARCH_RISCV64, 0},
    {"x86_vmx no-HAP", HV_ARCH_X86_VMX, HV_DOMAIN_NO_HAP},
};

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("fuzz_dm_op: invariant broken: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::abort();
}

hv_host* host = nullptr;
hv_domain* domains[nr_slots] = {};  // nullptr: that backend is not built in
hvdm_handle* observer = nullptr;    // never creates a server: counts the others' (-EPERM = exists)
bool trace = false;

// One domain's state as far as a device model can change it.
struct Snapshot {
    int servers = -1;  // -1: the domain is stopped (the probe answers -ESHUTDOWN)
    uint64_t ioreq_entries = 0;
    bool stopped = false;
    std::vector<std::tuple<uint64_t, uint64_t, hvcore::P2mType, uint64_t>> runs;  // gfn, pages, type, mfn
    bool operator==(const Snapshot&) const = default;
};

int count_servers(hvdm_domid_t domid) {
    int n = 0;
    for (uint16_t id = 0; id < 8; ++id) {
        struct {
            uint32_t op, pad;
            uint16_t id, flags;
            uint32_t port;
            uint64_t gfn[2];
        } q{2, 0, id, HVDM_DMOP_NO_GFNS, 0, {0, 0}};
        hvdm_buf b{&q, sizeof q};
        const int rc = hvdm_dm_op(observer, domid, 1, &b);
        if (rc == -ESHUTDOWN) return -1;
        if (rc == -EPERM) ++n;  // another handle's server
        else if (rc != -ENOENT) fail("probe of server %u on domain %u: rc %d", id, domid, rc);
    }
    return n;
}

Snapshot snapshot(unsigned slot) {
    Snapshot s;
    hv_domain* d = domains[slot];
    s.stopped = hv_domain_stop_reason(d, nullptr, 0) == 1;
    s.servers = count_servers(hv_domain_id(d));
    if (hv_p2m_ioreq_entry_count(d, &s.ioreq_entries) != 0) fail("hv_p2m_ioreq_entry_count");
    hvcore::embed::domain_of(d)->for_each_type_run(
        ram_pages + 1, [&](hvcore::Gfn g, uint64_t n, hvcore::P2mType t, hvcore::Mfn m) {
            s.runs.emplace_back(g.raw(), n, t, m.raw());
        });
    return s;
}

std::vector<Snapshot> pristine(nr_slots);  // each domain as created
std::vector<Snapshot> current(nr_slots);   // each domain between two inputs

[[noreturn]] void fail_changed(const char* what, uint32_t op, int rc, unsigned slot, const Snapshot& was,
                               const Snapshot& now) {
    fail("%s (op %u, rc %d) changed domain %u (%s): servers %d -> %d, ioreq entries %llu -> %llu, stopped %d -> %d, "
         "%zu -> %zu type runs",
         what, op, rc, hv_domain_id(domains[slot]), slot_kinds[slot].name, was.servers, now.servers,
         static_cast<unsigned long long>(was.ioreq_entries), static_cast<unsigned long long>(now.ioreq_entries),
         was.stopped, now.stopped, was.runs.size(), now.runs.size());
}

void create_domain(unsigned slot) {
    hv_domain_config c{};
    c.size = sizeof c;
    c.arch = slot_kinds[slot].arch;
    c.flags = slot_kinds[slot].flags;
    c.ram_bytes = ram_pages * 4096;
    c.nr_vcpus = nr_vcpus;
    const int rc = hv_domain_create(host, &c, &domains[slot]);
    if (rc == -EOPNOTSUPP) {
        domains[slot] = nullptr;  // this build has no such backend: the slot names an absent domain
        return;
    }
    if (rc != 0) fail("hv_domain_create(%s): %d", slot_kinds[slot].name, rc);
    pristine[slot] = snapshot(slot);
    current[slot] = pristine[slot];
}

hvdm_domid_t slot_domid(unsigned slot) {
    return slot < nr_slots && domains[slot] != nullptr ? hv_domain_id(domains[slot]) : absent_domid;
}

bool live(hvdm_domid_t domid) {
    for (hv_domain* d : domains)
        if (d != nullptr && hv_domain_id(d) == domid) return true;
    return false;
}

bool documented_errno(int rc) {
    switch (-rc) {
    case EINVAL:
    case ENODEV:
    case EPERM:
    case ENODATA:
    case E2BIG:
    case EFAULT:
    case ESRCH:
    case EOPNOTSUPP:
    case ESHUTDOWN:
    case ENOENT:
    case ENOSPC:
    case EEXIST:
    case EBUSY:
    case ENOMEM:
    case ERANGE:  // XEN_DMOP_inject_msi to pirq 0 (Xen's hvm_inject_msi)
        return true;
    default: return false;
    }
}

// The lowest free descriptor: a descriptor left open by an input moves it.
int lowest_free_fd() {
    const int fd = fcntl(0, F_DUPFD, 0);
    if (fd < 0) fail("F_DUPFD: %s", std::strerror(errno));
    close(fd);
    return fd;
}

struct Reader {
    const uint8_t* p;
    size_t n;
    bool short_read = false;
    uint8_t u8() {
        if (n == 0) {
            short_read = true;
            return 0;
        }
        --n;
        return *p++;
    }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    trace = std::getenv("HVCORE_FUZZ_TRACE") != nullptr;
    if (hv_host_create(&host) != 0) fail("hv_host_create");
    observer = hvdm_open(host);
    if (observer == nullptr) fail("hvdm_open");
    for (unsigned s = 0; s < nr_slots; ++s) create_domain(s);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const int fd_before = lowest_free_fd();
    Reader in{data, size};
    hvdm_handle* handles[2] = {hvdm_open(host), hvdm_open(host)};
    if (handles[0] == nullptr || handles[1] == nullptr) fail("hvdm_open");

    const unsigned restrict_sel = in.u8() & 7u;
    std::optional<hvdm_domid_t> restricted;
    if (restrict_sel >= 1 && restrict_sel <= 6) {
        restricted = restrict_sel == 6 ? absent_domid : slot_domid(restrict_sel - 1);
        if (hvdm_restrict(handles[0], *restricted) != 0) fail("hvdm_restrict");
    }

    bool dirty[nr_slots] = {};
    bool touched[nr_slots] = {};
    // Each domain as the last call naming it left it (as the previous
    // input left it, to begin with).
    std::vector<Snapshot> before = current;
    for (unsigned r = 0; r < max_records && in.n != 0 && !in.short_read; ++r) {
        const unsigned ctl = in.u8();
        const unsigned slot = ctl & ctl_slot_mask;
        hvdm_domid_t domid = slot_domid(slot);
        if (slot >= nr_slots) domid = static_cast<hvdm_domid_t>(in.u8() | in.u8() << 8);
        const unsigned hsel = (ctl & ctl_handle_b) != 0 ? 1 : 0;
        const unsigned nr_bufs = (ctl >> ctl_nr_bufs_shift) & 3u;

        std::vector<std::unique_ptr<uint8_t[]>> blocks;
        std::vector<std::vector<uint8_t>> copies;
        hvdm_buf bufs[3] = {};
        for (unsigned i = 0; i < nr_bufs; ++i) {
            const size_t len = in.u8();
            blocks.emplace_back(new uint8_t[len == 0 ? 1 : len]);
            for (size_t k = 0; k < len; ++k) blocks.back()[k] = in.u8();
            bufs[i] = {blocks.back().get(), len};
            copies.emplace_back(blocks.back().get(), blocks.back().get() + len);
        }
        if ((ctl & ctl_buf0_null) != 0) bufs[0].ptr = nullptr;
        const uint32_t op = nr_bufs > 0 && bufs[0].size >= 4 ? copies[0][0] | copies[0][1] << 8 |
                                                                   copies[0][2] << 16 | uint32_t{copies[0][3]} << 24
                                                             : 0;

        const int rc = hvdm_dm_op(handles[hsel], domid, nr_bufs, (ctl & ctl_bufs_null) != 0 ? nullptr : bufs);
        if (trace)
            std::fprintf(stderr, "fuzz_dm_op: record %u: handle %c domid %u nr_bufs %u op %u -> %d\n", r, 'A' + hsel,
                         domid, nr_bufs, op, rc);

        // The result and the early checks, in hvdm.h's order.
        if (rc > 0 || (rc < 0 && !documented_errno(rc))) fail("op %u returned %d", op, rc);
        int early = 0;
        if (hsel == 0 && restricted && domid != *restricted) early = -EPERM;
        else if (nr_bufs == 0) early = -ENODATA;
        else if (nr_bufs > 2) early = -E2BIG;
        else if ((ctl & ctl_bufs_null) != 0) early = -EFAULT;
        else if (!live(domid)) early = -ESRCH;
        else if (bufs[0].ptr == nullptr || bufs[0].size < hvcore::dmop::header_size) early = -EFAULT;
        if (early != 0 && rc != early) fail("op %u on domid %u: expected %d, got %d", op, domid, early, rc);

        // The buffers: only bufs[0]'s header + payload, and only on success.
        for (unsigned i = 0; i < nr_bufs; ++i) {
            const size_t len = bufs[i].size;
            size_t writable = 0;
            if (i == 0 && rc == 0 && op < hvcore::dmop::nr_ops)
                writable = hvcore::dmop::header_size + hvcore::dmop::op_size[op];
            else if (i == 0 && rc == 0 && op >= hvcore::dmop::hvcore_first_op && op < hvcore::dmop::hvcore_end_op)
                writable = hvcore::dmop::header_size + hvcore::dmop::hvcore_op_size[op - hvcore::dmop::hvcore_first_op];
            else if (i == 1 && rc == 0 && op == hvcore::dmop::track_dirty_vram && copies[0].size() >= 12) {
                // track_dirty_vram's bitmap: (nr + 7) / 8 bytes of buffer 1
                // (xen/arch/x86/mm/hap/hap.c hap_track_dirty_vram's copy-out),
                // nr the payload's first word (buffer 0 as the call got it).
                const uint32_t nr = static_cast<uint32_t>(copies[0][8]) | static_cast<uint32_t>(copies[0][9]) << 8 |
                                    static_cast<uint32_t>(copies[0][10]) << 16 |
                                    static_cast<uint32_t>(copies[0][11]) << 24;
                writable = (uint64_t{nr} + 7) / 8;
            }
            for (size_t k = writable; k < len; ++k)
                if (blocks[i][k] != copies[i][k])
                    fail("op %u (rc %d) wrote byte %zu of buffer %u (of %zu bytes)", op, rc, k, i, len);
        }

        // The domain it named: changed only by a call that succeeded, and
        // then only as its op may. (A domain it did not name is checked
        // at the end of the input: still as the last call naming it left it.)
        for (unsigned s = 0; s < nr_slots; ++s) {
            if (domains[s] == nullptr || hv_domain_id(domains[s]) != domid) continue;
            touched[s] = true;
            Snapshot now = snapshot(s);
            if (rc < 0) {
                if (!(now == before[s])) fail_changed("rejected op", op, rc, s, before[s], now);
            } else {
                if (now.stopped != before[s].stopped && op != 16) fail("op %u stopped domain %u", op, domid);
                if (now.servers >= 0 && before[s].servers >= 0) {
                    const int delta = now.servers - before[s].servers;
                    const int allowed = op == 1 ? 1 : op == 6 ? -1 : 0;
                    if (delta != allowed) fail("op %u changed the server count by %d", op, delta);
                }
                // set_mem_type_list changes types unless it only checks
                // (flags, bytes 14-15 of buffer 0).
                const bool list_changes = op == hvcore::dmop::set_mem_type_list &&
                                          (copies[0].size() < 16 ||
                                           ((copies[0][14] | copies[0][15] << 8) &
                                            hvcore::dmop::set_mem_type_list_check_only) == 0);
                // track_dirty_vram write-protects its range (ram_logdirty).
                if (op != 6 && op != 7 && op != 12 && op != 15 && !list_changes &&
                    (now.runs != before[s].runs || now.ioreq_entries != before[s].ioreq_entries))
                    fail("op %u changed page types or the ioreq entry count of domain %u", op, domid);
                // What hvdm_close does not undo makes the domain new again.
                if (op != 1 && op != 2 && op != 3 && op != 4 && op != 5 && op != 6 && op != 15 && op != 20)
                    dirty[s] = true;
            }
            before[s] = std::move(now);
        }
    }

    // No call changed a domain it did not name.
    for (unsigned s = 0; s < nr_slots; ++s) {
        if (domains[s] == nullptr) continue;
        const Snapshot now = snapshot(s);
        if (!(now == before[s])) fail_changed("a call naming another domain", 0, 0, s, before[s], now);
    }

    if (hvdm_close(handles[0]) != 0 || hvdm_close(handles[1]) != 0) fail("hvdm_close");
    for (unsigned s = 0; s < nr_slots; ++s) {
        if (domains[s] == nullptr || !touched[s]) continue;
        current[s] = snapshot(s);
        const Snapshot& now = current[s];
        if (now.ioreq_entries != 0 || (now.servers != 0 && !now.stopped))
            fail("after hvdm_close, domain %u (%s) has %d servers and %llu ioreq_server pages", hv_domain_id(domains[s]),
                 slot_kinds[s].name, now.servers, static_cast<unsigned long long>(now.ioreq_entries));
        if (dirty[s] || !(now == pristine[s])) {
            if (hv_domain_destroy(domains[s]) != 0) fail("hv_domain_destroy");
            create_domain(s);
        }
    }
    const int fd_after = lowest_free_fd();
    if (fd_after != fd_before) fail("descriptors leaked: the lowest free one was %d, is %d", fd_before, fd_after);
    return 0;
}
