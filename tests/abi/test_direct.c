/* SPDX-License-Identifier: MIT */
/* Direct mode (<hvcore/hvdm.h> hvdm_set_direct_handler): an in-process
 * device model's handler called on the vCPU thread, synchronously, instead
 * of the slot, the eventfd and the device model's own thread. It sees the
 * requests the thread mode (hvdm_serve_pending) sees, a read's answer
 * reaches the guest, a DMOP from inside it works (no lock of hvcore is
 * held), clearing it returns to the posted path, a socket handle and
 * another handle's server are refused, a failing handler stops the domain
 * as a broken protocol does, records left in the ring refuse it, and
 * setting and clearing it while vCPUs run loses and doubles nothing. */
#include "abi_test.h"

#ifndef HVCORE_TEST_NO_THREADS
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>
#endif

#define MAX_SEEN 64
/* A RAM page whose type the server claims (ioreq_server): its writes go
 * to the server, its reads are served from RAM. */
#define CLAIMED_GFN 0x80u
#define CLAIMED_GPA ((uint64_t)CLAIMED_GFN * TEST_PAGE_SIZE)
/* Ports the server holds (x86 only). */
#define TEST_PORT 0x510u

#include "abi_recorder.h"

static uint64_t mask(uint32_t size) { return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1; }

/* A domain with one enabled server (no ring) holding the MMIO page at
 * TEST_MMIO_GPA, ports TEST_PORT..+7 where the ISA has them, and the
 * claimed type on CLAIMED_GFN. */
static int setup(struct fixture *f, struct server *s) {
    int rc = fixture_create(f);
    if (rc != 0) return rc;
    rc = server_setup(f, s, HVDM_BUFIOREQ_OFF);
    if (rc != 0) return rc;
    if (test_arch_has_pio()) {
        rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, PORTS, TEST_PORT, TEST_PORT + 7);
        if (rc != 0) return rc;
    }
    rc = hvdm_map_mem_type_to_ioreq_server(f->dm, f->domid, s->id, HVDM_MEM_IOREQ_SERVER,
                                           HVDM_IOREQ_MEM_ACCESS_WRITE);
    if (rc != 0) return rc;
    return hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1);
}

/* One access of the sequence below. */
enum kind { STORE, LOAD, OUT, IN };
struct access {
    enum kind kind;
    uint64_t addr;
    uint32_t size;
    uint64_t value;
};

static const struct access sequence[] = {
    {STORE, TEST_MMIO_GPA + 0x10, 8, 0x1122334455667788ull},
    {STORE, TEST_MMIO_GPA + 0x21, 1, 0xab},
    {STORE, TEST_MMIO_GPA + 0x22, 2, 0xbeef},
    {STORE, TEST_MMIO_GPA + 0x24, 4, 0xcafef00du},
    {LOAD, TEST_MMIO_GPA + 0x30, 8, 0},
    {LOAD, TEST_MMIO_GPA + 0x31, 1, 0},
    {LOAD, TEST_MMIO_GPA + 0x32, 2, 0},
    {LOAD, TEST_MMIO_GPA + 0x34, 4, 0},
    {STORE, CLAIMED_GPA + 0x40, 4, 0x600dbeefu},
    {STORE, CLAIMED_GPA + 0xff8, 8, 0x0102030405060708ull},
    {OUT, TEST_PORT, 1, 0x5a},
    {OUT, TEST_PORT + 2, 2, 0x1234},
    {IN, TEST_PORT + 4, 4, 0},
    {IN, TEST_PORT + 1, 1, 0},
};
#define NR_ACCESSES ((int)(sizeof sequence / sizeof sequence[0]))

static int runs_here(const struct access *a) { return (a->kind != OUT && a->kind != IN) || test_arch_has_pio(); }

/* The access by vCPU v: the call's return and, for a read, the value. */
static int issue(struct fixture *f, uint32_t v, const struct access *a, uint64_t *value) {
    uint64_t x = a->value;
    int rc = 0;
    switch (a->kind) {
    case STORE: rc = hv_vcpu_store(f->dom, v, a->addr, a->size, a->value); break;
    case LOAD: rc = hv_vcpu_load(f->dom, v, a->addr, a->size, &x); break;
    case OUT: rc = hv_vcpu_pio(f->dom, v, (uint16_t)a->addr, a->size, 1, &x); break;
    case IN: rc = hv_vcpu_pio(f->dom, v, (uint16_t)a->addr, a->size, 0, &x); break;
    }
    *value = x;
    return rc;
}

