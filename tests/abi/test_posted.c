/* SPDX-License-Identifier: MIT */
/* Posted writes (HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED, an hvcore extension):
 * a write to a page claimed WRITE|WRITE_POSTED is made to RAM and posted on
 * the claimant's buffered ring as a two-slot record with the full
 * guest-physical address (hvdm.h, HVDM_BUF_IOREQ_POSTED); the vCPU goes on.
 * A full ring falls back to a synchronous write; each vCPU's posted writes
 * and synchronous requests reach the device model in the order it made
 * them; re-execution after a later piece's answer posts nothing twice; a
 * direct handler gets the posted writes in order too. Compare Xen's
 * buffered ring (xen/include/public/hvm/ioreq.h buf_ioreq_t, 20 address
 * bits; xen/common/ioreq.c ioreq_send_buffered), which cannot carry a
 * guest-physical address above 1 MiB. */
#include "abi_test.h"

#define SLOTS HVDM_IOREQ_BUFFER_SLOT_NUM /* 511 */
#define POSTED (HVDM_IOREQ_MEM_ACCESS_WRITE | HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED)
/* A claimed page at 8 MiB: its address needs 24 bits, more than
 * buf_ioreq_t's 20 */
#define CLAIMED_GFN 0x800u
#define CLAIMED_GPA ((uint64_t)CLAIMED_GFN * TEST_PAGE_SIZE)
/* The page above it, emulated MMIO held by the same server by range */
#define MMIO_NEXT_GFN (CLAIMED_GFN + 1u)
#define MMIO_NEXT_GPA ((uint64_t)MMIO_NEXT_GFN * TEST_PAGE_SIZE)
/* The page below it, emulated MMIO held by the same server too */
#define MMIO_PREV_GFN (CLAIMED_GFN - 1u)
#define MMIO_PREV_GPA ((uint64_t)MMIO_PREV_GFN * TEST_PAGE_SIZE)
/* buf_ioreq_t size codes: 0 => 1, 1 => 2, 2 => 4, 3 => 8 bytes */
#define SIZE_CODE_8 3u
/* posted records a full ring holds: 2 slots each, Xen's full test
 * (write - read >= 511 - 1) leaves the odd slot unused */
#define RECORDS_PER_RING ((SLOTS - 1u) / 2u) /* 255 */

/* What a device model's hvdm_serve_fn saw, in order. */
struct seen {
    hvdm_ioreq_t req[2 * SLOTS];
    unsigned n;
    /* scenario hooks, called from inside fn */
    struct fixture *f;
    int inject;            /* in ring_is_drained_before_each_synchronous_request */
    int ram_matched;       /* direct handler: RAM held each posted value when fn ran */
    uint64_t direct_posted_gpa;
};

static int record(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct seen *s = (struct seen *)opaque;
    (void)id;
    if (s->n < sizeof s->req / sizeof s->req[0]) s->req[s->n++] = *req;
    return 0;
}

/* A domain with one enabled server with a ring (mode), claiming the type
 * WRITE|WRITE_POSTED for CLAIMED_GFN and holding the MMIO pages either
 * side of it by range. */
static int setup_with(struct fixture *f, struct server *s, uint64_t ram_bytes, uint64_t claimed_gfn, int mode) {
    int rc = fixture_create_with(f, ram_bytes, TEST_NR_VCPUS, HV_DOMAIN_MULTI_OWNER);
    if (rc != 0) return rc;
    rc = server_create(f, f->dm, mode, 1, s);
    if (rc != 0) return rc;
    if (s->buf == NULL) return -EFAULT;
    rc = hvdm_map_mem_type_to_ioreq_server(f->dm, f->domid, s->id, HVDM_MEM_IOREQ_SERVER, POSTED);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_IOREQ_SERVER, claimed_gfn, 1);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, claimed_gfn - 1, 1);
    if (rc != 0) return rc;
    rc = hvdm_set_mem_type(f->dm, f->domid, HVDM_MEM_MMIO_DM, claimed_gfn + 1, 1);
    if (rc != 0) return rc;
    rc = hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, (claimed_gfn - 1) * TEST_PAGE_SIZE,
                                           claimed_gfn * TEST_PAGE_SIZE - 1);
    if (rc != 0) return rc;
    return hvdm_map_io_range_to_ioreq_server(f->dm, f->domid, s->id, MMIO, (claimed_gfn + 1) * TEST_PAGE_SIZE,
                                             (claimed_gfn + 2) * TEST_PAGE_SIZE - 1);
}

