/* SPDX-License-Identifier: MIT */
/* The serving helper (<hvcore/hvdm.h> hvdm_serve_pending, hvdm_serve): the
 * loop a device model would otherwise write itself, as QEMU's
 * hw/xen/xen-hvm-common.c does it (cpu_get_ioreq, handle_buffered_iopage,
 * cpu_handle_ioreq): synchronous reads answered, writes seen, the buffered
 * ring drained in order (an 8-byte write's two records as one request),
 * every vCPU slot in one call, stop_fd, fn's error, and the errnos of the
 * other hvdm_* calls for a bad handle, domid or server. */
#include "abi_test.h"

#ifndef HVCORE_TEST_NO_THREADS
#include <pthread.h>
#endif
#include <sys/eventfd.h>
#include <time.h>

#define MAX_SEEN 1024

#include "abi_recorder.h"

/* A domain with one enabled server (server_setup). */
static int setup(struct fixture *f, struct server *s, int mode) {
    const int rc = fixture_create(f);
    return rc != 0 ? rc : server_setup(f, s, mode);
}

static void synchronous_read_is_answered_with_what_fn_stores(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    uint64_t value = 0;
    recorder_init(&r);
    r.answer = 0x5a5a1234u;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 1, TEST_MMIO_GPA + 8, 4, &value));
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    REQUIRE_EQ(1, r.n);
    EXPECT_EQ(s.id, r.id[0]);
    EXPECT_EQ(HVDM_IOREQ_READ, r.req[0].dir);
    EXPECT_EQ(HVDM_IOREQ_TYPE_COPY, r.req[0].type);
    EXPECT_U64(TEST_MMIO_GPA + 8, r.req[0].addr);
    EXPECT_EQ(4, r.req[0].size);
    EXPECT_EQ(1, r.req[0].count);
    EXPECT_EQ(1, r.req[0].vp_eport);
    EXPECT_EQ(HVDM_STATE_IOREQ_INPROCESS, r.req[0].state); /* synchronous: the vCPU waits */
    /* answered and notified; the eventfd's count was consumed */
    EXPECT_EQ(HVDM_STATE_IORESP_READY, s.page->vcpu_ioreq[1].state);
    EXPECT_U64(0x5a5a1234u, s.page->vcpu_ioreq[1].data);
    EXPECT_TRUE(!fd_readable(s.fd));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    EXPECT_U64(0x5a5a1234u, value);
    /* nothing pending: 0 served, fn not called */
    EXPECT_EQ(0, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(1, r.n);
    fixture_destroy(&f);
}

static void synchronous_write_is_seen_and_completed(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    uint64_t value = 0;
    recorder_init(&r);
    r.answer = 0xdead; /* a write's data is not changed by the answer */
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA + 0x10, 8, 0x1122334455667788ull));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    REQUIRE_EQ(1, r.n);
    EXPECT_EQ(HVDM_IOREQ_WRITE, r.req[0].dir);
    EXPECT_U64(TEST_MMIO_GPA + 0x10, r.req[0].addr);
    EXPECT_EQ(8, r.req[0].size);
    EXPECT_U64(0x1122334455667788ull, r.req[0].data);
    EXPECT_EQ(HVDM_STATE_IORESP_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void buffered_writes_are_drained_in_order_an_8_byte_write_as_one_request(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    recorder_init(&r);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA, 1, 0xab));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 2, 2, 0xbeef));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 8, 8, 0x1122334455667788ull));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 0x10, 4, 0xcafef00du));
    EXPECT_EQ(5, s.buf->write_pointer); /* the 8-byte write took two records */
    EXPECT_EQ(4, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    REQUIRE_EQ(4, r.n);
    EXPECT_U64(TEST_VGA_GPA, r.req[0].addr);
    EXPECT_EQ(1, r.req[0].size);
    EXPECT_U64(0xab, r.req[0].data);
    EXPECT_U64(TEST_VGA_GPA + 2, r.req[1].addr);
    EXPECT_EQ(2, r.req[1].size);
    EXPECT_U64(0xbeef, r.req[1].data);
    EXPECT_U64(TEST_VGA_GPA + 8, r.req[2].addr);
    EXPECT_EQ(8, r.req[2].size);
    EXPECT_U64(0x1122334455667788ull, r.req[2].data);
    EXPECT_U64(TEST_VGA_GPA + 0x10, r.req[3].addr);
    EXPECT_EQ(4, r.req[3].size);
    EXPECT_U64(0xcafef00du, r.req[3].data);
    /* posted writes: READY (nobody waits), single, writes, COPY */
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r.req[2].state);
    EXPECT_EQ(HVDM_IOREQ_WRITE, r.req[2].dir);
    EXPECT_EQ(1, r.req[2].count);
    EXPECT_EQ(HVDM_IOREQ_TYPE_COPY, r.req[2].type);
    EXPECT_EQ(0, r.req[2].data_is_ptr);
    /* consumed: the read pointer caught up, nothing is served twice */
    EXPECT_EQ(5, s.buf->read_pointer);
    EXPECT_EQ(0, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(4, r.n);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    fixture_destroy(&f);
}

