// SPDX-License-Identifier: MIT
// The public headers (hv.h, hvdm.h, hvdm_plugin.h and the generated
// hv_version.h) compile as C++ with -Wall -Wextra -pedantic
// -Wold-style-cast -Werror under g++ and clang++ (check_header_cxx.cmake
// runs each compiler on this file), and every macro they define is used
// here (the same script fails if one is not): a C++ device model can use
// all of them. Each value is Xen's or the one hv.h/hvdm.h states; the
// checks run at compile time, so the macros are constant expressions.
#include <hvcore/hv.h>
#include <hvcore/hvdm.h>
#include <hvcore/hvdm_plugin.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

// Include guards: each header can be included again.
#if !defined(HVCORE_HV_H) || !defined(HVCORE_HVDM_H) || !defined(HVCORE_HVDM_PLUGIN_H) || \
    !defined(HVCORE_HV_VERSION_H)
#error "include guards missing"
#endif
#include <hvcore/hv.h>
#include <hvcore/hvdm.h>
#include <hvcore/hvdm_plugin.h>
#include <hvcore/hv_version.h>

// HV_NOEXCEPT: no exception crosses, and C++ sees it.
static_assert(noexcept(hv_host_destroy(nullptr)) && noexcept(hvdm_close(nullptr)));
void declared_with_hv_noexcept() HV_NOEXCEPT;  // declared only: never called
static_assert(noexcept(declared_with_hv_noexcept()));

// hv.h flags and ids
static_assert(HV_DOMAIN_NO_HAP == 1u && HV_DOMAIN_ARM64_REPORT_UNDECODED == 2u && HV_DOMAIN_MULTI_OWNER == 4u);
static_assert(HV_VCPU_UNDECODED == 4);
// hv_p2m_read_walk: up to 5 levels (x86 5-level paging is the deepest), 24 bytes each.
static_assert(HV_P2M_WALK_MAX_LEVELS == 5 && sizeof(hv_p2m_walk) == 32 + HV_P2M_WALK_MAX_LEVELS * 24);
// XMMn low half at 64 + 2n, high half at 65 + 2n, n = 0..15: ids 64..95.
static_assert(HV_REG_XMM_BASE == 64u && HV_REG_XMM_LO(0) == 64u && HV_REG_XMM_HI(0) == 65u);
static_assert(HV_REG_XMM_LO(15) == 94u && HV_REG_XMM_HI(15) == 95u);
// Vn the same way, n = 0..31: ids 64..127.
static_assert(HV_REG_V_BASE == 64u && HV_REG_V_LO(0) == 64u && HV_REG_V_HI(31) == 127u);
// An int or uint32_t register number gives a uint32_t id (hv_vcpu_get_reg's type).
static_assert(std::is_same_v<decltype(HV_REG_XMM_LO(1)), uint32_t>);
static_assert(std::is_same_v<decltype(HV_REG_V_HI(uint32_t{1})), uint32_t>);

// hvdm.h: Xen's numbers (xen/include/public/hvm/hvm_op.h HVMMEM_*,
// dm_op.h XEN_DMOP_*, ioreq.h).
static_assert(HVDM_MEM_RAM_RW == 0 && HVDM_MEM_RAM_RO == 1 && HVDM_MEM_MMIO_DM == 2 &&
              HVDM_MEM_UNUSED == 3 && HVDM_MEM_IOREQ_SERVER == 4);
