/* SPDX-License-Identifier: MIT */
/* What the example device models share: see dm_serve.h. The serving loop
 * itself is the library's (hvdm_serve). */
#include "dm_serve.h"

#include <errno.h>
#include <string.h>

int dm_fail(const hvdm_plugin_env *env, const char *what, int rc) {
    fprintf(env->out, "%s: FAILED: %s: %s (%d)\n", env->name, what, strerror(rc < 0 ? -rc : rc), rc);
    fflush(env->out);
    return rc < 0 ? rc : -EIO;
}

int dm_server_open(dm_server *s, const hvdm_plugin_env *env, const char *label) {
    hvdm_shared_iopage *iopage = NULL;
    int rc;

    memset(s, 0, sizeof *s);
    s->domid = env->domid;
    /* hvdm_open(env->host) in hvcore run, hvdm_connect() in a process of its own */
    errno = 0;
    s->h = hvdm_plugin_open(env);
    if (s->h == NULL) return dm_fail(env, "open a handle (hvdm_plugin_open)", errno != 0 ? -errno : -ENOMEM);
    rc = hvdm_create_ioreq_server(s->h, s->domid, HVDM_BUFIOREQ_OFF, &s->id);
    if (rc != 0) return dm_fail(env, "hvdm_create_ioreq_server", rc);
    /* hvdm_serve serves the pages this handle maps */
    rc = hvdm_map_ioreq_pages(s->h, s->domid, s->id, &iopage, NULL);
    if (rc != 0) return dm_fail(env, "hvdm_map_ioreq_pages", rc);
    rc = hvdm_set_ioreq_server_state(s->h, s->domid, s->id, 1);
    if (rc != 0) return dm_fail(env, "hvdm_set_ioreq_server_state", rc);
    env->server_created(env->opaque, s->id, label);
    return 0;
}

void dm_server_close(dm_server *s) {
    if (s->h != NULL) hvdm_close(s->h);
    s->h = NULL;
}

struct serve_ctx {
    dm_server *s;
    const hvdm_plugin_env *env;
    dm_handler handler;
    void *self;
    int handler_failed; /* the handler returned an error (and printed it) */
};

static int serve_one(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct serve_ctx *c = (struct serve_ctx *)opaque;
    const int rc = c->handler(c->self, req);
    if (rc != 0) {
        c->handler_failed = 1;
        return rc;
    }
    if (c->env->trace != NULL) c->env->trace(c->env->opaque, id, req);
    ++c->s->served;
    return 0;
}

int dm_serve(dm_server *s, const hvdm_plugin_env *env, dm_handler handler, void *self) {
    struct serve_ctx c;
    int rc;
    c.s = s;
    c.env = env;
    c.handler = handler;
    c.self = self;
    c.handler_failed = 0;
    rc = hvdm_serve(s->h, s->domid, &s->id, 1, env->stop_fd, serve_one, &c);
    /* a handler's error was printed by the handler (dm_fail) */
    if (rc != 0 && !c.handler_failed) return dm_fail(env, "hvdm_serve", rc);
    return rc;
}