static int is_read(const struct access *a) { return a->kind == LOAD || a->kind == IN; }

static void same_request(const hvdm_ioreq_t *posted, const hvdm_ioreq_t *direct) {
    EXPECT_U64(posted->addr, direct->addr);
    EXPECT_U64(posted->data, direct->data);
    EXPECT_EQ(posted->count, direct->count);
    EXPECT_EQ(posted->size, direct->size);
    EXPECT_EQ(posted->vp_eport, direct->vp_eport);
    EXPECT_EQ(posted->state, direct->state);
    EXPECT_EQ(posted->data_is_ptr, direct->data_is_ptr);
    EXPECT_EQ(posted->dir, direct->dir);
    EXPECT_EQ(posted->df, direct->df);
    EXPECT_EQ(posted->type, direct->type);
}

static void the_handler_sees_the_requests_the_thread_mode_sees_and_reads_reach_the_guest(void) {
    struct fixture f;
    struct server s;
    static struct recorder posted, direct;
    int i, n = 0;
    memset(&posted, 0, sizeof posted);
    memset(&direct, 0, sizeof direct);
    posted.answer = 0xf1e2d3c4b5a69788ull;
    direct.answer = 0xf1e2d3c4b5a69788ull;
    REQUIRE_EQ(0, setup(&f, &s));
    /* Thread mode: posted in vCPU 1's slot, served, resumed. */
    for (i = 0; i < NR_ACCESSES; i++) {
        const struct access *a = &sequence[i];
        uint64_t value = 0;
        if (!runs_here(a)) continue;
        ++n;
        REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, issue(&f, 1, a, &value));
        EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &posted));
        REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
        if (is_read(a)) EXPECT_U64(posted.answer & mask(a->size), value);
    }
    REQUIRE_EQ(n, posted.n);
    /* Direct mode: each call completes at once; nothing is posted. */
    (void)fd_drain(s.fd);
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &direct));
    for (i = 0; i < NR_ACCESSES; i++) {
        const struct access *a = &sequence[i];
        uint64_t value = 0;
        if (!runs_here(a)) continue;
        REQUIRE_EQ(HV_VCPU_DONE, issue(&f, 1, a, &value));
        if (is_read(a)) EXPECT_U64(direct.answer & mask(a->size), value);
        EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[1].state);
    }
    EXPECT_TRUE(!fd_readable(s.fd));
    REQUIRE_EQ(n, direct.n);
    for (i = 0; i < n; i++) {
        EXPECT_EQ(s.id, direct.id[i]);
        same_request(&posted.req[i], &direct.req[i]);
    }
    /* The claimed page's writes did not reach RAM (the server has them). */
    EXPECT_EQ(0, ram_u32(&f, CLAIMED_GPA + 0x40));
    fixture_destroy(&f);
}

/* fn's DMOPs: a range mapped, the claimed page given back to RAM, guest
 * RAM written, and the handler cleared from inside itself. */
struct dmop_ctx {
    struct fixture *f;
    hvdm_ioservid_t id;
    int calls;
    int rc_map, rc_type, rc_write, rc_clear;
};

static int dmops(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct dmop_ctx *c = (struct dmop_ctx *)opaque;
    const uint32_t word = 0x77aa55ccu;
    (void)req;
    ++c->calls;
    c->rc_map = hvdm_map_io_range_to_ioreq_server(c->f->dm, c->f->domid, id, MMIO, TEST_MMIO_GPA + 0x1000,
                                                  TEST_MMIO_GPA + 0x1fff);
    c->rc_type = hvdm_set_mem_type(c->f->dm, c->f->domid, HVDM_MEM_RAM_RW, CLAIMED_GFN, 1);
    c->rc_write = hv_guest_write(c->f->dom, CLAIMED_GPA + 0x100, &word, sizeof word);
    c->rc_clear = hvdm_set_direct_handler(c->f->dm, c->f->domid, id, NULL, NULL);
    return 0;
}

