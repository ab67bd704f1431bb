// SPDX-License-Identifier: MIT
// Dirty tracking on every backend, through the C ABI: the toolstack's
// log-dirty mode (hv_log_dirty_*), XEN_DMOP_track_dirty_vram and
// XEN_DMOP_modified_memory, and their coexistence with a claimed
// ioreq_server type (Xen refuses log-dirty while the type has entries:
// hap_enable_log_dirty, -EBUSY; hvcore forwards the write and marks it).
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "abi_fixture.hpp"

using namespace conformance;

namespace {

constexpr uint64_t ram = 8 * mib;
constexpr uint64_t ram_pages = ram >> 12;
constexpr uint64_t page_a = 0x123;  // inside the first 2 MiB leaf: the write splits it
constexpr uint64_t page_b = 0x345;  // another 2 MiB leaf
constexpr uint64_t page_claimed = 0x300;

// What the backend's fault record says, decoded by hand from each
// architecture's own format: a data write, and the page it names.
struct Decoded {
    bool write = false;
    uint64_t gfn = ~0ull;
};

Decoded decode(const hv_fault_record& r) {
    Decoded d;
    switch (r.arch) {
    case HV_ARCH_X86_VMX:
        // Exit reason 48 (EPT violation); qualification bit 1: data write
        // (Intel SDM Vol. 3C, 28.2.1, Table 28-7).
        d.write = r.kind == 48 && (r.syndrome & 2) != 0;
        d.gfn = r.gpa >> 12;
        break;
    case HV_ARCH_X86_SVM:
        // #NPF (0x400); EXITINFO1 bit 0 P (present: a protection fault),
        // bit 1 R/W (AMD APM Vol. 2, 15.25.6 and 8.4.2).
        d.write = r.kind == 0x400 && (r.syndrome & 3) == 3;
        d.gfn = r.gpa >> 12;
        break;
    case HV_ARCH_ARM64:
        // EC 0x24 (data abort from a lower EL); ISS.WnR bit 6; DFSC
        // 0b0011xx permission fault (Arm ARM DDI 0487, D24.2.46 ESR_EL2);
        // HPFAR_EL2.FIPA, bits 47:4, is IPA[51:12] (D24.2.73).
        d.write = r.kind == 0x24 && (r.syndrome & (1u << 6)) != 0 && (r.syndrome & 0x3c) == 0x0c;
        d.gfn = (r.gpa >> 4) & ((1ull << 40) - 1);
        break;
    case HV_ARCH_RISCV64:
        // scause 23: store/AMO guest-page fault; htval = gpa >> 2
        // (RISC-V Privileged Architecture, "Hypervisor Extension").
        d.write = r.kind == 23;
        d.gfn = (r.gpa << 2) >> 12;
        break;
    default: break;
    }
    return d;
}

std::vector<uint8_t> read_bits(hv_domain* d, unsigned flags) {
    std::vector<uint8_t> b(ram_pages / 8, 0xee);
    REQUIRE(hv_log_dirty_read(d, 0, ram_pages, b.data(), b.size(), flags) == 0);
    return b;
}

bool bit(const std::vector<uint8_t>& b, uint64_t i) { return ((b[i / 8] >> (i % 8)) & 1) != 0; }

std::vector<uint64_t> set_bits(const std::vector<uint8_t>& b) {
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < b.size() * 8; ++i)
        if (bit(b, i)) out.push_back(i);
    return out;
}

// A store of the model vCPU; the record of the fault it took, if any.
std::optional<hv_fault_record> store(hv_domain* d, uint64_t gpa, uint64_t value) {
    REQUIRE(hv_vcpu_store(d, 0, gpa, 8, value) == HV_VCPU_DONE);
    hv_fault_record r{};
    r.size = sizeof r;
    const int rc = hv_vcpu_last_fault(d, 0, &r);
    if (rc == -ENOENT) return std::nullopt;
    REQUIRE(rc == 0);
    return r;
}