static int setup(struct fixture *f, struct server *s) {
    return setup_with(f, s, TEST_RAM_BYTES, CLAIMED_GFN, HVDM_BUFIOREQ_LEGACY);
}

/* Slot i of the ring holds a posted-write record's first slot for gpa and
 * size code; slot i+1 the value (hvdm.h, HVDM_BUF_IOREQ_POSTED). */
static void expect_record(const struct server *s, uint32_t i, uint64_t gpa, uint32_t size_code, uint64_t value) {
    const hvdm_buf_ioreq_t *b = &s->buf->buf_ioreq[i % SLOTS];
    const hvdm_buf_ioreq_t *v = &s->buf->buf_ioreq[(i + 1) % SLOTS];
    uint64_t raw = 0;
    EXPECT_EQ(HVDM_BUF_IOREQ_POSTED, b->type);
    EXPECT_EQ(HVDM_IOREQ_WRITE, b->dir);
    EXPECT_EQ(size_code, b->size);
    EXPECT_U64(gpa >> 32, b->addr);
    EXPECT_U64(gpa & 0xffffffffu, b->data);
    memcpy(&raw, v, sizeof raw); /* the value: the second slot's 8 bytes, little-endian */
    EXPECT_U64(value, raw);
}

/* seen->req[i] is a posted write as hvdm_serve_pending gives it */
static void expect_posted(const struct seen *seen, unsigned i, uint64_t gpa, uint32_t size, uint64_t data) {
    const hvdm_ioreq_t *r = &seen->req[i];
    if (!EXPECT_TRUE(i < seen->n)) return;
    EXPECT_EQ(HVDM_IOREQ_TYPE_COPY, r->type);
    EXPECT_EQ(HVDM_IOREQ_WRITE, r->dir);
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, r->state); /* nobody waits */
    EXPECT_EQ(0, r->vp_eport);
    EXPECT_EQ(1, r->count);
    EXPECT_EQ(0, r->data_is_ptr);
    EXPECT_EQ(size, r->size);
    EXPECT_U64(gpa, r->addr);
    EXPECT_U64(data, r->data);
}

/* seen->req[i] is vCPU v's synchronous write */
static void expect_sync(const struct seen *seen, unsigned i, uint32_t v, uint64_t gpa, uint64_t data) {
    const hvdm_ioreq_t *r = &seen->req[i];
    if (!EXPECT_TRUE(i < seen->n)) return;
    EXPECT_EQ(HVDM_STATE_IOREQ_INPROCESS, r->state);
    EXPECT_EQ(HVDM_IOREQ_WRITE, r->dir);
    EXPECT_EQ(v, r->vp_eport);
    EXPECT_U64(gpa, r->addr);
    EXPECT_U64(data, r->data);
}

static uint64_t ram_u64(struct fixture *f, uint64_t gpa) {
    uint64_t v = 0;
    (void)hv_guest_read(f->dom, gpa, &v, sizeof v);
    return v;
}

static void claim_flags_with_write_posted(void) {
    struct fixture f;
    struct server ring, noring;
    /* posted writes are a multi-owner mode claim (Xen's mode: WRITE only) */
    REQUIRE_EQ(0, fixture_create_with(&f, TEST_RAM_BYTES, TEST_NR_VCPUS, HV_DOMAIN_MULTI_OWNER));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_ATOMIC, 1, &ring));
    REQUIRE_EQ(0, server_create(&f, f.dm, HVDM_BUFIOREQ_OFF, 1, &noring));
    /* WRITE_POSTED alone, or with READ: not a combination */
    EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, ring.id, HVDM_MEM_IOREQ_SERVER,
                                                         HVDM_IOREQ_MEM_ACCESS_WRITE_POSTED));
    EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, ring.id, HVDM_MEM_IOREQ_SERVER,
                                                         POSTED | HVDM_IOREQ_MEM_ACCESS_READ));
    /* a server without a ring has nothing to post on */
    EXPECT_EQ(-EINVAL, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, noring.id, HVDM_MEM_IOREQ_SERVER, POSTED));
    /* none of them claimed anything: nobody owns the type */
    EXPECT_EQ(-EINVAL, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    EXPECT_EQ(0, hvdm_map_mem_type_to_ioreq_server(f.dm, f.domid, ring.id, HVDM_MEM_IOREQ_SERVER, POSTED));
    EXPECT_EQ(0, hvdm_set_mem_type(f.dm, f.domid, HVDM_MEM_IOREQ_SERVER, CLAIMED_GFN, 1));
    /* the page is write-trapped as for WRITE: a plain load is served from RAM */
    {
        uint64_t value = 1;
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_load(f.dom, 0, CLAIMED_GPA, 8, &value));
        EXPECT_U64(0, value);
    }
    fixture_destroy(&f);
}

