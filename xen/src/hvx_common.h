/* SPDX-License-Identifier: MIT */
/* libhvcore-xen.so.1: what hvcore's three Xen drop-ins share in one
 * process (private: installed beside them, no header installed).
 *
 * On Xen every library handle of a process acts for the same emulator
 * domain, and an ioreq server lives until it is destroyed, whichever handle
 * created it. Here the process's handles share one hvdm handle (one
 * emulator identity), opened by the first xen*_open of the process and
 * kept until the process exits, so servers outlive the Xen handles as on
 * Xen (hvcore destroys them when the process's connection closes, at exit).
 *
 * The connection: an in-process handle given with hvcore_xen_attach before
 * the first open, else hvdm_connect(getenv("HVCORE_DM_SOCKET")) (set by
 * `hvcore run --dm-exec`, or to the --listen PATH by hand). */
#ifndef HVCORE_XEN_COMMON_H
#define HVCORE_XEN_COMMON_H

#include <errno.h>
#include <stdint.h>

#include "hvcore/hvdm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HVX_API __attribute__((visibility("default")))

/** Makes @p h the process's handle for every Xen handle opened after this
 * call (an in-process device model, hvdm_open). The caller keeps @p h
 * open while any Xen handle is in use. @return 0; -EINVAL @p h NULL;
 * -EBUSY a connection is already in use. Exported (HVCORE_XEN_1.0). */
HVX_API int hvcore_xen_attach(hvdm_handle *h);

/** The process's handle: connects on first use. NULL with errno set when
 * there is none (ENOENT: no HVCORE_DM_SOCKET and nothing attached; else
 * hvdm_connect's errno). A failed connect is retried by the next call. */
HVX_API hvdm_handle *hvx_handle(void);

/** Sends hvdm_ready once per process (the `hvcore run --dm-exec` start
 * signal: a Xen device model has no such call, so the drop-ins send it when
 * the model enables its first ioreq server). */
HVX_API void hvx_ready_once(void);

/** Xen's convention from hvdm's: @p rc 0 returns 0; a negative errno
 * returns -1 with errno = -rc. */
static inline int hvx_ret(int rc) {
    if (rc >= 0) return rc;
    errno = -rc;
    return -1;
}

#ifdef __cplusplus
}
#endif

#endif /* HVCORE_XEN_COMMON_H */
