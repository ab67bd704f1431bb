/* SPDX-License-Identifier: MIT */
/* An out-of-process device model in C99: the sequence checker of dm_seq.h
 * in its own process, connected with hvdm_connect, as a real device model
 * runs. Used by tests/ipc/test_load.cpp and bench/bench_roundtrip.cpp.
 *
 *   dm_proc [-s SOCKET] DOMID ARCH GPA GFN IRQ
 *
 * SOCKET: the listener's path (default: $HVCORE_DM_SOCKET). ARCH: x86,
 * arm64 or riscv64 (which interrupt call applies). GPA: the MMIO page it
 * claims. GFN: the guest RAM page it maps. IRQ: the line it asserts (x86:
 * ISA irq; arm64/riscv64: SPI INTID). It prints "ready ID" once serving,
 * serves with hvdm_serve until its standard input becomes readable or hangs
 * up, then prints its counts (dmseq_report) and exits 0 if no error was
 * seen, 1 otherwise; 2 for bad arguments, 3 if a call failed (named on
 * standard error). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_seq.h"

static dmseq state;

static int usage(void) {
    fprintf(stderr, "usage: dm_proc [-s SOCKET] DOMID x86|arm64|riscv64 GPA GFN IRQ\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *sock = NULL;
    const char *what = "";
    enum dmseq_arch arch;
    hvdm_handle *h;
    hvdm_domid_t domid;
    uint64_t gpa, gfn;
    unsigned int irq;
    int rc, a = 1;
    if (argc > 2 && strcmp(argv[1], "-s") == 0) {
        sock = argv[2];
        a = 3;
    }
    if (argc - a != 5) return usage();
    domid = (hvdm_domid_t)strtoul(argv[a], NULL, 0);
    if (strcmp(argv[a + 1], "x86") == 0)
        arch = DMSEQ_X86;
    else if (strcmp(argv[a + 1], "arm64") == 0 || strcmp(argv[a + 1], "riscv64") == 0)
        arch = DMSEQ_ARM;
    else
        return usage();
    gpa = strtoull(argv[a + 2], NULL, 0);
    gfn = strtoull(argv[a + 3], NULL, 0);
    irq = (unsigned int)strtoul(argv[a + 4], NULL, 0);
    h = hvdm_connect(sock);
    if (h == NULL) {
        fprintf(stderr, "dm_proc: hvdm_connect: %s\n", strerror(errno));
        return 3;
    }
    if ((rc = hvdm_restrict(h, domid)) != 0) what = "hvdm_restrict";
    if (rc == 0) rc = dmseq_setup(&state, h, domid, gpa, gfn, arch, irq, &what);
    if (rc != 0) {
        fprintf(stderr, "dm_proc: %s: %s\n", what, strerror(-rc));
        hvdm_close(h);
        return 3;
    }
    printf("ready %u\n", (unsigned)state.id);
    fflush(stdout);
    rc = hvdm_serve(h, domid, &state.id, 1, 0, dmseq_serve, &state);
    if (rc != 0) fprintf(stderr, "dm_proc: hvdm_serve: %s\n", strerror(-rc));
    rc = dmseq_report(&state, stdout) == 0 && rc == 0 ? 0 : 1;
    hvdm_close(h);
    return rc;
}