static void posted_writes_land_in_ram_and_on_the_ring_with_the_full_gpa(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 0, 1, 0xab));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 2, 2, 0xbeef));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, CLAIMED_GPA + 4, 4, 0xdeadbeef));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 1, CLAIMED_GPA + 8, 8, 0x1122334455667788ull));
    /* in RAM, and nobody waits */
    EXPECT_U64(0xdeadbeefbeef00abull, ram_u64(&f, CLAIMED_GPA));
    EXPECT_U64(0x1122334455667788ull, ram_u64(&f, CLAIMED_GPA + 8));
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[0].state);
    EXPECT_EQ(HVDM_STATE_IOREQ_NONE, s.page->vcpu_ioreq[1].state);
    /* on the ring: four two-slot records */
    EXPECT_EQ(0, s.buf->read_pointer);
    EXPECT_EQ(8, s.buf->write_pointer);
    expect_record(&s, 0, CLAIMED_GPA + 0, 0, 0xab);
    expect_record(&s, 2, CLAIMED_GPA + 2, 1, 0xbeef);
    expect_record(&s, 4, CLAIMED_GPA + 4, 2, 0xdeadbeef);
    expect_record(&s, 6, CLAIMED_GPA + 8, SIZE_CODE_8, 0x1122334455667788ull);
    EXPECT_TRUE(fd_readable(s.fd));
    /* hvdm_serve_pending expands them into ordinary writes, full addr */
    EXPECT_EQ(4, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    EXPECT_EQ(4, seen.n);
    expect_posted(&seen, 0, CLAIMED_GPA + 0, 1, 0xab);
    expect_posted(&seen, 1, CLAIMED_GPA + 2, 2, 0xbeef);
    expect_posted(&seen, 2, CLAIMED_GPA + 4, 4, 0xdeadbeef);
    expect_posted(&seen, 3, CLAIMED_GPA + 8, 8, 0x1122334455667788ull);
    EXPECT_EQ(8, s.buf->read_pointer);
    fixture_destroy(&f);
}

/* Above 4 GiB the record's gpa bits 51:32 are used: a domain of 8 GiB
 * (sparse: only the pages touched are backed) with the claimed page at
 * 0x1_2345_6000. */
#define HIGH_RAM_BYTES (8ull << 30)
#define HIGH_GFN 0x123456ull
#define HIGH_GPA (HIGH_GFN * TEST_PAGE_SIZE)

static void posted_write_above_4gib_keeps_the_high_bits(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup_with(&f, &s, HIGH_RAM_BYTES, HIGH_GFN, HVDM_BUFIOREQ_ATOMIC));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, HIGH_GPA + 0x18, 8, 0x8000000000000001ull));
    EXPECT_U64(0x8000000000000001ull, ram_u64(&f, HIGH_GPA + 0x18));
    expect_record(&s, 0, HIGH_GPA + 0x18, SIZE_CODE_8, 0x8000000000000001ull);
    EXPECT_U64(1, s.buf->buf_ioreq[0].addr); /* gpa bits 51:32 */
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    expect_posted(&seen, 0, HIGH_GPA + 0x18, 8, 0x8000000000000001ull);
    fixture_destroy(&f);
}

