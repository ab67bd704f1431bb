// SPDX-License-Identifier: MIT
// libxendevicemodel over hvdm (xen/src/devicemodel.cpp), in process: every
// function once with success (where hvcore implements it) and once
// refused, Xen's convention (-1 and errno), the server registry it keeps
// for libxenevtchn, and the restriction shared by the process's handles.
#include <cstdarg>
#include <cstdlib>
#include <string>
#include <vector>

#include "xen_fixture.hpp"

namespace {

using xt::Dmod;
using xt::Dom;
using xt::world;

// A domid no domain has.
constexpr domid_t kNoDomain = 0x7ff0;

std::vector<hvx_server> servers() {
    std::vector<hvx_server> v(hvx_servers(nullptr, 0));
    v.resize(hvx_servers(v.data(), v.size()));
    return v;
}

// A xentoollog_logger that keeps the last message.
struct Logger {
    xentoollog_logger base{};
    std::string last;
    int errnoval = 0;
    int count = 0;
    Logger() {
        base.vmessage = [](xentoollog_logger* l, xentoollog_level, int e, const char*, const char* fmt, va_list ap) {
            auto* self = reinterpret_cast<Logger*>(l);
            char buf[512];
            std::vsnprintf(buf, sizeof buf, fmt, ap);
            self->last = buf;
            self->errnoval = e;
            ++self->count;
        };
    }
};

}  // namespace

// First in the program (doctest runs files, then cases, in order): nothing
// is attached yet when this case runs alone, as ctest runs it.
TEST_CASE("devicemodel/open_without_hvcore_is_null_with_enoent_and_says_so_to_the_logger") {
    unsetenv("HVCORE_DM_SOCKET");
    Logger log;
    errno = 0;
    xendevicemodel_handle* h = xendevicemodel_open(reinterpret_cast<xentoollog_logger*>(&log), 0);
    if (h != nullptr) {
        // run after another case in the same process: a handle is attached
        xendevicemodel_close(h);
        MESSAGE("skipped: the process already has an hvcore handle (run this case alone, as ctest does)");
        return;
    }
    CHECK(errno == ENOENT);
    CHECK(log.count == 1);
    CHECK(log.errnoval == ENOENT);
    CHECK(log.last.find("HVCORE_DM_SOCKET is not set") != std::string::npos);
    // libxenevtchn's open says so too, once, to its own logger
    Logger log2;
    errno = 0;
    CHECK(xenevtchn_open(reinterpret_cast<xentoollog_logger*>(&log2), 0) == nullptr);
    CHECK(errno == ENOENT);
    CHECK(log2.count == 1);
    CHECK(log2.last.find("HVCORE_DM_SOCKET is not set") != std::string::npos);
    // a failed open is retried: attaching later makes the next open work
    world();
    h = xendevicemodel_open(nullptr, 0);
    CHECK(h != nullptr);
    CHECK(xendevicemodel_close(h) == 0);
    CHECK(xendevicemodel_close(nullptr) == 0);
}

TEST_CASE("devicemodel/create_records_each_server_in_creation_order_and_destroy_forgets_it") {
    Dom d(3);
    Dmod dm;
    ioservid_t a = 99, b = 99;
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, d.id, HVM_IOREQSRV_BUFIOREQ_OFF, &a) == 0);
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, d.id, HVM_IOREQSRV_BUFIOREQ_ATOMIC, &b) == 0);
    auto v = servers();
    REQUIRE(v.size() == 2);
    CHECK(v[0].domid == d.id);
    CHECK(v[0].id == a);
    CHECK(v[0].nr_vcpus == 3);
    CHECK(v[0].has_ring == 0);
    CHECK(v[1].id == b);
    CHECK(v[1].has_ring == 1);
    CHECK(v[0].serial < v[1].serial);
    REQUIRE(xendevicemodel_destroy_ioreq_server(dm.h, d.id, a) == 0);
    v = servers();
    REQUIRE(v.size() == 1);
    CHECK(v[0].id == b);
    XT_FAILS_WITH(ENOENT, xendevicemodel_destroy_ioreq_server(dm.h, d.id, a));
    ioservid_t c = 99;
    XT_FAILS_WITH(ESRCH, xendevicemodel_create_ioreq_server(dm.h, kNoDomain, 0, &c));
    XT_FAILS_WITH(EINVAL, xendevicemodel_create_ioreq_server(dm.h, d.id, 3, &c));  // no such bufioreq mode
    CHECK(c == 99);  // nothing written on failure
    CHECK(servers().size() == 1);  // nothing recorded on failure
}