/* Twice 300 posts and one more (more than the ring's 511 slots in all),
 * each batch drained: every write once, in order, and in ATOMIC mode the
 * pointers canonicalised below 511 by the hypervisor between the helper's
 * atomic adds. */
static void buffered_ring_is_drained_across_its_wrap(int mode) {
    struct fixture f;
    struct server s;
    struct recorder r;
    int batch, i, in_order = 1;
    recorder_init(&r);
    REQUIRE_EQ(0, setup(&f, &s, mode));
    for (batch = 0; batch < 2; ++batch) {
        for (i = 0; i < 300; ++i)
            if (!EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 4, 2, (uint64_t)(batch * 300 + i)))) return;
        EXPECT_EQ(300, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    }
    /* one more: in ATOMIC mode this post canonicalises the pointers (600, 601 -> 89, 90) */
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 4, 2, 600));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    REQUIRE_EQ(601, r.n);
    for (i = 0; i < 601; ++i)
        if (r.req[i].data != (uint64_t)i) in_order = 0;
    EXPECT_TRUE(in_order);
    EXPECT_EQ(s.buf->write_pointer, s.buf->read_pointer);
    if (mode == HVDM_BUFIOREQ_ATOMIC) EXPECT_EQ(601 - HVDM_IOREQ_BUFFER_SLOT_NUM, s.buf->read_pointer);
    else EXPECT_EQ(601, s.buf->read_pointer);
    fixture_destroy(&f);
}
static void buffered_ring_is_drained_across_its_wrap_legacy(void) {
    buffered_ring_is_drained_across_its_wrap(HVDM_BUFIOREQ_LEGACY);
}
static void buffered_ring_is_drained_across_its_wrap_atomic(void) {
    buffered_ring_is_drained_across_its_wrap(HVDM_BUFIOREQ_ATOMIC);
}

static void every_vcpu_slot_and_the_ring_are_served_in_one_call(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    uint64_t v0 = 0, v1 = 0;
    recorder_init(&r);
    r.answer = 0x77;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_LEGACY));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA, 1, 0x11)); /* posted */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 0x22));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 1, TEST_MMIO_GPA + 4, 4, &v1));
    EXPECT_EQ(3, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    REQUIRE_EQ(3, r.n);
    /* the ring first, then the slots in vCPU order */
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r.req[0].state);
    EXPECT_U64(0x11, r.req[0].data);
    EXPECT_EQ(0, r.req[1].vp_eport);
    EXPECT_U64(0x22, r.req[1].data);
    EXPECT_EQ(1, r.req[2].vp_eport);
    EXPECT_EQ(HVDM_IOREQ_READ, r.req[2].dir);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &v0));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &v1));
    EXPECT_U64(0x77, v1);
    fixture_destroy(&f);
}