static void full_ring_falls_back_to_synchronous_in_order(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    uint64_t value = 0;
    unsigned i;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    for (i = 0; i < RECORDS_PER_RING; ++i)
        if (!EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 8 * (i % 512), 8, i))) break;
    EXPECT_EQ(2 * RECORDS_PER_RING, s.buf->write_pointer);
    /* one free slot, a record needs two: synchronous, made to RAM first */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 0x10, 8, 0xf00d));
    EXPECT_EQ(2 * RECORDS_PER_RING, s.buf->write_pointer);
    EXPECT_U64(0xf00d, ram_u64(&f, CLAIMED_GPA + 0x10));
    EXPECT_EQ(HVDM_STATE_IOREQ_READY, s.page->vcpu_ioreq[0].state);
    /* the device model sees every posted write, then the synchronous one */
    EXPECT_EQ((int)RECORDS_PER_RING + 1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    REQUIRE_EQ(RECORDS_PER_RING + 1, seen.n);
    for (i = 0; i < RECORDS_PER_RING; ++i) expect_posted(&seen, i, CLAIMED_GPA + 8 * (i % 512), 8, i);
    expect_sync(&seen, RECORDS_PER_RING, 0, CLAIMED_GPA + 0x10, 0xf00d);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(2 * RECORDS_PER_RING, s.buf->write_pointer); /* replayed, not posted */
    /* drained: posting again, the record wrapping round the ring's end */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 4, 0x5a5a));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 4, 4, 0xa5a5));
    EXPECT_EQ(2 * RECORDS_PER_RING + 4, s.buf->write_pointer);
    expect_record(&s, 2 * RECORDS_PER_RING + 2, CLAIMED_GPA + 4, 2, 0xa5a5); /* slots 512 % 511 = 1 and 2: wrapped */
    seen.n = 0;
    EXPECT_EQ(2, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    expect_posted(&seen, 0, CLAIMED_GPA, 4, 0x5a5a);
    expect_posted(&seen, 1, CLAIMED_GPA + 4, 4, 0xa5a5);
    fixture_destroy(&f);
}

static void posted_then_synchronous_then_posted_are_seen_in_order(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    uint64_t value = 0;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    /* P1 posted, S synchronous (a device register by range), then P2 */
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 8, 0x11));
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, MMIO_NEXT_GPA, 4, 0x22));
    EXPECT_EQ(2, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    expect_posted(&seen, 0, CLAIMED_GPA, 8, 0x11);
    expect_sync(&seen, 1, 0, MMIO_NEXT_GPA, 0x22);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 8, 8, 0x33));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    EXPECT_EQ(3, seen.n);
    expect_posted(&seen, 2, CLAIMED_GPA + 8, 8, 0x33);
    fixture_destroy(&f);
}

/* While the device model serves vCPU 0's request, vCPU 1 posts P and then
 * makes S (from inside fn: a vCPU running meanwhile). The helper, looking
 * at every slot (the eventfd was read, as a device model that polls on its
 * own schedule), reaches vCPU 1's S after it last drained the ring: it
 * must drain again first and serve P before S. */
static int inject_posted_then_sync(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct seen *s = (struct seen *)opaque;
    (void)record(opaque, id, req);
    if (s->inject && req->vp_eport == 0 && req->state == HVDM_STATE_IOREQ_INPROCESS) {
        s->inject = 0;
        EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(s->f->dom, 1, CLAIMED_GPA + 0x20, 8, 0x44));
        EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(s->f->dom, 1, MMIO_NEXT_GPA + 4, 4, 0x55));
    }
    return 0;
}

static void ring_is_drained_before_each_synchronous_request(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    uint64_t value = 0;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    seen.f = &f;
    seen.inject = 1;
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, MMIO_NEXT_GPA, 4, 0x66));
    EXPECT_TRUE(fd_drain(s.fd) != 0); /* the device model took the signal itself */
    EXPECT_EQ(3, hvdm_serve_pending(f.dm, f.domid, s.id, inject_posted_then_sync, &seen));
    expect_sync(&seen, 0, 0, MMIO_NEXT_GPA, 0x66);
    expect_posted(&seen, 1, CLAIMED_GPA + 0x20, 8, 0x44);
    expect_sync(&seen, 2, 1, MMIO_NEXT_GPA + 4, 0x55);
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 1, &value));
    fixture_destroy(&f);
}