TEST_CASE("devicemodel/get_ioreq_server_info_gives_the_ring_port_and_refuses_gfns_with_eopnotsupp") {
    Dom d(2);
    Dmod dm;
    ioservid_t id = 0;
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, d.id, HVM_IOREQSRV_BUFIOREQ_LEGACY, &id) == 0);
    evtchn_port_t port = 0xdead;
    CHECK(xendevicemodel_get_ioreq_server_info(dm.h, d.id, id, nullptr, nullptr, &port) == 0);
    CHECK(port == 2);  // nr_vcpus: the ring's
    xen_pfn_t gfn = 0x1234;
    XT_FAILS_WITH(EOPNOTSUPP, xendevicemodel_get_ioreq_server_info(dm.h, d.id, id, &gfn, nullptr, &port));
    CHECK(gfn == 0x1234);
    XT_FAILS_WITH(ENOENT, xendevicemodel_get_ioreq_server_info(dm.h, d.id, 7, nullptr, nullptr, &port));
}

TEST_CASE("devicemodel/io_ranges_and_pci_devices_are_mapped_and_unmapped_with_xens_errnos") {
    Dom d(1);
    Dmod dm;
    ioservid_t id = 0;
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, d.id, 0, &id) == 0);
    CHECK(xendevicemodel_map_io_range_to_ioreq_server(dm.h, d.id, id, 0, 0xc100, 0xc10f) == 0);
    XT_FAILS_WITH(EINVAL, xendevicemodel_map_io_range_to_ioreq_server(dm.h, d.id, id, 1, 0x2000, 0x1000));
    XT_FAILS_WITH(EEXIST, xendevicemodel_map_io_range_to_ioreq_server(dm.h, d.id, id, 0, 0xc108, 0xc108));
    XT_FAILS_WITH(ENOENT, xendevicemodel_map_io_range_to_ioreq_server(dm.h, d.id, 5, 0, 0x60, 0x60));
    CHECK(xendevicemodel_unmap_io_range_from_ioreq_server(dm.h, d.id, id, 0, 0xc100, 0xc10f) == 0);
    XT_FAILS_WITH(ENOENT, xendevicemodel_unmap_io_range_from_ioreq_server(dm.h, d.id, id, 0, 0xc100, 0xc10f));
    CHECK(xendevicemodel_map_pcidev_to_ioreq_server(dm.h, d.id, id, 0, 0, 3, 0) == 0);
    XT_FAILS_WITH(EEXIST, xendevicemodel_map_pcidev_to_ioreq_server(dm.h, d.id, id, 0, 0, 3, 0));
    XT_FAILS_WITH(EINVAL, xendevicemodel_map_pcidev_to_ioreq_server(dm.h, d.id, id, 0, 0, 32, 0));
    XT_FAILS_WITH(EINVAL, xendevicemodel_map_pcidev_to_ioreq_server(dm.h, d.id, id, 0, 0, 3, 8));
    CHECK(xendevicemodel_unmap_pcidev_from_ioreq_server(dm.h, d.id, id, 0, 0, 3, 0) == 0);
    XT_FAILS_WITH(ENOENT, xendevicemodel_unmap_pcidev_from_ioreq_server(dm.h, d.id, id, 0, 0, 3, 0));
    XT_FAILS_WITH(EINVAL, xendevicemodel_unmap_pcidev_from_ioreq_server(dm.h, d.id, id, 0, 0, 0x20, 0));
}

TEST_CASE("devicemodel/the_ioreq_server_type_is_claimed_for_writes_only") {
    Dom d(1);
    Dmod dm;
    ioservid_t id = 0;
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, d.id, 0, &id) == 0);
    CHECK(xendevicemodel_map_mem_type_to_ioreq_server(dm.h, d.id, id, HVMMEM_ioreq_server,
                                                      XEN_DMOP_IOREQ_MEM_ACCESS_WRITE) == 0);
    XT_FAILS_WITH(EINVAL, xendevicemodel_map_mem_type_to_ioreq_server(dm.h, d.id, id, HVMMEM_ram_rw,
                                                                      XEN_DMOP_IOREQ_MEM_ACCESS_WRITE));
    XT_FAILS_WITH(EINVAL, xendevicemodel_map_mem_type_to_ioreq_server(dm.h, d.id, id, HVMMEM_ioreq_server,
                                                                      XEN_DMOP_IOREQ_MEM_ACCESS_READ));
    CHECK(xendevicemodel_map_mem_type_to_ioreq_server(dm.h, d.id, id, HVMMEM_ioreq_server, 0) == 0);  // disclaim
}

