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
#include <stddef.h>
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

struct xentoollog_logger;

/** hvx_handle for a Xen library's open: on failure also says why, once, to
 * @p logger (else stderr), naming @p lib ("xendevicemodel", ...) as Xen's
 * libraries name themselves in their log lines. NULL with errno set. */
HVX_API hvdm_handle *hvx_open(struct xentoollog_logger *logger, const char *lib);

/** One error line to @p logger at XTL_ERROR (its vmessage), else to
 * stderr as "LIB: message: strerror(errnoval)" (Xen's libraries create a
 * stderr logger when given none: tools/libs/devicemodel/core.c
 * xendevicemodel_open). @p errnoval < 0: no errno text. */
HVX_API void hvx_log_error(struct xentoollog_logger *logger, const char *lib, int errnoval, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Sends hvdm_ready once per process (the `hvcore run --dm-exec` start
 * signal: a Xen device model has no such call, so the drop-ins send it when
 * the model enables its first ioreq server). */
HVX_API void hvx_ready_once(void);

/* --- The process's ioreq servers (HVCORE_XEN_1.0) ---------------------
 * libxendevicemodel records every server it creates, in creation order,
 * and forgets it when destroyed; libxenevtchn binds its channels to them
 * (xen/src/evtchn.cpp). All under one process-wide lock (recursive: a
 * holder may call any of these). */

/** One server of this process. */
typedef struct hvx_server {
    uint64_t serial;   /**< unique in the process, increasing with creation: names this server even once its
                        * id is reused */
    uint16_t domid;    /**< its domain */
    uint16_t id;       /**< its ioservid */
    uint32_t nr_vcpus; /**< the domain's vCPUs at creation: ports 0..nr_vcpus-1 */
    int has_ring;      /**< created with handle_bufioreq != 0: port nr_vcpus is the ring's */
} hvx_server;

/** Takes / releases the registry's lock (recursive). */
HVX_API void hvx_registry_lock(void);
HVX_API void hvx_registry_unlock(void);

/** Records a server just created. An entry of the same @p domid and @p id
 * (a server that went without hvx_server_remove: its domain or the host was
 * destroyed) is forgotten first, as hvx_server_remove. @return its serial
 * (> 0), or 0 when memory ran out (nothing recorded). */
HVX_API uint64_t hvx_server_add(uint16_t domid, uint16_t id, uint32_t nr_vcpus, int has_ring);

/** Forgets server @p id of @p domid (no-op if not recorded); the remove
 * listener is called first, under the lock. */
HVX_API void hvx_server_remove(uint16_t domid, uint16_t id);

/** Forgets the server of @p serial (no-op if not recorded), as
 * hvx_server_remove. */
HVX_API void hvx_server_remove_serial(uint64_t serial);

/** Copies up to @p n recorded servers, oldest first, into @p out (may be
 * NULL with @p n 0). @return how many are recorded. */
HVX_API size_t hvx_servers(hvx_server *out, size_t n);

/** Sets the function called (under the lock) with each server about to be
 * forgotten: libxenevtchn's, so that a destroyed server's ports fire no
 * more. NULL clears it. */
HVX_API void hvx_set_remove_listener(void (*fn)(const hvx_server *s));

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
