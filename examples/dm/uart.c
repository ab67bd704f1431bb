/* SPDX-License-Identifier: MIT */
/* uart: a 16550-style UART device model (plain C99, <hvcore/hvdm_plugin.h> only).
 *
 * Claims ports 0x3f8-0x3ff (and the same eight registers as an MMIO window
 * at HVG_UART_MMIO, for architectures without port I/O), prints each line
 * the guest transmits as "guest| <line>", answers LSR reads with "THR
 * empty, transmitter empty" so a polling guest never waits, and keeps the
 * registers a driver writes (IER, LCR, MCR, SCR, divisor latch). No input,
 * no interrupts.
 *
 * Arguments: none; any (--dm uart:ARGS) is refused before it is ready (a
 * setup error for the host). Exit status 0 unless the hypervisor refuses a
 * call. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <string.h>

#include "../guests/guest_abi.h"
#include "dm_serve.h"

/* 16550 register offsets (National Semiconductor PC16550D data sheet,
 * table 2); DLAB is LCR bit 7. */
enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80
#define IIR_NO_INTERRUPT 0x01
#define MSR_DCD_DSR_CTS 0xb0

#define LINE_MAX 200

struct uart {
    dm_server srv;
    const hvdm_plugin_env *env;
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    char line[LINE_MAX + 1];
    size_t len;
    unsigned long bytes, lines;
};

static void flush_line(struct uart *u) {
    u->line[u->len] = '\0';
    fprintf(u->env->out, "guest| %s\n", u->line);
    fflush(u->env->out);
    u->len = 0;
    ++u->lines;
}

static void transmit(struct uart *u, uint8_t c) {
    ++u->bytes;
    if (c == '\n') {
        flush_line(u);
        return;
    }
    if (c == '\r') return;
    u->line[u->len++] = (char)((c >= 0x20 && c < 0x7f) ? c : '.');
    if (u->len == LINE_MAX) flush_line(u);
}

static uint8_t reg_read(struct uart *u, unsigned int reg) {
    const int dlab = (u->lcr & LCR_DLAB) != 0;
    switch (reg) {
    case RBR_THR: return dlab ? u->dll : 0; /* nothing received */
    case IER: return dlab ? u->dlm : u->ier;
    case IIR_FCR: return IIR_NO_INTERRUPT;
    case LCR: return u->lcr;
    case MCR: return u->mcr;
    case LSR: return HVG_UART_LSR_THRE | HVG_UART_LSR_TEMT;
    case MSR: return MSR_DCD_DSR_CTS;
    default: return u->scr;
    }
}

static void reg_write(struct uart *u, unsigned int reg, uint8_t v) {
    const int dlab = (u->lcr & LCR_DLAB) != 0;
    switch (reg) {
    case RBR_THR:
        if (dlab) u->dll = v;
        else transmit(u, v);
        break;
    case IER:
        if (dlab) u->dlm = v;
        else u->ier = v;
        break;
    case IIR_FCR: break; /* FIFO control: nothing to do without a FIFO */
    case LCR: u->lcr = v; break;
    case MCR: u->mcr = v; break;
    case LSR: case MSR: break; /* read-only */
    default: u->scr = v; break;
    }
}

static int handle(void *self, hvdm_ioreq_t *req) {
    struct uart *u = (struct uart *)self;
    uint64_t base;
    unsigned int i, off;
    if (req->type == HVDM_IOREQ_TYPE_PIO) {
        base = HVG_UART_PORT;
    } else if (req->type == HVDM_IOREQ_TYPE_COPY) {
        base = HVG_UART_MMIO;
    } else {
        return dm_fail(u->env, "a request of a type the UART does not serve", -EINVAL);
    }
    if (req->count != 1 || req->data_is_ptr)
        return dm_fail(u->env, "a string (rep) access to the UART", -EOPNOTSUPP);
    off = (unsigned int)(req->addr - base);
    /* A wider access touches consecutive byte registers. */
    if (req->dir == HVDM_IOREQ_READ) {
        uint64_t v = 0;
        for (i = 0; i < req->size && off + i < HVG_UART_NR_PORTS; ++i)
            v |= (uint64_t)reg_read(u, off + i) << (8 * i);
        req->data = v;
    } else {
        for (i = 0; i < req->size && off + i < HVG_UART_NR_PORTS; ++i)
            reg_write(u, off + i, (uint8_t)(req->data >> (8 * i)));
    }
    return 0;
}

HVDM_PLUGIN_DEFINE();

HVDM_PLUGIN_EXPORT int hvdm_plugin_main(const hvdm_plugin_env *env) {
    struct uart u;
    int rc;

    memset(&u, 0, sizeof u);
    u.env = env;
    if (env->args != NULL && env->args[0] != '\0') {
        fprintf(env->out, "%s: FAILED: takes no arguments, got \"%s\"\n", env->name, env->args);
        fflush(env->out);
        return 1;
    }
    rc = dm_server_open(&u.srv, env, "16550 at ports 0x3f8-0x3ff, MMIO 0x9000000");
    if (rc == 0) {
        rc = hvdm_map_io_range_to_ioreq_server(u.srv.h, env->domid, u.srv.id, 0, HVG_UART_PORT,
                                               HVG_UART_PORT + HVG_UART_NR_PORTS - 1);
        if (rc != 0) rc = dm_fail(env, "map ports 0x3f8-0x3ff", rc);
    }
    if (rc == 0) {
        rc = hvdm_map_io_range_to_ioreq_server(u.srv.h, env->domid, u.srv.id, 1, HVG_UART_MMIO,
                                               HVG_UART_MMIO + HVG_UART_NR_PORTS - 1);
        if (rc != 0) rc = dm_fail(env, "map the MMIO window", rc);
    }
    if (rc != 0) {
        dm_server_close(&u.srv);
        return 1;
    }
    env->ready(env->opaque);

    rc = dm_serve(&u.srv, env, handle, &u);
    if (u.len != 0) flush_line(&u);
    fprintf(env->out, "%s: %lu bytes, %lu lines from the guest; %lu requests served%s\n", env->name, u.bytes,
            u.lines, u.srv.served, rc == 0 ? "" : " (stopped by an error)");
    fflush(env->out);
    dm_server_close(&u.srv);
    return rc == 0 ? 0 : 1;
}