TEST_CASE("devicemodel/set_mem_type_changes_the_p2m_type_and_refuses_an_empty_range") {
    Dom d(1);
    Dmod dm;
    CHECK(xendevicemodel_set_mem_type(dm.h, d.id, HVMMEM_ram_ro, 0x10, 2) == 0);
    uint16_t t = 0xffff;
    REQUIRE(hvdm_get_mem_type(world().dm, d.id, 0x11, &t) == 0);
    CHECK(t == HVMMEM_ram_ro);
    XT_FAILS_WITH(EINVAL, xendevicemodel_set_mem_type(dm.h, d.id, HVMMEM_ram_rw, 0x10, 0));
    XT_FAILS_WITH(EINVAL, xendevicemodel_set_mem_type(dm.h, d.id, HVMMEM_unused, 0x10, 1));
}

TEST_CASE("devicemodel/set_ioreq_server_state_enables_and_refuses_an_unknown_server") {
    Dom d(1);
    Dmod dm;
    ioservid_t id = 0;
    REQUIRE(xendevicemodel_create_ioreq_server(dm.h, d.id, 0, &id) == 0);
    REQUIRE(xendevicemodel_map_io_range_to_ioreq_server(dm.h, d.id, id, 0, 0x60, 0x60) == 0);
    uint64_t value = 0;
    CHECK(hv_vcpu_pio(d.d, 0, 0x60, 1, 0, &value) == HV_VCPU_DONE);  // disabled: not the server's
    CHECK(xendevicemodel_set_ioreq_server_state(dm.h, d.id, id, 2) == 0);  // any non-zero enables
    CHECK(hv_vcpu_pio(d.d, 0, 0x60, 1, 0, &value) == HV_VCPU_IOREQ_PENDING);
    XT_FAILS_WITH(ENOENT, xendevicemodel_set_ioreq_server_state(dm.h, d.id, 6, 1));
}

TEST_CASE("devicemodel/interrupt_calls_reach_the_domains_lines_and_refuse_bad_arguments") {
    Dom d(1);
    Dmod dm;
    CHECK(xendevicemodel_set_isa_irq_level(dm.h, d.id, 10, 1) == 0);
    XT_FAILS_WITH(EINVAL, xendevicemodel_set_isa_irq_level(dm.h, d.id, 16, 1));
    CHECK(xendevicemodel_set_pci_intx_level(dm.h, d.id, 0, 0, 3, 0, 1) == 0);
    XT_FAILS_WITH(EINVAL, xendevicemodel_set_pci_intx_level(dm.h, d.id, 0, 0, 32, 0, 1));
    CHECK(xendevicemodel_set_pci_link_route(dm.h, d.id, 1, 11) == 0);
    XT_FAILS_WITH(EINVAL, xendevicemodel_set_pci_link_route(dm.h, d.id, 4, 11));
    CHECK(xendevicemodel_inject_msi(dm.h, d.id, 0xfee00000, 0x30) == 0);  // Fixed, vector 0x30, APIC 0
    XT_FAILS_WITH(EINVAL, xendevicemodel_inject_msi(dm.h, d.id, 0xfee00000, 0x230));  // delivery mode 2
    XT_FAILS_WITH(EOPNOTSUPP, xendevicemodel_set_irq_level(dm.h, d.id, 40, 1));  // an Arm call on x86
    hv_irq_state st;
    std::memset(&st, 0, sizeof st);
    st.size = sizeof st;
    REQUIRE(hv_domain_irq_state(d.d, &st) == 0);
    CHECK((st.isa_irq_levels & (1u << 10)) != 0);
    CHECK(st.link_route[1] == 11);
    CHECK(st.msi_count == 1);
    CHECK(st.last_msi_data == 0x30);
}

TEST_CASE("devicemodel/set_irq_level_raises_an_spi_of_an_arm64_domain") {
    Dom d(1, HV_ARCH_ARM64);
    Dmod dm;
    CHECK(xendevicemodel_set_irq_level(dm.h, d.id, 40, 1) == 0);
    hv_irq_state st;
    std::memset(&st, 0, sizeof st);
    st.size = sizeof st;
    REQUIRE(hv_domain_irq_state(d.d, &st) == 0);
    CHECK((st.spi_level[40 / 32] & (1u << (40 % 32))) != 0);
    XT_FAILS_WITH(EINVAL, xendevicemodel_set_irq_level(dm.h, d.id, 31, 1));  // a PPI
    XT_FAILS_WITH(EOPNOTSUPP, xendevicemodel_set_isa_irq_level(dm.h, d.id, 1, 1));
}