static void dmops_from_inside_the_handler_work_and_it_may_clear_itself(void) {
    struct fixture f;
    struct server s;
    static struct recorder r;
    struct dmop_ctx c;
    uint64_t value = 0;
    memset(&r, 0, sizeof r);
    memset(&c, 0, sizeof c);
    REQUIRE_EQ(0, setup(&f, &s));
    c.f = &f;
    c.id = s.id;
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, dmops, &c));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 8, 4, 9));
    EXPECT_EQ(1, c.calls);
    EXPECT_EQ(0, c.rc_map);
    EXPECT_EQ(0, c.rc_type);
    EXPECT_EQ(0, c.rc_write);
    EXPECT_EQ(0, c.rc_clear);
    EXPECT_EQ(HVDM_MEM_RAM_RW, mem_type_of(&f, CLAIMED_GFN));
    EXPECT_EQ(0x77aa55ccu, ram_u32(&f, CLAIMED_GPA + 0x100));
    /* The page is RAM again: the store lands there. */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 8, 4, 10));
    EXPECT_EQ(10, ram_u32(&f, CLAIMED_GPA + 8));
    /* Cleared: the range fn mapped is posted again, as before the handler. */
    (void)fd_drain(s.fd);
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA + 0x1008, 4, &value));
    EXPECT_TRUE(fd_readable(s.fd));
    r.answer = 0x4321;
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_U64(0x4321, value);
    EXPECT_EQ(1, c.calls);
    fixture_destroy(&f);
}

static void clearing_returns_to_the_posted_path(void) {
    struct fixture f;
    struct server s;
    static struct recorder r, served;
    uint64_t value = 0;
    memset(&r, 0, sizeof r);
    memset(&served, 0, sizeof served);
    REQUIRE_EQ(0, setup(&f, &s));
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 1));
    EXPECT_EQ(1, r.n);
    /* Set again (a replacement), then cleared. */
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 2));
    EXPECT_EQ(2, r.n);
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, NULL, NULL));
    /* Clearing twice is no error. */
    EXPECT_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, NULL, NULL));
    (void)fd_drain(s.fd);
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 3));
    EXPECT_TRUE(fd_readable(s.fd));
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &served));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(2, r.n);
    EXPECT_EQ(1, served.n);
    EXPECT_U64(3, served.req[0].data);
    /* Set while a request is posted: that one is still answered through
     * the slot; the next goes to the handler. */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 1, TEST_MMIO_GPA, 4, 4));
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_resume(f.dom, 1, &value));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &served));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, TEST_MMIO_GPA, 4, 5));
    EXPECT_EQ(3, r.n);
    EXPECT_EQ(2, served.n);
    fixture_destroy(&f);
}

static void a_socket_handle_is_refused_with_eopnotsupp(void) {
    struct fixture f;
    struct server s;
    static struct recorder r;
    hv_dm_listener *l = NULL;
    hvdm_handle *remote;
    hvdm_ioservid_t id = 0;
    char path[64];
    memset(&r, 0, sizeof r);
    REQUIRE_EQ(0, setup(&f, &s));
    if (test_over_socket()) {
        /* f.dm is a connection already. */
        EXPECT_EQ(-EOPNOTSUPP, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &r));
        EXPECT_EQ(-EOPNOTSUPP, hvdm_set_direct_handler(f.dm, f.domid, s.id, NULL, NULL));
        fixture_destroy(&f);
        return;
    }
#ifdef HVCORE_TEST_NO_THREADS
    /* A listener runs threads, which qemu-user cannot start here
     * (CMakeLists.txt); the native builds check the connected handle. */
    (void)l;
    (void)remote;
    (void)id;
    (void)path;
    fixture_destroy(&f);
    return;
#else
    snprintf(path, sizeof path, "hvcore-direct-%ld.sock", (long)getpid());
    REQUIRE_EQ(0, hv_dm_listen(f.host, path, NULL, &l));
    remote = hvdm_connect(path);
    REQUIRE_TRUE(remote != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(remote, f.domid, HVDM_BUFIOREQ_OFF, &id));
    EXPECT_EQ(-EOPNOTSUPP, hvdm_set_direct_handler(remote, f.domid, id, record, &r));
    /* The restriction still comes first. */
    EXPECT_EQ(0, hvdm_restrict(remote, f.domid));
    EXPECT_EQ(-EPERM, hvdm_set_direct_handler(remote, (hvdm_domid_t)(f.domid + 1), id, record, &r));
    EXPECT_EQ(0, hvdm_close(remote));
    hv_dm_listener_close(l);
    fixture_destroy(&f);