static_assert(HVDM_IOREQ_MEM_ACCESS_READ == 1u && HVDM_IOREQ_MEM_ACCESS_WRITE == 2u);
static_assert(HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED == 4u);  // hvcore's, beside Xen's two
static_assert(HVDM_IO_RANGE_PORT == 0 && HVDM_IO_RANGE_MEMORY == 1 && HVDM_IO_RANGE_PCI == 2);
static_assert(HVDM_BUFIOREQ_OFF == 0 && HVDM_BUFIOREQ_LEGACY == 1 && HVDM_BUFIOREQ_ATOMIC == 2);
static_assert((HVDM_BUFIOREQ_WIDE & (HVDM_BUFIOREQ_LEGACY | HVDM_BUFIOREQ_ATOMIC)) == 0);  // a flag bit beside the modes
static_assert(HVDM_MEM_RAM == 1 && HVDM_MEM_HOLE == 2);  // hvdm_mem_range kinds (1.3)
static_assert(HVDM_STATE_IOREQ_NONE == 0 && HVDM_STATE_IOREQ_READY == 1 && HVDM_STATE_IOREQ_INPROCESS == 2 &&
              HVDM_STATE_IORESP_READY == 3);
static_assert(HVDM_IOREQ_TYPE_PIO == 0 && HVDM_IOREQ_TYPE_COPY == 1 && HVDM_IOREQ_TYPE_PCI_CONFIG == 2 &&
              HVDM_IOREQ_TYPE_TIMEOFFSET == 7 && HVDM_IOREQ_TYPE_INVALIDATE == 8);
static_assert(HVDM_IOREQ_WRITE == 0 && HVDM_IOREQ_READ == 1);
// hvcore's own DMOP numbers start at 0x1000, far above Xen's (1.4)
static_assert(HVDM_DMOP_SET_MEM_TYPE_LIST == 0x1000 && HVDM_MEM_TYPE_LIST_CHECK_ONLY == 1);
static_assert(HVDM_SET_MEM_TYPE_LIST_SOCKET_MAX == 8187u && sizeof(hvdm_dmop_set_mem_type_list) == 16);
static_assert(HVDM_MODIFIED_MEMORY_SOCKET_MAX == 4000u && sizeof(hvdm_modified_memory_extent) == 16 &&
              offsetof(hvdm_modified_memory_extent, first_pfn) == 8);
static_assert(HV_LOG_DIRTY_CLEAN == 1u);
static_assert(HVDM_DMOP_CREATE_IOREQ_SERVER == 1 && HVDM_DMOP_GET_IOREQ_SERVER_INFO == 2 &&
              HVDM_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER == 3 && HVDM_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER == 4 &&
              HVDM_DMOP_SET_IOREQ_SERVER_STATE == 5 && HVDM_DMOP_DESTROY_IOREQ_SERVER == 6 &&
              HVDM_DMOP_TRACK_DIRTY_VRAM == 7 && HVDM_DMOP_SET_PCI_INTX_LEVEL == 8 &&
              HVDM_DMOP_SET_ISA_IRQ_LEVEL == 9 && HVDM_DMOP_SET_PCI_LINK_ROUTE == 10 &&
              HVDM_DMOP_MODIFIED_MEMORY == 11 && HVDM_DMOP_SET_MEM_TYPE == 12 && HVDM_DMOP_INJECT_EVENT == 13 &&
              HVDM_DMOP_INJECT_MSI == 14 && HVDM_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER == 15 &&
              HVDM_DMOP_REMOTE_SHUTDOWN == 16 && HVDM_DMOP_RELOCATE_MEMORY == 17 &&
              HVDM_DMOP_PIN_MEMORY_CACHEATTR == 18 && HVDM_DMOP_SET_IRQ_LEVEL == 19 && HVDM_DMOP_NR_VCPUS == 20);
static_assert(HVDM_DMOP_NO_GFNS == 1);
// Xen's SHUTDOWN_* (xen/include/public/sched.h).
static_assert(HVDM_SHUTDOWN_POWEROFF == 0 && HVDM_SHUTDOWN_REBOOT == 1 && HVDM_SHUTDOWN_SUSPEND == 2 &&
              HVDM_SHUTDOWN_CRASH == 3 && HVDM_SHUTDOWN_WATCHDOG == 4 && HVDM_SHUTDOWN_SOFT_RESET == 5);
