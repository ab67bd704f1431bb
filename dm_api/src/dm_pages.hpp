// SPDX-License-Identifier: MIT
// What the calls on a handle's own view of a server's pages share
// (hvdm.cpp, resource.cpp). They stand above the handle's way of reaching
// its host: a view (DmPages) is the handle's own mapping of the server's
// memfd and its own eventfd, however it obtained them, so the calls built
// on it work the same for a device model in another process.
#pragma once

#include <cstdint>

#include "abi_objects.hpp"

namespace hvcore::abi {

// The checks every call on a handle and a domid starts with (hvdm.h): a
// null handle -EINVAL, a destroyed host -ENODEV, another domid than the
// handle is restricted to -EPERM.
[[nodiscard]] int handle_access(const hvdm_handle* h, hvdm_domid_t domid);

// After handle_access: a call's own verdict on its arguments (rc, e.g.
// -EINVAL for a null out-argument), reached without the host. Over a
// socket the host is asked first whether it still exists: -ENODEV comes
// before any other errno, as in-process (Transport::confirm).
[[nodiscard]] int handle_refuse(const hvdm_handle* h, hvdm_domid_t domid, int rc);

// After handle_access: the handle's view of the server that has this id
// now, mapped on first use (as hvdm_map_ioreq_pages); the server's errors
// (-ESRCH, -ESHUTDOWN, -ENOENT, -EPERM) otherwise.
[[nodiscard]] int handle_pages(hvdm_handle* h, hvdm_domid_t domid, hvdm_ioservid_t id, DmPages* out);

// Takes up to n fired ports from the view's event page, lowest first,
// into ports and clears their bits (Xen's xenevtchn_pending, in bulk): a
// port is reported once per firing. Bits that name no port of the server
// (only a device model writing its own page can set them) are cleared
// unreported. *more says whether fired ports were left for a later call.
[[nodiscard]] unsigned take_pending(const DmPages& p, uint32_t* ports, unsigned n, bool* more) noexcept;

// Sets the ports' bits again and signals the view's eventfd: taken but not
// served, they are found by the next call as if never taken.
void restore_pending(const DmPages& p, const uint32_t* ports, unsigned n) noexcept;

}  // namespace hvcore::abi