static void hvdm_serve_serves_what_is_pending_and_returns_0_once_stop_fd_is_readable(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    uint64_t value = 0, one = 1;
    int stop;
    recorder_init(&r);
    r.answer = 9;
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    stop = eventfd(0, EFD_CLOEXEC);
    REQUIRE_TRUE(stop >= 0);
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, 2, &value));
    REQUIRE_EQ((ssize_t)sizeof one, write(stop, &one, sizeof one));
    EXPECT_EQ(0, hvdm_serve(f.dm, f.domid, &s.id, 1, stop, record, &r));
    EXPECT_EQ(1, r.n); /* what was pending was served first */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(9, value);
    EXPECT_TRUE(fd_readable(stop)); /* stop_fd is not read */
    /* no server at all: stop_fd alone */
    EXPECT_EQ(0, hvdm_serve(f.dm, f.domid, NULL, 0, stop, record, &r));
    close(stop);
    fixture_destroy(&f);
}

#ifndef HVCORE_TEST_NO_THREADS
struct serve_thread {
    struct fixture *f;
    hvdm_ioservid_t ids[2];
    unsigned int n;
    int stop;
    struct recorder *r;
    int rc;
};

static void *serve_main(void *p) {
    struct serve_thread *t = (struct serve_thread *)p;
    t->rc = hvdm_serve(t->f->dm, t->f->domid, t->ids, t->n, t->stop, record, t->r);
    return NULL;
}

/* Polls the slot until the helper on the other thread answered it (10 s
 * at most). The state is the low nibble of byte 30, read atomically (the
 * helper writes it atomically on the other thread). */
static int wait_state(const hvdm_ioreq_t *slot, unsigned int state) {
    const unsigned char *flags = (const unsigned char *)slot + 30;
    int i;
    struct timespec ms = {0, 1000000};
    for (i = 0; i < 10000; ++i) {
        if ((__atomic_load_n(flags, __ATOMIC_ACQUIRE) & 0xfu) == state) return 1;
        nanosleep(&ms, NULL);
    }
    return 0;
}

static void hvdm_serve_on_a_thread_serves_two_servers_until_stop_fd(void) {
    struct fixture f;
    struct server a, b;
    struct recorder r;
    struct serve_thread t;
    pthread_t th;
    uint64_t value = 0, one = 1;
    recorder_init(&r);
    r.answer = 0x42;
    REQUIRE_EQ(0, setup(&f, &a, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &b));
    REQUIRE_EQ(0, hvdm_map_io_range_to_ioreq_server(f.dm, f.domid, b.id, MMIO, TEST_MMIO_GPA + 0x1000,
                                                    TEST_MMIO_GPA + 0x1fff));
    memset(&t, 0, sizeof t);
    t.f = &f;
    t.ids[0] = a.id;
    t.ids[1] = b.id;
    t.n = 2;
    t.r = &r;
    t.stop = eventfd(0, EFD_CLOEXEC);
    REQUIRE_TRUE(t.stop >= 0);
    REQUIRE_EQ(0, pthread_create(&th, NULL, serve_main, &t));
    /* each server's request is served while hvdm_serve waits */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0x1000, 4, &value));
    EXPECT_TRUE(wait_state(&b.page->vcpu_ioreq[0], HVDM_STATE_IORESP_READY));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x42, value);
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 1, TEST_MMIO_GPA, 4, 5));
    EXPECT_TRUE(wait_state(&a.page->vcpu_ioreq[1], HVDM_STATE_IORESP_READY));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    /* then stop_fd ends it with 0 */
    EXPECT_EQ((ssize_t)sizeof one, write(t.stop, &one, sizeof one));
    EXPECT_EQ(0, pthread_join(th, NULL));
    EXPECT_EQ(0, t.rc);
    EXPECT_EQ(2, r.n);
    EXPECT_EQ(b.id, r.id[0]);
    EXPECT_EQ(a.id, r.id[1]);
    close(t.stop);
    fixture_destroy(&f);
}

static void destroying_a_served_server_ends_hvdm_serve_with_enoent(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    struct serve_thread t;
    pthread_t th;
    uint64_t value = 0;
    recorder_init(&r);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    memset(&t, 0, sizeof t);
    t.f = &f;
    t.ids[0] = s.id;
    t.n = 1;
    t.r = &r;
    t.stop = -1; /* none: only an error ends it */
    REQUIRE_EQ(0, pthread_create(&th, NULL, serve_main, &t));
    /* a request served: the thread is in its loop */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 5));
    EXPECT_TRUE(wait_state(&s.page->vcpu_ioreq[0], HVDM_STATE_IORESP_READY));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    /* the server goes (its descriptor becomes readable): the next call on it says why */
    EXPECT_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, s.id));
    EXPECT_EQ(0, pthread_join(th, NULL));
    EXPECT_EQ(-ENOENT, t.rc);
    EXPECT_EQ(1, r.n);
    fixture_destroy(&f);
}
#endif

