/* SPDX-License-Identifier: MIT */
/* clitest: a device model for the command-line tests (tests/cli), built as
 * a plug-in like examples/dm. ARGS (or, without ARGS, the mode this copy
 * was built with, CLITEST_MODE) picks what it does:
 *   block  prints "clitest: blocking in setup", then waits for stop_fd
 *          without ever calling ready (a device model still setting up
 *          when Ctrl-C arrives); returns 0
 *   hang   claims the UART's ports and MMIO window, calls ready and never
 *          answers a request (a guest that runs into --timeout); returns 0
 *   fail   calls ready, serves nothing, and at the stop reports a failed
 *          check: returns 1
 *   ignore calls ready, serves nothing, and when stop_fd becomes readable
 *          prints "NAME: ignoring the stop" (NAME: its name, env->name)
 *          and never returns (a plug-in that ignores stop_fd: the
 *          host's --dm-grace)
 *   hang-ignore  "hang", then "ignore": the guest waits for an answer that
 *          never comes, and the plug-in never returns
 * Plain C99 on <hvcore/hvdm_plugin.h>, like the example models. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "../../examples/guests/guest_abi.h"
#include "dm_serve.h"

#ifndef CLITEST_MODE
#define CLITEST_MODE "fail"
#endif

/* Waits until the host makes stop_fd readable. */
static void wait_for_stop(const hvdm_plugin_env *env) {
    struct pollfd p;
    p.fd = env->stop_fd;
    p.events = POLLIN;
    p.revents = 0;
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
}

/* Waits for the stop, says so, then never returns. */
static void ignore_stop(const hvdm_plugin_env *env) {
    wait_for_stop(env);
    fprintf(env->out, "%s: ignoring the stop\n", env->name);
    fflush(env->out);
    for (;;) pause();
}

HVDM_PLUGIN_DEFINE();

/* shutdown mode: the first request shuts the domain down (DMOP 16), then
 * is answered. */
static int shut_down(void *self, hvdm_ioreq_t *req) {
    dm_server *s = (dm_server *)self;
    (void)req;
    return hvdm_shutdown(s->h, s->domid, HVDM_SHUTDOWN_POWEROFF);
}

HVDM_PLUGIN_EXPORT int hvdm_plugin_main(const hvdm_plugin_env *env) {
    const char *mode = env->args[0] != '\0' ? env->args : CLITEST_MODE;
    if (strcmp(mode, "block") == 0) {
        fprintf(env->out, "clitest: blocking in setup\n");
        fflush(env->out);
        wait_for_stop(env);
        return 0;
    }
    if (strcmp(mode, "ignore") == 0) {
        env->ready(env->opaque);
        ignore_stop(env);
        return 0; /* not reached */
    }
    if (strcmp(mode, "hang") == 0 || strcmp(mode, "hang-ignore") == 0 || strcmp(mode, "shutdown") == 0) {
        dm_server srv;
        int rc = dm_server_open(&srv, env,
                                strcmp(mode, "shutdown") == 0 ? "clitest: shuts the domain down at the first request"
                                                              : "clitest: claims the UART, never answers");
        if (rc == 0)
            rc = hvdm_map_io_range_to_ioreq_server(srv.h, env->domid, srv.id, 0, HVG_UART_PORT,
                                                   HVG_UART_PORT + HVG_UART_NR_PORTS - 1);
        if (rc == 0)
            rc = hvdm_map_io_range_to_ioreq_server(srv.h, env->domid, srv.id, 1, HVG_UART_MMIO,
                                                   HVG_UART_MMIO + HVG_UART_NR_PORTS - 1);
        if (rc != 0) {
            dm_server_close(&srv);
            return 1;
        }
        env->ready(env->opaque);
        if (strcmp(mode, "shutdown") == 0) {
            rc = dm_serve(&srv, env, shut_down, &srv);
            dm_server_close(&srv);
            return rc == 0 || rc == -ESHUTDOWN ? 0 : 1; /* the answer may find the domain stopped */
        }
        if (strcmp(mode, "hang-ignore") == 0) ignore_stop(env);
        wait_for_stop(env);
        dm_server_close(&srv);
        return 0;
    }
    if (strcmp(mode, "fail") == 0) {
        env->ready(env->opaque);
        wait_for_stop(env);
        fprintf(env->out, "clitest: FAILED (as asked)\n");
        fflush(env->out);
        return 1;
    }
    fprintf(env->out, "clitest: unknown mode '%s' (block, hang, fail, ignore, hang-ignore, shutdown)\n", mode);
    fflush(env->out);
    return 2;
}
