/* SPDX-License-Identifier: MIT */
/* Which vCPU fired, as Xen's event channels tell a device model
 * (xenevtchn_pending; QEMU hw/xen/xen-hvm-common.c cpu_get_ioreq): port v
 * is vCPU v's slot (its vp_eport), port nr_vcpus the buffered ring's (the
 * bufioreq_port of hvdm_get_ioreq_server_info). hvdm_ioreq_pending
 * reports each fired port once, lowest first; the answer to vCPU v reaches
 * vCPU v only; hvdm_serve_pending serves the fired slots; and the typed
 * get_ioreq_server_info has Xen's errnos. */
#include "abi_test.h"

#define VCPUS 8u

/* 8 vCPUs, an enabled server holding TEST_MMIO_GPA's page and, with a ring, VGA's first page (server_setup). */
static int setup(struct fixture *f, struct server *s, int mode) {
    const int rc = fixture_create_with(f, TEST_RAM_BYTES, VCPUS, 0);
    return rc != 0 ? rc : server_setup(f, s, mode);
}

static int pending(struct fixture *f, struct server *s, uint32_t *ports, unsigned n) {
    return hvdm_ioreq_pending(f->dm, f->domid, s->id, ports, n);
}

static void a_request_on_vcpu_3_of_8_fires_exactly_port_3(void) {
    struct fixture f;
    struct server s;
    uint32_t ports[HVDM_MAX_PORTS];
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    EXPECT_EQ(0, pending(&f, &s, ports, HVDM_MAX_PORTS)); /* nothing yet */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 3, TEST_MMIO_GPA, 4, &value));
    EXPECT_EQ(3, s.page->vcpu_ioreq[3].vp_eport);
    EXPECT_TRUE(fd_readable(s.fd));
    REQUIRE_EQ(1, pending(&f, &s, ports, HVDM_MAX_PORTS));
    EXPECT_EQ(3, ports[0]);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[3].state); /* reported ports are READY */
    EXPECT_TRUE(!fd_readable(s.fd)); /* the call read the descriptor */
    EXPECT_EQ(0, pending(&f, &s, ports, HVDM_MAX_PORTS)); /* reported once */
    fixture_destroy(&f);
}

static void a_ring_post_fires_port_nr_vcpus_the_bufioreq_port(void) {
    struct fixture f;
    struct server s;
    uint32_t ports[HVDM_MAX_PORTS];
    uint32_t port = 0xdeadu;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_ATOMIC));
    REQUIRE_EQ(0, hvdm_get_ioreq_server_info(f.dm, f.domid, s.id, NULL, NULL, &port));
    EXPECT_EQ(VCPUS, port);
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 2, TEST_VGA_GPA, 2, 0xbeef));
    /* three more posts before the call: still one port */
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 2, TEST_VGA_GPA + 2, 2, 1));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 6, TEST_VGA_GPA + 4, 2, 2));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 6, 2, 3));
    REQUIRE_EQ(1, pending(&f, &s, ports, HVDM_MAX_PORTS));
    EXPECT_EQ(VCPUS, ports[0]);
    EXPECT_EQ(4, s.buf->write_pointer);
    EXPECT_EQ(0, pending(&f, &s, ports, HVDM_MAX_PORTS));
    fixture_destroy(&f);
}

static void ports_come_lowest_first_n_at_a_time_and_the_descriptor_stays_readable_while_some_are_left(void) {
    struct fixture f;
    struct server s;
    uint32_t ports[HVDM_MAX_PORTS];
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 7, TEST_MMIO_GPA, 4, &value));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 5, TEST_MMIO_GPA, 4, 5));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, TEST_VGA_GPA, 1, 1));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, 4, &value));
    REQUIRE_EQ(1, pending(&f, &s, ports, 1));
    EXPECT_EQ(0, ports[0]);
    EXPECT_TRUE(fd_readable(s.fd));
    REQUIRE_EQ(2, pending(&f, &s, ports, 2));
    EXPECT_EQ(5, ports[0]);
    EXPECT_EQ(7, ports[1]);
    EXPECT_TRUE(fd_readable(s.fd));
    REQUIRE_EQ(1, pending(&f, &s, ports, HVDM_MAX_PORTS));
    EXPECT_EQ(VCPUS, ports[0]); /* the ring's */
    EXPECT_TRUE(!fd_readable(s.fd));
    EXPECT_EQ(0, pending(&f, &s, ports, HVDM_MAX_PORTS));
    fixture_destroy(&f);
}

