/* SPDX-License-Identifier: MIT */
/** @file hvdm_plugin.h
 * @brief The plug-in contract of `hvcore run --dm`: a device model as a
 * shared module, plug-in ABI 2.
 *
 * C99 and C++ clean. A device model includes this header (it includes
 * <hvcore/hv.h> and <hvcore/hvdm.h>) and nothing else of hvcore.
 *
 * @par What a plug-in is
 * A shared module (built with `-shared -fPIC`) that `hvcore run` loads with
 * dlopen(RTLD_NOW | RTLD_LOCAL). It defines, once, at file scope:
 * @code
 *     #include <hvcore/hvdm_plugin.h>
 *
 *     HVDM_PLUGIN_DEFINE();
 *
 *     HVDM_PLUGIN_EXPORT int hvdm_plugin_main(const hvdm_plugin_env *env) { ... }
 * @endcode
 * HVDM_PLUGIN_DEFINE() defines the exported constant `hvdm_plugin_abi`
 * (= HVDM_PLUGIN_ABI of the header the plug-in was compiled with). The
 * loader reads it with dlsym before it calls anything in the module and
 * refuses a module that has no such symbol ("... is not an hvcore
 * device-model plug-in: no hvdm_plugin_abi symbol (HVDM_PLUGIN_DEFINE)")
 * or whose value is not the loader's ABI ("... was built for plug-in ABI 1;
 * this hvcore loads ABI 2"). Only then does it look up and call
 * hvdm_plugin_main. (dlopen itself runs the module's ELF constructors, if
 * it has any, before the check: a plug-in should do nothing in them.)
 *
 * A plug-in links against nothing: the `hvcore` program exports the C ABI
 * (every hv_* and hvdm_* function) to the modules it loads. Build it with
 * the flags of `pkg-config --cflags hvcore` (no `--libs`) or, in CMake, by
 * linking it to the interface target `hvcore::plugin` (include directories
 * only). The same module serves a real guest on KVM and the model vCPUs.
 *
 * @par Lifecycle
 * `hvcore run` calls hvdm_plugin_main once per run, on a thread of its own
 * (one thread per plug-in), with an environment that stays valid until the
 * function returns. The plug-in:
 *   1. opens its own handle (hvdm_plugin_open(env), which is
 *      hvdm_open(env->host) in-process) and creates, maps and configures
 *      its ioreq servers on env->domid, naming each with
 *      env->server_created (the host prints per-server statistics);
 *   2. calls env->ready(env->opaque) exactly once: the guest starts only
 *      when every device model of the run is ready (a plug-in that returns
 *      without calling it fails the run);
 *   3. serves requests until env->stop_fd becomes readable (the guest has
 *      ended): hvdm_serve() does exactly this, with env->stop_fd as its
 *      stop descriptor; then it makes its final checks, closes its handle
 *      (hvdm_close) and returns 0 if every check passed, non-zero
 *      otherwise (the run then fails).
 *
 * The plug-in must not close env->stop_fd, call exit(), or install signal
 * handlers; it prints only to env->out.
 *
 * @par The same plug-in in a process of its own
 * `hvcore dm NAME[:ARGS]` (hvcore(1)) loads the same module in a process
 * of its own and calls hvdm_plugin_main with the same lifecycle: env->host
 * is NULL, hvdm_plugin_open(env) connects to the socket named by
 * HVCORE_DM_SOCKET (hvdm_connect), env->domid is HVCORE_DM_DOMID,
 * env->ready sends READY (hvdm_ready) on a connection of the launcher's
 * own, env->stop_fd becomes readable when the host closes the process's
 * standard input (a pipe) or sends SIGTERM/SIGINT, env->out is the
 * process's standard output and env->trace is NULL; the process exits
 * with 0 when hvdm_plugin_main returned 0, else 1. `hvcore run --dm-exec
 * 'hvcore dm NAME'` starts it; the bundled demo runs its device models so.
 * A plug-in that uses hvdm_plugin_open() (and the device-model API only:
 * no hv_* call on env->host) needs no change to run either way.
 *
 * @par Requirements on the loader's side
 * env->size tells which fields the loader has: open_handle is there when
 * size covers it (hvcore 1.3); hvdm_plugin_open() checks.
 *
 *
 * @par ABI history
 * - 1: examples/dm/hvdm_example.h (hvdm_example_main, hvdm_example_env),
 *   no ABI symbol: hvcore 1.0.
 * - 2: this header (hvdm_plugin_main, hvdm_plugin_env, the exported
 *   hvdm_plugin_abi): hvcore 1.1. The environment's fields are those of
 *   ABI 1 under new names. hvcore 1.3 appends open_handle (still ABI 2:
 *   the struct only grew, as its size field allows).
 */
#ifndef HVCORE_HVDM_PLUGIN_H
#define HVCORE_HVDM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"

/** The plug-in ABI this header describes; hvdm_example.h was ABI 1. */
#define HVDM_PLUGIN_ABI 2
/** The name of the entry point the loader calls (dlsym). */
#define HVDM_PLUGIN_MAIN_SYMBOL "hvdm_plugin_main"
/** The name of the exported ABI constant the loader reads first (dlsym). */
#define HVDM_PLUGIN_ABI_SYMBOL "hvdm_plugin_abi"

