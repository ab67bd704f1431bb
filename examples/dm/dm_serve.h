/* SPDX-License-Identifier: MIT */
/* What the example device models share on top of <hvcore/hvdm_plugin.h>:
 * one synchronous ioreq server opened and reported to the host, and
 * hvdm_serve() wrapped with what is specific to `hvcore run` (the trace
 * callback, a count of the requests served, a failure message on
 * env->out). Plain C99. */
#ifndef HVDM_EXAMPLE_DM_SERVE_H
#define HVDM_EXAMPLE_DM_SERVE_H

#include <hvcore/hvdm_plugin.h>

typedef struct dm_server {
    hvdm_handle *h;
    hvdm_domid_t domid;
    hvdm_ioservid_t id;
    unsigned long served; /* requests answered */
} dm_server;

/* Opens a handle, creates a synchronous server (no buffered ring: every
 * request waits for its answer), maps its page, enables it and reports it
 * to the host under `label`. Returns 0 or a negative errno; prints why. */
int dm_server_open(dm_server *s, const hvdm_plugin_env *env, const char *label);
/* Closes the handle (destroying the server). */
void dm_server_close(dm_server *s);

/* Handles one request: for a read, store the answer in req->data. Return
 * 0, or a negative errno to stop serving (the run then fails). */
typedef int (*dm_handler)(void *self, hvdm_ioreq_t *req);

/* hvdm_serve() on the one server until env->stop_fd is readable (returns
 * 0) or the handler fails (returns its error); each request served goes to
 * env->trace (if set) and is counted in s->served. */
int dm_serve(dm_server *s, const hvdm_plugin_env *env, dm_handler handler, void *self);

/* Prints "<name>: FAILED: <what>: <errno text>" and returns rc. */
int dm_fail(const hvdm_plugin_env *env, const char *what, int rc);

#endif /* HVDM_EXAMPLE_DM_SERVE_H */