TEST_CASE("devicemodel/nr_vcpus_and_shutdown") {
    Dom d(3);
    Dmod dm;
    unsigned int n = 0;
    CHECK(xendevicemodel_nr_vcpus(dm.h, d.id, &n) == 0);
    CHECK(n == 3);
    XT_FAILS_WITH(ESRCH, xendevicemodel_nr_vcpus(dm.h, kNoDomain, &n));
    XT_FAILS_WITH(ESRCH, xendevicemodel_shutdown(dm.h, kNoDomain, SHUTDOWN_poweroff));
    CHECK(xendevicemodel_shutdown(dm.h, d.id, SHUTDOWN_reboot) == 0);
    char why[256] = {0};
    CHECK(hv_domain_stop_reason(d.d, why, sizeof why) == 1);
    CHECK(std::string(why).find("SHUTDOWN_reboot") != std::string::npos);
    ioservid_t id = 0;
    XT_FAILS_WITH(ESHUTDOWN, xendevicemodel_create_ioreq_server(dm.h, d.id, 0, &id));
}

// Dirty tracking (hvcore 1.6): DMOPs 7 and 11 as Xen 4.17 gives them.
TEST_CASE("devicemodel/track_dirty_vram_and_modified_memory_work_as_on_xen") {
    Dom d(1);
    Dmod dm;
    unsigned long bitmap[1] = {0};
    // A new range: every page dirty (hap_track_dirty_vram); then what the
    // guest wrote since.
    CHECK(xendevicemodel_track_dirty_vram(dm.h, d.id, 0xa0, 32, bitmap) == 0);
    CHECK((bitmap[0] & 0xffffffffUL) == 0xffffffffUL);
    CHECK(xendevicemodel_track_dirty_vram(dm.h, d.id, 0xa0, 32, bitmap) == 0);
    CHECK((bitmap[0] & 0xffffffffUL) == 0);
    CHECK(hv_vcpu_store(d.d, 0, (0xa0 + 3) << 12, 4, 1) == HV_VCPU_DONE);
    CHECK(xendevicemodel_track_dirty_vram(dm.h, d.id, 0xa0, 32, bitmap) == 0);
    CHECK((bitmap[0] & 0xffffffffUL) == 8);
    CHECK(xendevicemodel_track_dirty_vram(dm.h, d.id, 0, 0, nullptr) == 0);  // stops
    XT_FAILS_WITH(EINVAL, xendevicemodel_track_dirty_vram(dm.h, d.id, 0xa0, (1u << 18) + 1, bitmap));

    // modified_memory: 0 while log-dirty is off; marks once it is on.
    CHECK(xendevicemodel_modified_memory(dm.h, d.id, 0x10, 1) == 0);
    REQUIRE(hv_log_dirty_enable(d.d) == 0);
    xen_dm_op_modified_memory_extent ext[2];
    std::memset(ext, 0, sizeof ext);
    ext[0].first_pfn = 0x10;
    ext[0].nr = 1;
    ext[1].first_pfn = 0x20;
    ext[1].nr = 2;
    CHECK(xendevicemodel_modified_memory_bulk(dm.h, d.id, ext, 2) == 0);
    CHECK(xendevicemodel_modified_memory(dm.h, d.id, 0x30, 1) == 0);
    uint8_t bits[8] = {};
    REQUIRE(hv_log_dirty_read(d.d, 0, 64, bits, sizeof bits, 0) == 0);
    CHECK(bits[2] == 1);     // 0x10
    CHECK(bits[4] == 3);     // 0x20, 0x21
    CHECK(bits[6] == 1);     // 0x30
    XT_FAILS_WITH(EINVAL, xendevicemodel_modified_memory(dm.h, d.id, 0x10, 0));
    XT_FAILS_WITH(ESRCH, xendevicemodel_relocate_memory(dm.h, kNoDomain, 1, 0x10, 0x20));
}

// Xen 4.17 implements these on an HVM domain (xen/arch/x86/hvm/dm.c); hvcore
// does not: forwarded as DMOPs, -1 EOPNOTSUPP (after the domain's check).
TEST_CASE("devicemodel/the_dmops_hvcore_does_not_implement_are_eopnotsupp") {
    Dom d(1);
    Dmod dm;
    XT_FAILS_WITH(EOPNOTSUPP, xendevicemodel_inject_event(dm.h, d.id, 0, 14, 3, 0, 0, 0));
    XT_FAILS_WITH(EOPNOTSUPP, xendevicemodel_relocate_memory(dm.h, d.id, 1, 0x10, 0x20));
    XT_FAILS_WITH(EOPNOTSUPP, xendevicemodel_pin_memory_cacheattr(dm.h, d.id, 0x10, 0x10, XEN_DMOP_MEM_CACHEATTR_WB));
    XT_FAILS_WITH(ESRCH, xendevicemodel_inject_event(dm.h, kNoDomain, 0, 14, 3, 0, 0, 0));
    XT_FAILS_WITH(ESRCH, xendevicemodel_modified_memory(dm.h, kNoDomain, 0x10, 1));
}
