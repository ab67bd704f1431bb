/* SPDX-License-Identifier: MIT */
/* standalone_uart: a device model for `hvcore run --dm`, built out of tree
 * against an installed hvcore - with the Makefile (pkg-config) or the
 * CMakeLists.txt (find_package) next to it. Plain C99 on
 * <hvcore/hvdm_plugin.h>; it links nothing (the `hvcore` program that loads
 * it exports the C ABI).
 *
 * A tiny 16550-like UART for the bundled `console` guest: it claims the
 * eight registers at ports 0x3f8-0x3ff (and the same registers at MMIO
 * 0x09000000, where the guest's Arm64 model trace has them), answers LSR
 * reads with "transmitter empty" so that the polling guest never waits, and
 * prints each line the guest writes to THR as "standalone-uart| <line>".
 * Register offsets and LSR bits: National Semiconductor PC16550D data
 * sheet, table 2 (THR +0, LSR +5; LSR bit 5 THRE, bit 6 TEMT).
 *
 *   hvcore run console --on model --dm ./hvdm-standalone-uart.so */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <string.h>

#include <hvcore/hvdm_plugin.h>

HVDM_PLUGIN_DEFINE();

#define UART_PORT 0x3f8u      /* the console guest's 16550 */
#define UART_MMIO 0x09000000u /* the same registers as MMIO */
#define UART_NR_REGS 8u
#define REG_THR 0u
#define REG_LSR 5u
#define LSR_THRE_TEMT 0x60u

struct uart {
    const hvdm_plugin_env *env;
    char line[160];
    size_t len;
    unsigned long lines;
};

static void flush_line(struct uart *u) {
    u->line[u->len] = '\0';
    fprintf(u->env->out, "standalone-uart| %s\n", u->line);
    fflush(u->env->out);
    u->len = 0;
    ++u->lines;
}

/* hvdm_serve calls this for every request on the server. */
static int serve(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct uart *u = (struct uart *)opaque;
    const uint64_t base = req->type == HVDM_IOREQ_TYPE_PIO ? UART_PORT : UART_MMIO;
    uint64_t reg;

    (void)id;
    if (req->type != HVDM_IOREQ_TYPE_PIO && req->type != HVDM_IOREQ_TYPE_COPY) return -EINVAL;
    if (req->count != 1 || req->data_is_ptr) return -EOPNOTSUPP; /* no string I/O on a UART */
    reg = req->addr - base;
    if (req->dir == HVDM_IOREQ_READ) {
        req->data = reg == REG_LSR ? LSR_THRE_TEMT : 0;
        return 0;
    }
    if (reg == REG_THR) {
        const char c = (char)(req->data & 0xff);
        if (c == '\n' || u->len == sizeof u->line - 1) flush_line(u);
        if (c != '\n' && c != '\r') u->line[u->len++] = c;
    }
    return 0;
}

static int fail(const hvdm_plugin_env *env, hvdm_handle *h, const char *what, int rc) {
    fprintf(env->out, "standalone-uart: FAILED: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    fflush(env->out);
    if (h != NULL) hvdm_close(h);
    return 1;
}

HVDM_PLUGIN_EXPORT int hvdm_plugin_main(const hvdm_plugin_env *env) {
    struct uart u;
    hvdm_handle *h;
    hvdm_ioservid_t id;
    hvdm_shared_iopage *page = NULL;
    hvdm_buffered_iopage *buffered = NULL;
    int rc;

    memset(&u, 0, sizeof u);
    u.env = env;
    h = hvdm_open(env->host);
    if (h == NULL) return fail(env, NULL, "hvdm_open", -ENOMEM);
    /* A synchronous server (no buffered ring): every access waits for us. */
    rc = hvdm_create_ioreq_server(h, env->domid, HVDM_BUFIOREQ_OFF, &id);
    if (rc != 0) return fail(env, h, "hvdm_create_ioreq_server", rc);
    rc = hvdm_map_ioreq_pages(h, env->domid, id, &page, &buffered);
    if (rc != 0) return fail(env, h, "hvdm_map_ioreq_pages", rc);
    rc = hvdm_map_io_range_to_ioreq_server(h, env->domid, id, 0, UART_PORT, UART_PORT + UART_NR_REGS - 1);
    if (rc != 0) return fail(env, h, "claim ports 0x3f8-0x3ff", rc);
    rc = hvdm_map_io_range_to_ioreq_server(h, env->domid, id, 1, UART_MMIO, UART_MMIO + UART_NR_REGS - 1);
    if (rc != 0) return fail(env, h, "claim MMIO 0x09000000", rc);
    rc = hvdm_set_ioreq_server_state(h, env->domid, id, 1);
    if (rc != 0) return fail(env, h, "enable the server", rc);
    env->server_created(env->opaque, id, "standalone 16550 at ports 0x3f8-0x3ff");
    env->ready(env->opaque);

    /* Until the guest has ended (stop_fd readable) or serve() fails. */
    rc = hvdm_serve(h, env->domid, &id, 1, env->stop_fd, serve, &u);
    if (u.len != 0) flush_line(&u);
    if (rc != 0) return fail(env, h, "hvdm_serve", rc);
    fprintf(env->out, "standalone-uart: %lu lines from the guest\n", u.lines);
    fflush(env->out);
    hvdm_close(h);
    return 0;
}
