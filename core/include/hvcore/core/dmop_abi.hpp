// SPDX-License-Identifier: MIT
// Xen's DMOP wire layouts (xen/include/public/hvm/dm_op.h), as hvcore
// accepts them in hvdm_dm_op buffers. Sizes and offsets are pinned here and
// again against the C header in dm_api.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hvcore::dmop {

inline constexpr uint32_t create_ioreq_server = 1;
inline constexpr uint32_t get_ioreq_server_info = 2;
inline constexpr uint32_t map_io_range_to_ioreq_server = 3;
inline constexpr uint32_t unmap_io_range_from_ioreq_server = 4;
inline constexpr uint32_t set_ioreq_server_state = 5;
inline constexpr uint32_t destroy_ioreq_server = 6;
inline constexpr uint32_t track_dirty_vram = 7;
inline constexpr uint32_t set_pci_intx_level = 8;
inline constexpr uint32_t set_isa_irq_level = 9;
inline constexpr uint32_t set_pci_link_route = 10;
inline constexpr uint32_t modified_memory = 11;
inline constexpr uint32_t set_mem_type = 12;
inline constexpr uint32_t inject_msi = 14;
inline constexpr uint32_t map_mem_type_to_ioreq_server = 15;
inline constexpr uint32_t remote_shutdown = 16;
inline constexpr uint32_t set_irq_level = 19;
inline constexpr uint32_t nr_vcpus = 20;
inline constexpr uint32_t nr_ops = 21;  // op_size[] covers 0..20

// hvcore's own DMOPs: numbers from 0x1000, far above Xen's (XEN_DMOP_*
// ends at 20, XEN_DMOP_nr_vcpus, in xen/include/public/hvm/dm_op.h), so
// that Xen can add ops without a clash; Xen answers any of them
// -EOPNOTSUPP. Same header (uint32 op, uint32 pad), payload at offset 8.
inline constexpr uint32_t hvcore_first_op = 0x1000;
inline constexpr uint32_t set_mem_type_list = 0x1000;
inline constexpr uint32_t hvcore_end_op = 0x1001;  // one past the last
inline constexpr size_t hvcore_op_size[hvcore_end_op - hvcore_first_op] = {
    16,  // 0x1000 set_mem_type_list
};

// Payload size of each op (Xen's op_size[]); 0 = no such op.
inline constexpr size_t op_size[nr_ops] = {
    0,   // 0: none
    6,   // 1 create_ioreq_server
    24,  // 2 get_ioreq_server_info
    24,  // 3 map_io_range_to_ioreq_server
    24,  // 4 unmap_io_range_from_ioreq_server
    4,   // 5 set_ioreq_server_state
    4,   // 6 destroy_ioreq_server
    16,  // 7 track_dirty_vram
    6,   // 8 set_pci_intx_level
    2,   // 9 set_isa_irq_level
    2,   // 10 set_pci_link_route
    8,   // 11 modified_memory
    16,  // 12 set_mem_type
    24,  // 13 inject_event
    16,  // 14 inject_msi
    16,  // 15 map_mem_type_to_ioreq_server
    4,   // 16 remote_shutdown
    24,  // 17 relocate_memory
    24,  // 18 pin_memory_cacheattr
    8,   // 19 set_irq_level
    4,   // 20 nr_vcpus
};

inline constexpr size_t header_size = 8;  // offsetof(struct xen_dm_op, u)

struct Header {
    uint32_t op;
    uint32_t pad;
};

