/* SPDX-License-Identifier: MIT */
/* The hvdm_serve_fn the serving tests hand to hvdm_serve (test_serve.c)
 * and to hvdm_set_direct_handler (test_direct.c): it records what it is
 * given and answers reads. MAX_SEEN (requests kept) is the includer's. */
#ifndef HVCORE_TEST_ABI_RECORDER_H
#define HVCORE_TEST_ABI_RECORDER_H

#include <string.h>

#include "hvcore/hvdm.h"

#ifndef MAX_SEEN
#define MAX_SEEN 64
#endif

/* What fn saw, and what it does. */
struct recorder {
    hvdm_ioreq_t req[MAX_SEEN];
    hvdm_ioservid_t id[MAX_SEEN];
    int n;
    uint64_t answer; /* stored in req->data of every read */
    int fail_with;   /* returned instead of serving, when not 0 */
};

static inline int record(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct recorder *r = (struct recorder *)opaque;
    if (r->fail_with != 0) return r->fail_with;
    if (r->n < MAX_SEEN) {
        r->req[r->n] = *req;
        r->id[r->n] = id;
    }
    ++r->n;
    if (req->dir == HVDM_IOREQ_READ) req->data = r->answer;
    return 0;
}

static inline void recorder_init(struct recorder *r) { memset(r, 0, sizeof *r); }

#endif