static void fns_error_stops_serving_and_is_returned(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    uint64_t value = 0;
    recorder_init(&r);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, 4, &value));
    r.fail_with = -EIO;
    EXPECT_EQ(-EIO, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    /* not answered: the vCPU still waits */
    EXPECT_EQ(HVDM_STATE_IOREQ_INPROCESS, s.page->vcpu_ioreq[0].state);
    EXPECT_EQ(-EBUSY, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, 4, &value));
    /* hvdm_serve, without a stop descriptor: the error is its only way out */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_READY;
    r.fail_with = -ENOSPC;
    EXPECT_EQ(-ENOSPC, hvdm_serve(f.dm, f.domid, &s.id, 1, -1, record, &r));
    /* a positive return is not an errno: -ECANCELED */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_READY;
    r.fail_with = 1;
    EXPECT_EQ(-ECANCELED, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    /* served at last */
    s.page->vcpu_ioreq[0].state = HVDM_STATE_IOREQ_READY;
    r.fail_with = 0;
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    fixture_destroy(&f);
}

static void a_failing_fn_leaves_a_buffered_write_in_the_ring(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    recorder_init(&r);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_ATOMIC));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA, 1, 0x31));
    r.fail_with = -EIO;
    EXPECT_EQ(-EIO, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(0, s.buf->read_pointer);
    r.fail_with = 0;
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    EXPECT_U64(0x31, r.req[0].data);
    EXPECT_EQ(1, s.buf->read_pointer);
    fixture_destroy(&f);
}

static void a_server_whose_pages_this_handle_has_not_mapped_is_einval(void) {
    struct fixture f;
    struct recorder r;
    hvdm_ioservid_t id = 0;
    hvdm_shared_iopage *page = NULL;
    recorder_init(&r);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EINVAL, hvdm_serve_pending(f.dm, f.domid, id, record, &r));
    EXPECT_EQ(-EINVAL, hvdm_serve(f.dm, f.domid, &id, 1, -1, record, &r));
    REQUIRE_EQ(0, hvdm_map_ioreq_pages(f.dm, f.domid, id, &page, NULL));
    EXPECT_EQ(0, hvdm_serve_pending(f.dm, f.domid, id, record, &r));
    /* a new server behind the same id is another server: not mapped yet */
    REQUIRE_EQ(0, hvdm_destroy_ioreq_server(f.dm, f.domid, id));
    REQUIRE_EQ(0, hvdm_create_ioreq_server(f.dm, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EINVAL, hvdm_serve_pending(f.dm, f.domid, id, record, &r));
    EXPECT_TRUE(hvdm_ioreq_fd(f.dm, f.domid, id) >= 0); /* maps it too */
    EXPECT_EQ(0, hvdm_serve_pending(f.dm, f.domid, id, record, &r));
    EXPECT_EQ(0, r.n);
    fixture_destroy(&f);
}

/* The errno hvdm_ioreq_fd gives for the same (handle, domid, id), and
 * hvdm_serve_pending's and hvdm_serve's, all equal to `expected`. */
static void expect_same_errno(int expected, hvdm_handle *h, hvdm_domid_t domid, hvdm_ioservid_t id) {
    struct recorder r;
    recorder_init(&r);
    EXPECT_EQ(expected, hvdm_ioreq_fd(h, domid, id));
    EXPECT_EQ(expected, hvdm_serve_pending(h, domid, id, record, &r));
    EXPECT_EQ(expected, hvdm_serve(h, domid, &id, 1, -1, record, &r));
    EXPECT_EQ(0, r.n);
}

