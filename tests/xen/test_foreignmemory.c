/* SPDX-License-Identifier: MIT */
/* hvcore's libxenforeignmemory.so.1 through Xen's API (Debian's
 * <xenforeignmemory.h>), each call against what Xen 4.17 does
 * (tools/libs/foreignmemory/core.c and linux.c, Linux privcmd, Xen's
 * memory.c acquire_resource): xen/abi/foreignmemory[/socket].
 *
 * The process's connection is given in process (hvcore_xen_attach) or,
 * with HVCORE_TEST_TRANSPORT=socket, made by the library itself from
 * HVCORE_DM_SOCKET, the path of a listener this program opens on its own
 * host (as `hvcore run --dm-exec` sets it for a device model). */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#define __XEN_TOOLS__ 1 /* XENMEM_resource_*, as Xen's tools are built */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>
#include <xen/memory.h>

#include "hvcore/hv.h"
#include "hvcore/hvdm.h"
#include "hvx_common.h"

#define PAGE 4096u
#define RAM_BYTES (16u << 20) /* gfns 0..0xfff */
#define FIRST_HOLE_GFN (RAM_BYTES / PAGE)
#define NR_VCPUS 2u

static int failures;
#define EXPECT(cond)                                                              \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: FAILED: %s (errno %d)\n", __FILE__, __LINE__, #cond, errno); \
            ++failures;                                                           \
        }                                                                         \
    } while (0)
#define REQUIRE(cond)                                                             \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: FAILED (fatal): %s (errno %d)\n", __FILE__, __LINE__, #cond, errno); \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

static hv_host *host;
static hv_domain *dom;
static domid_t domid;
static hvdm_handle *dm; /* the process's handle: the library's (hvx_handle) */

static uint32_t mark(uint64_t gfn) { return 0x5a000000u | (uint32_t)gfn; }
static void set_mark(uint64_t gfn) {
    const uint32_t v = mark(gfn);
    REQUIRE(hv_guest_write(dom, gfn * PAGE, &v, sizeof v) == 0);
}
static uint32_t word_at(const void *base, unsigned page) {
    return *(const volatile uint32_t *)((const char *)base + (size_t)page * PAGE);
}
/* 1 if the kernel can read the byte (write(2) to a pipe: EFAULT, no signal). */
static int readable(const void *p) {
    int fds[2];
    ssize_t n;
    if (pipe(fds) != 0) return -1;
    n = write(fds[1], p, 1);
    close(fds[0]);
    close(fds[1]);
    return n == 1;
}

static void map_reports_each_page_in_err_and_leaves_holes_out(void) {
    const xen_pfn_t arr[] = {5, FIRST_HOLE_GFN, 3, 4, 5};
    const int want[] = {0, -EINVAL, 0, 0, 0};
    int err[5];
    unsigned i;
    xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
    void *p;
    REQUIRE(fmem != NULL);
    for (i = 0; i < 5; ++i)
        if (want[i] == 0) set_mark(arr[i]);
    memset(err, 0x55, sizeof err);
    p = xenforeignmemory_map(fmem, domid, PROT_READ | PROT_WRITE, 5, arr, err);
    REQUIRE(p != NULL);
    for (i = 0; i < 5; ++i) {
        EXPECT(err[i] == want[i]);
        EXPECT(readable((const char *)p + i * PAGE) == (want[i] == 0));
        if (want[i] == 0) EXPECT(word_at(p, i) == mark(arr[i]));
    }
    /* Shared with the guest: a store through page 0 (gfn 5) is in RAM and
     * seen through page 4 (gfn 5 again). */
    *(volatile uint32_t *)((char *)p + 64) = 0xfeed;
    {
        uint32_t v = 0;
        EXPECT(hv_guest_read(dom, 5 * PAGE + 64, &v, sizeof v) == 0 && v == 0xfeed);
    }
    EXPECT(*(volatile uint32_t *)((char *)p + 4 * PAGE + 64) == 0xfeed);
    EXPECT(xenforeignmemory_unmap(fmem, p, 5) == 0);
    /* Not a mapping any more: -1/EINVAL (munmap would say 0, see docs). */
    errno = 0;
    EXPECT(xenforeignmemory_unmap(fmem, p, 5) == -1 && errno == EINVAL);
    EXPECT(xenforeignmemory_close(fmem) == 0);
}