static_assert(HVDM_IOREQ_BUFFER_SLOT_NUM == 511);
static_assert(HVDM_BUF_IOREQ_POSTED == 0x80);  // above Xen's ioreq types (0-8)

// HVDM_PCI_SBDF as Xen's XEN_DMOP_PCI_SBDF: segment 31:16, bus 15:8,
// device 7:3, function 2:0. Segment 0x1234, bus 0x56, device 0x1f and
// function 7 fill every field: 0x1234 << 16 | 0x56 << 8 | 0x1f << 3 | 7.
static_assert(HVDM_PCI_SBDF(0x1234, 0x56, 0x1f, 7) == 0x123456ffu);
// Bits above each field are dropped, as the uint32_t conversion and masks did.
static_assert(HVDM_PCI_SBDF(0x11234, 0x156, 0x3f, 0xf) == 0x123456ffu);
// -1 converts to all ones, so every field is full.
static_assert(HVDM_PCI_SBDF(-1, -1, -1, -1) == 0xffffffffu);
// The ABI's own argument types (hvdm_map_pcidev_to_ioreq_server) give a uint32_t.
static_assert(std::is_same_v<decltype(HVDM_PCI_SBDF(uint16_t{1}, uint8_t{2}, uint8_t{3}, uint8_t{4})), uint32_t>);
static_assert(HVDM_PCI_SBDF(uint16_t{1}, uint8_t{2}, uint8_t{3}, uint8_t{4}) == 0x0001021cu);

// hvdm.h: the serving helper.
static_assert(HVDM_SERVE_MAX_SERVERS == 64u);
static_assert(noexcept(hvdm_serve_pending(nullptr, 0, 0, nullptr, nullptr)));

// hvdm.h, 1.3: Xen's resource frames (XENMEM_resource_ioreq_server_frame_bufioreq
// 0, _frame_ioreq(n) 1 + n), unsigned, and the ports' bound.
static_assert(HVDM_RESOURCE_FRAME_BUFIOREQ == 0u && HVDM_RESOURCE_FRAME_IOREQ(0) == 1u);
static_assert(std::is_same_v<decltype(HVDM_RESOURCE_FRAME_IOREQ(0)), unsigned int>);
static_assert(HVDM_MAX_PORTS == 129u);
static_assert(noexcept(hvdm_ioreq_pending(nullptr, 0, 0, nullptr, 0)) &&
              noexcept(hvdm_map_resource(nullptr, 0, 0, 0, 0, 0, nullptr)));

// hv_version.h: the parts and the number agree, and the number is usable
// in #if (a preprocessor constant).
static_assert(HV_VERSION_NUMBER == ((HV_VERSION_MAJOR << 16) | (HV_VERSION_MINOR << 8) | HV_VERSION_PATCH));
#if HV_VERSION_NUMBER < 0x010100
#error "these headers declare HVCORE_1.1 functions: the version is at least 1.1.0"
#endif
static_assert(std::string_view(HV_VERSION_STRING).size() >= 5);
static_assert(HV_LOG_ERROR == 0 && HV_LOG_WARNING == 1 && HV_LOG_INFO == 2 && HV_LOG_DEBUG == 3);

// hvdm_plugin.h: ABI 2, the symbol names the loader looks up, and the
// definition macro (this program defines hvdm_plugin_abi, exported).
static_assert(HVDM_PLUGIN_ABI == 2);
static_assert(std::string_view(HVDM_PLUGIN_MAIN_SYMBOL) == "hvdm_plugin_main");
static_assert(std::string_view(HVDM_PLUGIN_ABI_SYMBOL) == "hvdm_plugin_abi");
HVDM_PLUGIN_DEFINE();
HVDM_PLUGIN_EXPORT extern const uint32_t hvdm_plugin_abi;  // the header's declaration, again
static_assert(std::is_same_v<hvdm_plugin_main_fn, decltype(&hvdm_plugin_main)>);

int main() { return hvdm_plugin_abi == HVDM_PLUGIN_ABI ? 0 : 1; }