// Answers the write waiting in slot 0 of a server's page; returns its address.
uint64_t answer_write(Env& e, hvdm_shared_iopage* page, hvdm_ioservid_t id) {
    hvdm_ioreq_t* r = &page->vcpu_ioreq[0];
    REQUIRE(unsigned{r->state} == HVDM_STATE_IOREQ_READY);
    REQUIRE(unsigned{r->dir} == HVDM_IOREQ_WRITE);
    const uint64_t addr = r->addr;
    // The state is the low nibble of byte 30 (Xen's ioreq_t): set it alone,
    // with release order, as a device model does.
    auto* state = reinterpret_cast<uint8_t*>(r) + 30;
    __atomic_store_n(state, static_cast<uint8_t>((*state & 0xf0) | HVDM_STATE_IORESP_READY), __ATOMIC_RELEASE);
    REQUIRE(hvdm_ioreq_notify(e.dm, e.domid, id, 0) == 0);
    return addr;
}

}  // namespace

TEST_CASE("a_guest_write_to_a_logdirty_page_faults_once_decodes_as_a_write_and_marks_the_page_dirty") {
    for (const ArchInfo& a : linked_arches()) {
        const std::string arch = a.name;
        CAPTURE(arch);
        Env e(a.arch, ram, 1);
        REQUIRE(hv_log_dirty_enable(e.dom) == 0);
        CHECK(hv_log_dirty_enable(e.dom) == -EINVAL);  // already on (Xen's paging_log_dirty_enable)
        CHECK(set_bits(read_bits(e.dom, 0)).empty());  // every page starts clean

        // A load first resolves the lazy change (a recalculation fault of
        // its own); the store then takes exactly one fault: the write to
        // the now read-only page.
        uint64_t v = 0;
        REQUIRE(hv_vcpu_load(e.dom, 0, page_a << 12, 8, &v) == HV_VCPU_DONE);
        const auto f = store(e.dom, (page_a << 12) + 8, 0x1111);
        REQUIRE(f.has_value());
        const Decoded d = decode(*f);
        CHECK(d.write);
        CHECK(d.gfn == page_a);
        // Marked, writable again: the next store to it takes no fault.
        CHECK(set_bits(read_bits(e.dom, 0)) == std::vector<uint64_t>{page_a});
        CHECK_FALSE(store(e.dom, (page_a << 12) + 16, 0x2222).has_value());
        uint64_t back = 0;
        REQUIRE(hv_guest_read(e.dom, (page_a << 12) + 8, &back, 8) == 0);
        CHECK(back == 0x1111);

        // Read-and-clean: reported once, then clean and protected again.
        CHECK(set_bits(read_bits(e.dom, HV_LOG_DIRTY_CLEAN)) == std::vector<uint64_t>{page_a});
        CHECK(set_bits(read_bits(e.dom, 0)).empty());
        const auto again = store(e.dom, page_a << 12, 0x3333);
        REQUIRE(again.has_value());
        CHECK(decode(*again).write);
        (void)store(e.dom, page_b << 12, 0x4444);
        CHECK(set_bits(read_bits(e.dom, 0)) == std::vector<uint64_t>{page_a, page_b});

        // Off: the bitmap is gone and, once the lazy change back to ram_rw
        // is resolved (by a load here), writes fault no more.
        REQUIRE(hv_log_dirty_disable(e.dom) == 0);
        CHECK(hv_log_dirty_disable(e.dom) == 0);
        std::vector<uint8_t> b(ram_pages / 8);
        CHECK(hv_log_dirty_read(e.dom, 0, ram_pages, b.data(), b.size(), 0) == -EINVAL);
        for (const uint64_t g : {page_a + 1, page_b + 1}) {
            REQUIRE(hv_vcpu_load(e.dom, 0, g << 12, 8, &v) == HV_VCPU_DONE);
            CHECK_FALSE(store(e.dom, g << 12, 0x5555).has_value());
        }
    }
}