#endif
}

static void another_handles_server_and_bad_arguments_are_refused_as_every_server_call(void) {
    struct fixture f;
    struct server s;
    static struct recorder r;
    hvdm_handle *other;
    hvdm_ioservid_t theirs = 0;
    memset(&r, 0, sizeof r);
    REQUIRE_EQ(0, setup(&f, &s));
    other = hvdm_open(f.host);
    REQUIRE_TRUE(other != NULL);
    REQUIRE_EQ(0, hvdm_create_ioreq_server(other, f.domid, HVDM_BUFIOREQ_OFF, &theirs));
    /* As hvdm_set_ioreq_server_state on the same server. */
    EXPECT_EQ(-EPERM, hvdm_set_ioreq_server_state(f.dm, f.domid, theirs, 1));
    EXPECT_EQ(-EPERM, hvdm_set_direct_handler(f.dm, f.domid, theirs, record, &r));
    EXPECT_EQ(-EPERM, hvdm_set_direct_handler(f.dm, f.domid, theirs, NULL, NULL));
    EXPECT_EQ(-ENOENT, hvdm_set_ioreq_server_state(f.dm, f.domid, 7, 1));
    EXPECT_EQ(-ENOENT, hvdm_set_direct_handler(f.dm, f.domid, 7, record, &r));
    EXPECT_EQ(-ESRCH, hvdm_set_direct_handler(f.dm, (hvdm_domid_t)(f.domid + 100), s.id, record, &r));
    EXPECT_EQ(-EINVAL, hvdm_set_direct_handler(NULL, f.domid, s.id, record, &r));
    /* Nothing changed: the server still posts. */
    REQUIRE_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 1));
    EXPECT_EQ(0, r.n);
    EXPECT_EQ(0, hvdm_close(other));
    fixture_destroy(&f);
}

static int fail_eio(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    (void)opaque;
    (void)id;
    (void)req;
    return -EIO;
}

static void a_failing_handler_stops_the_domain_as_a_broken_protocol_does(void) {
    struct fixture f;
    struct server s;
    char reason[256];
    uint64_t value = 0;
    REQUIRE_EQ(0, setup(&f, &s));
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, fail_eio, NULL));
    EXPECT_EQ(-EPROTO, hv_vcpu_load(f.dom, 0, TEST_MMIO_GPA, 4, &value));
    EXPECT_EQ(1, hv_domain_stop_reason(f.dom, reason, sizeof reason));
    EXPECT_TRUE(strstr(reason, "direct handler") != NULL);
    EXPECT_EQ(-ESHUTDOWN, hv_vcpu_store(f.dom, 1, TEST_MMIO_GPA, 4, 1));
    EXPECT_EQ(-ESHUTDOWN, hvdm_set_direct_handler(f.dm, f.domid, s.id, NULL, NULL));
    fixture_destroy(&f);
}

static void records_left_in_the_ring_refuse_the_handler_until_drained(void) {
    struct fixture f;
    struct server s;
    static struct recorder r, drained;
    memset(&r, 0, sizeof r);
    memset(&drained, 0, sizeof drained);
    REQUIRE_EQ(0, fixture_create(&f));
    REQUIRE_EQ(0, server_setup(&f, &s, HVDM_BUFIOREQ_ATOMIC));
    REQUIRE_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA, 2, 0x1111)); /* posted */
    EXPECT_EQ(-EBUSY, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &r));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &drained));
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, record, &r));
    (void)fd_drain(s.fd);
    /* What the ring would carry comes to the handler, in order. */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_VGA_GPA + 2, 2, 0x2222));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, TEST_MMIO_GPA, 4, 0x3333));
    REQUIRE_EQ(2, r.n);
    EXPECT_U64(TEST_VGA_GPA + 2, r.req[0].addr);
    EXPECT_U64(0x2222, r.req[0].data);
    EXPECT_EQ(HVDM_IOREQ_WRITE, r.req[0].dir);
    EXPECT_EQ(HVDM_STATE_IOREQ_INPROCESS, r.req[0].state);
    EXPECT_U64(TEST_MMIO_GPA, r.req[1].addr);
    EXPECT_EQ(s.buf->read_pointer, s.buf->write_pointer);
    EXPECT_TRUE(!fd_readable(s.fd));
    EXPECT_EQ(1, drained.n);
    fixture_destroy(&f);
}