static void map_without_err_is_all_or_nothing_with_the_first_pages_errno(void) {
    const xen_pfn_t good[] = {7, 9};
    const xen_pfn_t bad[] = {7, FIRST_HOLE_GFN + 3, 9};
    xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
    void *p;
    REQUIRE(fmem != NULL);
    set_mark(7);
    set_mark(9);
    p = xenforeignmemory_map(fmem, domid, PROT_READ, 2, good, NULL);
    REQUIRE(p != NULL);
    EXPECT(word_at(p, 0) == mark(7) && word_at(p, 1) == mark(9));
    EXPECT(xenforeignmemory_unmap(fmem, p, 2) == 0);
    errno = 0;
    EXPECT(xenforeignmemory_map(fmem, domid, PROT_READ, 3, bad, NULL) == NULL && errno == EINVAL);
    /* The call's own errors: no pages, no such domain. */
    errno = 0;
    EXPECT(xenforeignmemory_map(fmem, domid, PROT_READ, 0, good, NULL) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_map(fmem, (uint32_t)domid + 100, PROT_READ, 2, good, NULL) == NULL && errno == ESRCH);
    EXPECT(xenforeignmemory_close(fmem) == 0);
}

static void map2_takes_a_hint_or_map_fixed(void) {
    const xen_pfn_t arr[] = {11, 10};
    int err[2];
    xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
    char *area;
    void *p;
    REQUIRE(fmem != NULL);
    set_mark(10);
    set_mark(11);
    area = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(area != MAP_FAILED);
    /* MAP_FIXED (with MAP_SHARED, which linux.c adds anyway): exactly there. */
    p = xenforeignmemory_map2(fmem, domid, area + PAGE, PROT_READ, MAP_FIXED | MAP_SHARED, 2, arr, err);
    EXPECT(p == area + PAGE);
    EXPECT(err[0] == 0 && err[1] == 0);
    EXPECT(word_at(area, 1) == mark(11) && word_at(area, 2) == mark(10));
    EXPECT(xenforeignmemory_unmap(fmem, p, 2) == 0);
    EXPECT(munmap(area, 4 * PAGE) == 0);
    /* Without MAP_FIXED the address is a hint only. */
    p = xenforeignmemory_map2(fmem, domid, NULL, PROT_READ, 0, 2, arr, err);
    EXPECT(p != NULL && word_at(p, 0) == mark(11));
    EXPECT(xenforeignmemory_unmap(fmem, p, 2) == 0);
    /* Flags hvcore does not take. */
    errno = 0;
    EXPECT(xenforeignmemory_map2(fmem, domid, NULL, PROT_READ, MAP_POPULATE, 2, arr, err) == NULL && errno == EINVAL);
    EXPECT(xenforeignmemory_close(fmem) == 0);
}

static void close_leaves_mappings_in_place(void) {
    const xen_pfn_t arr[] = {12};
    xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
    xenforeignmemory_handle *other;
    void *p;
    REQUIRE(fmem != NULL);
    set_mark(12);
    p = xenforeignmemory_map(fmem, domid, PROT_READ, 1, arr, NULL);
    REQUIRE(p != NULL);
    EXPECT(xenforeignmemory_close(fmem) == 0);
    EXPECT(word_at(p, 0) == mark(12)); /* still mapped */
    other = xenforeignmemory_open(NULL, 0);
    REQUIRE(other != NULL);
    EXPECT(xenforeignmemory_unmap(other, p, 1) == 0);
    EXPECT(xenforeignmemory_close(other) == 0);
    EXPECT(xenforeignmemory_close(NULL) == 0);
}