TEST_CASE("a_claimed_page_written_while_log_dirty_is_on_is_forwarded_to_its_owner_and_marked_dirty") {
    for (const ArchInfo& a : linked_arches()) {
        const std::string arch = a.name;
        CAPTURE(arch);
        Env e(a.arch, ram, 1);
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage* page = nullptr;
        REQUIRE(hvdm_create_ioreq_server(e.dm, e.domid, HVDM_BUFIOREQ_OFF, &id) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(e.dm, e.domid, id, 1) == 0);
        REQUIRE(hvdm_map_ioreq_pages(e.dm, e.domid, id, &page, nullptr) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(e.dm, e.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                  HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(e.dm, e.domid, HVDM_MEM_IOREQ_SERVER, page_claimed, 1) == 0);
        // Xen: -EBUSY (hap_enable_log_dirty, entry_count != 0).
        REQUIRE(hv_log_dirty_enable(e.dom) == 0);
        uint64_t n = 0;
        REQUIRE(hv_p2m_ioreq_entry_count(e.dom, &n) == 0);
        CHECK(n == 1);  // still trapped

        REQUIRE(hv_vcpu_store(e.dom, 0, (page_claimed << 12) + 0x40, 8, 0xabcd) == HV_VCPU_IOREQ_PENDING);
        CHECK(answer_write(e, page, id) == (page_claimed << 12) + 0x40);
        uint64_t unused = 0;
        REQUIRE(hv_vcpu_resume(e.dom, 0, &unused) == HV_VCPU_DONE);
        CHECK(set_bits(read_bits(e.dom, HV_LOG_DIRTY_CLEAN)) == std::vector<uint64_t>{page_claimed});

        // Still the owner's after the clean (it is not write-protected
        // into ram_logdirty): the next write is forwarded again.
        uint16_t t = 0xffff;
        REQUIRE(hvdm_get_mem_type(e.dm, e.domid, page_claimed, &t) == 0);
        CHECK(t == HVDM_MEM_IOREQ_SERVER);
        REQUIRE(hv_vcpu_store(e.dom, 0, page_claimed << 12, 8, 1) == HV_VCPU_IOREQ_PENDING);
        (void)answer_write(e, page, id);
        REQUIRE(hv_vcpu_resume(e.dom, 0, &unused) == HV_VCPU_DONE);
        CHECK(set_bits(read_bits(e.dom, 0)) == std::vector<uint64_t>{page_claimed});

        // Given back to ram_rw while tracked: marked (its writes no longer
        // fault until the next clean protects it).
        REQUIRE(hvdm_set_mem_type(e.dm, e.domid, HVDM_MEM_RAM_RW, page_claimed + 1, 1) == 0);
        REQUIRE(hvdm_set_mem_type(e.dm, e.domid, HVDM_MEM_RAM_RW, page_claimed, 1) == 0);
        const auto bits = set_bits(read_bits(e.dom, HV_LOG_DIRTY_CLEAN));
        CHECK(std::find(bits.begin(), bits.end(), page_claimed) != bits.end());
        const auto f = store(e.dom, page_claimed << 12, 2);
        REQUIRE(f.has_value());
        CHECK(decode(*f).gfn == page_claimed);

        // Pages write-protected by log-dirty (ram_logdirty) may be claimed
        // (Xen: -EINVAL, allow_p2m_type_change takes only ram_rw). A
        // disclaim resets the claimed pages to ram_rw while tracked: they
        // are marked (writable from now on, their writes would be missed).
        REQUIRE(hvdm_set_mem_type(e.dm, e.domid, HVDM_MEM_IOREQ_SERVER, page_claimed + 8, 2) == 0);
        (void)read_bits(e.dom, HV_LOG_DIRTY_CLEAN);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(e.dm, e.domid, id, HVDM_MEM_IOREQ_SERVER, 0) == 0);
        const auto after = set_bits(read_bits(e.dom, 0));
        CHECK(std::find(after.begin(), after.end(), page_claimed + 8) != after.end());
        CHECK(std::find(after.begin(), after.end(), page_claimed + 9) != after.end());
    }
}