#ifndef HVCORE_TEST_NO_THREADS
/* Two vCPU threads store their sequence numbers (dm_seq's protocol: vCPU
 * v writes n = 1, 2, ... at offset v * 8) while a third sets and clears
 * the handler again and again and a fourth serves the posted path with
 * hvdm_serve. Each number must arrive once, in order, by either path. */
#define RACE_VCPUS TEST_NR_VCPUS
struct race_vcpu {
    uint64_t expected; /* the next number due; written by whichever path serves v (v waits meanwhile) */
    uint64_t bad;      /* numbers lost, doubled or out of order */
    uint64_t direct, posted; /* read by the main thread while they count: atomic */
    uint64_t stored;         /* stores the vCPU thread completed */
};
struct race {
    struct fixture *f;
    hvdm_ioservid_t id;
    struct race_vcpu v[RACE_VCPUS];
    volatile int stop; /* set by the main thread once both paths were seen (or time ran out) */
    int vcpu_rc[RACE_VCPUS];
    int toggles, toggle_rc;
};
struct race_path {
    struct race *r;
    int direct;
};

static int race_fn(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct race_path *p = (struct race_path *)opaque;
    const uint32_t v = (uint32_t)((req->addr - TEST_MMIO_GPA) / 8);
    struct race_vcpu *c;
    (void)id;
    if (req->dir != HVDM_IOREQ_WRITE || v >= RACE_VCPUS || req->vp_eport != v) return -EINVAL;
    c = &p->r->v[v];
    /* expected and bad pass between the serving thread and the vCPU's own
     * thread, ordered by the slot's state byte; but hvcore and the device
     * model map the ioreq page at two addresses, where ThreadSanitizer
     * cannot see that order: atomics (relaxed is enough) say it. */
    if (req->data != __atomic_load_n(&c->expected, __ATOMIC_RELAXED)) __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&c->expected, req->data + 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(p->direct ? &c->direct : &c->posted, 1, __ATOMIC_RELAXED);
    return 0;
}

struct vcpu_arg {
    struct race *r;
    uint32_t v;
};

static void *race_vcpu_main(void *p) {
    struct vcpu_arg *a = (struct vcpu_arg *)p;
    struct race *r = a->r;
    uint64_t n = 1, value = 0;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        int rc = hv_vcpu_store(r->f->dom, a->v, TEST_MMIO_GPA + a->v * 8, 8, n);
        while (rc == HV_VCPU_IOREQ_PENDING) {
            sched_yield();
            rc = hv_vcpu_resume(r->f->dom, a->v, &value);
        }
        if (rc != HV_VCPU_DONE) {
            r->vcpu_rc[a->v] = rc;
            return NULL;
        }
        r->v[a->v].stored = n;
        ++n;
    }
    return NULL;
}

static struct race_path race_direct_path;

