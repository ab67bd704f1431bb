/* SPDX-License-Identifier: MIT */
/* The serving loop every example device model shares: one synchronous
 * ioreq server, its shared page and its eventfd, polled together with the
 * host's stop descriptor. Plain C99 on <hvcore/hvdm.h>. */
#ifndef HVDM_EXAMPLE_DM_SERVE_H
#define HVDM_EXAMPLE_DM_SERVE_H

#include "hvdm_example.h"

typedef struct dm_server {
    hvdm_handle *h;
    hvdm_domid_t domid;
    hvdm_ioservid_t id;
    hvdm_shared_iopage *iopage;
    int fd;                /* the server's eventfd (owned by the server) */
    unsigned int nr_vcpus; /* slots in iopage */
    unsigned long served;  /* requests answered */
} dm_server;

/* Opens a handle, creates a synchronous server (no buffered ring: every
 * request waits for its answer), maps its page, enables it and reports it
 * to the host under `label`. Returns 0 or a negative errno; prints why. */
int dm_server_open(dm_server *s, const hvdm_example_env *env, const char *label);
/* Closes the handle (destroying the server). */
void dm_server_close(dm_server *s);

/* Handles one request: for a read, store the answer in req->data. Return
 * 0, or a negative errno to stop serving (the run then fails). */
typedef int (*dm_handler)(void *self, hvdm_ioreq_t *req);

/* Serves requests until env->stop_fd is readable (returns 0) or the
 * handler fails (returns its error). */
int dm_serve(dm_server *s, const hvdm_example_env *env, dm_handler handler, void *self);

/* Prints "<name>: FAILED: <what>: <errno text>" and returns rc. */
int dm_fail(const hvdm_example_env *env, const char *what, int rc);

#endif /* HVDM_EXAMPLE_DM_SERVE_H */