TEST_CASE("track_dirty_vram_reports_all_pages_then_those_written_since_the_last_call_including_forwarded_ones") {
    for (const ArchInfo& a : linked_arches()) {
        const std::string arch = a.name;
        CAPTURE(arch);
        Env e(a.arch, ram, 1);
        constexpr uint64_t vram = 0x400;   // 16 pages at 4 MiB
        constexpr uint32_t vram_pages = 16;
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage* page = nullptr;
        REQUIRE(hvdm_create_ioreq_server(e.dm, e.domid, HVDM_BUFIOREQ_OFF, &id) == 0);
        REQUIRE(hvdm_set_ioreq_server_state(e.dm, e.domid, id, 1) == 0);
        REQUIRE(hvdm_map_ioreq_pages(e.dm, e.domid, id, &page, nullptr) == 0);
        REQUIRE(hvdm_map_mem_type_to_ioreq_server(e.dm, e.domid, id, HVDM_MEM_IOREQ_SERVER,
                                                  HVDM_IOREQ_MEM_ACCESS_WRITE) == 0);
        REQUIRE(hvdm_set_mem_type(e.dm, e.domid, HVDM_MEM_IOREQ_SERVER, vram + 7, 1) == 0);

        std::array<uint8_t, 2> bm{};
        REQUIRE(hvdm_track_dirty_vram(e.dm, e.domid, vram, vram_pages, bm.data(), bm.size()) == 0);
        CHECK(bm == std::array<uint8_t, 2>{0xff, 0xff});  // a new range: all dirty (Xen's hap_track_dirty_vram)
        REQUIRE(hvdm_track_dirty_vram(e.dm, e.domid, vram, vram_pages, bm.data(), bm.size()) == 0);
        CHECK(bm == std::array<uint8_t, 2>{0, 0});

        const auto f = store(e.dom, (vram + 2) << 12, 1);
        REQUIRE(f.has_value());
        CHECK(decode(*f).write);
        CHECK(decode(*f).gfn == vram + 2);
        REQUIRE(hv_vcpu_store(e.dom, 0, (vram + 7) << 12, 4, 9) == HV_VCPU_IOREQ_PENDING);
        (void)answer_write(e, page, id);
        uint64_t unused = 0;
        REQUIRE(hv_vcpu_resume(e.dom, 0, &unused) == HV_VCPU_DONE);
        CHECK_FALSE(store(e.dom, (vram + vram_pages) << 12, 1).has_value());  // outside: not tracked
        REQUIRE(hvdm_track_dirty_vram(e.dm, e.domid, vram, vram_pages, bm.data(), bm.size()) == 0);
        CHECK(bm == std::array<uint8_t, 2>{0x84, 0});  // pages 2 and 7
        CHECK(store(e.dom, (vram + 2) << 12, 1).has_value());  // protected again

        // nr 0 stops: nothing faults in the range any more.
        REQUIRE(hvdm_track_dirty_vram(e.dm, e.domid, 0, 0, nullptr, 0) == 0);
        CHECK_FALSE(store(e.dom, (vram + 3) << 12, 1).has_value());
    }
}

TEST_CASE("modified_memory_marks_the_ram_pages_of_its_extents_only_while_log_dirty_is_on") {
    for (const ArchInfo& a : linked_arches()) {
        const std::string arch = a.name;
        CAPTURE(arch);
        Env e(a.arch, ram, 1);
        // Off: nothing is checked (Xen returns 0 before reading the extents).
        CHECK(hvdm_modified_memory(e.dm, e.domid, ram_pages + 5, 0) == 0);
        REQUIRE(hv_log_dirty_enable(e.dom) == 0);
        const hvdm_modified_memory_extent ext[2] = {{2, 0, 0x10}, {1, 0, 0x80}};
        REQUIRE(hvdm_modified_memory_bulk(e.dm, e.domid, ext, 2) == 0);
        REQUIRE(hvdm_modified_memory(e.dm, e.domid, 0x200, 1) == 0);
        CHECK(set_bits(read_bits(e.dom, 0)) == std::vector<uint64_t>{0x10, 0x11, 0x80, 0x200});
    }
}
