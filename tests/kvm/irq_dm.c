/* SPDX-License-Identifier: MIT */
/* The device model of kvm/an_isa_irq_raised_by_a_device_model_process_
 * reaches_the_8259_irr (test_kvm_irq.cpp), in a process of its own: it
 * connects to the test's listener with hvdm_connect, as a real device model
 * does, and raises the guest's interrupt lines (pic_irr.S) over that
 * connection at the points the guest expects them.
 *
 *   irq_dm SOCKET DOMID
 *
 * It restricts itself to DOMID (hvdm_restrict), creates an ioreq server
 * claiming ports 0x510-0x511 (pic_irr.S's report and next ports), maps its
 * ioreq pages, enables it and prints "ready ID". It then serves with
 * hvdm_serve until its standard input becomes readable or hangs up; each
 * request is recorded, and before it is answered (so the vCPU that wrote
 * it is still waiting):
 *   - the first one (the guest's report of the master IRR before anything
 *     was raised): hvdm_set_isa_irq_level(5, 1), then hvdm_inject_msi
 *     (Fixed, vector 0x41, APIC ID 0);
 *   - a write to port 0x511: hvdm_set_pci_link_route(link 0 -> ISA irq 10),
 *     then hvdm_set_pci_intx_level(device 0, INTA, 1) (GSI 16, on link 0).
 * At the end it prints "rc RAISE MSI ROUTE INTX" (each call's return, -1
 * if it was not made), then "seen ADDR DIR SIZE DATA" (decimal) per
 * request in order, and exits 0 if serving ended normally; 2 for bad
 * arguments, 3 if the setup failed, 1 if serving did (named on standard
 * error). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvcore/hvdm.h"

#define REPORT_PORT 0x510u
#define NEXT_PORT 0x511u
#define MAX_SEEN 16u

typedef struct {
    hvdm_handle *h;
    hvdm_domid_t domid;
    unsigned int nr_seen;
    hvdm_ioreq_t seen[MAX_SEEN];
    int raise_rc, msi_rc, route_rc, intx_rc;
} irq_dm;

static int serve(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    irq_dm *s = (irq_dm *)opaque;
    const unsigned int index = s->nr_seen;
    (void)id;
    if (s->nr_seen < MAX_SEEN) s->seen[s->nr_seen++] = *req;
    if (req->dir == HVDM_IOREQ_READ) req->data = ~(uint64_t)0;
    if (index == 0) {
        s->raise_rc = hvdm_set_isa_irq_level(s->h, s->domid, 5, 1);
        /* KVM_SIGNAL_MSI: the guest's LAPIC is software-disabled, so KVM
         * reports it blocked, which is 0 (as Xen's vmsi_deliver for a
         * Fixed MSI nobody takes). */
        s->msi_rc = hvdm_inject_msi(s->h, s->domid, 0xfee00000u, 0x41);
    } else if (req->addr == NEXT_PORT && req->dir == HVDM_IOREQ_WRITE) {
        s->route_rc = hvdm_set_pci_link_route(s->h, s->domid, 0, 10);
        /* device 0 INTA: GSI 16, PCI link 0 -> ISA irq 10 (slave IR2) */
        s->intx_rc = hvdm_set_pci_intx_level(s->h, s->domid, 0, 0, 0, 0, 1);
    }
    return 0;
}

int main(int argc, char **argv) {
    static irq_dm s;
    const char *what = "";
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage *page = NULL;
    unsigned int i;
    int rc;
    if (argc != 3) {
        fprintf(stderr, "usage: irq_dm SOCKET DOMID\n");
        return 2;
    }
    s.domid = (hvdm_domid_t)strtoul(argv[2], NULL, 0);
    s.raise_rc = s.msi_rc = s.route_rc = s.intx_rc = -1;
    s.h = hvdm_connect(argv[1]);
    if (s.h == NULL) {
        fprintf(stderr, "irq_dm: hvdm_connect %s: %s\n", argv[1], strerror(errno));
        return 3;
    }
    what = "hvdm_restrict";
    rc = hvdm_restrict(s.h, s.domid);
    if (rc == 0) {
        what = "hvdm_create_ioreq_server";
        rc = hvdm_create_ioreq_server(s.h, s.domid, HVDM_BUFIOREQ_OFF, &id);
    }
    if (rc == 0) {
        what = "hvdm_map_io_range_to_ioreq_server";
        rc = hvdm_map_io_range_to_ioreq_server(s.h, s.domid, id, 0, REPORT_PORT, NEXT_PORT);
    }
    if (rc == 0) {
        what = "hvdm_map_ioreq_pages";
        rc = hvdm_map_ioreq_pages(s.h, s.domid, id, &page, NULL);
    }
    if (rc == 0) {
        what = "hvdm_set_ioreq_server_state";
        rc = hvdm_set_ioreq_server_state(s.h, s.domid, id, 1);
    }
    if (rc != 0) {
        fprintf(stderr, "irq_dm: %s: %s\n", what, strerror(-rc));
        hvdm_close(s.h);
        return 3;
    }
    printf("ready %u\n", (unsigned)id);
    fflush(stdout);
    rc = hvdm_serve(s.h, s.domid, &id, 1, 0, serve, &s);
    if (rc != 0) fprintf(stderr, "irq_dm: hvdm_serve: %s\n", strerror(-rc));
    printf("rc %d %d %d %d\n", s.raise_rc, s.msi_rc, s.route_rc, s.intx_rc);
    for (i = 0; i < s.nr_seen; ++i)
        printf("seen %llu %u %u %llu\n", (unsigned long long)s.seen[i].addr, (unsigned)s.seen[i].dir,
               (unsigned)s.seen[i].size, (unsigned long long)s.seen[i].data);
    fflush(stdout);
    hvdm_close(s.h);
    return rc == 0 ? 0 : 1;
}
