/* SPDX-License-Identifier: MIT */
/* The plugin contract of the example device models (examples/dm/), as
 * `hvcore run --dm NAME[:ARGS]` loads them. C99; a device model includes
 * this, <hvcore/hvdm.h> and <hvcore/hv.h>, and nothing else of hvcore.
 *
 * A device model is a shared module (loaded with dlopen, RTLD_LOCAL) that
 * exports one function:
 *
 *     int hvdm_example_main(const hvdm_example_env *env);
 *
 * The host calls it on a thread of its own, once per run, and the model:
 *   1. opens its own handle (hvdm_open(env->host)) and creates, maps and
 *      configures its ioreq servers on env->domid, naming each with
 *      env->server_created (the host prints per-server statistics);
 *   2. calls env->ready(env->opaque) exactly once: the guest starts only
 *      when every device model of the run is ready (a model that returns
 *      without calling it fails the run);
 *   3. serves requests until env->stop_fd becomes readable (the guest has
 *      ended), then makes its final checks, closes its handle and returns
 *      0 if every check passed, non-zero otherwise (the run then fails).
 *
 * The hvdm_* and hv_* symbols are provided by the program that loads the
 * module (hvcore exports its C ABI), so a module links against nothing.
 * The same module serves a real guest on KVM and the model vCPUs. */
#ifndef HVDM_EXAMPLE_H
#define HVDM_EXAMPLE_H

#include <stdint.h>
#include <stdio.h>

#include <hvcore/hv.h>
#include <hvcore/hvdm.h>

#define HVDM_EXAMPLE_ABI 1
#define HVDM_EXAMPLE_SYMBOL "hvdm_example_main"

#if defined(__GNUC__)
#define HVDM_EXAMPLE_EXPORT __attribute__((visibility("default")))
#else
#define HVDM_EXAMPLE_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hvdm_example_env {
    uint32_t size;      /* sizeof(hvdm_example_env) */
    uint32_t abi;       /* HVDM_EXAMPLE_ABI */
    hv_host *host;      /* open a handle on it with hvdm_open */
    hvdm_domid_t domid; /* the guest's domain */
    const char *name;   /* NAME from --dm NAME[:ARGS] */
    const char *args;   /* ARGS, or "" */
    int stop_fd;        /* readable once the model must finish; poll it */
    FILE *out;          /* where the model prints */
    void *opaque;       /* first argument of the callbacks below */
    /* A server this model created, and what it serves (for statistics). */
    void (*server_created)(void *opaque, hvdm_ioservid_t id, const char *label);
    /* Setup is complete: the guest may start. Exactly once. */
    void (*ready)(void *opaque);
    /* Optional (may be NULL): each request as served, before the answer is
     * posted; for a read, req->data holds the answer. Tests compare these
     * traces between KVM and the model vCPUs. */
    void (*trace)(void *opaque, hvdm_ioservid_t id, const hvdm_ioreq_t *req);
} hvdm_example_env;

typedef int (*hvdm_example_main_fn)(const hvdm_example_env *env);

HVDM_EXAMPLE_EXPORT int hvdm_example_main(const hvdm_example_env *env);

#ifdef __cplusplus
}
#endif

#endif /* HVDM_EXAMPLE_H */