static void map_resource_maps_the_ring_then_the_slots_in_xens_order(void) {
    xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
    xenforeignmemory_resource_handle *fres;
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage *slots = NULL;
    hvdm_buffered_iopage *ring = NULL;
    void *addr = NULL;
    size_t size = 0;
    REQUIRE(fmem != NULL);
    REQUIRE(hvdm_create_ioreq_server(dm, domid, HVDM_BUFIOREQ_ATOMIC, &id) == 0);
    REQUIRE(hvdm_map_ioreq_pages(dm, domid, id, &slots, &ring) == 0);
    fres = xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_ioreq_server, id, 0, 2, &addr,
                                         PROT_READ | PROT_WRITE, 0);
    REQUIRE(fres != NULL && addr != NULL);
    /* Frame 0 the buffered ring, frame 1 the slots (vp_eport v in slot v). */
    ring->read_pointer = 0x1234;
    EXPECT(*(volatile uint32_t *)addr == 0x1234);
    EXPECT(((const hvdm_shared_iopage *)((char *)addr + PAGE))->vcpu_ioreq[1].vp_eport == 1);
    ((hvdm_shared_iopage *)((char *)addr + PAGE))->vcpu_ioreq[1].addr = 0xabcdef;
    EXPECT(slots->vcpu_ioreq[1].addr == 0xabcdef);
    EXPECT(xenforeignmemory_unmap_resource(fmem, fres) == 0);
    /* The slots alone, from frame 1. */
    addr = NULL;
    fres = xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_ioreq_server, id, 1, 1, &addr, PROT_READ, 0);
    REQUIRE(fres != NULL);
    EXPECT(((const hvdm_shared_iopage *)addr)->vcpu_ioreq[1].addr == 0xabcdef);
    EXPECT(xenforeignmemory_unmap_resource(fmem, fres) == 0);
    /* Xen's errnos: flags beyond MAP_SHARED/MAP_PRIVATE (core.c), a frame
     * beyond the resource, no such server, no such domain. */
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_ioreq_server, id, 0, 2, &addr, PROT_READ,
                                         MAP_FIXED) == NULL && errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_ioreq_server, id, 1, 2, &addr, PROT_READ, 0) ==
               NULL && errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_ioreq_server, id + 1, 0, 1, &addr, PROT_READ,
                                         0) == NULL && errno == ENOENT);
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid + 100, XENMEM_resource_ioreq_server, id, 0, 1, &addr, PROT_READ,
                                         0) == NULL && errno == ESRCH);
    /* Resources hvcore's domains do not have: a grant table, a vmtrace
     * buffer (-EINVAL, as Xen for a domain without them), an unknown type. */
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_grant_table, 0, 0, 1, &addr, PROT_READ, 0) ==
               NULL && errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid, XENMEM_resource_vmtrace_buf, 0, 0, 1, &addr, PROT_READ, 0) ==
               NULL && errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_map_resource(fmem, domid, 77, 0, 0, 1, &addr, PROT_READ, 0) == NULL &&
           errno == EOPNOTSUPP);
    /* The size: the ring and one page of slots (2 vCPUs), whatever the id. */
    EXPECT(xenforeignmemory_resource_size(fmem, domid, XENMEM_resource_ioreq_server, id, &size) == 0 &&
           size == 2 * PAGE);
    size = 0;
    EXPECT(xenforeignmemory_resource_size(fmem, domid, XENMEM_resource_ioreq_server, 999, &size) == 0 &&
           size == 2 * PAGE);
    errno = 0;
    EXPECT(xenforeignmemory_resource_size(fmem, domid, XENMEM_resource_grant_table, 0, &size) == -1 &&
           errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_resource_size(fmem, domid + 100, XENMEM_resource_ioreq_server, 0, &size) == -1 &&
           errno == ESRCH);
    EXPECT(hvdm_destroy_ioreq_server(dm, domid, id) == 0);
    EXPECT(xenforeignmemory_close(fmem) == 0);
}

/* Last: the restriction is the process's (one handle for all). */
static void restrict_is_privcmds(void) {
    const xen_pfn_t arr[] = {1};
    xenforeignmemory_handle *fmem = xenforeignmemory_open(NULL, 0);
    REQUIRE(fmem != NULL);
    EXPECT(xenforeignmemory_restrict(fmem, domid + 1) == 0);
    EXPECT(xenforeignmemory_restrict(fmem, domid + 1) == 0);
    errno = 0;
    EXPECT(xenforeignmemory_restrict(fmem, domid) == -1 && errno == EINVAL);
    errno = 0;
    EXPECT(xenforeignmemory_map(fmem, domid, PROT_READ, 1, arr, NULL) == NULL && errno == EPERM);
    EXPECT(xenforeignmemory_close(fmem) == 0);
}

int main(void) {
    hv_domain_config cfg;
    hv_dm_listener *listener = NULL;
    char path[64];
    const char *transport = getenv("HVCORE_TEST_TRANSPORT");
    const int socket_mode = transport != NULL && strcmp(transport, "socket") == 0;
    REQUIRE(hv_host_create(&host) == 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.size = sizeof cfg;
    cfg.arch = HV_ARCH_X86_VMX;
    cfg.ram_bytes = RAM_BYTES;
    cfg.nr_vcpus = NR_VCPUS;
    REQUIRE(hv_domain_create(host, &cfg, &dom) == 0);
    domid = hv_domain_id(dom);
    if (socket_mode) {
        snprintf(path, sizeof path, "xen-fmem-%ld.sock", (long)getpid());
        REQUIRE(hv_dm_listen(host, path, NULL, &listener) == 0);
        REQUIRE(setenv("HVCORE_DM_SOCKET", path, 1) == 0);
    } else {
        hvdm_handle *h = hvdm_open(host);
        REQUIRE(h != NULL && hvcore_xen_attach(h) == 0);
    }
    dm = hvx_handle();
    REQUIRE(dm != NULL);
    map_reports_each_page_in_err_and_leaves_holes_out();
    map_without_err_is_all_or_nothing_with_the_first_pages_errno();
    map2_takes_a_hint_or_map_fixed();
    close_leaves_mappings_in_place();
    map_resource_maps_the_ring_then_the_slots_in_xens_order();
    restrict_is_privcmds();
    if (listener != NULL) hv_dm_listener_close(listener);
    printf("xen foreignmemory (%s): %d failure(s)\n", socket_mode ? "socket" : "in process", failures);
    return failures == 0 ? 0 : 1;
}