static void bad_handle_domid_or_id_get_the_errnos_of_the_other_calls(void) {
    struct fixture f;
    struct server s;
    struct recorder r;
    hvdm_handle *other, *restricted;
    recorder_init(&r);
    REQUIRE_EQ(0, setup(&f, &s, HVDM_BUFIOREQ_OFF));
    expect_same_errno(-EINVAL, NULL, f.domid, s.id);                   /* no handle */
    expect_same_errno(-ESRCH, f.dm, (hvdm_domid_t)(f.domid + 100), s.id); /* no such domain */
    expect_same_errno(-ENOENT, f.dm, f.domid, (hvdm_ioservid_t)(s.id + 1)); /* no such server */
    expect_same_errno(-ENOENT, f.dm, f.domid, 0xffff);
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    expect_same_errno(-EPERM, other, f.domid, s.id); /* another handle's server */
    restricted = hvdm_open(f.host);
    REQUIRE_TRUE(restricted != NULL);
    REQUIRE_EQ(0, hvdm_restrict(restricted, (hvdm_domid_t)(f.domid + 1)));
    expect_same_errno(-EPERM, restricted, f.domid, s.id); /* restricted to another domain */
    /* the helper's own arguments */
    EXPECT_EQ(-EINVAL, hvdm_serve_pending(f.dm, f.domid, s.id, NULL, &r));
    EXPECT_EQ(-EINVAL, hvdm_serve(f.dm, f.domid, &s.id, 1, -1, NULL, &r));
    EXPECT_EQ(-EINVAL, hvdm_serve(f.dm, f.domid, NULL, 1, -1, record, &r));
    EXPECT_EQ(-EINVAL, hvdm_serve(f.dm, f.domid, &s.id, HVDM_SERVE_MAX_SERVERS + 1, -1, record, &r));
    EXPECT_EQ(-EINVAL, hvdm_serve(f.dm, f.domid, &s.id, 1, -2, record, &r));
    EXPECT_EQ(-EINVAL, hvdm_serve(f.dm, f.domid, NULL, 0, -1, record, &r)); /* nothing to wait for */
    EXPECT_EQ(-EBADF, hvdm_serve(f.dm, f.domid, NULL, 0, 1000, record, &r)); /* not an open descriptor */
    EXPECT_EQ(0, r.n);
    EXPECT_EQ(0, hvdm_close(restricted));
    EXPECT_EQ(0, hvdm_close(other));
    /* a stopped domain, as every call on it (over a socket the device model
     * is isolated: it is hung up on instead, -ENODEV) */
    s.page->vcpu_ioreq[0].state = 7; /* an unknown state: the notification stops the domain (XSA-262) */
    EXPECT_EQ(-EPROTO, hvdm_ioreq_notify(f.dm, f.domid, s.id, 0));
    expect_same_errno(test_over_socket() ? -ENODEV : -ESHUTDOWN, f.dm, f.domid, s.id);
    /* a destroyed host: -ENODEV */
    hv_host_destroy(f.host);
    f.host = NULL;
    f.dom = NULL;
    expect_same_errno(-ENODEV, f.dm, f.domid, s.id);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_serve");
    RUN(synchronous_read_is_answered_with_what_fn_stores);
    RUN(synchronous_write_is_seen_and_completed);
    RUN(buffered_writes_are_drained_in_order_an_8_byte_write_as_one_request);
    RUN(buffered_ring_is_drained_across_its_wrap_legacy);
    RUN(buffered_ring_is_drained_across_its_wrap_atomic);
    RUN(every_vcpu_slot_and_the_ring_are_served_in_one_call);
    RUN(hvdm_serve_serves_what_is_pending_and_returns_0_once_stop_fd_is_readable);
#ifndef HVCORE_TEST_NO_THREADS
    RUN(hvdm_serve_on_a_thread_serves_two_servers_until_stop_fd);
    RUN(destroying_a_served_server_ends_hvdm_serve_with_enoent);
#endif
    RUN(fns_error_stops_serving_and_is_returned);
    RUN(a_failing_fn_leaves_a_buffered_write_in_the_ring);
    RUN(a_server_whose_pages_this_handle_has_not_mapped_is_einval);
    RUN(bad_handle_domid_or_id_get_the_errnos_of_the_other_calls);
    return abi_finish("test_serve");
}
