/* SPDX-License-Identifier: MIT */
/* Raw DMOP buffers for hvdm_dm_op, laid out as Xen's struct xen_dm_op
 * (xen/include/public/hvm/dm_op.h, struct xen_dm_op): uint32 op,
 * uint32 pad, then the op's struct at offset 8. The tests build these by
 * hand to reach fields the typed wrappers always zero (pads, opaque, flags). */
#ifndef HVCORE_TESTS_DMOP_RAW_H
#define HVCORE_TESTS_DMOP_RAW_H

#include <stdint.h>
#include <string.h>

#include "hvcore/hvdm.h"

struct op_create_ioreq_server { /* op 1, 6 bytes */
    uint8_t handle_bufioreq;
    uint8_t pad[3];
    uint16_t id; /* OUT */
};
struct op_get_ioreq_server_info { /* op 2, 24 bytes */
    uint16_t id;
    uint16_t flags; /* HVDM_DMOP_NO_GFNS */
    uint32_t bufioreq_port;
    uint64_t ioreq_gfn;
    uint64_t bufioreq_gfn;
};
struct op_io_range { /* ops 3 and 4, 24 bytes */
    uint16_t id;
    uint16_t pad;
    uint32_t type;
    uint64_t start;
    uint64_t end; /* inclusive */
};
struct op_set_ioreq_server_state { /* op 5, 4 bytes */
    uint16_t id;
    uint8_t enabled;
    uint8_t pad;
};
struct op_destroy_ioreq_server { /* op 6, 4 bytes */
    uint16_t id;
    uint16_t pad;
};
struct op_set_mem_type { /* op 12, 16 bytes */
    uint32_t nr;
    uint16_t mem_type;
    uint16_t pad;
    uint64_t first_pfn;
};
struct op_map_mem_type_to_ioreq_server { /* op 15, 16 bytes */
    uint16_t id;
    uint16_t type;
    uint32_t flags;
    uint64_t opaque; /* continuation cursor: must be 0 */
};
struct op_nr_vcpus { /* op 20, 4 bytes */
    uint32_t vcpus; /* OUT */
};

/* struct xen_dm_op: 8-byte header and the largest payload (24 bytes). */
struct dm_op {
    uint32_t op;
    uint32_t pad;
    union {
        uint8_t raw[24];
        struct op_create_ioreq_server create;
        struct op_get_ioreq_server_info info;
        struct op_io_range range;
        struct op_set_ioreq_server_state state;
        struct op_destroy_ioreq_server destroy;
        struct op_set_mem_type set_mem_type;
        struct op_map_mem_type_to_ioreq_server map_mem_type;
        struct op_nr_vcpus nr_vcpus;
    } u;
};
typedef char dm_op_is_32_bytes[sizeof(struct dm_op) == 32 ? 1 : -1];

static inline struct dm_op dm_op_make(uint32_t op) {
    struct dm_op o;
    memset(&o, 0, sizeof o);
    o.op = op;
    return o;
}

/* One buffer of `size` bytes starting at the op. */
static inline int dm_op_issue_sized(hvdm_handle *h, hvdm_domid_t domid, struct dm_op *o, size_t size) {
    hvdm_buf b;
    b.ptr = o;
    b.size = size;
    return hvdm_dm_op(h, domid, 1, &b);
}

static inline int dm_op_issue(hvdm_handle *h, hvdm_domid_t domid, struct dm_op *o) {
    return dm_op_issue_sized(h, domid, o, sizeof *o);
}

#endif /* HVCORE_TESTS_DMOP_RAW_H */
