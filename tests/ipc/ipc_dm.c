/* SPDX-License-Identifier: MIT */
/* A device model in its own process, for tests/ipc/test_ipc.cpp: it
 * connects to $HVCORE_DM_SOCKET with hvdm_connect, as a real one would.
 *
 *   ipc_dm claim DOMID GPA   restrict to DOMID, create an enabled server
 *                            claiming the MMIO page at GPA, map its ioreq
 *                            pages, map guest page 1 read-write and write
 *                            0x600dcafe at its start, print "ready ID" and
 *                            wait forever without answering (the test kills
 *                            it with SIGKILL).
 *   ipc_dm uid UID           setuid(UID), then hvdm_connect: exit 0 if it
 *                            was refused with ECONNREFUSED, 1 if it connected,
 *                            2 for another errno, 3 if setuid failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hvcore/hvdm.h"

static int fail(const char *what, int rc) {
    fprintf(stderr, "ipc_dm: %s: %d\n", what, rc);
    return 10;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "uid") == 0) {
        hvdm_handle *h;
        if (setuid((uid_t)strtoul(argv[2], NULL, 0)) != 0) return 3;
        h = hvdm_connect(NULL);
        if (h != NULL) {
            hvdm_close(h);
            return 1;
        }
        return errno == ECONNREFUSED ? 0 : 2;
    }
    if (argc == 4 && strcmp(argv[1], "claim") == 0) {
        const hvdm_domid_t dom = (hvdm_domid_t)strtoul(argv[2], NULL, 0);
        const uint64_t gpa = strtoull(argv[3], NULL, 0);
        hvdm_handle *h = hvdm_connect(NULL);
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage *page = NULL;
        void *ram = NULL;
        uint64_t bad = 0;
        int rc;
        if (h == NULL) return fail("hvdm_connect", -errno);
        if ((rc = hvdm_restrict(h, dom)) != 0) return fail("hvdm_restrict", rc);
        if ((rc = hvdm_create_ioreq_server(h, dom, HVDM_BUFIOREQ_OFF, &id)) != 0) return fail("create", rc);
        if ((rc = hvdm_map_io_range_to_ioreq_server(h, dom, id, 1, gpa, gpa + 0xfff)) != 0) return fail("map", rc);
        if ((rc = hvdm_set_ioreq_server_state(h, dom, id, 1)) != 0) return fail("enable", rc);
        if ((rc = hvdm_map_ioreq_pages(h, dom, id, &page, NULL)) != 0) return fail("pages", rc);
        if ((rc = hvdm_map_guest_memory(h, dom, 1, 1, PROT_READ | PROT_WRITE, &ram, &bad)) != 0)
            return fail("guest memory", rc);
        *(volatile uint32_t *)ram = 0x600dcafeu;
        printf("ready %u\n", (unsigned)id);
        fflush(stdout);
        for (;;) pause();
    }
    fprintf(stderr, "usage: ipc_dm claim DOMID GPA | ipc_dm uid UID\n");
    return 2;
}