static void the_answer_to_vcpu_3_reaches_vcpu_3_only(void) {
    struct fixture f;
    struct server s;
    uint32_t ports[HVDM_MAX_PORTS];
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 3, TEST_MMIO_GPA + 0x30, 4, &value));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 5, TEST_MMIO_GPA + 0x50, 4, &value));
    REQUIRE_EQ(2, pending(&f, &s, ports, HVDM_MAX_PORTS));
    EXPECT_EQ(3, ports[0]);
    EXPECT_EQ(5, ports[1]);
    s.page->vcpu_ioreq[3].state = HVDM_STATE_IOREQ_INPROCESS;
    s.page->vcpu_ioreq[5].state = HVDM_STATE_IOREQ_INPROCESS;
    EXPECT_EQ(0, server_answer(&f, f.dm, &s, 3, 0x33));
    /* vCPU 5 still waits, its slot untouched; vCPU 3 has its answer */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 5, &value));
    EXPECT_EQ(HVDM_STATE_IOREQ_INPROCESS, s.page->vcpu_ioreq[5].state);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 3, &value));
    EXPECT_U64(0x33, value);
    EXPECT_EQ(0, pending(&f, &s, ports, HVDM_MAX_PORTS)); /* an answer fires no port */
    EXPECT_EQ(0, server_answer(&f, f.dm, &s, 5, 0x55));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 5, &value));
    EXPECT_U64(0x55, value);
    fixture_destroy(&f);
}

/* hvdm_serve_pending's fn: records the vCPUs it served, or fails. */
struct seen {
    uint32_t vcpu[16];
    int n;
    int fail_next; /* the next call returns -EIO instead of serving */
};

static int serve_record(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct seen *r = (struct seen *)opaque;
    (void)id;
    if (r->fail_next) {
        r->fail_next = 0;
        return -EIO;
    }
    if (r->n < 16) r->vcpu[r->n] = req->vp_eport;
    ++r->n;
    req->data = 0x100u + req->vp_eport;
    return 0;
}

static void serve_pending_serves_the_fired_slots_and_scans_when_not_signalled(void) {
    struct fixture f;
    struct server s;
    struct seen r;
    uint32_t ports[HVDM_MAX_PORTS];
    uint64_t value = 0;
    memset(&r, 0, sizeof r);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 6, TEST_MMIO_GPA, 4, &value));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 3, TEST_MMIO_GPA, 4, &value));
    EXPECT_EQ(2, hvdm_serve_pending(f.dm, f.domid, s.id, serve_record, &r));
    REQUIRE_EQ(2, r.n);
    EXPECT_EQ(3, r.vcpu[0]);
    EXPECT_EQ(6, r.vcpu[1]);
    EXPECT_EQ(0, pending(&f, &s, ports, HVDM_MAX_PORTS)); /* the ports were taken */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 3, &value));
    EXPECT_U64(0x103, value);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 6, &value));
    EXPECT_U64(0x106, value);
    /* The caller took vCPU 4's port (and the signal) itself: a call
     * without a signal scans, and finds the READY slot. */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 4, TEST_MMIO_GPA, 4, &value));
    REQUIRE_EQ(1, pending(&f, &s, ports, HVDM_MAX_PORTS));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, serve_record, &r));
    EXPECT_EQ(4, r.vcpu[2]);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 4, &value));
    /* fn fails on vCPU 1: vCPU 2's port stays pending for the next call */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 1, TEST_MMIO_GPA, 4, &value));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 2, TEST_MMIO_GPA, 4, &value));
    r.fail_next = 1;
    EXPECT_EQ(-EIO, hvdm_serve_pending(f.dm, f.domid, s.id, serve_record, &r));
    EXPECT_EQ(3, r.n);
    EXPECT_EQ(HVDM_STATE_IOREQ_INPROCESS, s.page->vcpu_ioreq[1].state); /* not answered: it waits */
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[2].state);
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, serve_record, &r));
    EXPECT_EQ(2, r.vcpu[3]);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 2, &value));
    EXPECT_U64(0x102, value);
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 1, &value));
    fixture_destroy(&f);
}

static void pending_errnos(void) {
    struct fixture f;
    struct server s;
    uint32_t ports[4];
    hvdm_handle *other = NULL;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    EXPECT_EQ(-EINVAL, hvdm_ioreq_pending(NULL, f.domid, s.id, ports, 4));
    EXPECT_EQ(-EINVAL, hvdm_ioreq_pending(f.dm, f.domid, s.id, NULL, 4));
    EXPECT_EQ(-EINVAL, hvdm_ioreq_pending(f.dm, f.domid, s.id, ports, 0));
    EXPECT_EQ(-ESRCH, hvdm_ioreq_pending(f.dm, (hvdm_domid_t)(f.domid + 100), s.id, ports, 4));
    EXPECT_EQ(-ENOENT, hvdm_ioreq_pending(f.dm, f.domid, 7, ports, 4));
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    EXPECT_EQ(-EPERM, hvdm_ioreq_pending(other, f.domid, s.id, ports, 4));
    EXPECT_EQ(0, hvdm_restrict(other, (hvdm_domid_t)(f.domid + 1)));
    EXPECT_EQ(-EPERM, hvdm_ioreq_pending(other, f.domid, s.id, NULL, 0)); /* restriction first */
    EXPECT_EQ(0, hvdm_close(other));
    EXPECT_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, s.id));
    EXPECT_EQ(-ENOENT, hvdm_ioreq_pending(f.dm, f.domid, s.id, ports, 4));
    hv_host_destroy(f.host);
    f.host = NULL;
    f.dom = NULL;
    EXPECT_EQ(-ENODEV, hvdm_ioreq_pending(f.dm, f.domid, s.id, ports, 4));
    fixture_destroy(&f);
}

