/* SPDX-License-Identifier: MIT */
/* The serving loop shared by the example device models: see dm_serve.h. */
#define _POSIX_C_SOURCE 200809L

#include "dm_serve.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

int dm_fail(const hvdm_example_env *env, const char *what, int rc) {
    fprintf(env->out, "%s: FAILED: %s: %s (%d)\n", env->name, what, strerror(rc < 0 ? -rc : rc), rc);
    fflush(env->out);
    return rc < 0 ? rc : -EIO;
}

int dm_server_open(dm_server *s, const hvdm_example_env *env, const char *label) {
    hvdm_buffered_iopage *buffered = NULL;
    int rc;

    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->domid = env->domid;
    s->h = hvdm_open(env->host);
    if (s->h == NULL) return dm_fail(env, "hvdm_open", -ENOMEM);
    rc = hvdm_nr_vcpus(s->h, s->domid, &s->nr_vcpus);
    if (rc != 0) return dm_fail(env, "hvdm_nr_vcpus", rc);
    rc = hvdm_create_ioreq_server(s->h, s->domid, HVDM_BUFIOREQ_OFF, &s->id);
    if (rc != 0) return dm_fail(env, "hvdm_create_ioreq_server", rc);
    rc = hvdm_map_ioreq_pages(s->h, s->domid, s->id, &s->iopage, &buffered);
    if (rc != 0) return dm_fail(env, "hvdm_map_ioreq_pages", rc);
    s->fd = hvdm_ioreq_fd(s->h, s->domid, s->id);
    if (s->fd < 0) return dm_fail(env, "hvdm_ioreq_fd", s->fd);
    rc = hvdm_set_ioreq_server_state(s->h, s->domid, s->id, 1);
    if (rc != 0) return dm_fail(env, "hvdm_set_ioreq_server_state", rc);
    env->server_created(env->opaque, s->id, label);
    return 0;
}

void dm_server_close(dm_server *s) {
    if (s->h != NULL) hvdm_close(s->h);
    s->h = NULL;
}

/* The slot's state byte is shared with the hypervisor: read it after a
 * full barrier, publish the answer before the state. */
static unsigned int slot_state(const hvdm_ioreq_t *r) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return ((const volatile hvdm_ioreq_t *)r)->state;
}

static int serve_ready_slots(dm_server *s, const hvdm_example_env *env, dm_handler handler, void *self) {
    unsigned int v;
    for (v = 0; v < s->nr_vcpus; ++v) {
        hvdm_ioreq_t *r = &s->iopage->vcpu_ioreq[v];
        int rc;
        if (slot_state(r) != HVDM_STATE_IOREQ_READY) continue;
        r->state = HVDM_STATE_IOREQ_INPROCESS;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        rc = handler(self, r);
        if (rc != 0) return rc;
        if (env->trace != NULL) env->trace(env->opaque, s->id, r);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        r->state = HVDM_STATE_IORESP_READY;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        rc = hvdm_ioreq_notify(s->h, s->domid, s->id, r->vp_eport);
        if (rc != 0) return dm_fail(env, "hvdm_ioreq_notify", rc);
        ++s->served;
    }
    return 0;
}

int dm_serve(dm_server *s, const hvdm_example_env *env, dm_handler handler, void *self) {
    for (;;) {
        struct pollfd p[2];
        uint64_t events;
        int rc;

        p[0].fd = s->fd;
        p[0].events = POLLIN;
        p[0].revents = 0;
        p[1].fd = env->stop_fd;
        p[1].events = POLLIN;
        p[1].revents = 0;
        /* No timeout is needed: the host makes stop_fd readable at the end. */
        rc = poll(p, 2, -1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            return dm_fail(env, "poll", -errno);
        }
        if (p[0].revents & POLLIN) {
            /* Non-blocking eventfd: reset it, then look at every slot. */
            if (read(s->fd, &events, sizeof events) < 0 && errno != EAGAIN) return dm_fail(env, "read eventfd", -errno);
        }
        rc = serve_ready_slots(s, env, handler, self);
        if (rc != 0) return rc;
        if (p[1].revents & POLLIN) return 0;
    }
}