struct CreateIoreqServer {
    uint8_t handle_bufioreq;  // IN
    uint8_t pad[3];
    uint16_t id;  // OUT
};
struct GetIoreqServerInfo {
    uint16_t id;        // IN
    uint16_t flags;     // IN: XEN_DMOP_no_gfns
    uint32_t bufioreq_port;  // OUT
    uint64_t ioreq_gfn;      // OUT
    uint64_t bufioreq_gfn;   // OUT
};
struct IoRange {
    uint16_t id;
    uint16_t pad;
    uint32_t type;
    uint64_t start;
    uint64_t end;  // inclusive
};
struct SetIoreqServerState {
    uint16_t id;
    uint8_t enabled;
    uint8_t pad;
};
struct DestroyIoreqServer {
    uint16_t id;
    uint16_t pad;
};
struct SetMemType {
    uint32_t nr;
    uint16_t mem_type;
    uint16_t pad;
    uint64_t first_pfn;
};
// hvcore's batched set_mem_type: buffer 1 holds nr uint64 gfns, strictly
// increasing. All or nothing; on -EINVAL for a gfn of the list,
// first_refused is that gfn (~0 when no gfn is to blame); the struct is
// copied back on success and on failure (as Xen copies set_mem_type's
// first_pfn/nr back when it preempts).
struct SetMemTypeList {
    uint32_t nr;          // IN: gfns in buffer 1
    uint16_t mem_type;    // IN: HVMMEM_*
    uint16_t flags;       // IN: set_mem_type_list_check_only, else 0
    uint64_t first_refused;  // OUT
};
// Validate only: nothing changes; 0 with first_refused = the first gfn
// refused, ~0 if none (so it comes back over a socket, whose replies carry
// a DMOP's buffers on success only).
inline constexpr uint16_t set_mem_type_list_check_only = 1;
// XEN_DMOP_track_dirty_vram: buffer 1 receives the bitmap, (nr + 7) / 8
// bytes at least, bit i (least significant first) for first_pfn + i.
struct TrackDirtyVram {
    uint32_t nr;         // IN: frames (0: stop tracking)
    uint32_t pad;        // must be 0
    uint64_t first_pfn;  // IN
};
// XEN_DMOP_modified_memory: buffer 1 holds nr_extents ModifiedMemoryExtent.
struct ModifiedMemory {
    uint32_t nr_extents;  // IN
    uint32_t opaque;      // IN: must be 0 (Xen's continuation cursor; hvcore: -EINVAL otherwise)
};
struct ModifiedMemoryExtent {
    uint32_t nr;
    uint32_t pad;  // must be 0
    uint64_t first_pfn;
};
struct MapMemTypeToIoreqServer {
    uint16_t id;
    uint16_t type;
    uint32_t flags;
    uint64_t opaque;  // must be 0 (hvcore: -EINVAL otherwise)
};
struct NrVcpus {
    uint32_t vcpus;  // OUT
};
struct SetPciIntxLevel {
    uint16_t domain;  // PCI segment
    uint8_t bus;
    uint8_t device;
    uint8_t intx;   // 0..3 = INTA..INTD
    uint8_t level;  // 0 or 1
};
struct SetIsaIrqLevel {
    uint8_t isa_irq;
    uint8_t level;
};
struct SetPciLinkRoute {
    uint8_t link;
    uint8_t isa_irq;  // 0 disables the link
};
struct InjectMsi {
    uint32_t data;
    uint32_t pad;
    uint64_t addr;
};
struct RemoteShutdown {
    uint32_t reason;  // SHUTDOWN_* (xen/include/public/sched.h)
};
struct SetIrqLevel {
    uint32_t irq;
    uint8_t level;
    uint8_t pad[3];
};

static_assert(sizeof(CreateIoreqServer) == op_size[create_ioreq_server]);
static_assert(offsetof(CreateIoreqServer, id) == 4);
static_assert(sizeof(GetIoreqServerInfo) == op_size[get_ioreq_server_info]);
static_assert(sizeof(IoRange) == op_size[map_io_range_to_ioreq_server]);
static_assert(offsetof(IoRange, start) == 8 && offsetof(IoRange, end) == 16);
static_assert(sizeof(SetIoreqServerState) == op_size[set_ioreq_server_state]);
static_assert(sizeof(DestroyIoreqServer) == op_size[destroy_ioreq_server]);
static_assert(sizeof(SetMemType) == op_size[set_mem_type]);
static_assert(offsetof(SetMemType, first_pfn) == 8);
static_assert(sizeof(SetMemTypeList) == hvcore_op_size[set_mem_type_list - hvcore_first_op]);
static_assert(offsetof(SetMemTypeList, first_refused) == 8);
static_assert(sizeof(TrackDirtyVram) == op_size[track_dirty_vram] && offsetof(TrackDirtyVram, first_pfn) == 8);
static_assert(sizeof(ModifiedMemory) == op_size[modified_memory] && offsetof(ModifiedMemory, opaque) == 4);
static_assert(sizeof(ModifiedMemoryExtent) == 16 && offsetof(ModifiedMemoryExtent, first_pfn) == 8);
static_assert(sizeof(MapMemTypeToIoreqServer) == op_size[map_mem_type_to_ioreq_server]);
static_assert(offsetof(MapMemTypeToIoreqServer, opaque) == 8);
static_assert(sizeof(NrVcpus) == op_size[nr_vcpus]);
static_assert(sizeof(SetPciIntxLevel) == op_size[set_pci_intx_level] && offsetof(SetPciIntxLevel, level) == 5);
static_assert(sizeof(SetIsaIrqLevel) == op_size[set_isa_irq_level]);
static_assert(sizeof(SetPciLinkRoute) == op_size[set_pci_link_route]);
static_assert(sizeof(InjectMsi) == op_size[inject_msi] && offsetof(InjectMsi, addr) == 8);
static_assert(sizeof(RemoteShutdown) == op_size[remote_shutdown]);
static_assert(sizeof(SetIrqLevel) == op_size[set_irq_level] && offsetof(SetIrqLevel, pad) == 5);

}  // namespace hvcore::dmop