/** Exports a symbol from the plug-in even when it is compiled with
 * -fvisibility=hidden. */
#if defined(__GNUC__)
#define HVDM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define HVDM_PLUGIN_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** What the loader gives hvdm_plugin_main. Every field is set by the
 * loader; the plug-in reads them and calls the callbacks, never writes. */
typedef struct hvdm_plugin_env {
    /** sizeof(hvdm_plugin_env) as the loader was compiled: a later ABI may
     * append fields, never reorder these. */
    uint32_t size;
    /** HVDM_PLUGIN_ABI of the loader (the loader has already checked that
     * it equals the plug-in's hvdm_plugin_abi). */
    uint32_t abi;
    /** The host the guest runs on: open a handle on it with hvdm_open. */
    hv_host *host;
    /** The guest's domain: the domid of every hvdm_* call. */
    hvdm_domid_t domid;
    /** NAME from `--dm NAME[:ARGS]` (NUL-terminated; never NULL). */
    const char *name;
    /** ARGS from `--dm NAME[:ARGS]`, or "" (never NULL); the plug-in
     * parses it. */
    const char *args;
    /** A descriptor that becomes readable once the plug-in must finish (the
     * guest has ended): poll it, never read or close it. */
    int stop_fd;
    /** Where the plug-in prints (its results and failures). */
    FILE *out;
    /** The first argument of the three callbacks below. */
    void *opaque;
    /** Reports a server this plug-in created and what it serves (`label`,
     * for the per-server statistics). Call it after the server exists and
     * before ready(). Never NULL. */
    void (*server_created)(void *opaque, hvdm_ioservid_t id, const char *label);
    /** Setup is complete: the guest may start. Call it exactly once, from
     * any thread, after the servers are enabled. Never NULL. */
    void (*ready)(void *opaque);
    /** Optional (may be NULL): call it with each request as served, before
     * its answer is posted; for a read, req->data holds the answer. Tests
     * compare these traces between KVM and the model vCPUs. */
    void (*trace)(void *opaque, hvdm_ioservid_t id, const hvdm_ioreq_t *req);
    /** Opens a new handle on the guest's host (hvcore 1.3; read it
     * through hvdm_plugin_open(), which checks that the loader's env has
     * it): hvdm_open(host) when the plug-in runs inside `hvcore run`,
     * hvdm_connect() to HVCORE_DM_SOCKET when it runs in a process of its
     * own (`hvcore dm NAME`, started by `hvcore run --dm-exec`; host is
     * then NULL). NULL if that fails. Each call is a new emulator identity;
     * close it with hvdm_close as any handle. Never NULL itself. */
    hvdm_handle *(*open_handle)(void *opaque);
} hvdm_plugin_env;

/** The handle a plug-in should serve with, wherever it runs: the loader's
 * open_handle when its environment has one (hvcore 1.3 and later, in a
 * process of its own or not), else hvdm_open(env->host) (an older loader,
 * in-process). A plug-in that calls this instead of hvdm_open runs
 * unchanged in `hvcore run --dm` and as a process (`hvcore dm`). */
static inline hvdm_handle *hvdm_plugin_open(const hvdm_plugin_env *env) {
    if (env->size >= offsetof(hvdm_plugin_env, open_handle) + sizeof env->open_handle && env->open_handle)
        return env->open_handle(env->opaque);
    return hvdm_open(env->host);
}

/** The type of hvdm_plugin_main, for the loader's dlsym. */
typedef int (*hvdm_plugin_main_fn)(const hvdm_plugin_env *env);

/** The plug-in ABI the module was built for: defined (once) by
 * HVDM_PLUGIN_DEFINE(), read by the loader before anything else. */
HVDM_PLUGIN_EXPORT extern const uint32_t hvdm_plugin_abi;

/** The plug-in's entry point (see "Lifecycle" above).
 * @param env the run's environment, valid until the function returns.
 * @return 0 if the plug-in's work and checks succeeded, non-zero otherwise
 * (the run fails). */
HVDM_PLUGIN_EXPORT int hvdm_plugin_main(const hvdm_plugin_env *env);

#ifdef __cplusplus
}
#endif

/** Defines the exported `const uint32_t hvdm_plugin_abi = HVDM_PLUGIN_ABI;`.
 * Write `HVDM_PLUGIN_DEFINE();` once, at file scope, in one source of the
 * plug-in. */
#ifdef __cplusplus
#define HVDM_PLUGIN_DEFINE() extern "C" HVDM_PLUGIN_EXPORT const uint32_t hvdm_plugin_abi = HVDM_PLUGIN_ABI
#else
#define HVDM_PLUGIN_DEFINE() HVDM_PLUGIN_EXPORT const uint32_t hvdm_plugin_abi = HVDM_PLUGIN_ABI
#endif

#endif /* HVCORE_HVDM_PLUGIN_H */
