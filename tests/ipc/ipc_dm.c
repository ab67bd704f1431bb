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
 *   ipc_dm claim DOMID GPA type   the same, and it also claims the
 *                            ioreq_server type and makes gfn 2 of it.
 *   ipc_dm uid UID           setuid(UID), then hvdm_connect: exit 0 if it
 *                            was refused with ECONNREFUSED, 1 if it connected,
 *                            2 for another errno, 3 if setuid failed.
 *   ipc_dm corrupt DOMID GPA state|backwards
 *                            as claim, and it also claims the ioreq_server
 *                            type and makes gfn 2 of it; prints "ready ID",
 *                            waits for a request on its eventfd, then breaks
 *                            the protocol in vCPU 0's slot: "state" writes
 *                            state 7 and notifies, printing "notify RC next
 *                            RC2" (RC2: a later call's); "backwards" sets
 *                            INPROCESS, prints "inprocess", waits for a line
 *                            on stdin, sets READY (backwards), prints
 *                            "backwards", waits for a line, prints "next RC2".
 *   ipc_dm survive DOMID     creates servers A and B (ring, bufioreq
 *                            atomic), maps their ioreq pages, B's frame 1
 *                            (hvdm_map_resource) and guest page 1, keeps
 *                            their eventfds (hvdm_ioreq_fd), prints "ready A
 *                            B"; then per line on stdin ("server": it
 *                            destroys A itself; else what the host destroyed:
 *                            domain, host, or gone for the hang-up) checks
 *                            and prints "CMD RC MAPS READABLE SAME HUP": RC
 *                            a later call's on the server (A for "server",
 *                            else B), MAPS 1 if every mapping read back what
 *                            it wrote, READABLE 1 if that server's eventfd is
 *                            readable, SAME 1 if that descriptor is still the
 *                            same number and file (and hvdm_ioreq_fd gives no
 *                            other), HUP 1 if its socket is hung up.
 *   ipc_dm truncate DOMID    creates a server, maps its ioreq pages and
 *                            guest page 0 read-write, then calls ftruncate
 *                            to 0 and to 1 GiB on every memfd it holds (the
 *                            pages' memfd inside its handle), writes
 *                            0x5ea1ed to guest page 0 and to the last byte
 *                            of its pages, and prints "memfds N eperm M next
 *                            RC": M of N memfds refused both with EPERM, RC
 *                            a later call's. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
    if ((argc == 4 || (argc == 5 && strcmp(argv[4], "type") == 0)) && strcmp(argv[1], "claim") == 0) {
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
        if (argc == 5) {
            rc = hvdm_map_mem_type_to_ioreq_server(h, dom, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE);
            if (rc != 0) return fail("claim the type", rc);
            if ((rc = hvdm_set_mem_type(h, dom, HVDM_MEM_IOREQ_SERVER, 2, 1)) != 0) return fail("set_mem_type", rc);
        }
        if ((rc = hvdm_set_ioreq_server_state(h, dom, id, 1)) != 0) return fail("enable", rc);
        if ((rc = hvdm_map_ioreq_pages(h, dom, id, &page, NULL)) != 0) return fail("pages", rc);
        if ((rc = hvdm_map_guest_memory(h, dom, 1, 1, PROT_READ | PROT_WRITE, &ram, &bad)) != 0)
            return fail("guest memory", rc);
        *(volatile uint32_t *)ram = 0x600dcafeu;
        printf("ready %u\n", (unsigned)id);
        fflush(stdout);
        for (;;) pause();
    }
    if (argc == 5 && strcmp(argv[1], "corrupt") == 0) {
        const hvdm_domid_t dom = (hvdm_domid_t)strtoul(argv[2], NULL, 0);
        const uint64_t gpa = strtoull(argv[3], NULL, 0);
        const int backwards = strcmp(argv[4], "backwards") == 0;
        hvdm_handle *h = hvdm_connect(NULL);
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage *page = NULL;
        struct pollfd p;
        uint16_t t = 0;
        char line[64];
        int rc, fd;
        if (h == NULL) return fail("hvdm_connect", -errno);
        if ((rc = hvdm_restrict(h, dom)) != 0) return fail("hvdm_restrict", rc);
        if ((rc = hvdm_create_ioreq_server(h, dom, HVDM_BUFIOREQ_OFF, &id)) != 0) return fail("create", rc);
        if ((rc = hvdm_map_io_range_to_ioreq_server(h, dom, id, 1, gpa, gpa + 0xfff)) != 0) return fail("map", rc);
        if ((rc = hvdm_map_mem_type_to_ioreq_server(h, dom, id, HVDM_MEM_IOREQ_SERVER, HVDM_IOREQ_MEM_ACCESS_WRITE)) !=
            0)
            return fail("claim the type", rc);
        if ((rc = hvdm_set_mem_type(h, dom, HVDM_MEM_IOREQ_SERVER, 2, 1)) != 0) return fail("set_mem_type", rc);
        if ((rc = hvdm_set_ioreq_server_state(h, dom, id, 1)) != 0) return fail("enable", rc);
        if ((rc = hvdm_map_ioreq_pages(h, dom, id, &page, NULL)) != 0) return fail("pages", rc);
        if ((fd = hvdm_ioreq_fd(h, dom, id)) < 0) return fail("fd", fd);
        printf("ready %u\n", (unsigned)id);
        fflush(stdout);
        p.fd = fd;
        p.events = POLLIN;
        while (page->vcpu_ioreq[0].state != HVDM_STATE_IOREQ_READY)
            if (poll(&p, 1, 10000) != 1) return fail("no request", 0);
        if (!backwards) {
            page->vcpu_ioreq[0].state = 7;
            rc = hvdm_ioreq_notify(h, dom, id, 0);
            printf("notify %d next %d\n", rc, hvdm_get_mem_type(h, dom, 0, &t));
            fflush(stdout);
            return hvdm_close(h) == 0 ? 0 : 11;
        }
        page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_INPROCESS;
        printf("inprocess\n");
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL) return fail("stdin", 0);
        page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_READY;
        printf("backwards\n");
        fflush(stdout);
        if (fgets(line, sizeof line, stdin) == NULL) return fail("stdin", 0);
        printf("next %d\n", hvdm_get_mem_type(h, dom, 0, &t));
        fflush(stdout);
        return hvdm_close(h) == 0 ? 0 : 11;
    }
    if (argc == 3 && strcmp(argv[1], "survive") == 0) {
        const hvdm_domid_t dom = (hvdm_domid_t)strtoul(argv[2], NULL, 0);
        hvdm_handle *h = hvdm_connect(NULL);
        hvdm_ioservid_t id[2] = {0, 0};
        hvdm_shared_iopage *page[2] = {NULL, NULL};
        void *res = NULL, *ram = NULL;
        uint64_t bad = 0;
        struct stat st0[2], st;
        char line[64];
        int rc, fd[2], sock = -1;
        uint32_t round = 0;
        if (h == NULL) return fail("hvdm_connect", -errno);
        /* the handle's socket: the only one this process has */
        for (int i = 3; i < 256 && sock < 0; ++i)
            if (fstat(i, &st) == 0 && S_ISSOCK(st.st_mode)) sock = i;
        if (sock < 0) return fail("no socket", 0);
        for (int k = 0; k < 2; ++k) {
            if ((rc = hvdm_create_ioreq_server(h, dom, HVDM_BUFIOREQ_ATOMIC, &id[k])) != 0) return fail("create", rc);
            if ((rc = hvdm_map_ioreq_pages(h, dom, id[k], &page[k], NULL)) != 0) return fail("pages", rc);
            if ((fd[k] = hvdm_ioreq_fd(h, dom, id[k])) < 0) return fail("fd", fd[k]);
            if (fstat(fd[k], &st0[k]) != 0) return fail("fstat", -errno);
        }
        if ((rc = hvdm_map_resource(h, dom, id[1], 1, 1, PROT_READ | PROT_WRITE, &res)) != 0)
            return fail("resource", rc);
        if ((rc = hvdm_map_guest_memory(h, dom, 1, 1, PROT_READ | PROT_WRITE, &ram, &bad)) != 0)
            return fail("guest memory", rc);
        printf("ready %u %u\n", (unsigned)id[0], (unsigned)id[1]);
        fflush(stdout);
        while (fgets(line, sizeof line, stdin) != NULL) {
            /* "server": it destroys server A itself; otherwise the host
             * destroyed something, and server B is asked about. */
            const int k = strncmp(line, "server", 6) == 0 ? 0 : 1;
            struct pollfd pe = {fd[k], POLLIN, 0}, ps = {sock, POLLIN | POLLRDHUP, 0};
            volatile uint32_t *words[4];
            int maps = 1, readable, same, hup;
            line[strcspn(line, "\n")] = '\0';
            ++round;
            if (k == 0 && (rc = hvdm_destroy_ioreq_server(h, dom, id[0])) != 0) return fail("destroy", rc);
            words[0] = (volatile uint32_t *)&page[0]->vcpu_ioreq[1].data;
            words[1] = (volatile uint32_t *)&page[1]->vcpu_ioreq[1].data;
            words[2] = (volatile uint32_t *)((char *)res + 0x800);
            words[3] = (volatile uint32_t *)ram;
            for (int i = 0; i < 4; ++i) *words[i] = 0xa5a50000u + round * 16 + (uint32_t)i;
            for (int i = 0; i < 4; ++i) maps = maps && *words[i] == 0xa5a50000u + round * 16 + (uint32_t)i;
            readable = poll(&pe, 1, 2000) == 1 && (pe.revents & POLLIN) != 0;
            same = fstat(fd[k], &st) == 0 && st.st_ino == st0[k].st_ino && st.st_dev == st0[k].st_dev &&
                   hvdm_ioreq_fd(h, dom, id[k]) < 0;
            rc = hvdm_set_ioreq_server_state(h, dom, id[k], 1);
            hup = poll(&ps, 1, 0) == 1 && (ps.revents & (POLLHUP | POLLRDHUP)) != 0;
            printf("%s %d %d %d %d %d\n", line, rc, maps, readable, same, hup);
            fflush(stdout);
        }
        return hvdm_close(h) == 0 ? 0 : 11;
    }
    if (argc == 3 && strcmp(argv[1], "truncate") == 0) {
        const hvdm_domid_t dom = (hvdm_domid_t)strtoul(argv[2], NULL, 0);
        hvdm_handle *h = hvdm_connect(NULL);
        hvdm_ioservid_t id = 0;
        hvdm_shared_iopage *page = NULL;
        void *ram = NULL;
        uint64_t bad = 0;
        uint16_t t = 0;
        int rc, memfds = 0, eperm = 0;
        if (h == NULL) return fail("hvdm_connect", -errno);
        if ((rc = hvdm_create_ioreq_server(h, dom, HVDM_BUFIOREQ_OFF, &id)) != 0) return fail("create", rc);
        if ((rc = hvdm_map_ioreq_pages(h, dom, id, &page, NULL)) != 0) return fail("pages", rc);
        if ((rc = hvdm_map_guest_memory(h, dom, 0, 1, PROT_READ | PROT_WRITE, &ram, &bad)) != 0)
            return fail("guest memory", rc);
        for (int i = 3; i < 1024; ++i) {
            char link[64], target[256];
            ssize_t n;
            int shrink, grow;
            snprintf(link, sizeof link, "/proc/self/fd/%d", i);
            n = readlink(link, target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = '\0';
            if (strncmp(target, "/memfd:", 7) != 0) continue;
            ++memfds;
            errno = 0;
            shrink = ftruncate(i, 0) == -1 && errno == EPERM;
            errno = 0;
            grow = ftruncate(i, (off_t)1 << 30) == -1 && errno == EPERM;
            eperm += shrink && grow;
        }
        *(volatile uint32_t *)ram = 0x5ea1edu;
        ((volatile unsigned char *)page)[4095] = 1; /* the slots' page, to its end */
        printf("memfds %d eperm %d next %d\n", memfds, eperm, hvdm_get_mem_type(h, dom, 0, &t));
        fflush(stdout);
        return hvdm_close(h) == 0 ? 0 : 11;
    }
    fprintf(stderr, "usage: ipc_dm claim DOMID GPA | uid UID | corrupt DOMID GPA state|backwards | survive DOMID | truncate DOMID\n");
    return 2;
}
