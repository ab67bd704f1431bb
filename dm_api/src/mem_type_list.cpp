// SPDX-License-Identifier: MIT
// hvdm_set_mem_type_list (HVCORE_1.4): the typed wrapper of hvcore's own
// HVDM_DMOP_SET_MEM_TYPE_LIST (core/include/hvcore/core/dmop_abi.hpp),
// through hvdm_dm_op only, so it works the same in process and over a
// socket (hvdm_connect).
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

#include "abi_objects.hpp"
#include "hvcore/core/dmop_abi.hpp"
#include "hvcore/hvdm.h"

namespace dmop = hvcore::dmop;

static_assert(HVDM_DMOP_SET_MEM_TYPE_LIST == dmop::set_mem_type_list &&
              HVDM_MEM_TYPE_LIST_CHECK_ONLY == dmop::set_mem_type_list_check_only);
static_assert(sizeof(hvdm_dmop_set_mem_type_list) == sizeof(dmop::SetMemTypeList) &&
              offsetof(hvdm_dmop_set_mem_type_list, flags) == offsetof(dmop::SetMemTypeList, flags) &&
              offsetof(hvdm_dmop_set_mem_type_list, first_refused) == offsetof(dmop::SetMemTypeList, first_refused));
static_assert(noexcept(hvdm_set_mem_type_list(nullptr, 0, 0, nullptr, 0, nullptr)));

namespace {

struct ListDmOp {
    dmop::Header h;
    dmop::SetMemTypeList u;
};
static_assert(sizeof(ListDmOp) == 24 && offsetof(ListDmOp, u) == dmop::header_size);

// Not written by the host: a DMOP's buffer 0 is written back on success
// only (core/src/dmop.cpp, as Xen; a socket's reply carries it on success
// only too), so a failure's gfn is learnt by a CHECK_ONLY call.
constexpr uint64_t unwritten = ~uint64_t{0} - 1;

[[nodiscard]] int issue(hvdm_handle* h, hvdm_domid_t domid, uint16_t mem_type, uint64_t* gfns, uint32_t nr,
                        uint16_t flags, uint64_t* first_refused) {
    ListDmOp op;
    std::memset(&op, 0, sizeof op);
    op.h.op = dmop::set_mem_type_list;
    op.u.nr = nr;
    op.u.mem_type = mem_type;
    op.u.flags = flags;
    op.u.first_refused = unwritten;
    uint64_t none = 0;  // an address for an empty list (nr 0 is the op's -EINVAL)
    hvdm_buf b[2] = {{&op, sizeof op}, {nr == 0 ? &none : gfns, nr * sizeof(uint64_t)}};
    const int rc = hvdm_dm_op(h, domid, 2, b);
    *first_refused = op.u.first_refused;
    return rc;
}

}  // namespace

extern "C" int hvdm_set_mem_type_list(hvdm_handle* h, hvdm_domid_t domid, uint16_t mem_type, const uint64_t* gfns,
                                      uint32_t nr, uint64_t* first_refused) noexcept {
    // A copy the transport may write back into (a socket's reply carries
    // buffer 1 back): the caller's list stays read only. In process the
    // core copies the list itself and never writes it: no copy here.
    std::vector<uint64_t> list;
    uint64_t* send = nullptr;
    if (gfns != nullptr && h != nullptr && h->t != nullptr && !h->t->writes_buffers_back()) {
        send = const_cast<uint64_t*>(gfns);  // read only by hvcore::dm_op (core/src/dmop.cpp)
    } else {
        try {
            if (gfns != nullptr) list.assign(gfns, gfns + nr);
        } catch (const std::bad_alloc&) {
            return -ENOMEM;
        }
        send = list.data();
    }
    uint64_t refused = unwritten;
    int rc = 0;
    if (gfns == nullptr && nr != 0) {
        // No list: the op's own -EFAULT (after the checks every DMOP makes first).
        ListDmOp op;
        std::memset(&op, 0, sizeof op);
        op.h.op = dmop::set_mem_type_list;
        op.u.nr = nr;
        op.u.mem_type = mem_type;
        hvdm_buf b[2] = {{&op, sizeof op}, {nullptr, 0}};
        rc = hvdm_dm_op(h, domid, 2, b);
        refused = ~uint64_t{0};
    } else {
        rc = issue(h, domid, mem_type, send, nr, 0, &refused);
        if (rc == -EINVAL || rc == -EPERM) {
            // Ask again, validating only, for the gfn (nothing changed;
            // -EPERM: multi-owner mode, another device model's page).
            uint64_t probe = unwritten;
            refused = issue(h, domid, mem_type, send, nr, dmop::set_mem_type_list_check_only, &probe) == 0
                          ? probe
                          : ~uint64_t{0};
        }
        if (refused == unwritten) refused = ~uint64_t{0};
    }
    if (first_refused != nullptr) *first_refused = refused;
    return rc;
}
