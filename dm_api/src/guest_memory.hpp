// SPDX-License-Identifier: MIT
// Guest memory for a device model at the descriptor level: what crosses a
// process boundary (a descriptor of the domain's RAM memfd and an offset,
// the layout as hvdm_mem_range records). The public calls
// (hvdm_map_guest_memory, hvdm_get_memory_map) sit above these and do the
// mmap/munmap themselves, so the same code serves a device model in this
// process and one in another (the descriptor sent with SCM_RIGHTS).
#pragma once

#include <cstdint>

#include "hvcore/core/domain.hpp"
#include "hvcore/hvdm.h"

namespace hvcore::abi {

// A new close-on-exec descriptor of domain domid's RAM (the whole RAM of
// that one domain; the caller owns it) and the byte offset of first_gfn in
// it. Checks, in this order, before anything changes: the handle (-EINVAL
// null, -ENODEV destroyed host, -EPERM restricted to another domid); prot a
// non-empty subset of PROT_READ|PROT_WRITE and fd/offset non-null
// (-EINVAL); nr 0 or first_gfn + nr overflowing (-EINVAL); the domain
// (-ESRCH); every gfn mappable RAM (Domain::share_guest_memory: -EFAULT,
// *bad_gfn = the first that is not, when bad_gfn is not null). Without
// PROT_WRITE the descriptor is opened read-only (the kernel refuses a
// writable shared mapping of it: EACCES).
[[nodiscard]] int local_guest_memory_fd(hvdm_handle* h, hvdm_domid_t domid, uint64_t first_gfn, uint32_t nr,
                                        int prot, int* fd, uint64_t* offset, uint64_t* bad_gfn);

// The domain's layout (hvdm_get_memory_map's contract): *n in = room in
// ranges, out = written; -ENOSPC with *n = needed when there is too little
// room (ranges untouched). -EINVAL for a null n, or null ranges with *n > 0
// (after the handle checks).
[[nodiscard]] int local_memory_map(hvdm_handle* h, hvdm_domid_t domid, hvdm_mem_range* ranges, unsigned* n);

// Below the handle's checks (the in-process transport, hvdm.cpp): the
// domain's part of each.
[[nodiscard]] int domain_guest_memory_fd(hvcore::Domain& d, uint64_t first_gfn, uint32_t nr, int prot, int* fd,
                                         uint64_t* offset, uint64_t* bad_gfn);
[[nodiscard]] int domain_memory_map(hvcore::Domain& d, hvdm_mem_range* ranges, unsigned* n);

}  // namespace hvcore::abi