static void *race_toggle_main(void *p) {
    struct race *r = (struct race *)p;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        int rc = hvdm_set_direct_handler(r->f->dm, r->f->domid, r->id, race_fn, &race_direct_path);
        if (rc == 0) rc = hvdm_set_direct_handler(r->f->dm, r->f->domid, r->id, NULL, NULL);
        if (rc != 0) {
            r->toggle_rc = rc;
            return NULL;
        }
        __atomic_add_fetch(&r->toggles, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

struct serve_arg {
    struct race *r;
    int stop_fd;
    int rc;
};
static struct race_path race_posted_path;

static void *race_serve_main(void *p) {
    struct serve_arg *a = (struct serve_arg *)p;
    a->rc = hvdm_serve(a->r->f->dm, a->r->f->domid, &a->r->id, 1, a->stop_fd, race_fn, &race_posted_path);
    return NULL;
}

static int race_both_paths_seen(struct race *r) {
    uint32_t v;
    if (__atomic_load_n(&r->toggles, __ATOMIC_RELAXED) < 20) return 0;
    for (v = 0; v < RACE_VCPUS; v++)
        if (__atomic_load_n(&r->v[v].direct, __ATOMIC_RELAXED) < 5 ||
            __atomic_load_n(&r->v[v].posted, __ATOMIC_RELAXED) < 5)
            return 0;
    return 1;
}

static void setting_and_clearing_while_vcpus_run_loses_and_doubles_nothing(void) {
    struct fixture f;
    struct server s;
    static struct race r;
    struct vcpu_arg va[RACE_VCPUS];
    struct serve_arg sa;
    pthread_t vt[RACE_VCPUS], tt, st;
    const uint64_t one = 1;
    uint32_t v;
    struct timespec t0, now;
    memset(&r, 0, sizeof r);
    REQUIRE_EQ(0, setup(&f, &s));
    r.f = &f;
    r.id = s.id;
    for (v = 0; v < RACE_VCPUS; v++) r.v[v].expected = 1;
    race_direct_path.r = &r;
    race_direct_path.direct = 1;
    race_posted_path.r = &r;
    race_posted_path.direct = 0;
    sa.r = &r;
    sa.rc = 0;
    sa.stop_fd = eventfd(0, EFD_CLOEXEC);
    REQUIRE_TRUE(sa.stop_fd >= 0);
    REQUIRE_EQ(0, pthread_create(&st, NULL, race_serve_main, &sa));
    REQUIRE_EQ(0, pthread_create(&tt, NULL, race_toggle_main, &r));
    for (v = 0; v < RACE_VCPUS; v++) {
        va[v].r = &r;
        va[v].v = v;
        REQUIRE_EQ(0, pthread_create(&vt[v], NULL, race_vcpu_main, &va[v]));
    }
    /* Until each vCPU was served at least 5 times each way across 20
     * toggles, at most 30 s (ThreadSanitizer on a loaded machine is slow). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    now = t0;
    while (!race_both_paths_seen(&r) && now.tv_sec - t0.tv_sec < 30) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    for (v = 0; v < RACE_VCPUS; v++) pthread_join(vt[v], NULL);
    pthread_join(tt, NULL);
    EXPECT_EQ(1, write(sa.stop_fd, &one, sizeof one) == (ssize_t)sizeof one);
    pthread_join(st, NULL);
    close(sa.stop_fd);
    EXPECT_EQ(0, sa.rc);
    EXPECT_EQ(0, r.toggle_rc);
    if (!EXPECT_TRUE(race_both_paths_seen(&r)))
        fprintf(stderr, "    toggles %d; vCPU 0 direct %llu posted %llu; vCPU 1 direct %llu posted %llu\n", r.toggles,
                (unsigned long long)r.v[0].direct, (unsigned long long)r.v[0].posted,
                (unsigned long long)r.v[1].direct, (unsigned long long)r.v[1].posted);
    for (v = 0; v < RACE_VCPUS; v++) {
        EXPECT_EQ(0, r.vcpu_rc[v]);
        EXPECT_U64(0, r.v[v].bad);
        /* Every number the vCPU stored arrived once: the last was expected - 1. */
        EXPECT_U64(r.v[v].direct + r.v[v].posted + 1, r.v[v].expected);
        EXPECT_U64(r.v[v].stored + 1, r.v[v].expected);
    }
    fixture_destroy(&f);
}
#endif

int main(void) {
    skip_unless_vmx_backend("abi_direct");
    RUN(a_socket_handle_is_refused_with_eopnotsupp);
    if (test_over_socket()) return abi_finish("abi_direct"); /* the rest needs an in-process handle */
    RUN(the_handler_sees_the_requests_the_thread_mode_sees_and_reads_reach_the_guest);
    RUN(dmops_from_inside_the_handler_work_and_it_may_clear_itself);
    RUN(clearing_returns_to_the_posted_path);
    RUN(another_handles_server_and_bad_arguments_are_refused_as_every_server_call);
    RUN(a_failing_handler_stops_the_domain_as_a_broken_protocol_does);
    RUN(records_left_in_the_ring_refuse_the_handler_until_drained);
#ifndef HVCORE_TEST_NO_THREADS
    RUN(setting_and_clearing_while_vcpus_run_loses_and_doubles_nothing);
#endif
    return abi_finish("abi_direct");
}