static void typed_get_ioreq_server_info_has_xen_s_errnos(void) {
    struct fixture f;
    struct server off, ring;
    uint32_t port = 0xdeadu;
    uint64_t gfn = 0xdeadu, bgfn = 0xdeadu;
    hvdm_handle *other = NULL;
    REQUIRE_EQ(0, setup(&f, &off, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_LEGACY, 0, &ring));
    /* the ring's port; 0 (the field Xen leaves alone) without a ring */
    EXPECT_EQ(0, hvdm_get_ioreq_server_info(f.dm, f.domid, ring.id, NULL, NULL, &port));
    EXPECT_EQ(VCPUS, port);
    EXPECT_EQ(0, hvdm_get_ioreq_server_info(f.dm, f.domid, off.id, NULL, NULL, &port));
    EXPECT_EQ(0, port);
    EXPECT_EQ(0, hvdm_get_ioreq_server_info(f.dm, f.domid, ring.id, NULL, NULL, NULL));
    /* gfns: the pages are never in the guest's memory; nothing written */
    port = 0xdeadu;
    EXPECT_EQ(-EOPNOTSUPP, hvdm_get_ioreq_server_info(f.dm, f.domid, ring.id, &gfn, NULL, &port));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_get_ioreq_server_info(f.dm, f.domid, ring.id, NULL, &bgfn, &port));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_get_ioreq_server_info(f.dm, f.domid, ring.id, &gfn, &bgfn, NULL));
    EXPECT_U64(0xdeadu, gfn);
    EXPECT_U64(0xdeadu, bgfn);
    EXPECT_EQ(0xdeadu, port);
    /* the server's errnos come before the gfns' */
    EXPECT_EQ(-ENOENT, hvdm_get_ioreq_server_info(f.dm, f.domid, 7, &gfn, NULL, &port));
    EXPECT_EQ(-ENOENT, hvdm_get_ioreq_server_info(f.dm, f.domid, 7, NULL, NULL, &port));
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    EXPECT_EQ(-EPERM, hvdm_get_ioreq_server_info(other, f.domid, ring.id, &gfn, NULL, &port));
    EXPECT_EQ(-EPERM, hvdm_get_ioreq_server_info(other, f.domid, ring.id, NULL, NULL, &port));
    EXPECT_EQ(0, hvdm_restrict(other, (hvdm_domid_t)(f.domid + 1)));
    EXPECT_EQ(-EPERM, hvdm_get_ioreq_server_info(other, f.domid, 7, NULL, NULL, &port));
    EXPECT_EQ(0, hvdm_close(other));
    EXPECT_EQ(0xdeadu, port);
    EXPECT_EQ(-EINVAL, hvdm_get_ioreq_server_info(NULL, f.domid, ring.id, NULL, NULL, &port));
    EXPECT_EQ(-ESRCH, hvdm_get_ioreq_server_info(f.dm, (hvdm_domid_t)(f.domid + 100), ring.id, NULL, NULL, &port));
    EXPECT_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, ring.id));
    EXPECT_EQ(-ENOENT, hvdm_get_ioreq_server_info(f.dm, f.domid, ring.id, NULL, NULL, &port));
    hv_host_destroy(f.host);
    f.host = NULL;
    f.dom = NULL;
    EXPECT_EQ(-ENODEV, hvdm_get_ioreq_server_info(f.dm, f.domid, off.id, NULL, NULL, &port));
    EXPECT_EQ(0xdeadu, port);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("abi_pending");
    RUN(a_request_on_vcpu_3_of_8_fires_exactly_port_3);
    RUN(a_ring_post_fires_port_nr_vcpus_the_bufioreq_port);
    RUN(ports_come_lowest_first_n_at_a_time_and_the_descriptor_stays_readable_while_some_are_left);
    RUN(the_answer_to_vcpu_3_reaches_vcpu_3_only);
    RUN(serve_pending_serves_the_fired_slots_and_scans_when_not_signalled);
    RUN(pending_errnos);
    RUN(typed_get_ioreq_server_info_has_xen_s_errnos);
    return abi_finish("abi_pending");
}