static void re_execution_after_a_later_piece_posts_nothing_twice(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    uint64_t value = 0;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    /* 8 bytes 4 below the MMIO page: the low 4 on the claimed page are
     * made to RAM and posted, the high 4 are a synchronous request */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, MMIO_NEXT_GPA - 4, 8, 0x7766554433221100ull));
    EXPECT_EQ(2, s.buf->write_pointer);
    expect_record(&s, 0, MMIO_NEXT_GPA - 4, 2, 0x33221100u);
    EXPECT_EQ(0x33221100u, ram_u32(&f, MMIO_NEXT_GPA - 4));
    EXPECT_U64(MMIO_NEXT_GPA, s.page->vcpu_ioreq[0].addr);
    EXPECT_U64(0x77665544u, s.page->vcpu_ioreq[0].data);
    /* the device model changes the posted bytes before it answers */
    set_ram_u32(&f, MMIO_NEXT_GPA - 4, 0xcafe);
    EXPECT_EQ(2, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(2, s.buf->write_pointer);               /* not posted again */
    EXPECT_EQ(0xcafeu, ram_u32(&f, MMIO_NEXT_GPA - 4)); /* nor written again */
    /* the other way round: the synchronous piece first, then the posted */
    EXPECT_EQ(HV_VCPU_IOREQ_PENDING, hv_vcpu_store(f.dom, 0, CLAIMED_GPA - 4, 8, 0xffeeddccbbaa9988ull));
    EXPECT_EQ(2, s.buf->write_pointer); /* nothing posted before the answer */
    EXPECT_EQ(0u, ram_u32(&f, CLAIMED_GPA));
    EXPECT_EQ(1, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_resume(f.dom, 0, &value));
    EXPECT_EQ(4, s.buf->write_pointer);
    expect_record(&s, 2, CLAIMED_GPA, 2, 0xffeeddccu);
    EXPECT_EQ(0xffeeddccu, ram_u32(&f, CLAIMED_GPA));
    fixture_destroy(&f);
}

static int direct(void *opaque, hvdm_ioservid_t id, hvdm_ioreq_t *req) {
    struct seen *s = (struct seen *)opaque;
    if (req->addr == s->direct_posted_gpa || req->addr == s->direct_posted_gpa + 8)
        s->ram_matched += ram_u64(s->f, req->addr) == req->data;
    return record(opaque, id, req);
}

static void direct_handler_gets_posted_writes_in_order(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    if (test_over_socket()) return; /* direct handlers are in-process (-EOPNOTSUPP over a socket) */
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    seen.f = &f;
    seen.direct_posted_gpa = CLAIMED_GPA;
    REQUIRE_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, direct, &seen));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 8, 0x1));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, MMIO_NEXT_GPA, 4, 0x2));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA + 8, 8, 0x3));
    EXPECT_EQ(0, s.buf->write_pointer); /* nothing on the ring */
    REQUIRE_EQ(3, seen.n);
    EXPECT_U64(CLAIMED_GPA, seen.req[0].addr);
    EXPECT_U64(MMIO_NEXT_GPA, seen.req[1].addr);
    EXPECT_U64(CLAIMED_GPA + 8, seen.req[2].addr);
    EXPECT_EQ(2, seen.ram_matched); /* each posted value was in RAM before fn ran */
    EXPECT_EQ(0, hvdm_set_direct_handler(f.dm, f.domid, s.id, NULL, NULL));
    fixture_destroy(&f);
}

/* A ring whose last record is the first slot of a posted write without
 * its second (written over by a broken device model): hvdm_serve_pending
 * stops there with -EPROTO and leaves the record, as for the first half of
 * an 8-byte write. */
static void half_a_posted_record_is_eproto(void) {
    struct fixture f;
    struct server s;
    struct seen seen;
    memset(&seen, 0, sizeof seen);
    REQUIRE_EQ(0, setup(&f, &s));
    EXPECT_EQ(HV_VCPU_DONE, hv_vcpu_store(f.dom, 0, CLAIMED_GPA, 8, 0x77));
    s.buf->write_pointer = 3; /* a third slot: a copy of the record's first */
    s.buf->buf_ioreq[2] = s.buf->buf_ioreq[0];
    EXPECT_EQ(-EPROTO, hvdm_serve_pending(f.dm, f.domid, s.id, record, &seen));
    EXPECT_EQ(1, seen.n); /* the whole record before it was served */
    expect_posted(&seen, 0, CLAIMED_GPA, 8, 0x77);
    EXPECT_EQ(2, s.buf->read_pointer);
    fixture_destroy(&f);
}

int main(void) {
    skip_unless_vmx_backend("test_posted");
    RUN(claim_flags_with_write_posted);
    RUN(posted_writes_land_in_ram_and_on_the_ring_with_the_full_gpa);
    RUN(posted_write_above_4gib_keeps_the_high_bits);
    RUN(full_ring_falls_back_to_synchronous_in_order);
    RUN(posted_then_synchronous_then_posted_are_seen_in_order);
    RUN(ring_is_drained_before_each_synchronous_request);
    RUN(re_execution_after_a_later_piece_posts_nothing_twice);
    RUN(direct_handler_gets_posted_writes_in_order);
    RUN(half_a_posted_record_is_eproto);
    return abi_finish("test_posted");
}
